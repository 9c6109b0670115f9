"""azvm for people who test their own Azure code: an in-process server and ready SDK clients.

    from azvm.testing import azvm_server

    with azvm_server() as azvm:
        compute = azvm.compute_client()
        ...

or, with pytest (the plugin is registered on install), use the `azvm` fixture: a server shared by
the session, reset before each test, with a manual clock that starts at 2026-01-01T00:00:00Z,
time skipping on (waiting on an operation jumps the clock to its next phase, so `.result()`
returns at once) and seeded ids.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .clock import parse_iso

if TYPE_CHECKING:  # the server (uvicorn, cryptography) loads only when a test asks for one
    from .server import Emulator

DEFAULT_START = "2026-01-01T00:00:00Z"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
NETWORK_API = "2024-05-01"
# the images create_vm knows by a short name (the shipped image catalog has them)
IMAGES: dict[str, dict[str, str]] = {
    "ubuntu": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
    "debian": {"publisher": "Debian", "offer": "debian-12", "sku": "12", "version": "latest"},
    "windows": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter-azure-edition",
                "version": "latest"},
}


class StaticTokenCredential:
    """A TokenCredential for azvm: any bearer token will do with `--auth open`; with `--auth strict`
    give it a token azvm issued (AzvmServer.token_for)."""

    def __init__(self, token: str = "azvm-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, 4102444800)  # 2100-01-01


@dataclass
class AzvmServer:
    endpoint: str
    cert: Path | None
    emulator: Emulator
    subscription_id: str = DEFAULT_SUBSCRIPTION
    # the bearer token of arm() and of the clients made without a credential: any with --auth open;
    # with --auth strict, set it to a token of a declared principal (token_for)
    arm_token: str = "azvm-token"

    # -- identity --------------------------------------------------------------------------------
    def token_for(self, client_id: str, audience: str = "https://management.azure.com") -> str:
        """A token that this server signs for a principal declared in its principals file (in open mode,
        for any client id), as its token endpoint would issue it."""
        identity = self.emulator.identity
        assert identity is not None
        principal = identity.principals.get(client_id) if identity.principals is not None else None
        if identity.strict and principal is None:
            raise KeyError(f"{client_id!r} is not in the principals file")
        subject = identity.subject(principal, client_id, identity.tenant_id)
        return identity.tokens.issue(subject, audience, self.endpoint)[0]

    def _admin_token(self) -> str | None:
        identity = self.emulator.identity
        if identity is None or identity.principals is None:
            return None
        admins = [p for p in identity.principals.by_client.values() if p.admin]
        return self.token_for(admins[0].client_id) if admins else None

    def credential(self) -> Any:
        return StaticTokenCredential(self.arm_token)

    # -- SDK clients -------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"base_url": self.endpoint}
        if self.cert is not None:
            kw["connection_verify"] = str(self.cert)
        return kw

    def compute_client(self, **kwargs: Any) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        credential = kwargs.pop("credential", None) or self.credential()
        return ComputeManagementClient(credential, self.subscription_id, **{**self.client_kwargs(), **kwargs})

    def network_client(self, **kwargs: Any) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        credential = kwargs.pop("credential", None) or self.credential()
        return NetworkManagementClient(credential, self.subscription_id, **{**self.client_kwargs(), **kwargs})

    def resource_client(self, **kwargs: Any) -> Any:
        import importlib

        try:
            module = importlib.import_module("azure.mgmt.resource.resources")
        except ImportError:  # azure-mgmt-resource < 26
            module = importlib.import_module("azure.mgmt.resource")
        credential = kwargs.pop("credential", None) or self.credential()
        return module.ResourceManagementClient(credential, self.subscription_id, **{**self.client_kwargs(), **kwargs})

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context that trusts this server's certificate (for httpx, urllib, aiohttp...)."""
        return ssl.create_default_context(cafile=str(self.cert)) if self.cert else None

    # -- the control API -----------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control API request; with --auth strict, as the first admin principal of the principals file."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        admin = self._admin_token()
        if admin is not None:
            headers["Authorization"] = f"Bearer {admin}"
        req = urllib.request.Request(f"{self.endpoint}/azvm/{path}", data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as r:
            return json.loads(r.read() or b"null")

    def now(self) -> str:
        return str(self.control("GET", "clock")["now"])

    def advance(self, seconds: float) -> str:
        return str(self.control("POST", "clock", {"advanceSeconds": seconds})["now"])

    def set_time_skipping(self, on: bool) -> None:
        self.control("POST", "clock", {"timeSkipping": on})

    def guest_shutdown(self, vm_id: str) -> Any:
        return self.control("POST", "guest-shutdown", {"id": vm_id})

    def inject_fault(self, **fault: Any) -> Any:
        return self.control("POST", "faults", fault)

    def reset(self, start_time: str = DEFAULT_START, seed: int = 1) -> None:
        self.control("POST", "reset", {"startTime": start_time, "seed": seed, "timeSkipping": True})

    # -- ARM, for the one-line helpers ---------------------------------------------------------------
    def arm(self, method: str, path: str, body: Any = None, *, api_version: str = "2024-11-01") -> Any:
        """One ARM request (`path` from /subscriptions/...); raises urllib's HTTPError on an error."""
        data = None if body is None else json.dumps(body).encode()
        sep = "&" if "?" in path else "?"
        url = path if path.startswith("http") else f"{self.endpoint}{path}{sep}api-version={api_version}"
        req = urllib.request.Request(url, data=data, method=method, headers={
            "content-type": "application/json", "Authorization": f"Bearer {self.arm_token}"})
        with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as r:
            raw = r.read()
            async_url = r.headers.get("Azure-AsyncOperation")
        if async_url:  # wait for the operation (time skipping makes this immediate)
            while self.arm("GET", async_url)["status"] == "InProgress":
                pass
        return json.loads(raw) if raw else None

    def create_vm(self, name: str = "vm1", *, resource_group: str = "rg", location: str = "eastus",
                  image: str | dict[str, str] = "ubuntu", size: str = "Standard_B2s", public_ip: bool = False,
                  data_disks: int = 0, tags: dict[str, str] | None = None) -> dict[str, Any]:
        """Make a VM with what it needs, as a management script would, and wait until it is created.

        Creates (or reuses) the resource group, a virtual network `{rg}-vnet` with subnet `default`,
        a network interface `{name}-nic` (with a Standard static public IP `{name}-ip` when
        `public_ip`), then the VM from `image` ("ubuntu", "debian", "windows", or an
        imageReference), with `data_disks` empty 32 GB disks. Returns the VM as GET shows it.
        """
        rg = f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}"
        net = f"{rg}/providers/Microsoft.Network"
        self.arm("PUT", rg, {"location": location})
        vnet = f"{net}/virtualNetworks/{resource_group}-vnet"
        try:
            self.arm("GET", vnet, api_version=NETWORK_API)
        except urllib.error.HTTPError:
            self.arm("PUT", vnet, {"location": location, "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
                api_version=NETWORK_API)
        ipconfig: dict[str, Any] = {"subnet": {"id": f"{vnet}/subnets/default"}}
        if public_ip:
            pip = f"{net}/publicIPAddresses/{name}-ip"
            self.arm("PUT", pip, {"location": location, "sku": {"name": "Standard"},
                                  "properties": {"publicIPAllocationMethod": "Static"}}, api_version=NETWORK_API)
            ipconfig["publicIPAddress"] = {"id": pip}
        nic = f"{net}/networkInterfaces/{name}-nic"
        self.arm("PUT", nic, {"location": location, "properties": {
            "ipConfigurations": [{"name": "ipconfig1", "properties": ipconfig}]}}, api_version=NETWORK_API)
        reference = IMAGES[image] if isinstance(image, str) else image
        windows = "windows" in str(reference.get("publisher", "")).lower()
        os_profile: dict[str, Any] = {"computerName": name[:15] if windows else name, "adminUsername": "azureuser",
                                      "adminPassword": "Passw0rd!Passw0rd!"}
        body: dict[str, Any] = {"location": location, "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {"imageReference": reference,
                               "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"},
                               "dataDisks": [{"lun": i, "createOption": "Empty", "diskSizeGB": 32,
                                              "deleteOption": "Delete"} for i in range(data_disks)]},
            "osProfile": os_profile,
            "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"deleteOption": "Delete"}}]}}}
        if tags:
            body["tags"] = tags
        vm = f"{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        self.arm("PUT", vm, body)
        return dict(self.arm("GET", vm))


