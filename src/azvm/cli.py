"""`azvm serve | bill | states-doc`: thin wrappers over the library.

A user's mistake (a bad flag or AZVM_* value, a missing or malformed file, a path azvm cannot write)
is one line on stderr, `azvm: <what is wrong>: expected <what>`, and exit code 2: flag values are
checked by their argparse `type=` (environment defaults included), files where they are read, and
`main` turns the user-error exceptions into that line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_args import (
    TIME_EXPECTED,
    BadValue,
    Parser,
    UsageError,
    arg_type,
    check_time,
    database_url,
    env_default,
    output_file,
    prices_arg,
    regular_file,
    shown_url,
)
from .clock import MAX_ISO, MAX_US, parse_iso
from .domain.errors import ArmError

if TYPE_CHECKING:
    from .proxy.environment import ServerInfo
    from .proxy.relay import ProxyThread
    from .server import Emulator, Options

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _int_from(low: int, high: int | None = None) -> Callable[[str], int]:
    expected = f"an integer from {low} to {high}" if high is not None else f"an integer, at least {low}"

    def convert(text: str) -> int:
        n = int(text)
        if n < low or (high is not None and n > high):
            raise ValueError(text)
        return n
    return arg_type(expected, convert)


def _number(expected: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    def convert(text: str) -> float:
        x = float(text)
        if not math.isfinite(x) or not ok(x):
            raise ValueError(text)
        return x
    return arg_type(expected, convert)


def _choice(*names: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in names:
            raise ValueError(text)
        return text
    return arg_type("one of " + ", ".join(names), convert)


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(text)


def _host(text: str) -> str:
    from .guard import canonical_name

    canonical_name(text)  # the server's own check, which raises ValueError
    return text


def _allowed_host(text: str) -> str:
    return text if text == "*" else _host(text)


def _allowed_host_list(text: str) -> list[str]:
    return [_allowed_host(h.strip()) for h in text.split(",")]


def _start(text: str) -> str:
    if check_time(text) > MAX_US:
        raise BadValue("past the end of the clock")
    return text


_port = _int_from(0, 65535)
_start_time = arg_type(f"{TIME_EXPECTED}, at most {MAX_ISO}", _start)
_flag_value = arg_type("1, true, yes, on, 0, false, no or off", _boolean)
_host_name = arg_type("a host name or an IP address", _host)
_allowed_name = arg_type("a host name, an IP address, or * for any", _allowed_host)
_allowed_names = arg_type("host names or IP addresses separated by commas", _allowed_host_list)


def _principals_file(text: str) -> str:
    from .arm.app import TENANT_ID
    from .identity import PrincipalsError
    from .identity.principals import load_principals

    try:
        load_principals(text, TENANT_ID)
    except PrincipalsError as e:
        raise BadValue(str(e)) from None
    return text


def _rules(text: str) -> str:
    """`--billing-rules`: billing_cli's converter, imported when a value is converted (it needs the
    billing package, which only `azvm serve` and `azvm bill` load)."""
    from .billing_cli import rules_arg

    return rules_arg(text)


_principals = arg_type("a JSON principals file (docs/identity.md)", _principals_file)


def _faults_file(text: str) -> str:
    """`--faults FILE`: read and checked rule by rule before the server starts (BadValue naming the
    rule and the field at fault)."""
    from .service.faults import check_fault_file

    regular_file(text)
    try:
        return check_fault_file(text)
    except OSError as e:
        raise BadValue(e.strerror or "cannot be read") from None
    except UnicodeDecodeError:
        raise BadValue("not UTF-8 text") from None
    except ValueError as e:
        raise BadValue(str(e)) from None


_faults = arg_type("a JSON file of fault rules (docs/faults.md)", _faults_file)


class _Switch(argparse.Action):
    """`--flag` (no value) whose default comes from an AZVM_* variable that says 1/true/yes/on or 0/false/no/off."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = "false", help: str | None = None,
                 **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, type=_flag_value, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


