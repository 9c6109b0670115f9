"""--auth strict: only tokens azvm issued, to declared principals, within their role assignments.
Each refusal through raw HTTP and through the official SDK, with Azure's status and code, and
nothing written."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient
from cryptography.hazmat.primitives.asymmetric import rsa

from azvm.identity.tokens import now_seconds
from azvm.testing import AzvmServer, StaticTokenCredential, azvm_server
from tests.conftest import http_client
from tests.identity.conftest import ARM_SCOPE, OTHER_SUB, OTHER_TENANT, SUB, TENANT, make_certificate

RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
RG2 = f"/subscriptions/{SUB}/resourceGroups/rg2"
V = {"api-version": "2024-11-01"}


def principals(cert: Path) -> list[dict[str, Any]]:
    sub, other = f"/subscriptions/{SUB}", f"/subscriptions/{OTHER_SUB}"
    return [
        {"clientId": "owner", "secret": "owner-secret", "roleAssignments": [{"role": "Owner", "scope": sub}]},
        {"clientId": "reader", "secret": "reader-secret", "roleAssignments": [{"role": "Reader", "scope": sub}]},
        {"clientId": "rg-contributor", "secret": "s", "roleAssignments": [{"role": "Contributor", "scope": RG}]},
        {"clientId": "other-sub", "secret": "s", "roleAssignments": [{"role": "Owner", "scope": other}]},
        {"clientId": "foreign", "secret": "s", "tenantId": OTHER_TENANT,
         "roleAssignments": [{"role": "Owner", "scope": sub}]},
        {"clientId": "cert-app", "certificate": str(cert), "roleAssignments": [{"role": "Reader", "scope": sub}]},
        {"clientId": "vm-identity", "managedIdentity": True,
         "roleAssignments": [{"role": "Contributor", "scope": sub}]},
        {"clientId": "operator", "secret": "s", "roleAssignments": [
            {"actions": ["Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/virtualMachines/*/action"],
             "scope": sub}]},
        {"clientId": "ops", "secret": "s", "admin": True},
    ]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def strict_server(certificate: Path) -> Iterator[AzvmServer]:
    with azvm_server(auth="strict", principals=principals(certificate)) as server:
        yield server


@pytest.fixture
def strict(strict_server: AzvmServer, monkeypatch: pytest.MonkeyPatch) -> AzvmServer:
    """A fresh world made by the owner: rg with vm1 (running)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(strict_server.cert))
    strict_server.reset()
    strict_server.arm_token = strict_server.token_for("owner")
    strict_server.create_vm("vm1", resource_group="rg")
    return strict_server


def foreign_signature(server: AzvmServer) -> str:
    """A token like azvm's in every claim, signed by another key."""
    claims = jwt.decode(server.token_for("owner"), options={"verify_signature": False})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other, algorithm="RS256", headers={"kid": "not-azvm"})


def expired(server: AzvmServer) -> str:
    identity = server.emulator.identity
    assert identity is not None and identity.principals is not None
    principal = identity.principals.get("owner")
    subject = identity.subject(principal, "owner", TENANT)
    return identity.tokens.issue(subject, "https://management.azure.com", server.endpoint,
                                 now=now_seconds() - 7200)[0]


# (case, the token, status, ARM code)
REFUSALS: list[tuple[str, Any, int, str]] = [
    ("no token", None, 401, "AuthenticationFailed"),
    ("malformed", lambda s: "not-a-jwt", 401, "InvalidAuthenticationToken"),
    ("wrong signature", foreign_signature, 401, "InvalidAuthenticationToken"),
    ("expired", expired, 401, "ExpiredAuthenticationToken"),
    ("another tenant", lambda s: s.token_for("foreign"), 401, "InvalidAuthenticationTokenTenant"),
    ("another audience", lambda s: s.token_for("owner", audience="https://graph.microsoft.com"), 401,
     "InvalidAuthenticationTokenAudience"),
    ("another subscription", lambda s: s.token_for("other-sub"), 403, "AuthorizationFailed"),
    ("a reader writing", lambda s: s.token_for("reader"), 403, "AuthorizationFailed"),
]


