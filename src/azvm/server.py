"""Assemble and run a server: store + clock + service + ARM and control APIs, over uvicorn."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import __version__
from .arm.app import ServerConfig, Throttling, build_app
from .arm.versions import ApiVersionPolicy
from .clock import Clock, now_wall_us, to_datetime
from .control.api import ControlApi
from .guard import Guard, HostPolicy
from .identity import Identity, install
from .ids import IdSource
from .providers import build_api
from .proxy.hosts import AZURE_HOSTS
from .service.billing import BillingService, resolve_prices, resolve_rules
from .service.clock import restore as restore_clock
from .service.compute import ComputeService, Settings
from .service.faults import read_fault_file
from .service.ports import Store
from .store import SqliteStore, make_private_dir, open_store
from .web import Dashboard, mount

if sys.platform != "win32":
    import fcntl

# how long a stopping server lets the requests in flight finish before it drops their connections
# (idle keep-alive connections are dropped at once): `azvm serve` exits within 2 s of SIGTERM
STOP_GRACE_SECONDS = 1


def default_data_dir() -> Path:
    import platformdirs  # loaded by a server that has no --data-dir only

    return Path(platformdirs.user_data_dir("azvm", appauthor=False))


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8443
    data_dir: str | None = None  # None: the per-user data directory
    in_memory: bool = False
    database: str | None = None  # a postgresql:// URL: the store of many processes and hosts (docs/postgres.md)
    clock_speed: float = 1.0
    manual_clock: bool = False
    start_time_us: int | None = None  # where a fresh simulated clock starts (default: now)
    time_skipping: bool | None = None  # default: on with a manual clock, off otherwise
    tls: bool = True
    poll_delay: float = 1.0
    profile: str = "azure"
    seed: int | None = None
    page_size: int = 100
    any_api_version: bool = False
    durability: str = "normal"
    workers: int = 1
    cert_dir: str | None = None
    billing_rules: str | None = None  # a built-in rule set name, or a JSON file
    prices: str | None = None  # a Retail Prices API JSON file (default: the shipped sample sheet)
    # host names (or addresses) that the server answers to besides localhost, the loopback
    # addresses and --host; "*" answers any Host (azvm.guard)
    allowed_hosts: list[str] = field(default_factory=list)
    auth: str = "open"  # open: any bearer token; strict: azvm's tokens and role assignments (azvm.identity)
    principals: str | None = None  # the principals file of --auth strict
    faults: str | None = None  # a JSON file of fault rules, set when the store holds none yet (docs/faults.md)
    rate_limits: str = "off"  # "azure": ARM's and Compute's rate limits, refilled over simulated time
    extra: dict[str, Any] = field(default_factory=dict)

    ENV_PREFIX = "AZVM_"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Options:
        env = dict(os.environ if env is None else env)
        o = cls()
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(cls.ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            cur = getattr(o, f.name)
            if isinstance(cur, bool) or f.type in ("bool", "bool | None"):
                setattr(o, f.name, raw.lower() in ("1", "true", "yes", "on"))
            elif f.type in ("int", "int | None"):
                setattr(o, f.name, int(raw))
            elif f.type == "float":
                setattr(o, f.name, float(raw))
            elif f.type == "list[str]":
                setattr(o, f.name, [item.strip() for item in raw.split(",") if item.strip()])
            else:
                setattr(o, f.name, raw)
        return o

    def to_env(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "extra" and v is not None:
                out[self.ENV_PREFIX + f.name.upper()] = ",".join(v) if isinstance(v, list) else str(v)
        return out

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else default_data_dir()


def _restore_clock(store: Store, opts: Options) -> Clock:
    skip = opts.time_skipping if opts.time_skipping is not None else opts.manual_clock
    return restore_clock(store, manual=opts.manual_clock, speed=opts.clock_speed, start_us=opts.start_time_us,
                         skip=skip)


class DataDirInUse(RuntimeError):
    """Another process serves this data directory: two servers with two clocks would write one
    history out of time order. (`--workers N` processes join the world of the `azvm serve` that
    started them instead.)"""

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"the data directory {directory} is in use by {holder} (another azvm serve):"
                         " stop that one, or give this one another --data-dir")


LOCK_NAME = "azvm.lock"


class DataDirLock:
    """An exclusive lock (flock) on a data directory, held for the life of the serving process, with
    the holder's PID in it. The kernel drops it when the process ends, however it ends."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, directory: Path, *, join_parent: bool = False) -> DataDirLock:
        """Raises DataDirInUse when another process holds it, unless `join_parent` and the holder is
        the parent of this process (a `--workers` process of the `azvm serve` that holds it)."""
        if sys.platform == "win32":
            return cls(None)  # no flock on Windows
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            if join_parent and holder == os.getppid():
                return cls(None)
            raise DataDirInUse(directory, holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.fchmod(fd, 0o600)  # the owner's only, like the rest of the directory
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


@dataclass
class Emulator:
    """Everything a server process holds."""

    options: Options
    store: Store
    service: ComputeService
    app: Dashboard  # the dashboard (azvm.web) over the ARM edge (screening with azvm.guard)
    cert: Path | None
    key: Path | None
    lock: DataDirLock | None = None
    identity: Identity | None = None  # the token service (its keys, principals, --auth mode)

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.release()


def build(opts: Options) -> Emulator:
    lock = None
    if not opts.in_memory:
        make_private_dir(opts.resolved_data_dir)
        if opts.database is None:  # on a database, the data directory holds keys and certificates only
            lock = DataDirLock.acquire(opts.resolved_data_dir, join_parent=opts.workers > 1)
    try:
        return _build(opts, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _build(opts: Options, lock: DataDirLock | None) -> Emulator:
    # a bad name fails before anything opens; Azure's own hosts come through azvm's proxy (no page can
    # rebind them: their DNS is Microsoft's)
    policy = HostPolicy.for_server(opts.host, [*opts.allowed_hosts, *AZURE_HOSTS])
    store = open_store(opts.database or (None if opts.in_memory else opts.resolved_data_dir),
                       durability=opts.durability)
    clock = _restore_clock(store, opts)
    service = ComputeService(store, clock, IdSource(opts.seed),
                             Settings(profile=opts.profile, page_size=opts.page_size,
                                      shared_clock=opts.workers > 1 or opts.database is not None,
                                      rate_limits=opts.rate_limits))
    service.time.persist()
    if opts.faults and not service.faults.stored:
        # the file's rules start a store's sequence; a restart goes on with the stored rules and their state
        service.faults.take_all(read_fault_file(opts.faults))
    if isinstance(store, SqliteStore):
        # from here on only the ASGI edge writes, and it commits once per turn of the event loop
        # (anything written before this point has committed on its own)
        store.group_commit = True
        store.sole_writer = opts.workers == 1  # the data directory's lock keeps every other server out
        store.start_background_checkpoints()
    elif opts.database is not None:
        store.group_commit = True  # type: ignore[attr-defined]  # the PostgreSQL store commits the same way
    billing = BillingService(resolve_prices(opts.prices), resolve_rules(opts.billing_rules))
    kind = "postgresql" if opts.database else "memory" if opts.in_memory else "sqlite"
    control = ControlApi(service, store_kind=kind, version=__version__,
                         billing=billing)
    api = build_api(service, ServerConfig(poll_delay=opts.poll_delay),
                    ApiVersionPolicy(any_version=opts.any_api_version), control, billing)
    Throttling(service.throttler, service.faults, service.now).install(api)
    identity = install(api, mode=opts.auth, principals=opts.principals, tenant_id=api.cfg.tenant_id,
                       key_dir=None if opts.in_memory else opts.resolved_data_dir)
    cert = key = None
    if opts.tls:
        from .tls import ensure_certificate

        cert_dir = Path(opts.cert_dir) if opts.cert_dir else opts.resolved_data_dir
        cert, key = ensure_certificate(cert_dir, to_datetime(now_wall_us()))
    return Emulator(opts, store, service, mount(build_app(api, Guard(policy)), service, billing), cert, key, lock,
                    identity)


def app_from_env() -> Dashboard:
    """uvicorn factory for worker processes (`--workers N`): options travel in AZVM_* variables."""
    app = build(Options.from_env()).app
    tune_gc()
    return app


def tune_gc() -> None:
    """For a process that serves: what it built at start is never collected (gc.freeze), and the
    cyclic collector makes a full pass at most once every ~31 million net allocations of tracked objects
    (35,000 x 3 x 301: a generation-1 pass on every third trigger, a full pass on every 301st of
    those) where Python's default (700, 10, 10) allows one every ~85,000. A server's heap is large
    and long-lived (heads parsed, lists rendered: a GB with 100,000 VMs) and its objects seldom
    form cycles, so the default full passes over it cost far more than they free (a listing of
    100,000 VMs spent most of its time in them).

    The young generations stay small, as a pass over them holds every request up. The in-memory
    store keeps each operation as objects that survive; with the thresholds before, (70,000, 20, 20),
    a generation-1 pass walked 21 young generations' worth of them: 428 ms under power actions, and
    bench_power's in-memory server at a p99 of 460-500 ms in one round of each run. With these the
    longest pass in 40 s of power actions is 43-48 ms and p99 8-9 ms, against 428-437 ms and 22-26 ms
    (benchmarks/bench_gc.py --compare 70000,20,20), for the same work: each object that survives is
    walked once in each young generation whatever their size."""
    gc.freeze()
    gc.set_threshold(35_000, 2, 300)


def uvicorn_config(emu: Emulator, **kw: Any) -> uvicorn.Config:
    o = emu.options
    kw.setdefault("timeout_graceful_shutdown", STOP_GRACE_SECONDS)
    kw.setdefault("http", HttpProtocol)
    kw.setdefault("ws", "none")  # see HttpProtocol._unsupported_upgrade_warning
    # Date comes from the simulated clock (the edge sets it), not from uvicorn's wall clock; no
    # X-Forwarded-* is taken from anyone (azvm's own proxy tunnels, it adds none)
    return uvicorn.Config(emu.app, host=o.host, port=o.port, log_level="warning", access_log=False, date_header=False,
                          proxy_headers=False, ssl_certfile=str(emu.cert) if emu.cert else None,
                          ssl_keyfile=str(emu.key) if emu.key else None, lifespan="off", **kw)


class OneWrite:
    """A connection's transport as a request's cycle sees it: a response's status line and headers are
    held until its body is written, and both go out in one write (one system call, one segment for the
    client to read) rather than uvicorn's two. Held only when a body of known, non-zero length must
    follow at once; a streamed (chunked) answer's headers go out as they come. Anything else the cycle
    asks of the transport (close, is_closing...) sends what is held first."""

    __slots__ = ("_transport", "_head", "cycle")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self.cycle: Any = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
            return
        c = self.cycle
        if (c is not None and not c.response_complete and c.chunked_encoding is False
                and c.expected_content_length > 0 and c.scope["method"] != "HEAD"):
            self._head = data  # the head of a response whose body comes next
            return
        self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a stop that never waits on an idle client.

    On stop, uvicorn closes each idle connection and waits until every connection is gone. Over TLS
    a close waits for the client's close_notify, which an SDK client holding an idle keep-alive
    connection never sends (it reads nothing until its next request): the server never exited.
    An idle connection is aborted instead; a busy one still gets its response, and
    `timeout_graceful_shutdown` bounds the wait for those."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._joined = OneWrite(transport)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:  # none yet on a connection whose first request was an upgrade
            self._joined.cycle = self.cycle
            self.cycle.transport = self._joined  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        self._joined.flush()
        super().on_response_complete()

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            self.cycle.keep_alive = False

    def _unsupported_upgrade_warning(self) -> None:
        """An `Upgrade: websocket` request is answered over HTTP/1.1 as if the header were absent, as a
        server that keeps to its protocol may (RFC 9110 §7.8): azvm serves no WebSocket, so uvicorn runs
        with `ws="none"` (no WebSocket library is loaded as the server starts) and its warning that
        none is installed would only mislead."""

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser refused (an over-long URL or header, a malformed request line)
        gets the ARM envelope too, not uvicorn's plain text."""
        from .domain.errors import ArmError
        from .wire import error_response

        resp = error_response(ArmError("The request could not be parsed: its request line or headers are"
                                       " malformed or too long (URLs and headers are limited to 64 KB).",
                                       code="InvalidRequestFormat"))
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        for k, v in resp.headers.items():
            content.append(f"{k}: {v}\r\n".encode("latin-1"))
        content.extend([b"content-length: " + str(len(resp.body)).encode("ascii") + b"\r\n",
                        b"connection: close\r\n\r\n", resp.body])
        self.transport.write(b"".join(content))
        self.transport.close()


def serve_workers(emu: Emulator) -> None:
    """`azvm serve --workers N`: N server processes on one port over emu's store; returns when they
    have stopped. Each builds its own Emulator from AZVM_* variables (`app_from_env`) and joins the
    world whose data directory this process holds (emu.lock); this process only supervises them."""
    o = emu.options
    emu.store.close()  # the workers open their own; the data directory stays locked by this process
    os.environ.update(o.to_env())
    os.environ["AZVM_CERT_DIR"] = str(emu.cert.parent) if emu.cert else ""
    uvicorn.run("azvm.server:app_from_env", factory=True, host=o.host, port=o.port, workers=o.workers,
                log_level="warning", access_log=False, lifespan="off", http=HttpProtocol, ws="none",
                date_header=False, proxy_headers=False, timeout_graceful_shutdown=STOP_GRACE_SECONDS,
                ssl_certfile=str(emu.cert) if emu.cert else None, ssl_keyfile=str(emu.key) if emu.key else None)
    if emu.lock is not None:
        emu.lock.release()


class Server(uvicorn.Server):
    """uvicorn's server, whose stop leaves no connection open: one that a client still used when the
    graceful stop ran out (a poller that keeps asking) is cut, so that the event loop closes with
    nothing of it left (uvloop refuses to close a loop with an open handle, EBUSY)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        for connection in list(self.server_state.connections):
            connection.transport.abort()
        await asyncio.sleep(0)  # the loop runs the aborts' close callbacks


class ThreadedServer:
    """A uvicorn server in a background thread (for azvm.testing and benchmarks)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.server = Server(uvicorn_config(emu, timeout_graceful_shutdown=0.5))
        self.thread = threading.Thread(target=self.server.run, name="azvm-server", daemon=True)

    def start(self) -> int:
        self.thread.start()
        ready = threading.Event()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("azvm server failed to start")
            ready.wait(0.005)
        sock = self.server.servers[0].sockets[0]
        port: int = sock.getsockname()[1]
        return port

    def stop(self) -> None:
        """Returns within about a second, whatever clients still hold connections."""
        self.server.should_exit = True
        self.thread.join(5)
        self.emu.close()