def _serve_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("serve", help="run the emulator (ARM endpoint + control API under /azvm/)",
                       description="Run the azvm server. Every flag may also be given as an AZVM_* environment"
                                   " variable (e.g. AZVM_PORT=9000).")
    env = env_default
    p.add_argument("--host", type=_host_name, default=env("AZVM_HOST", "127.0.0.1"))
    p.add_argument("--port", type=_port, default=env("AZVM_PORT", "8443"), help="0 picks a free port")
    p.add_argument("--allow-host", metavar="NAME", action="append", type=_allowed_name,
                   help="also answer requests whose Host is NAME (by default only localhost and loopback addresses"
                        " are answered); repeatable, or AZVM_ALLOW_HOSTS=NAME,NAME")
    p.add_argument("--auth", type=_choice("open", "strict"), metavar="{open,strict}", default=env("AZVM_AUTH", "open"),
                   help="open: any bearer token (a request without one is refused, as on Azure); strict: only"
                        " tokens azvm issued to the principals of --principals, within their role assignments")
    p.add_argument("--principals", metavar="FILE", type=_principals, default=env("AZVM_PRINCIPALS"),
                   help="who may sign in (client id, secret or certificate, tenant) and their role assignments;"
                        " needed by --auth strict")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data-dir", default=env("AZVM_DATA_DIR"), help="where the SQLite store and the certificate"
                   " live (default: the per-user data directory)")
    g.add_argument("--in-memory", action=_Switch, default=env("AZVM_IN_MEMORY", "false"),
                   help="keep the history in memory only (with TLS, the certificate and its key are still kept"
                        " in the per-user data directory)")
    p.add_argument("--database", metavar="URL", type=database_url, default=env("AZVM_DATABASE"),
                   help="keep the history in PostgreSQL (postgresql://user:password@host/db) instead of SQLite: many"
                        " processes and hosts over one world (docs/postgres.md); the data directory then holds the"
                        " certificate and signing keys only")
    p.add_argument("--clock-speed", type=_number("a number above 0, at most 1e6 (for a clock that stands still:"
                                                 " --manual-clock)", lambda x: 0 < x <= 1e6),
                   default=env("AZVM_CLOCK_SPEED", "1"), help="simulated seconds per wall second (default 1)")
    p.add_argument("--manual-clock", action=_Switch, default=env("AZVM_MANUAL_CLOCK", "false"),
                   help="time moves only through POST /azvm/clock (and time skipping)")
    p.add_argument("--start-time", type=_start_time, default=env("AZVM_START_TIME"),
                   help="ISO time where a new clock starts")
    p.add_argument("--time-skipping", type=_choice("on", "off"), metavar="{on,off}",
                   default=env("AZVM_TIME_SKIPPING"),
                   help="a client polling an unfinished operation moves the clock to its next phase"
                        " (default: on with --manual-clock)")
    p.add_argument("--no-tls", action=_Switch, default=env("AZVM_NO_TLS", "false"),
                   help="plain HTTP (Azure clients then refuse bearer tokens unless told otherwise)")
    p.add_argument("--poll-delay", type=_number("a number of seconds from 0 to 3600", lambda x: 0 <= x <= 3600),
                   default=env("AZVM_POLL_DELAY", "1"),
                   help="seconds clients wait between polls (Retry-After; default 1)")
    p.add_argument("--profile", type=_choice("azure", "fast"), metavar="{azure,fast}",
                   default=env("AZVM_PROFILE", "azure"), help="durations profile: azure or fast")
    p.add_argument("--seed", type=arg_type("an integer", int), default=env("AZVM_SEED"),
                   help="seed for deterministic ids")
    p.add_argument("--page-size", type=_int_from(1), default=env("AZVM_PAGE_SIZE", "100"))
    p.add_argument("--any-api-version", action=_Switch, default=env("AZVM_ANY_API_VERSION", "false"),
                   help="accept any well-formed api-version (for client releases newer than azvm)")
    p.add_argument("--durability", type=_choice("normal", "full"), metavar="{normal,full}",
                   default=env("AZVM_DURABILITY", "normal"),
                   help="normal: survives a process crash; full: also a power cut (slower)")
    p.add_argument("--workers", type=_int_from(1), default=env("AZVM_WORKERS", "1"),
                   help="server processes over the same SQLite store")
    p.add_argument("--billing-rules", type=_rules, default=env("AZVM_BILLING_RULES"),
                   help="billing rule set: docs-2018, docs-2021 (default), azure-2023, or a JSON file")
    p.add_argument("--prices", type=prices_arg, default=env("AZVM_PRICES"),
                   help="a Retail Prices API JSON file (default: the sample sheet shipped with azvm)")
    p.add_argument("--faults", metavar="FILE", type=_faults, default=env("AZVM_FAULTS"),
                   help="fault rules to start with (docs/faults.md): set when the store holds none; a restart"
                        " goes on with the stored rules")
    p.add_argument("--rate-limits", type=_choice("off", "azure"), metavar="{off,azure}",
                   default=env("AZVM_RATE_LIMITS", "off"),
                   help="azure: throttle as ARM and Compute do (429, Retry-After, x-ms-ratelimit-remaining-*),"
                        " buckets refilled over simulated time; off (default): no limits")
    p.add_argument("--proxy-port", type=_port, default=env("AZVM_PROXY_PORT", "0"),
                   help="the HTTPS proxy of `azvm run` / `azvm env` on 127.0.0.1 (default 0: a free port)")


