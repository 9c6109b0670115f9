"""`azvm serve | bill | states-doc`: thin wrappers over the library."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from .clock import parse_iso


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the emulator (ARM endpoint + control API under /azvm/)",
                       description="Run the azvm server. Every flag may also be given as an AZVM_* environment"
                                   " variable (e.g. AZVM_PORT=9000).")
    env = os.environ.get
    p.add_argument("--host", default=env("AZVM_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("AZVM_PORT", "8443")), help="0 picks a free port")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data-dir", default=env("AZVM_DATA_DIR"), help="where the SQLite store and the certificate"
                   " live (default: the per-user data directory)")
    g.add_argument("--in-memory", action="store_true", default=env("AZVM_IN_MEMORY", "") in ("1", "true"),
                   help="keep nothing on disk")
    p.add_argument("--clock-speed", type=float, default=float(env("AZVM_CLOCK_SPEED", "1")),
                   help="simulated seconds per wall second (default 1)")
    p.add_argument("--manual-clock", action="store_true", default=env("AZVM_MANUAL_CLOCK", "") in ("1", "true"),
                   help="time moves only through POST /azvm/clock (and time skipping)")
    p.add_argument("--start-time", default=env("AZVM_START_TIME"), help="ISO time where a new clock starts")
    p.add_argument("--time-skipping", choices=["on", "off"], default=env("AZVM_TIME_SKIPPING"),
                   help="a client polling an unfinished operation moves the clock to its next phase"
                        " (default: on with --manual-clock)")
    p.add_argument("--no-tls", action="store_true", default=env("AZVM_NO_TLS", "") in ("1", "true"),
                   help="plain HTTP (Azure clients then refuse bearer tokens unless told otherwise)")
    p.add_argument("--poll-delay", type=float, default=float(env("AZVM_POLL_DELAY", "1")),
                   help="seconds clients wait between polls (Retry-After; default 1)")
    p.add_argument("--profile", default=env("AZVM_PROFILE", "azure"), help="durations profile: azure or fast")
    seed = env("AZVM_SEED")
    p.add_argument("--seed", type=int, default=int(seed) if seed else None,
                   help="seed for deterministic ids")
    p.add_argument("--page-size", type=int, default=int(env("AZVM_PAGE_SIZE", "100")))
    p.add_argument("--any-api-version", action="store_true", default=env("AZVM_ANY_API_VERSION", "") in ("1", "true"),
                   help="accept any well-formed api-version (for client releases newer than azvm)")
    p.add_argument("--durability", choices=["normal", "full"], default=env("AZVM_DURABILITY", "normal"),
                   help="normal: survives a process crash; full: also a power cut (slower)")
    p.add_argument("--workers", type=int, default=int(env("AZVM_WORKERS", "1")),
                   help="server processes over the same SQLite store")
    p.add_argument("--billing-rules", default=env("AZVM_BILLING_RULES"),
                   help="billing rule set: docs-2018, docs-2021 (default), azure-2023, or a JSON file")
    p.add_argument("--prices", default=env("AZVM_PRICES"),
                   help="a Retail Prices API JSON file (default: the sample sheet shipped with azvm)")


def serve(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    import uvicorn

    from .server import Options, build, default_data_dir, uvicorn_config

    start_us = parse_iso(args.start_time) if args.start_time else None
    opts = Options(host=args.host, port=args.port, data_dir=args.data_dir, in_memory=args.in_memory,
                   clock_speed=args.clock_speed, manual_clock=args.manual_clock, start_time_us=start_us,
                   time_skipping=None if args.time_skipping is None else args.time_skipping == "on",
                   tls=not args.no_tls, poll_delay=args.poll_delay, profile=args.profile, seed=args.seed,
                   page_size=args.page_size, any_api_version=args.any_api_version, durability=args.durability,
                   workers=args.workers, billing_rules=args.billing_rules, prices=args.prices)
    if opts.in_memory:
        opts.cert_dir = str(default_data_dir())
    if opts.profile not in ("azure", "fast"):
        print(f"azvm: unknown profile {opts.profile!r} (azure, fast)", file=sys.stderr)
        return 2
    if opts.workers > 1 and opts.in_memory:
        print("azvm: --workers needs a shared store: drop --in-memory", file=sys.stderr)
        return 2
    if opts.workers > 1 and opts.seed is not None:
        print("azvm: --seed gives deterministic ids in one process; with --workers the processes would"
              " hand out the same ids: drop one of them", file=sys.stderr)
        return 2
    from .billing import BillingError

    try:
        emu = build(opts)
    except BillingError as e:
        print(f"azvm: {e}", file=sys.stderr)
        return 2
    scheme = "https" if opts.tls else "http"
    store = "in memory" if opts.in_memory else str(opts.resolved_data_dir / "azvm.sqlite3")
    if opts.workers > 1:
        emu.store.close()
        os.environ.update(opts.to_env())
        os.environ["AZVM_CERT_DIR"] = str(emu.cert.parent) if emu.cert else ""
        print(f"azvm {scheme}://{opts.host}:{opts.port} ({opts.workers} workers, store {store})", flush=True)
        if emu.cert:
            print(f"azvm certificate: {emu.cert}  (export REQUESTS_CA_BUNDLE={emu.cert})", flush=True)
        uvicorn.run("azvm.server:app_from_env", factory=True, host=opts.host, port=opts.port,
                    workers=opts.workers, log_level="warning", access_log=False, lifespan="off",
                    ssl_certfile=str(emu.cert) if emu.cert else None, ssl_keyfile=str(emu.key) if emu.key else None)
        return 0
    config = uvicorn_config(emu)
    server = uvicorn.Server(config)
    import asyncio

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.002)
        port = server.servers[0].sockets[0].getsockname()[1]
        ready_ms = (time.perf_counter() - t0) * 1000
        print(f"azvm {scheme}://{opts.host}:{port} ready in {ready_ms:.0f} ms (store {store})", flush=True)
        if emu.cert:
            print(f"azvm certificate: {emu.cert}  (export REQUESTS_CA_BUNDLE={emu.cert})", flush=True)

    async def run() -> None:
        watcher = asyncio.create_task(announce())
        await server.serve()
        watcher.cancel()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:
        emu.store.close()
    return 0


def states_doc(args: argparse.Namespace) -> int:
    from .domain.docgen import render_states_doc

    text = render_states_doc()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azvm", description="A local emulator of Azure Virtual Machines,"
                                     " with a billing meter.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"azvm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    d = sub.add_parser("states-doc", help="write the states page generated from the transition table")
    d.add_argument("--output", "-o", default="-")
    from .billing_cli import add_bill_parser

    add_bill_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "states-doc":
        return states_doc(args)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
