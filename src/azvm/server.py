"""Assemble and run a server: store + clock + service + ARM and control APIs, over uvicorn."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs
import uvicorn

from . import __version__
from .arm.app import ArmApi, ArmAsgi, ServerConfig, build_app
from .arm.versions import ApiVersionPolicy
from .clock import Clock, ClockState, now_wall_us, to_datetime
from .control.api import ControlApi
from .ids import IdSource
from .service.billing import BillingService, resolve_prices, resolve_rules
from .service.compute import ComputeService, Settings
from .service.ports import Store
from .store import SqliteStore, open_store


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("azvm", appauthor=False))


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 8443
    data_dir: str | None = None  # None: the per-user data directory
    in_memory: bool = False
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
            else:
                setattr(o, f.name, raw)
        return o

    def to_env(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "extra" and v is not None:
                out[self.ENV_PREFIX + f.name.upper()] = str(v)
        return out

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else default_data_dir()


def _restore_clock(store: Store, opts: Options) -> Clock:
    saved = store.get_meta("clock")
    persisted_now: int | None = None
    if saved:
        a, w, s, k = saved.split(",")
        persisted_now = Clock(ClockState(int(a), int(w), float(s), k == "1")).now_us()
    skip = opts.time_skipping if opts.time_skipping is not None else opts.manual_clock
    start = persisted_now if persisted_now is not None else (
        opts.start_time_us if opts.start_time_us is not None else now_wall_us())
    if opts.manual_clock:
        return Clock.manual(start, skip=skip)
    return Clock.real(opts.clock_speed, start_us=start, skip=skip)


@dataclass
class Emulator:
    """Everything a server process holds."""

    options: Options
    store: Store
    service: ComputeService
    app: ArmAsgi
    cert: Path | None
    key: Path | None


def build(opts: Options) -> Emulator:
    store = open_store(None if opts.in_memory else opts.resolved_data_dir, durability=opts.durability)
    clock = _restore_clock(store, opts)
    service = ComputeService(store, clock, IdSource(opts.seed),
                             Settings(profile=opts.profile, page_size=opts.page_size,
                                      shared_clock=opts.workers > 1))
    service.persist_clock()
    if isinstance(store, SqliteStore):
        # from here on only the ASGI edge writes, and it commits once per turn of the event loop
        # (anything written before this point has committed on its own)
        store.group_commit = True
        store.start_background_checkpoints()
    billing = BillingService(resolve_prices(opts.prices), resolve_rules(opts.billing_rules))
    control = ControlApi(service, store_kind="memory" if opts.in_memory else "sqlite", version=__version__,
                         billing=billing)
    api = ArmApi(service, ServerConfig(poll_delay=opts.poll_delay), ApiVersionPolicy(any_version=opts.any_api_version),
                 control, billing)
    cert = key = None
    if opts.tls:
        from .tls import ensure_certificate

        cert_dir = Path(opts.cert_dir) if opts.cert_dir else opts.resolved_data_dir
        cert, key = ensure_certificate(cert_dir, to_datetime(now_wall_us()))
    return Emulator(opts, store, service, build_app(api), cert, key)


def app_from_env() -> ArmAsgi:
    """uvicorn factory for worker processes (`--workers N`): options travel in AZVM_* variables."""
    return build(Options.from_env()).app


def uvicorn_config(emu: Emulator, **kw: Any) -> uvicorn.Config:
    o = emu.options
    return uvicorn.Config(emu.app, host=o.host, port=o.port, log_level="warning", access_log=False,
                          ssl_certfile=str(emu.cert) if emu.cert else None,
                          ssl_keyfile=str(emu.key) if emu.key else None, lifespan="off", **kw)


class ThreadedServer:
    """A uvicorn server in a background thread (for azvm.testing and benchmarks)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.server = uvicorn.Server(uvicorn_config(emu))
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
        self.server.should_exit = True
        self.thread.join(10)
        self.emu.store.close()