def world(server: AzvmServer) -> Any:
    """What is there: every resource and the VM's power state, read as the owner."""
    with http_client(server, headers={"Authorization": f"Bearer {server.token_for('owner')}"}) as http:
        resources = sorted(r["id"] for r in http.get(f"/subscriptions/{SUB}/resources", params=V).json()["value"])
        groups = sorted(g["name"] for g in http.get(f"/subscriptions/{SUB}/resourcegroups", params=V).json()["value"])
        view = http.get(f"{VM}/instanceView", params=V).json()
    return resources, groups, [s["code"] for s in view["statuses"]]


@pytest.mark.parametrize("case, make, status, code", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_over_raw_http(strict: AzvmServer, case: str, make: Any, status: int, code: str,
                               caplog: pytest.LogCaptureFixture) -> None:
    before = world(strict)
    headers = {} if make is None else {"Authorization": f"Bearer {make(strict)}"}
    with http_client(strict) as http:
        if make is None:
            http.headers.pop("Authorization")
        with caplog.at_level(logging.WARNING, logger="azvm.auth"):
            writes = [http.post(f"{VM}/deallocate", params=V, headers=headers),
                      http.put(RG2, params=V, json={"location": "eastus"}, headers=headers),
                      http.delete(VM, params=V, headers=headers)]
    for r in writes:
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    if status == 401:
        assert "Bearer authorization_uri=" in writes[0].headers["WWW-Authenticate"]
    assert world(strict) == before
    refusals = [rec.getMessage() for rec in caplog.records if rec.name == "azvm.auth"]
    assert len(refusals) == 3 and all("refused" in m and "principal" in m for m in refusals)


@pytest.mark.parametrize("case, make, status, code", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_through_the_sdk(strict: AzvmServer, case: str, make: Any, status: int, code: str) -> None:
    before = world(strict)
    credential = StaticTokenCredential("unused" if make is None else make(strict))
    # with no token: the SDK always sends the header, so a hook (which runs after it is set) takes it off
    hook = {"raw_request_hook": lambda r: r.http_request.headers.pop("Authorization", None)} if make is None else {}
    compute = ComputeManagementClient(credential, SUB, base_url=strict.endpoint, connection_verify=str(strict.cert),
                                      **hook)
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    assert e.value.status_code == status and e.value.error is not None and e.value.error.code == code
    if status == 401:
        assert isinstance(e.value, ClientAuthenticationError)
    assert world(strict) == before


def test_the_forbidden_message_names_client_action_and_scope(strict: AzvmServer) -> None:
    reader = strict.emulator.identity.principals.get("reader")  # type: ignore[union-attr]
    assert reader is not None
    with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('reader')}"}) as http:
        r = http.post(f"{VM}/start", params=V)
    oid = reader.object_id
    assert r.status_code == 403 and r.json()["error"]["message"] == (
        f"The client '{oid}' with object id '{oid}' does not have authorization to perform action"
        f" 'Microsoft.Compute/virtualMachines/start/action' over scope '{VM}' or the scope is invalid. If access was"
        " recently granted, please refresh your credentials.")


def test_a_group_contributor_stays_inside_its_group(strict: AzvmServer) -> None:
    before = world(strict)
    compute = ComputeManagementClient(StaticTokenCredential(strict.token_for("rg-contributor")), SUB,
                                      base_url=strict.endpoint, connection_verify=str(strict.cert))
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()  # inside: allowed
    assert compute.virtual_machines.instance_view("rg", "vm1").statuses[1].code == "PowerState/deallocated"
    with pytest.raises(HttpResponseError) as e:
        compute.availability_sets.create_or_update("rg2", "as1", {"location": "eastus"})
    assert e.value.status_code == 403 and e.value.error is not None and e.value.error.code == "AuthorizationFailed"
    with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('rg-contributor')}"}) as http:
        assert http.put(RG2, params=V, json={"location": "eastus"}).status_code == 403
        assert http.get(f"/subscriptions/{SUB}/resources", params=V).status_code == 403
        assert http.get(f"{RG}/resources", params=V).status_code == 200
    assert world(strict)[1] == before[1] == ["rg"]


