"""Load and crashes at full size: 64 concurrent clients against 10,000 VMs, on SQLite under
`azvm serve --workers 2` and on PostgreSQL under two `azvm serve --database` processes.

    .venv/bin/python benchmarks/bench_load.py [--vms 10000] [--clients 64] [--seconds 60] [--crash]
                                              [--stores sqlite,postgresql] [--database postgresql://...]

The same load and checks as tests/load (tests/load/harness.py), for longer and bigger: the world is
made over HTTP (a NIC and a VM from an image each, in one resource group), then the clients issue a
mix of reads (a VM, its instance view, a page of the listing: 45%), power actions (40%) and creates
and deletes (15%, on one VM in ten), the shared clock moving 7 s on every 40 requests. With
`--crash`, one server process is killed with SIGKILL at a third of the period and, on PostgreSQL,
the database server is crashed and started again a second and two seconds later (a server of this
run's own: `--database` is then ignored). Afterwards every invariant is checked (harness.verify_world:
answers, operations that end, settled VMs, bills served = recomputed from the histories = `azvm bill`,
every acknowledged operation stored, histories as the lifecycle rules decide, projections = folds).

PostgreSQL is the server of `--database` (a database that this run empties), or else one started for
this run exactly as the tests start it (tests/pg.py: Debian's binaries, a Unix socket, fsync off;
synchronous_commit on). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.load.harness, tests.pg

from tests.load import harness as h  # noqa: E402

from azvm.store.postgres import PostgresStore  # noqa: E402
from azvm.store.sqlite import SqliteStore  # noqa: E402


def run(label: str, bases: list[str], servers: list[h.Server], args: argparse.Namespace,
        open_store: Callable[[], Any], *, bill_from: list[str],
        during: Callable[[h.LoadResult], Any] | None, stop: Callable[[], None],
        check_bases: list[str] | None = None) -> None:
    """Make the world, load it through `bases`, check it through `check_bases` (the live servers)."""
    t0 = time.monotonic()
    made = h.populate(bases, args.vms, concurrency=32)
    print(f"{label}: {args.vms:,} VMs made over HTTP in {made:.1f} s ({2 * args.vms / made:,.0f} PUTs/s)")
    names = h.names(args.vms)
    churn = names[::10]
    stable = [n for i, n in enumerate(names) if i % 10]
    res = h.run_load(bases, stable, churn, clients=args.clients, seconds=args.seconds, during=during)
    print(f"{label}: {h.describe(res)}")
    if during is not None:
        print(f"{label}: answered after the kill, by endpoint: {dict(res.answered_after_mark)}")
    t1 = time.monotonic()
    problems = h.verify_world(check_bases or bases, stable, churn, res, open_store, exact=during is None,
                              stop=stop, bill_from=bill_from)
    print(f"{label}: checks in {time.monotonic() - t1:.1f} s: "
          + ("every invariant holds" if not problems else f"{len(problems)} problems"))
    for p in problems[:20]:
        print(f"    {p}")
    bad = sum(s.log.read_text(errors="replace").count("Traceback") for s in servers)
    print(f"{label}: {bad} tracebacks in the servers' logs; {time.monotonic() - t0:.0f} s in all")


def sqlite(args: argparse.Namespace, tmp: Path) -> None:
    data = tmp / "sqlite"
    server = h.serve(["--data-dir", str(data)], tmp / "sqlite.log", workers=2)
    during = None
    label = "SQLite, --workers 2"
    if args.crash:
        victim = server.workers()[0]
        during = h.schedule((args.seconds / 3, lambda: h.kill_9(victim)))
        label += ", kill -9 of a worker"
    try:
        run(label, [server.base], [server], args, lambda: SqliteStore(data / "azvm.sqlite3"),
            bill_from=["--data-dir", str(data)], during=during, stop=server.stop)
    finally:
        server.stop()


def postgresql(args: argparse.Namespace, tmp: Path) -> None:
    pg = None
    if args.database and not args.crash:
        url = args.database
        store = PostgresStore(url)
        store.reset()
        store.close()
    else:
        from tests.pg import start_server

        pg = start_server(own_server=True)
        url = pg.fresh_database()
    servers = [h.serve(["--database", url, "--data-dir", str(tmp / f"pg-host{i}")], tmp / f"pg{i}.log")
               for i in range(2)]
    bases = [s.base for s in servers]
    during = None
    label = "PostgreSQL, 2 processes"
    if args.crash:
        assert pg is not None
        t = args.seconds / 3
        during = h.schedule((t, lambda: h.kill_9(servers[0].proc.pid)), (t + 1, pg.crash), (t + 2, pg.start))
        label += ", kill -9 of one and a database restart"

    def stop() -> None:
        for s in servers:
            s.stop()

    try:  # after a crash, the checks go through the survivor
        run(label, bases, servers, args, lambda: PostgresStore(url), bill_from=["--database", url], during=during,
            stop=stop, check_bases=bases[1:] if args.crash else bases)
    finally:
        stop()
        if pg is not None:
            pg.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--crash", action="store_true")
    ap.add_argument("--stores", default="sqlite,postgresql")
    ap.add_argument("--database", help="a PostgreSQL database of your own (emptied)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="azvm-bench-load-") as d:
        for kind in args.stores.split(","):
            {"sqlite": sqlite, "postgresql": postgresql}[kind](args, Path(d))


if __name__ == "__main__":
    main()