@contextmanager
def azvm_server(*, manual_clock: bool = True, start_time: str = DEFAULT_START, seed: int | None = 1,
                time_skipping: bool | None = None, data_dir: str | None = None, poll_delay: float = 0.01,
                tls: bool = True, auth: str = "open", principals: str | Path | dict[str, Any] | list[Any] | None = None,
                **options: Any) -> Iterator[AzvmServer]:
    """Start an in-process azvm server on a free loopback port; stop it on exit.

    `auth="strict"` with `principals` (a principals file, or its JSON as a dict or list: see
    azvm.identity.principals) makes a server that takes only the tokens it issued; `token_for(client_id)`
    makes one, and the control API is used as the file's first admin principal.

    In memory unless `data_dir` is given; a data directory is held for as long as the server runs
    (`azvm.server.DataDirInUse` when another process serves it). Leaving takes a fraction of a
    second, also when a client is left holding a connection. Any other `azvm.server.Options` field
    may be passed (e.g. `allowed_hosts=["myhost"]`).
    """
    from .server import Options, ThreadedServer, build

    with tempfile.TemporaryDirectory(prefix="azvm-") as tmp:
        options.setdefault("port", 0)
        options.setdefault("cert_dir", tmp)
        if isinstance(principals, (dict, list)):
            path = Path(tmp) / "principals.json"
            path.write_text(json.dumps(principals))
            principals = path
        opts = Options(host="127.0.0.1", data_dir=data_dir, in_memory=data_dir is None,
                       manual_clock=manual_clock, start_time_us=parse_iso(start_time), seed=seed,
                       time_skipping=time_skipping, poll_delay=poll_delay, tls=tls, auth=auth,
                       principals=None if principals is None else str(principals), **options)
        emu = build(opts)
        server = ThreadedServer(emu)
        port = server.start()
        scheme = "https" if tls else "http"
        try:
            yield AzvmServer(f"{scheme}://127.0.0.1:{port}", emu.cert, emu)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def azvm_session() -> Iterator[AzvmServer]:
    with azvm_server() as server:
        yield server


@pytest.fixture
def azvm(azvm_session: AzvmServer) -> AzvmServer:
    """A fresh world for each test: empty, clock at 2026-01-01T00:00:00Z, ids seeded with 1."""
    azvm_session.reset()
    return azvm_session


__all__ = ["AzvmServer", "StaticTokenCredential", "azvm", "azvm_server", "azvm_session"]