def _allowed_hosts(args: argparse.Namespace) -> list[str]:
    if args.allow_host is not None:
        return list(args.allow_host)
    raw = env_default("AZVM_ALLOW_HOSTS")
    try:
        return [] if raw is None else _allowed_names(raw)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"argument --allow-host: {e}") from None


def _check_data_dir(path: Path) -> None:
    """Refuse, before anything is created, a data directory that azvm could not make or write."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    where = "" if p == path else f" (in {str(p)!r})"
    if not p.is_dir():
        raise UsageError(f"argument --data-dir: {str(path)!r}: not a directory{where}: expected a directory"
                         " azvm can create or write (its SQLite store and certificate live there)")
    if not os.access(p, os.W_OK | os.X_OK):
        raise UsageError(f"argument --data-dir: {str(path)!r}: permission denied{where}: expected a directory"
                         " azvm can create or write (its SQLite store and certificate live there)")


class _StartUpGc:
    """The cyclic garbage collector, paused while a command starts.

    `azvm serve` creates as it starts a few hundred thousand objects that live as long as the process
    and make no garbage (modules, classes, functions, the route table), and the collector would walk
    them again and again as they come (about a tenth of the start-up). It is paused from `main` until
    the server is ready to listen; then those objects are frozen (gc.freeze: no later collection walks
    them either) and it runs as server.tune_gc sets it. Other commands have it back, as it was, once
    their arguments are parsed."""

    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        if gc.isenabled():  # a caller that turned it off keeps it off
            gc.disable()
            self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            gc.enable()


_start_up_gc = _StartUpGc()


def serve(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    from .server import Options, Server, default_data_dir, serve_workers, uvicorn_config

    if args.database and args.in_memory:
        raise UsageError("--database and --in-memory name two stores: drop one of them")
    if args.workers > 1 and args.in_memory:
        raise UsageError("--workers needs a shared store: drop --in-memory")
    if args.workers > 1 and args.seed is not None:
        raise UsageError("--seed gives deterministic ids in one process; with --workers the processes would"
                         " hand out the same ids: drop one of them")
    if args.auth == "strict" and args.principals is None:
        raise UsageError("--auth strict needs --principals FILE (or AZVM_PRINCIPALS): who may sign in, with which"
                         " role assignments")
    start_us = parse_iso(args.start_time) if args.start_time else None
    opts = Options(host=args.host, port=args.port, data_dir=args.data_dir, in_memory=args.in_memory,
                   database=args.database,
                   clock_speed=args.clock_speed, manual_clock=args.manual_clock, start_time_us=start_us,
                   time_skipping=None if args.time_skipping is None else args.time_skipping == "on",
                   tls=not args.no_tls, poll_delay=args.poll_delay, profile=args.profile, seed=args.seed,
                   page_size=args.page_size, any_api_version=args.any_api_version, durability=args.durability,
                   workers=args.workers, billing_rules=args.billing_rules, prices=args.prices,
                   allowed_hosts=_allowed_hosts(args), auth=args.auth, principals=args.principals,
                   faults=args.faults, rate_limits=args.rate_limits)
    if opts.in_memory:
        opts.cert_dir = str(default_data_dir())
    # everything the server will read is checked before it writes anything
    from .billing_cli import load_prices_arg, load_rules_arg

    load_rules_arg("--billing-rules", opts.billing_rules)
    load_prices_arg("--prices", opts.prices)
    if not opts.in_memory:
        _check_data_dir(opts.resolved_data_dir)
    elif opts.tls:
        _check_data_dir(default_data_dir())  # where the certificate is kept
    emu = _build(opts)
    scheme = "https" if opts.tls else "http"
    store = ("in memory" if opts.in_memory else shown_url(opts.database) if opts.database
             else str(opts.resolved_data_dir / "azvm.sqlite3"))
    if opts.workers > 1:
        _start_up_gc.resume()
        print(f"azvm {scheme}://{opts.host}:{opts.port} ({opts.workers} workers, store {store})", flush=True)
        proxy = _serve_proxy(emu, args.proxy_port, opts.port)
        try:
            serve_workers(emu)
        finally:
            _stop_proxy(emu, proxy)
        return 0
    config = uvicorn_config(emu)
    config.load()  # what uvicorn.Server would do as it starts (the protocol classes, the TLS context)
    from .server import tune_gc

    tune_gc()  # what start-up built is frozen, and the collector set for serving
    _start_up_gc.resume()
    server = Server(config)
    import asyncio
    import threading

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.002)
        port = server.servers[0].sockets[0].getsockname()[1]
        ready_ms = (time.perf_counter() - t0) * 1000
        print(f"azvm {scheme}://{opts.host}:{port} ready in {ready_ms:.0f} ms (store {store})", flush=True)
        # the proxy and server.json come up in a thread of their own: this loop answers meanwhile
        starter = threading.Thread(target=lambda: proxies.append(_serve_proxy(emu, args.proxy_port, port)),
                                   name="azvm-proxy-start", daemon=True)
        starters.append(starter)
        starter.start()

    proxies: list[ProxyThread | None] = []
    starters: list[threading.Thread] = []

    async def run() -> None:
        watcher = asyncio.create_task(announce())
        await server.serve()
        watcher.cancel()

    terminated = _catch_sigterm()
    try:
        # the loop uvicorn would choose (uvloop when installed, as uvicorn[standard] installs it)
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        for starter in starters:
            starter.join()  # a proxy still starting is stopped too, and its server.json removed
        for proxy in proxies:
            _stop_proxy(emu, proxy)
        emu.close()
    if terminated:
        _die_of_sigterm()
    return 0


def _catch_sigterm() -> list[int]:
    """uvicorn stops on SIGTERM and then raises it again, which would end the process before its
    clean-up (the proxy, server.json): that second SIGTERM becomes a KeyboardInterrupt, recorded in
    the list returned, and `_die_of_sigterm` ends the process by it once cleaned up."""
    import signal

    terminated: list[int] = []

    def on_term(sig: int, frame: object) -> None:
        terminated.append(sig)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    return terminated


def _die_of_sigterm() -> None:
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)


def _serve_proxy(emu: Emulator, proxy_port: int, port: int) -> ProxyThread | None:
    """Say which certificate to trust, and start the HTTPS proxy of `azvm run` / `azvm env` beside the
    server, leaving server.json (endpoint, proxy, authority, pid) where they look for it."""
    if emu.cert is None or emu.key is None:
        return None  # --no-tls: the proxy needs azvm's authority
    from .proxy.environment import ServerInfo, write_state
    from .proxy.relay import start_proxy
    from .tls import authority_path

    ca = authority_path(emu.cert.parent)
    print(f"azvm certificate: {ca}  (the authority to trust: export REQUESTS_CA_BUNDLE={ca};"
          f" {emu.cert} is the server's certificate and chain)", flush=True)
    if not port:
        return None  # `--workers` on a free port: each worker has its own, no one port to relay to
    try:
        proxy = start_proxy(emu.cert, emu.key, port, upstream_host=emu.options.host, port=proxy_port)
    except OSError as e:
        print(f"azvm: the proxy cannot listen on 127.0.0.1:{proxy_port}: {e.strerror}"
              " (azvm run and azvm env need it)", file=sys.stderr, flush=True)
        return None
    host = emu.options.host if emu.options.host not in ("0.0.0.0", "::") else "127.0.0.1"
    endpoint = f"https://{host if ':' not in host else f'[{host}]'}:{port}"
    write_state(emu.cert.parent, ServerInfo(endpoint, proxy.url, str(ca), os.getpid()))
    print(f"azvm proxy {proxy.url}  (for code written for Azure: azvm run -- COMMAND, or eval \"$(azvm env)\")",
          flush=True)
    return proxy


def _stop_proxy(emu: Emulator, proxy: ProxyThread | None) -> None:
    if proxy is None or emu.cert is None:
        return
    from .proxy.environment import clear_state

    proxy.stop()
    clear_state(emu.cert.parent, os.getpid())




def _build(opts: Options) -> Emulator:
    """The server, with a store or certificate that cannot be opened or written told as a user's error."""
    import sqlite3

    from .server import build

    where = "(in memory)" if opts.in_memory else repr(str(opts.resolved_data_dir))
    try:
        return build(opts)
    except OSError as e:
        if e.filename is None:
            raise
        raise UsageError(f"argument --data-dir: {where}: cannot write {str(e.filename)!r}: {e.strerror}: expected"
                         " a directory azvm can write (its SQLite store and certificate live there)") from None
    except sqlite3.DatabaseError as e:
        raise UsageError(f"argument --data-dir: {where}: {e}: expected a directory azvm can write, holding an"
                         " azvm store or nothing yet") from None
    except (RuntimeError, ArmError) as e:  # the PostgreSQL store's: unreachable, from a newer azvm, no psycopg
        if opts.database is None:
            raise
        raise UsageError(f"argument --database: {shown_url(opts.database)}: {e}") from None