def test_custom_actions_with_wildcards(strict: AzvmServer) -> None:
    with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('operator')}"}) as http:
        assert http.get(VM, params=V).status_code == 200
        assert http.post(f"{VM}/deallocate", params=V).status_code == 202
        assert http.delete(VM, params=V).status_code == 403
        assert http.get(RG, params=V).status_code == 403


def test_subscriptions_list_only_what_the_principal_can_see(strict: AzvmServer) -> None:
    def listed(client: str) -> list[str]:
        with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for(client)}"}) as http:
            r = http.get("/subscriptions", params={"api-version": "2022-12-01"})
        assert r.status_code == 200
        return [s["subscriptionId"] for s in r.json()["value"]]
    assert listed("owner") == [SUB]
    assert listed("other-sub") == [OTHER_SUB]
    assert listed("ops") == []
    with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('owner')}"}) as http:
        for params, code in (({}, "MissingApiVersionParameter"), ({"api-version": "bogus"},
                                                                    "InvalidApiVersionParameter")):
            r = http.get("/subscriptions", params=params)  # the api-version is checked in strict mode too
            assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('other-sub')}"}) as http:
        for path in (f"/subscriptions/{SUB}/resources", f"/subscriptions/{SUB}/providers/Microsoft.Compute/"
                     "virtualMachines", VM, f"/subscriptions/{SUB}"):
            assert http.get(path, params=V).status_code == 403, path
        cost = http.post(f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/query",
                         params={"api-version": "2023-03-01"}, json={"type": "ActualCost", "timeframe": "MonthToDate",
                                                                     "dataset": {"granularity": "None"}})
        assert cost.status_code == 403
        assert http.get("/azvm/billing", params={"subscriptionId": SUB}).status_code == 403  # control: admins only


def test_the_control_api_needs_an_admin(strict: AzvmServer) -> None:
    with http_client(strict) as http:
        http.headers.pop("Authorization")
        assert http.get("/azvm/clock").status_code == 401
        owner = {"Authorization": f"Bearer {strict.token_for('owner')}"}
        r = http.get("/azvm/clock", headers=owner)
        assert r.status_code == 403 and "'azvm/control'" in r.json()["error"]["message"]
        assert http.get("/azvm/clock", headers={"Authorization": f"Bearer {strict.token_for('ops')}"}).is_success


def test_sign_in_with_a_secret_a_certificate_and_a_managed_identity(strict: AzvmServer, certificate: Path,
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    kw: dict[str, Any] = {"authority": strict.endpoint, "disable_instance_discovery": True}
    good = ClientSecretCredential(TENANT, "reader", "reader-secret", **kw)
    token = good.get_token(ARM_SCOPE).token
    with http_client(strict, headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get(VM, params=V).status_code == 200
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        ClientSecretCredential(TENANT, "reader", "wrong", **kw).get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        ClientSecretCredential(TENANT, "nobody", "s", **kw).get_token(ARM_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011"):
        good.get_token("https://graph.microsoft.com/.default")
    compute = ComputeManagementClient(CertificateCredential(TENANT, "cert-app", str(certificate), **kw), SUB,
                                      base_url=strict.endpoint, connection_verify=str(strict.cert))
    assert [vm.name for vm in compute.virtual_machines.list_all()] == ["vm1"]
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        CertificateCredential(TENANT, "cert-app", str(make_certificate(tmp_path, "impostor")),
                              **kw).get_token(ARM_SCOPE)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{strict.endpoint}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "x")
    mi = ComputeManagementClient(ManagedIdentityCredential(), SUB, base_url=strict.endpoint,
                                 connection_verify=str(strict.cert))
    mi.virtual_machines.begin_deallocate("rg", "vm1").result()
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(client_id="not-declared").get_token(ARM_SCOPE)


def test_tokens_are_checked_against_the_audience_azvm_serves(strict: AzvmServer) -> None:
    for audience in ("https://management.core.windows.net/", f"{strict.endpoint}/", strict.endpoint):
        with http_client(strict, headers={"Authorization": f"Bearer {strict.token_for('reader', audience)}"}) as h:
            assert h.get(VM, params=V).status_code == 200, audience
