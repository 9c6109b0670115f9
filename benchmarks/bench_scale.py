"""How azvm's ARM surface scales with processes: 1, 2 and 4 on SQLite and on PostgreSQL, side by side.

    .venv/bin/python benchmarks/bench_scale.py [--duration 5] [--connections 16] [--vms 10000]
                                               [--stores sqlite,postgres] [--processes 1,2,4] [--runs 3]

Needs `wrk` (see bench_arm.py). For each store and each process count, `azvm serve --workers N` over
  - SQLite: a data directory (`--data-dir D`: N workers over one SQLite file), or
  - PostgreSQL: a database (`--database URL`: N worker processes, each with its own connection), on a
    server started for this run exactly as the tests start one (tests/pg.py: Debian's binaries, a Unix
    socket, fsync off; synchronous_commit on), or on the server of AZVM_TEST_PG_URL (databases made
    and dropped there, as the tests do). When there is none, the reason is printed and SQLite alone
    is measured.
The world is made once per store, in-process through the service (bench_arm.populate_dir: N VMs, each
on a network interface of its own, /24 subnets of one virtual network), and every server gets a fresh
copy of it (the data directory copied; `CREATE DATABASE ... TEMPLATE`), since the power workload
leaves VMs stopped. Then bench_arm's three workloads, driven by wrk:
  a. GET instanceView of one VM
  b. list all VMs with statusOnly=true (every page of the listing, in turn)
  c. POST start / powerOff alternating over a pool of 512 VMs, the clock at 1000x (a 409 is a failure)
Each (store, processes) is measured `--runs` times, the runs interleaved (run 1 of every
configuration, then run 2, ...) so that a busy spell of a shared machine falls on all of them; the
table shows the median run's req/s, p50 and p99, and the speed-up over 1 process of the same store
(median run over median run). wrk runs on the same machine (`os.cpu_count()` is printed): on 2 cores, 4
server processes share them with each other and with wrk, so they cannot scale past 2.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import bench_arm as arm  # this folder is on sys.path for a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.pg: the PostgreSQL server of the tests

WORKLOADS = {"a.": "a. GET instanceView", "b.": "b. list statusOnly (pages)", "c.": "c. start/powerOff (POST)"}
STORE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class World:
    """A store's populated world, and how to give a server a fresh copy of it."""

    store: str
    populate_s: float
    copy: Callable[[str], list[str]]  # a copy's name -> azvm serve's store arguments for it
    drop: Callable[[str], None]  # removes that copy
    note: str = ""