def states_doc(args: argparse.Namespace) -> int:
    from .cli_args import write_output
    from .domain.docgen import render_states_doc

    text = render_states_doc()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_output("--output", args.output, text)
    return 0


def _proxy_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    from .proxy.environment import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_SUBSCRIPTION,
        DEFAULT_TENANT,
        VARIABLES,
    )

    table = "\n".join(f"  {name:<22} {why}" for name, why in VARIABLES.items())
    where = ("The server: the `azvm serve` whose data directory is --data-dir (default: the per-user one;"
             " an in-memory server leaves its address there too), found through the server.json it writes.")
    env_help = ("Print `export` lines that send a shell's Azure traffic to a running azvm server:\n"
                "  eval \"$(azvm env)\"\n\n" + where + " The CA bundle and the Azure CLI profile are written"
                " under <data dir>/env.\n\nVariables:\n" + table)
    run_help = ("Run COMMAND with its Azure traffic sent to azvm (the variables of `azvm env`) and exit with its"
                " exit code:\n  azvm run -- python script.py\n\n" + where + " With no server running there,"
                " azvm run starts one for the command's life: in memory, on free ports, with a manual clock"
                " and time skipping (waiting on an operation jumps the clock), its files in a temporary"
                " directory.\n\nVariables:\n" + table)
    for name, text in (("env", env_help), ("run", run_help)):
        p = sub.add_parser(name, help=text.split("\n", 1)[0], description=text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--data-dir", default=env_default("AZVM_DATA_DIR"),
                       help="the data directory of the azvm serve to use (default: the per-user one)")
        p.add_argument("--tenant-id", default=DEFAULT_TENANT, help="AZURE_TENANT_ID (default %(default)s)")
        p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="AZURE_CLIENT_ID (default %(default)s)")
        p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET, help="AZURE_CLIENT_SECRET")
        p.add_argument("--subscription-id", default=DEFAULT_SUBSCRIPTION,
                       help="AZURE_SUBSCRIPTION_ID (default %(default)s)")
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments (after --)")
            p.set_defaults(handler=run_command)
        else:
            p.set_defaults(handler=env_command)


