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


class StaticTokenCredential:
    """A TokenCredential for azvm (which accepts any bearer token)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("azvm-token", 4102444800)  # 2100-01-01


@dataclass
class AzvmServer:
    endpoint: str
    cert: Path | None
    emulator: Emulator
    subscription_id: str = DEFAULT_SUBSCRIPTION

    # -- SDK clients -------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"base_url": self.endpoint}
        if self.cert is not None:
            kw["connection_verify"] = str(self.cert)
        return kw

    def compute_client(self, **kwargs: Any) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        return ComputeManagementClient(StaticTokenCredential(), self.subscription_id,
                                       **{**self.client_kwargs(), **kwargs})

    def resource_client(self, **kwargs: Any) -> Any:
        import importlib

        try:
            module = importlib.import_module("azure.mgmt.resource.resources")
        except ImportError:  # azure-mgmt-resource < 26
            module = importlib.import_module("azure.mgmt.resource")
        return module.ResourceManagementClient(StaticTokenCredential(), self.subscription_id,
                                               **{**self.client_kwargs(), **kwargs})

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context that trusts this server's certificate (for httpx, urllib, aiohttp...)."""
        return ssl.create_default_context(cafile=str(self.cert)) if self.cert else None

    # -- the control API -----------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint}/azvm/{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
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


@contextmanager
def azvm_server(*, manual_clock: bool = True, start_time: str = DEFAULT_START, seed: int | None = 1,
                time_skipping: bool | None = None, data_dir: str | None = None, poll_delay: float = 0.01,
                tls: bool = True, **options: Any) -> Iterator[AzvmServer]:
    """Start an in-process azvm server on a free loopback port; stop it on exit.

    In memory unless `data_dir` is given; a data directory is held for as long as the server runs
    (`azvm.server.DataDirInUse` when another process serves it). Leaving takes a fraction of a
    second, also when a client is left holding a connection. Any other `azvm.server.Options` field
    may be passed (e.g. `allowed_hosts=["myhost"]`).
    """
    from .server import Options, ThreadedServer, build

    with tempfile.TemporaryDirectory(prefix="azvm-") as tmp:
        options.setdefault("port", 0)
        options.setdefault("cert_dir", tmp)
        opts = Options(host="127.0.0.1", data_dir=data_dir, in_memory=data_dir is None,
                       manual_clock=manual_clock, start_time_us=parse_iso(start_time), seed=seed,
                       time_skipping=time_skipping, poll_delay=poll_delay, tls=tls, **options)
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
