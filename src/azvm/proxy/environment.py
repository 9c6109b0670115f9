"""What `azvm run` and `azvm env` give a program: the variables that send its Azure traffic to azvm.

A running `azvm serve` leaves `server.json` beside its certificates (its endpoint, its proxy and its
process id); `find_server` reads it back. `prepare` writes, in a directory of the caller's choice, a
CA bundle (azvm's authority followed by the system's, so other HTTPS keeps verifying) and an Azure
CLI profile that is already signed in with a service principal in the public cloud (whose hosts the
proxy intercepts); `variables` names them all.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from ..files import private_dir, write_private

STATE_FILE = "server.json"
DEFAULT_TENANT = "00000000-0000-0000-0000-000000000001"
DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-00000000a2a2"  # any client id: open mode accepts any
DEFAULT_CLIENT_SECRET = "azvm-secret"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")

# each variable and why it is there (`azvm env --help` and the README show this table)
VARIABLES: dict[str, str] = {
    "HTTPS_PROXY": "azvm's proxy: Azure's hosts are answered by azvm, every other host is tunnelled untouched",
    "https_proxy": "the same, for clients that read only the lower-case name (curl)",
    "NO_PROXY": "loopback names: direct calls to azvm (and other local servers) skip the proxy",
    "no_proxy": "the same, lower case",
    "REQUESTS_CA_BUNDLE": "CA bundle (azvm's authority + the system's) for Python requests, the Azure SDK and az",
    "SSL_CERT_FILE": "the same bundle for OpenSSL's default (Python's ssl, urllib, httpx, az's metadata calls)",
    "CURL_CA_BUNDLE": "the same bundle for curl",
    "NODE_EXTRA_CA_CERTS": "azvm's authority, added by Node.js to its own CAs",
    "AZURE_TENANT_ID": "service principal for azure-identity's EnvironmentCredential / DefaultAzureCredential",
    "AZURE_CLIENT_ID": "(the same)",
    "AZURE_CLIENT_SECRET": "(the same)",
    "AZURE_SUBSCRIPTION_ID": "the subscription scripts and tools use by default",
    "AZURE_CONFIG_DIR": "an Azure CLI profile of its own, already signed in (never touches ~/.azure)",
}


@dataclass(frozen=True)
class ServerInfo:
    """Where a running azvm is: its HTTPS endpoint, its proxy, the authority to trust, its process."""

    endpoint: str
    proxy: str
    ca: str
    pid: int


@dataclass(frozen=True)
class Principal:
    tenant_id: str = DEFAULT_TENANT
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    subscription_id: str = DEFAULT_SUBSCRIPTION


def write_state(directory: Path, info: ServerInfo) -> Path:
    path = directory / STATE_FILE
    write_private(path, json.dumps(asdict(info)).encode())
    return path


def clear_state(directory: Path, pid: int) -> None:
    """Remove server.json if it is still the one process `pid` wrote."""
    info = read_state(directory)
    if info is not None and info.pid == pid:
        (directory / STATE_FILE).unlink(missing_ok=True)


def read_state(directory: Path) -> ServerInfo | None:
    try:
        raw = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        return ServerInfo(str(raw["endpoint"]), str(raw["proxy"]), str(raw["ca"]), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_server(directory: Path) -> ServerInfo | None:
    """The azvm server that left its state in `directory`, if that process still runs."""
    info = read_state(directory)
    if info is None:
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it runs, as someone else
    return info


def system_bundle() -> Path | None:
    """The system's CA certificates: OpenSSL's default file, a distribution's bundle, or certifi's."""
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile, *SYSTEM_BUNDLES]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return Path(certifi.where())


def prepare(directory: Path, info: ServerInfo, principal: Principal) -> dict[str, str]:
    """Write the CA bundle and the CLI profile under `directory` (0700); return the variables."""
    private_dir(directory)
    authority = Path(info.ca).read_bytes()
    system = system_bundle()
    bundle = directory / "ca-bundle.pem"
    bundle.write_bytes(authority.rstrip(b"\n") + b"\n" + (system.read_bytes() if system else b""))
    config_dir = directory / "azure"
    write_cli_profile(config_dir, principal)
    return variables(info, principal, bundle=bundle, config_dir=config_dir)


def variables(info: ServerInfo, principal: Principal, *, bundle: Path, config_dir: Path,
              environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    no_proxy = list(LOOPBACK)
    for name in (environ.get("NO_PROXY") or environ.get("no_proxy") or "").split(","):
        if name.strip() and name.strip() not in no_proxy:
            no_proxy.append(name.strip())
    return {
        "HTTPS_PROXY": info.proxy, "https_proxy": info.proxy,
        "NO_PROXY": ",".join(no_proxy), "no_proxy": ",".join(no_proxy),
        "REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(bundle), "CURL_CA_BUNDLE": str(bundle),
        "NODE_EXTRA_CA_CERTS": info.ca,
        "AZURE_TENANT_ID": principal.tenant_id, "AZURE_CLIENT_ID": principal.client_id,
        "AZURE_CLIENT_SECRET": principal.client_secret, "AZURE_SUBSCRIPTION_ID": principal.subscription_id,
        "AZURE_CONFIG_DIR": str(config_dir),
    }


def write_cli_profile(config_dir: Path, principal: Principal) -> None:
    """An Azure CLI profile signed in as `principal` in the public cloud (AzureCloud), as `az login
    --service-principal` leaves it (azure-cli 2.x: azureProfile.json, service_principal_entries.json,
    config). The CLI asks the token endpoint for a token on first use (through the proxy, to azvm).
    Instance discovery and telemetry are off: they would call Microsoft's hosts for nothing."""
    private_dir(config_dir)
    profile = {"installationId": "00000000-0000-0000-0000-00000000a2b1", "subscriptions": [{
        "id": principal.subscription_id, "name": "azvm", "state": "Enabled", "isDefault": True,
        "tenantId": principal.tenant_id, "homeTenantId": principal.tenant_id, "managedByTenants": [],
        "environmentName": "AzureCloud", "user": {"name": principal.client_id, "type": "servicePrincipal"}}]}
    entries = [{"client_id": principal.client_id, "tenant": principal.tenant_id,
                "client_secret": principal.client_secret}]
    write_private(config_dir / "azureProfile.json", json.dumps(profile, indent=2).encode())
    write_private(config_dir / "service_principal_entries.json", json.dumps(entries, indent=2).encode())
    write_private(config_dir / "config", b"[cloud]\nname = AzureCloud\n\n[core]\ninstance_discovery = false\n"
                                         b"collect_telemetry = false\nsurvey_message = false\n")