def _principal(args: argparse.Namespace) -> Any:
    from .proxy.environment import Principal

    return Principal(args.tenant_id, args.client_id, args.client_secret, args.subscription_id)


def _state_dir(args: argparse.Namespace) -> Path:
    from .server import default_data_dir

    return Path(args.data_dir) if args.data_dir else default_data_dir()


def env_command(args: argparse.Namespace) -> int:
    """`azvm env`: the variables for a running server, as shell `export` lines."""
    import shlex

    from .proxy.environment import find_server, prepare

    directory = _state_dir(args)
    info = find_server(directory)
    if info is None:
        raise UsageError(f"no running azvm server left its address in {str(directory)!r}: expected `azvm serve`"
                         " (with TLS) running on that data directory (or give its --data-dir)")
    env = prepare(directory / "env", info, _principal(args))
    print(f"# azvm {info.endpoint} (process {info.pid}), proxy {info.proxy}")
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """`azvm run -- COMMAND`: COMMAND's exit code (128 + N when a signal N ended it)."""
    import subprocess
    import tempfile

    from .proxy.environment import find_server, prepare

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UsageError("azvm run: expected a command to run: azvm run -- COMMAND [ARGS...]")
    directory = _state_dir(args)
    with contextlib.ExitStack() as stack:
        info = find_server(directory)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="azvm-run-")))
        if info is None:
            info = stack.enter_context(_throwaway_server(tmp / "server"))
        env = {**os.environ, **prepare(tmp / "env", info, _principal(args))}
        try:
            proc = subprocess.Popen(command, env=env)
        except OSError as e:
            print(f"azvm run: {command[0]}: {e.strerror}", file=sys.stderr)
            return 127 if isinstance(e, FileNotFoundError) else 126
        return _wait_forwarding_signals(proc)
    raise AssertionError("unreachable")


