"""azure-identity's credentials obtain tokens from azvm's identity provider, and the official SDK
drives a VM with them (--auth open: any client; the strict mode's checks are in test_strict)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jwt
import pytest
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
)
from azure.mgmt.compute import ComputeManagementClient

from azvm.identity.keys import KEY_FILE
from azvm.testing import AzvmServer, azvm_server
from tests.conftest import http_client
from tests.identity.conftest import ARM_SCOPE, SUB, TENANT, make_certificate

NO_DISCOVERY = {"disable_instance_discovery": True}


def claims_of(token: str, azvm: AzvmServer, audience: str) -> dict[str, Any]:
    """The token's claims, its signature checked against the keys that azvm's discovery document names."""
    with http_client(azvm) as http:
        doc = http.get(f"/{TENANT}/v2.0/.well-known/openid-configuration").json()
        keys = http.get(doc["jwks_uri"].removeprefix(azvm.endpoint)).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK({k: v for k, v in next(k for k in keys if k["kid"] == kid).items()})
    claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                                        issuer=doc["issuer"])
    return claims


def drive_a_vm(azvm: AzvmServer, credential: Any) -> None:
    """The official SDK with this credential: list, start, deallocate."""
    azvm.create_vm("vm1")
    compute = ComputeManagementClient(credential, SUB, base_url=azvm.endpoint, connection_verify=str(azvm.cert))
    assert [vm.name for vm in compute.virtual_machines.list_all()] == ["vm1"]
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    view = compute.virtual_machines.instance_view("rg", "vm1")
    assert view.statuses[1].code == "PowerState/deallocated"
    compute.virtual_machines.begin_start("rg", "vm1").result()


def test_client_secret_credential(trust: AzvmServer) -> None:
    cred = ClientSecretCredential(TENANT, "my-app", "any-secret", authority=trust.endpoint, **NO_DISCOVERY)
    token = cred.get_token(ARM_SCOPE)
    claims = claims_of(token.token, trust, "https://management.azure.com")
    assert claims["tid"] == TENANT and claims["appid"] == "my-app"
    assert {"oid", "sub", "iat", "nbf", "exp", "iss"} <= claims.keys()
    # the client computes expires_on from `expires_in` and its own clock: a second may tick in between
    assert claims["exp"] - claims["iat"] == 3600 and abs(token.expires_on - claims["exp"]) <= 1
    drive_a_vm(trust, cred)


@pytest.mark.parametrize("scope, audience", [
    ("https://management.core.windows.net//.default", "https://management.core.windows.net/"),
    ("BASE/.default", "BASE"),
])
def test_the_audience_is_the_resource_asked_for(trust: AzvmServer, scope: str, audience: str) -> None:
    cred = ClientSecretCredential(TENANT, "my-app", "s", authority=trust.endpoint, **NO_DISCOVERY)
    token = cred.get_token(scope.replace("BASE", trust.endpoint)).token
    assert claims_of(token, trust, audience.replace("BASE", trust.endpoint))["aud"] == audience.replace(
        "BASE", trust.endpoint)


def test_certificate_credential(trust: AzvmServer, tmp_path: Path) -> None:
    cred = CertificateCredential(TENANT, "cert-app", str(make_certificate(tmp_path)), authority=trust.endpoint,
                                 **NO_DISCOVERY)
    assert claims_of(cred.get_token(ARM_SCOPE).token, trust, "https://management.azure.com")["appid"] == "cert-app"
    drive_a_vm(trust, cred)


def test_environment_and_default_credentials(trust: AzvmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", "env-app")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", trust.endpoint)
    env = EnvironmentCredential(**NO_DISCOVERY)
    assert claims_of(env.get_token(ARM_SCOPE).token, trust, "https://management.azure.com")["appid"] == "env-app"
    default = DefaultAzureCredential(**NO_DISCOVERY)
    assert claims_of(default.get_token(ARM_SCOPE).token, trust, "https://management.azure.com")["appid"] == "env-app"
    drive_a_vm(trust, default)


def test_managed_identity_app_service(trust: AzvmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{trust.endpoint}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "anything")
    cred = ManagedIdentityCredential()
    claims = claims_of(cred.get_token(ARM_SCOPE).token, trust, "https://management.azure.com")
    assert claims["tid"] == TENANT and claims["appidacr"] == "2"
    drive_a_vm(trust, cred)
    user_assigned = ManagedIdentityCredential(client_id="my-identity")
    assert claims_of(user_assigned.get_token(ARM_SCOPE).token, trust,
                     "https://management.azure.com")["appid"] == "my-identity"


def test_managed_identity_imds(trust: AzvmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", trust.endpoint)
    cred = ManagedIdentityCredential()
    assert claims_of(cred.get_token(ARM_SCOPE).token, trust, "https://management.azure.com")["tid"] == TENANT
    # in a chain, azure-identity probes the IMDS endpoint first (without the Metadata header)
    default = DefaultAzureCredential(exclude_environment_credential=True, exclude_workload_identity_credential=True,
                                     exclude_cli_credential=True, exclude_developer_cli_credential=True,
                                     exclude_powershell_credential=True, exclude_shared_token_cache_credential=True,
                                     exclude_visual_studio_code_credential=True, exclude_broker_credential=True)
    drive_a_vm(trust, default)


def test_imds_needs_the_metadata_header(azvm: AzvmServer) -> None:
    with http_client(azvm, headers={"Authorization": ""}) as http:
        r = http.get("/metadata/identity/oauth2/token", params={"api-version": "2018-02-01",
                                                                "resource": "https://management.azure.com/"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        r = http.get("/msi/token", params={"api-version": "2019-08-01", "resource": "https://management.azure.com/"})
        assert r.status_code == 400


def test_refresh_tokens(azvm: AzvmServer) -> None:
    with http_client(azvm) as http:
        form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": "s",
                "scope": f"{ARM_SCOPE} offline_access"}
        first = http.post(f"/{TENANT}/oauth2/v2.0/token", data=form).json()
        assert first["token_type"] == "Bearer" and first["expires_in"] > 3000 and first["refresh_token"]
        again = http.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "refresh_token", "client_id": "app", "refresh_token": first["refresh_token"],
            "scope": "https://management.core.windows.net//.default"}).json()
        assert claims_of(again["access_token"], azvm, "https://management.core.windows.net/")["appid"] == "app"
        bad = http.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "refresh_token", "client_id": "app", "refresh_token": first["access_token"],
            "scope": ARM_SCOPE})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
        assert bad.json()["error_codes"] and bad.json()["error_description"].startswith("AADSTS")


def test_discovery_documents(azvm: AzvmServer) -> None:
    with http_client(azvm) as http:
        tenant = http.get(f"/{TENANT}/v2.0/.well-known/openid-configuration").json()
        named = http.get("/contoso/v2.0/.well-known/openid-configuration").json()
        adfs = http.get("/adfs/.well-known/openid-configuration").json()
    assert tenant["token_endpoint"] == f"{azvm.endpoint}/{TENANT}/oauth2/v2.0/token"
    assert tenant["issuer"] == f"{azvm.endpoint}/{TENANT}/v2.0"
    assert named["issuer"].split("/")[3] == TENANT  # the CLI resolves a tenant name through `issuer`
    assert adfs["token_endpoint"] == f"{azvm.endpoint}/adfs/oauth2/token"


def test_instance_discovery_needs_no_setting(trust: AzvmServer) -> None:
    """The instance-discovery endpoint MSAL asks (at login.microsoftonline.com) about an authority it does
    not know, requested here straight from azvm: it answers with the authority's own discovery document.
    (That MSAL's request reaches it through the proxy is not what this test checks.)"""
    with http_client(trust) as http:
        r = http.get("/common/discovery/instance", params={
            "api-version": "1.1", "authorization_endpoint": f"{trust.endpoint}/{TENANT}/oauth2/v2.0/authorize"})
    doc = r.json()
    assert doc["tenant_discovery_endpoint"] == f"{trust.endpoint}/{TENANT}/v2.0/.well-known/openid-configuration"


def test_open_mode_needs_a_header_on_arm_routes_only(azvm: AzvmServer) -> None:
    with http_client(azvm, headers={"Authorization": ""}) as http:
        http.headers.pop("Authorization")
        r = http.get("/subscriptions", params={"api-version": "2022-12-01"})
        assert r.status_code == 401
        assert r.json()["error"] == {"code": "AuthenticationFailed",
                                     "message": "Authentication failed. The 'Authorization' header is missing."}
        assert http.get("/metadata/endpoints", params={"api-version": "2022-09-01"}).status_code == 200
        assert http.get("/azvm/clock").status_code == 200
        assert http.get(f"/{TENANT}/discovery/v2.0/keys").status_code == 200
        assert http.get("/subscriptions", params={"api-version": "2022-12-01"},
                        headers={"Authorization": "Bearer anything"}).status_code == 200


def test_the_signing_key_is_kept_and_private(tmp_path: Path) -> None:
    with azvm_server(data_dir=str(tmp_path)) as first:
        token = first.token_for("app")
        assert os.stat(tmp_path / KEY_FILE).st_mode & 0o777 == 0o600
    with azvm_server(data_dir=str(tmp_path)) as second:
        second.emulator.identity.tokens.verify(token)  # type: ignore[union-attr]