@dataclass
class Cell:
    runs: list[arm.WrkResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median_run(self) -> tuple[arm.WrkResult, str]:
        """The run with the median req/s (the lower of the middle two for an even count), and its notes."""
        order = sorted(range(len(self.runs)), key=lambda i: self.runs[i].rps)
        i = order[(len(order) - 1) // 2]
        return self.runs[i], self.notes[i]

    def rps(self) -> float:
        return self.median_run()[0].rps


# -- the stores -----------------------------------------------------------------------------------
def sqlite_world(tmp: Path, vms: int) -> World:
    world = tmp / "sqlite-world"
    secs = arm.populate_dir(world, vms)

    def copy(name: str) -> list[str]:
        d = tmp / name
        arm.copy_world(world, d)
        return ["--data-dir", str(d)]

    def drop(name: str) -> None:
        shutil.rmtree(tmp / name, ignore_errors=True)

    size = sum(p.stat().st_size for p in world.iterdir()) / 2**20
    return World("sqlite", secs, copy, drop, f"a data directory of {size:.0f} MiB, copied for each server")


def postgres_world(tmp: Path, vms: int, stack: ExitStack) -> World | str:
    """The populated world in a database of a server of this run's own, or why there is none."""
    import pytest
    from tests.pg import start_server

    try:
        pg = start_server()
    except (Exception, pytest.skip.Exception, pytest.fail.Exception) as e:  # pytest's skip/fail outside pytest
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    stack.callback(pg.stop)
    import psycopg

    url = pg.fresh_database()
    stack.callback(pg.drop_database, url)  # on a server of one's own (AZVM_TEST_PG_URL), nothing left behind
    template = urlsplit(url).path.lstrip("/")
    secs = arm.populate_dir(url, vms)
    with psycopg.connect(url, autocommit=True) as conn:  # every copy starts with the planner's statistics
        conn.execute("VACUUM ANALYZE")

    def admin(sql: str) -> None:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def copy(name: str) -> list[str]:
        admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        host_dir = tmp / name  # keys and certificates only: the history is in the database
        return ["--database", pg.url(name), "--data-dir", str(host_dir)]

    def drop(name: str) -> None:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(tmp / name, ignore_errors=True)

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version(), pg_database_size(current_database())").fetchone()
    assert row is not None
    version, size = row
    note = f"{version.split(',')[0]}, a database of {size / 2**20:.0f} MiB copied by CREATE DATABASE ... TEMPLATE"
    if pg.base is not None:
        note += " (a server of this run's own: Unix socket, fsync off)"
    return World("postgres", secs, copy, drop, note)


# -- a server's processes ---------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            pass
    return out


def workers_of(pid: int) -> list[int]:
    """`--workers N`'s worker processes: the supervisor's children that run azvm (not multiprocessing's
    resource tracker)."""
    out = []
    for p in descendants(pid)[1:]:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
            out.append(p)
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def wait_settled(server: arm.Server, workers: int, timeout: float = 90.0) -> float:
    """Wait until every one of `workers` processes is up and the server's processes have gone idle (each
    worker has imported azvm and opened its store: the first 200 from the health endpoint says only that
    one of them has). Returns seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        pids = descendants(server.proc.pid)
        before = cpu_s(pids)
        time.sleep(0.3)  # noqa: TID251 - real processes starting
        if (workers == 1 or len(workers_of(server.proc.pid)) >= workers) and cpu_s(pids) - before < 0.03:
            return time.perf_counter() - t0
    raise RuntimeError(f"{server.name}: its {workers} processes not settled after {timeout:.0f} s")


def log_problems(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [ln for ln in log.read_text(errors="replace").splitlines() if "Traceback" in ln or "ERROR" in ln]


# -- one measurement ------------------------------------------------------------------------------------
def measure(world: World, procs: int, run: int, tmp: Path, args: argparse.Namespace,
            cells: dict[tuple[str, str, int], Cell], starts: dict[tuple[str, int], list[float]],
            problems: list[str]) -> None:
    name = f"azvm_scale_{world.store}_x{procs}_r{run}"
    tag = f"{STORE_NAMES[world.store]} x{procs}"
    log = tmp / f"{name}.log"
    try:
        store_args = world.copy(name)
        port = arm.free_port()
        argv = arm.azvm_argv(port, *store_args, "--workers", str(procs), "--manual-clock")
        with arm.serve(tag, argv, port, "/azvm/health", log) as s:
            settled = wait_settled(s, procs)
            starts.setdefault((world.store, procs), []).append(s.ready_s + settled)
            rows: list[arm.Row] = []
            arm.azvm_workloads(tag, port, tmp, args, rows)
            arm.speed_up(port)  # every process adopts the clock stored in the shared store
            arm.power_workload(tag, port, tmp, args, rows)
    finally:
        world.drop(name)
    for row in rows:
        key = next(k for k in WORKLOADS if row.workload.startswith(k))
        cell = cells.setdefault((key, world.store, procs), Cell())
        cell.runs.append(row.r)
        cell.notes.append(row.extra)
        five = sum(v for k, v in row.r.statuses.items() if k >= 500)
        if five:
            problems.append(f"{tag} run {run}, {row.workload}: {five} responses 5xx ({row.r.statuses})")
    bad = log_problems(log)
    if bad:
        problems.append(f"{tag} run {run}: {len(bad)} error lines in the server's log ({log.name}); first: {bad[0]}")


# -- the table --------------------------------------------------------------------------------------------
def show(cells: dict[tuple[str, str, int], Cell], stores: list[str], processes: list[int], setup: list[str]) -> None:
    header = ["workload", "store", "processes", "req/s", "p50 ms", "p99 ms", "speed-up vs 1", "runs req/s", "notes"]
    lines = []
    for key, label in WORKLOADS.items():
        for store in stores:
            base = cells.get((key, store, 1))
            for p in processes:
                cell = cells.get((key, store, p))
                if cell is None:
                    continue
                r, note = cell.median_run()
                up = f"{cell.rps() / base.rps():.2f}x" if base is not None and base.rps() else "-"
                runs = ", ".join(f"{x.rps:,.0f}" for x in cell.runs)
                if key == "c.":  # bench_arm's note: accepted 202/s and the failures (409s)
                    note = note.split("; socket errors")[0]
                elif key == "b.":
                    note = note.split(";")[0] + "; " + arm.errors(r)
                lines.append([label, STORE_NAMES[store], str(p), f"{r.rps:,.0f}", f"{r.p50_ms:.2f}",
                              f"{r.p99_ms:.2f}", up, runs, note])
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in [header, *lines]:
            print(" | ".join(row))
    else:
        t = Table(title="ARM throughput by store and processes (wrk, plain HTTP on 127.0.0.1; median run)")
        for h in header:
            t.add_column(h, justify="right" if h in ("processes", "req/s", "p50 ms", "p99 ms", "speed-up vs 1")
                         else "left", overflow="fold")
        for row in lines:
            t.add_row(*row)
        Console(width=200).print(t)
    for line in setup:
        print(line)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: servers and PostgreSQL stop


@contextmanager
def on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does (SIGHUP left alone under nohup)."""
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)
           if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk measurement")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    ap.add_argument("--processes", default="1,2,4", help="comma-separated process counts (--workers N)")
    ap.add_argument("--runs", type=int, default=3, help="measurements of each configuration (median shown)")
    args = ap.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORE_NAMES]
    if unknown:
        ap.error(f"--stores: unknown {', '.join(unknown)} (known: {', '.join(STORE_NAMES)})")
    processes = sorted({int(p) for p in args.processes.split(",") if p.strip()})
    if not processes or processes[0] < 1:
        ap.error("--processes: counts of 1 or more")
    if args.vms < arm.POWER_POOL:
        ap.error(f"--vms: at least {arm.POWER_POOL} (the power workload's pool)")
    if shutil.which("wrk") is None:
        print("bench_scale needs wrk: apt-get update && apt-get install -y wrk  (macOS: brew install wrk)",
              file=sys.stderr)
        return 2

    setup = [
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency (after a 1 s warm-up except for POST"
        f" workloads) on the same machine; os.cpu_count() = {os.cpu_count()}; python {sys.version.split()[0]};"
        f" {args.runs} runs of each configuration, interleaved",
    ]
    cells: dict[tuple[str, str, int], Cell] = {}
    starts: dict[tuple[str, int], list[float]] = {}
    problems: list[str] = []
    t_all = time.perf_counter()
    with on_signals(), ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="azvm-bench-scale-")))
        worlds: list[World] = []
        for store in stores:
            if store == "sqlite":
                world: World | str = sqlite_world(tmp, args.vms)
            else:
                world = postgres_world(tmp, args.vms, stack)
            if isinstance(world, str):
                print(f"PostgreSQL: not measured ({world})", file=sys.stderr)
                setup.append(f"PostgreSQL: not measured ({world})")
                continue
            worlds.append(world)
            setup.append(f"{STORE_NAMES[store]}: {args.vms:,} NICs and VMs made in-process in"
                         f" {world.populate_s:.1f} s; {world.note}")
        for run in range(1, args.runs + 1):
            for world in worlds:
                for p in processes:
                    print(f"run {run}/{args.runs}: {STORE_NAMES[world.store]} x{p}", file=sys.stderr, flush=True)
                    measure(world, p, run, tmp, args, cells, starts, problems)
        for (store, p), secs in starts.items():
            setup.append(f"{STORE_NAMES[store]} x{p}: spawn to every process settled, median"
                         f" {statistics.median(secs):.1f} s")
        setup.append(f"total run time {time.perf_counter() - t_all:.0f} s")
        show(cells, [w.store for w in worlds], processes, setup)
        for line in problems:
            print(f"problem: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