def _wait_forwarding_signals(proc: Any) -> int:
    """Wait for the child; Ctrl-C reaches it from the terminal (this process lets it decide), SIGTERM is
    passed on to it."""
    import signal

    def forward(sig: int, frame: object) -> None:
        proc.send_signal(sig)

    def ignore(sig: int, frame: object) -> None:
        pass

    old = {signal.SIGINT: signal.signal(signal.SIGINT, ignore), signal.SIGTERM: signal.signal(signal.SIGTERM, forward)}
    try:
        code = int(proc.wait())
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


@contextlib.contextmanager
def _throwaway_server(directory: Path) -> Iterator[ServerInfo]:
    """An in-memory server and its proxy for one `azvm run` (manual clock, time skipping)."""
    from .proxy.environment import ServerInfo
    from .proxy.relay import start_proxy
    from .server import Options, ThreadedServer, build
    from .tls import authority_path

    opts = Options(host="127.0.0.1", port=0, in_memory=True, manual_clock=True, time_skipping=True,
                   cert_dir=str(directory))
    server = ThreadedServer(build(opts))
    port = server.start()
    try:
        emu = server.emu
        assert emu.cert is not None and emu.key is not None
        proxy = start_proxy(emu.cert, emu.key, port)
        try:
            yield ServerInfo(f"https://127.0.0.1:{port}", proxy.url, str(authority_path(directory)), os.getpid())
        finally:
            proxy.stop()
    finally:
        server.stop()


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exception classes that mean "the user asked for something azvm cannot do" (never a bug)."""
    from .billing import BillingError
    from .server import DataDirInUse  # another process serves the data directory

    return (UsageError, BillingError, DataDirInUse)


def _run(argv: Sequence[str] | None) -> int:
    parser = Parser(prog="azvm", description="A local emulator of Azure Virtual Machines, with a billing meter.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"azvm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    d = sub.add_parser("states-doc", help="write the states page generated from the transition table")
    d.add_argument("--output", "-o", type=lambda s: s if s == "-" else output_file(s), default="-")
    from .billing_cli import add_bill_parser

    add_bill_parser(sub)
    from .audit import add_audit_parser

    add_audit_parser(sub)
    _proxy_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    _start_up_gc.resume()
    if args.command == "states-doc":
        return states_doc(args)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    parser.print_help()
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    _start_up_gc.pause()
    try:
        return _run(argv)
    except Exception as e:  # never SystemExit (--help, --version): those need no server import to pass
        if not isinstance(e, _user_errors()):
            raise
        print("azvm: " + " ".join(str(e).splitlines()), file=sys.stderr)
        return 2
    finally:
        _start_up_gc.resume()


if __name__ == "__main__":
    sys.exit(main())
