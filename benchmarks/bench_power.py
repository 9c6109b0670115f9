"""Power actions on azvm's durable SQLite store beside moto's server, in alternating rounds.

    .venv/bin/python benchmarks/bench_power.py [--vms 100000] [--rounds 10] [--duration 4] [--warmup 8] [--memory]

The goal (issue 14): POST start/powerOff on `azvm serve` over its default SQLite store, one process,
at 20 times or more the StartInstances/StopInstances rate of moto_server. The servers run for the
whole benchmark and take turns: a round is one wrk measurement of each, each going first in turn, so
that a machine that gets slower or faster during the run (a shared host's CPU) weighs on all alike.
Each round prints its own ratio; the figure is the median of those.

azvm: `azvm serve --no-tls --data-dir D --manual-clock` over a world of --vms VMs made in-process
(bench_arm.populate_dir; --world DIR reuses a world made before, copied), the clock at 1000x; each
round uses a pool of 512 VMs of its own (powerOff each in turn, then start each, ...), so that every
round starts from running VMs; a 409 counts as a failure. With --memory, also `azvm serve --in-memory`
with the VMs the rounds use, PUT over HTTP, in the same rotation. moto: StopInstances/StartInstances
alternating over its instances, as bench_arm does. Needs `wrk` and `pip install "moto[server]"`.

Before the rounds, each server gets one warm-up measurement of --warmup seconds (on a pool of VMs of
its own), printed and not counted: azvm's SQLite store starts on an empty write-ahead log, and its first
~190 MB of frames (some 6 s of power actions) grow the file, each new block zeroed by the kernel first
(perf: 2-4% more CPU in pwrite); after that the log is written over itself. The rounds measure the
steady state of every server.

Each round also prints the CPU time the host took from this machine while it ran (steal, from
/proc/stat). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench_arm import (
    GOAL_MOTO,
    HOST,
    POWER_POOL,
    PY,
    START_TIME,
    VMS_PATH,
    azvm_argv,
    check_running,
    copy_world,
    errors,
    lua_azvm_power,
    lua_moto,
    moto_setup,
    populate_dir,
    populate_http,
    run_wrk,
    serve,
    speed_up,
)
from bench_startup import free_port


def cpu_stolen() -> tuple[int, int]:
    """(steal, all) of this machine's CPU time so far, in jiffies (/proc/stat's first line): the time
    the host gave other guests while this one's CPUs wanted to run. (0, 0) where there is no such file."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def moto_bodies(ids: list[str]) -> str:
    pairs = [f'"Action=StopInstances&Version=2016-11-15&InstanceId.1={i}"' for i in ids]
    pairs += [f'"Action=StartInstances&Version=2016-11-15&InstanceId.1={i}"' for i in ids]
    return "bodies = {" + ", ".join(pairs) + "}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms", type=int, default=100_000, help="VMs of the SQLite world")
    ap.add_argument("--world", type=Path, help="a world made before (a data directory), copied; else made")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per wrk measurement")
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds of each server's warm-up, not counted")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--memory", action="store_true", help="also azvm in memory, in the same rotation")
    args = ap.parse_args(argv)
    moto = shutil.which("moto_server", path=str(Path(PY).parent))
    if shutil.which("wrk") is None or moto is None:
        print('bench_power needs wrk (apt-get install -y wrk) and moto_server (pip install "moto[server]")',
              file=sys.stderr)
        return 2
    pools = args.rounds + (1 if args.warmup > 0 else 0)  # the warm-up's pool is the last
    if pools * POWER_POOL > args.vms:
        print(f"--rounds {args.rounds} needs {pools * POWER_POOL} VMs at least", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="azvm-bench-power-") as d:
        tmp = Path(d)
        log = tmp / "servers.log"
        data = tmp / "data"
        if args.world is not None:
            copy_world(args.world, data)
            made = f"world copied from {args.world}"
        else:
            made = f"{args.vms:,} NICs and VMs made in-process in {populate_dir(data, args.vms):.0f} s"
        a_port, m_port, mem_port = free_port(), free_port(), free_port()
        with ExitStack() as servers:
            servers.enter_context(serve("azvm x1 sqlite", azvm_argv(a_port, "--data-dir", str(data), "--manual-clock"),
                                        a_port, "/azvm/health", log))
            servers.enter_context(serve("moto", [moto, "-H", HOST, "-p", str(m_port)], m_port, "/moto-api/", log))
            if args.memory:
                servers.enter_context(serve("azvm x1 memory", azvm_argv(mem_port, "--in-memory", "--manual-clock",
                                                                        "--start-time", START_TIME),
                                            mem_port, "/azvm/health", log))
                populate_http(mem_port, pools * POWER_POOL)
                speed_up(mem_port)
            speed_up(a_port)
            moto_lua = lua_moto(tmp, "moto_power.lua", moto_bodies(moto_setup(m_port)))
            names = ["azvm sqlite", "moto", *(["azvm memory"] if args.memory else [])]
            table = Table(title=f"power actions, {args.duration:g} s per measurement, {args.connections} connections"
                                f" (after a warm-up of {args.warmup:g} s, not counted)")
            table.add_column("round", justify="right")
            for name in names:
                table.add_column(f"{name} /s", justify="right")
                table.add_column("p99 ms", justify="right")
            table.add_column("sqlite/moto", justify="right")
            if args.memory:
                table.add_column("memory/moto", justify="right")
            table.add_column("steal %", justify="right")  # a shared host's noise, shown beside its figures
            got: dict[str, list[float]] = {name: [] for name in names}
            ratios: list[float] = []
            notes: list[str] = []
            for r in range(-1 if args.warmup > 0 else 0, args.rounds):
                warm = r < 0  # the warm-up, on the last pool
                first = (args.rounds if warm else r) * POWER_POOL
                secs = args.warmup if warm else args.duration
                label = "warm-up" if warm else f"round {r + 1}"

                def azvm(port: int, tag: str, first: int = first, secs: float = secs,
                         label: str = label) -> tuple[float, float]:
                    check_running(port, [f"vm{first}", f"vm{first + POWER_POOL - 1}"])
                    w = run_wrk(f"http://{HOST}:{port}{VMS_PATH}", duration=secs,
                                connections=args.connections, lua=lua_azvm_power(tmp, POWER_POOL, first), warmup=0)
                    bad = {k: v for k, v in w.statuses.items() if k != 202}
                    if bad or w.socket_errors:
                        notes.append(f"{label} {tag}: failures {bad or 0}; {errors(w)}")
                    return w.per_s(202), w.p99_ms

                def moto_round(secs: float = secs) -> tuple[float, float]:
                    w = run_wrk(f"http://{HOST}:{m_port}/", duration=secs, connections=args.connections,
                                lua=moto_lua, warmup=0)
                    return w.per_s(200), w.p99_ms

                runs: dict[str, Callable[[], tuple[float, float]]] = {
                    "azvm sqlite": lambda: azvm(a_port, "azvm sqlite"),
                    "moto": moto_round,
                    "azvm memory": lambda: azvm(mem_port, "azvm memory"),
                }
                order = names[r % len(names):] + names[:r % len(names)]  # each goes first in turn
                stolen0 = cpu_stolen()
                res = {name: runs[name]() for name in order}
                stolen1 = cpu_stolen()
                m = res["moto"][0]
                q = res["azvm sqlite"][0] / m if m else float("nan")
                if not warm:
                    for name in names:
                        got[name].append(res[name][0])
                    ratios.append(q)
                cells = ["warm-up" if warm else str(r + 1)]
                for name in names:
                    cells += [f"{res[name][0]:,.0f}", f"{res[name][1]:.1f}"]
                cells.append(f"{q:.1f}x")
                if args.memory:
                    cells.append(f"{res['azvm memory'][0] / m if m else float('nan'):.1f}x")
                every = stolen1[1] - stolen0[1]
                cells.append(f"{100 * (stolen1[0] - stolen0[0]) / every:.1f}" if every else "-")
                table.add_row(*cells, end_section=warm)
        con = Console(width=140)
        con.print(table)
        med = statistics.median(ratios)
        verdict = "MET" if med >= GOAL_MOTO else "MISSED"
        print(f"median of the rounds' ratios: {med:.1f}x (goal >= {GOAL_MOTO:.0f}x: {verdict}); "
              f"rounds {min(ratios):.1f}x to {max(ratios):.1f}x")
        print("medians: " + ", ".join(f"{name} {statistics.median(v):,.0f}/s" for name, v in got.items()))
        if args.memory:
            mem = [a / m for a, m in zip(got["azvm memory"], got["moto"], strict=True) if m]
            print(f"azvm in memory: median of the rounds' ratios {statistics.median(mem):.1f}x")
        print(f"{made}; python {sys.version.split()[0]}; total run time {time.perf_counter() - t_all:.0f} s")
        print("steal %: the share of this machine's CPU time its host gave to others during the round"
              " (/proc/stat); rounds with much of it say more about the host than about the servers")
        for n in notes:
            print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
