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

import http.client
import io
import json
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from .clock import US, now_wall_us, parse_iso

if TYPE_CHECKING:  # the server (uvicorn, cryptography) loads only when a test asks for one
    from .server import Emulator

DEFAULT_START = "2026-01-01T00:00:00Z"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
NETWORK_API = "2024-05-01"
DEFAULT_TOKEN = "azvm-token"  # the bearer token of arm() and of the clients made without a credential
ADMIN_TOKEN_MARGIN = 300  # seconds before its expiry that the control API's admin token is signed anew
ARM_WAIT_SECONDS = 120.0  # how long (real time) arm() waits for an operation before it gives up
ARM_POLL_MAX = 5.0  # the longest arm() sleeps between two polls, whatever Retry-After says
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

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
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
    arm_token: str = DEFAULT_TOKEN
    _ssl: tuple[Path, ssl.SSLContext] | None = field(default=None, init=False, repr=False, compare=False)
    _admin: tuple[str, int] | None = field(default=None, init=False, repr=False, compare=False)  # (token, exp)
    # what a thread keeps open to this server from one test to the next: `conn`, the keep-alive connection
    # of arm() and the control API; `transport`, the requests session the SDK clients share
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)
    _opened: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)  # to close, any thread's
    _opened_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # -- identity --------------------------------------------------------------------------------
    def token_for(self, client_id: str, audience: str = "https://management.azure.com") -> str:
        """A token that this server signs for a principal declared in its principals file (in open mode,
        for any client id), as its token endpoint would issue it."""
        return self._issue(client_id, audience)[0]

    def _issue(self, client_id: str, audience: str = "https://management.azure.com") -> tuple[str, int]:
        """(token, expiry in epoch seconds) for a principal, as token_for checks it."""
        identity = self.emulator.identity
        assert identity is not None
        principal = identity.principals.get(client_id) if identity.principals is not None else None
        if identity.strict and principal is None:
            raise KeyError(f"{client_id!r} is not in the principals file")
        subject = identity.subject(principal, client_id, identity.tenant_id)
        return identity.tokens.issue(subject, audience, self.endpoint)

    def _admin_token(self) -> str | None:
        """The first admin principal's token, signed once and again only when it nears its expiry
        (tokens last an hour of wall time)."""
        identity = self.emulator.identity
        if identity is None or identity.principals is None:
            return None
        if self._admin is not None and now_wall_us() // US < self._admin[1] - ADMIN_TOKEN_MARGIN:
            return self._admin[0]
        admins = [p for p in identity.principals.by_client.values() if p.admin]
        if not admins:
            return None
        self._admin = self._issue(admins[0].client_id)
        return self._admin[0]

    def credential(self) -> Any:
        return StaticTokenCredential(self.arm_token)

    # -- SDK clients -------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"base_url": self.endpoint}
        if self.cert is not None:
            kw["connection_verify"] = str(self.cert)
        return kw

    def _client(self, cls: Any, **kwargs: Any) -> Any:
        """An SDK client of `cls` for this server: `credential` (default: arm_token's) and any client
        keyword argument may be given; the endpoint and certificate are this server's unless overridden.

        Made with no keyword argument but `credential`, it sends through a requests session that the
        clients this thread makes share, from one test to the next (kept until the server stops): its
        connection to the server is open already, where a client of its own would connect and shake
        hands anew. Closing such a client leaves the session to the others."""
        credential = kwargs.pop("credential", None) or self.credential()
        if not kwargs:
            kwargs["transport"] = self._shared_transport()
        return cls(credential, self.subscription_id, **{**self.client_kwargs(), **kwargs})

    def _shared_transport(self) -> Any:
        from azure.core.pipeline.transport import RequestsTransport

        owner = getattr(self._local, "transport", None)
        if owner is None:
            owner = RequestsTransport()  # azure-core's own session set-up (its adapter, retries off)
            owner.open()
            self._local.transport = owner
            with self._opened_lock:
                self._opened.append(owner)
        verify = {"connection_verify": str(self.cert)} if self.cert is not None else {}
        return RequestsTransport(session=owner.session, session_owner=False, **verify)

    def close(self) -> None:
        """Close the connections that arm(), the control API and the SDK clients kept open (azvm_server
        does it as it stops the server)."""
        with self._opened_lock:
            opened, self._opened[:] = list(self._opened), []
        for thing in opened:
            thing.close()
        self._local = threading.local()

    def compute_client(self, **kwargs: Any) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        return self._client(ComputeManagementClient, **kwargs)

    def network_client(self, **kwargs: Any) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return self._client(NetworkManagementClient, **kwargs)

    def resource_client(self, **kwargs: Any) -> Any:
        import importlib

        try:
            module = importlib.import_module("azure.mgmt.resource.resources")
        except ImportError:  # azure-mgmt-resource < 26
            module = importlib.import_module("azure.mgmt.resource")
        return self._client(module.ResourceManagementClient, **kwargs)

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context that trusts this server's certificate (for httpx, urllib, aiohttp...): made
        once and shared by every caller, so use it as it is."""
        if not self.cert:
            return None
        if self._ssl is None or self._ssl[0] != self.cert:
            self._ssl = (self.cert, ssl.create_default_context(cafile=str(self.cert)))
        return self._ssl[1]

    def _request(self, method: str, url: str, body: Any = None, *, token: str | None) -> tuple[Any, Message]:
        """One JSON request (raises urllib's HTTPError on an error, URLError when the server cannot be
        reached): (the decoded body, None when empty; the response's headers). Requests to this server
        go over a keep-alive connection of the calling thread's, kept from one test to the next."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        u = urlsplit(url)
        if f"{u.scheme}://{u.netloc}" != self.endpoint:
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as r:
                raw = r.read()
                return (json.loads(raw) if raw else None), r.headers
        target = u.path + (f"?{u.query}" if u.query else "")
        for attempt in (1, 2):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=data, headers=headers)
                r = conn.getresponse()
                raw = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                    ssl.SSLZeroReturnError) as e:  # over TLS, a connection the server closed fails so
                conn.close()
                if reused and attempt == 1:
                    continue  # the server had closed the idle connection (keep-alive timeout): once more on a new one
                raise urllib.error.URLError(e) from e
            except OSError as e:  # refused, timed out: as urllib reports them
                conn.close()
                raise urllib.error.URLError(e) from e
            except BaseException:
                conn.close()  # a response left half read: the next request starts on a new connection
                raise
            if not 200 <= r.status < 300:
                raise urllib.error.HTTPError(url, r.status, r.reason, r.headers, io.BytesIO(raw))
            return (json.loads(raw) if raw else None), r.headers
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        """The calling thread's keep-alive connection to this server (http.client opens it again when the
        server closed it)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            u = urlsplit(self.endpoint)
            host, port = u.hostname or "127.0.0.1", u.port
            conn = (http.client.HTTPSConnection(host, port, timeout=30, context=self.ssl_context())
                    if u.scheme == "https" else http.client.HTTPConnection(host, port, timeout=30))
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    # -- the control API -----------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control API request; with --auth strict, as the first admin principal of the principals file."""
        return self._request(method, f"{self.endpoint}/azvm/{path}", body, token=self._admin_token())[0]

    def now(self) -> str:
        return str(self.control("GET", "clock")["now"])

    def advance(self, seconds: float) -> str:
        return str(self.control("POST", "clock", {"advanceSeconds": seconds})["now"])

    def set_time_skipping(self, on: bool) -> None:
        self.control("POST", "clock", {"timeSkipping": on})

    def guest_shutdown(self, vm_id: str) -> Any:
        return self.control("POST", "guest-shutdown", {"id": vm_id})

    def inject_fault(self, **fault: Any) -> dict[str, Any]:
        """Set a fault rule (docs/faults.md), e.g. `inject_fault(kind="operation", op="start", name="web-*",
        count=2)`; returns it as the server holds it (with its `id`). A bad rule raises urllib's HTTPError
        (400, the field at fault as the error's target)."""
        return dict(self.control("POST", "faults", fault))

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules in force, each with where it stands (`remaining`, `fired`, `draws`)."""
        return list(self.control("GET", "faults")["value"])

    def remove_fault(self, fault_id: str) -> dict[str, Any]:
        return dict(self.control("DELETE", f"faults/{fault_id}"))

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    @contextmanager
    def fault(self, **fault: Any) -> Iterator[dict[str, Any]]:
        """A fault rule in force for the `with` block: `with azvm.fault(kind="power-unknown", name="vm1"):`."""
        rule = self.inject_fault(**fault)
        try:
            yield rule
        finally:
            if any(f["id"] == rule["id"] for f in self.faults()):
                self.remove_fault(rule["id"])

    def reset(self, start_time: str = DEFAULT_START, seed: int = 1) -> None:
        self.control("POST", "reset", {"startTime": start_time, "seed": seed, "timeSkipping": True})

    # -- ARM, for the one-line helpers ---------------------------------------------------------------
    def arm(self, method: str, path: str, body: Any = None, *, api_version: str = "2024-11-01") -> Any:
        """One ARM request (`path` from /subscriptions/...); raises urllib's HTTPError on an error."""
        sep = "&" if "?" in path else "?"
        url = path if path.startswith("http") else f"{self.endpoint}{path}{sep}api-version={api_version}"
        result, headers = self._request(method, url, body, token=self.arm_token)
        async_url = headers.get("Azure-AsyncOperation")
        if async_url:
            self._wait(async_url)
        return result

    def _wait(self, async_url: str) -> None:
        """Polls an operation until it ends (time skipping makes the first poll see the end), sleeping
        between polls as its Retry-After or retry-after-ms asks (at most ARM_POLL_MAX); TimeoutError
        when it is still in progress after ARM_WAIT_SECONDS of real time."""
        deadline = time.monotonic() + ARM_WAIT_SECONDS
        while True:
            status, headers = self._request("GET", async_url, token=self.arm_token)
            if status["status"] != "InProgress":
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the operation {async_url} is still InProgress after {ARM_WAIT_SECONDS:g} s"
                                   " (a manual clock with time skipping off moves only when advanced)")
            # the client's side of the wire: it waits in real time, as an SDK's poller does
            time.sleep(min(_retry_after(headers), ARM_POLL_MAX, left))  # noqa: TID251

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


def _retry_after(headers: Message) -> float:
    """Seconds to wait before the next poll, as Azure's SDKs read them: retry-after-ms, then
    Retry-After (seconds); 1 when neither says."""
    for name, scale in (("retry-after-ms", 1000.0), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                pass  # an HTTP date: not what azvm sends
    return 1.0


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
        azvm = AzvmServer(f"{scheme}://127.0.0.1:{port}", emu.cert, emu)
        try:
            yield azvm
        finally:
            azvm.close()
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
