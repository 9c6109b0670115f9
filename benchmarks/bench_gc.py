"""The cyclic garbage collector's pauses in a serving process, under power actions.

    .venv/bin/python benchmarks/bench_gc.py [--duration 40] [--compare 70000,20,20]

`azvm serve --in-memory` (the store that keeps every operation as Python objects, so that most of
what a request makes survives it) takes POST powerOff/start from wrk on a pool of 512 VMs, as
bench_power's rounds do, for --duration seconds. The server runs with a probe on `gc.callbacks`
that times every pass of the collector; the figures are each generation's passes, their longest
and their share of the run, beside wrk's rate and p99. With --compare, a second server whose
thresholds are set to the given ones after azvm's own (server.tune_gc) runs the same load in the
same run, after the first. Needs `wrk`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_arm import HOST, POWER_POOL, VMS_PATH, azvm_argv, lua_azvm_power, populate_http, run_wrk, serve, speed_up
from bench_startup import free_port

# Runs `azvm serve` with a probe: one line per pass of the collector (wall time, generation, µs, collected)
PROBE = """
import gc, os, sys, time
out = open(os.environ["AZVM_BENCH_GC_LOG"], "a", buffering=1)
began = [0.0]
def probe(phase, info):
    if phase == "start":
        began[0] = time.perf_counter()
    else:
        out.write(f"{time.time():.3f} {info['generation']} {(time.perf_counter() - began[0]) * 1e6:.0f}"
                  f" {info['collected']}\\n")
gc.callbacks.append(probe)
wanted = os.environ.get("AZVM_BENCH_GC_THRESHOLD")
if wanted:
    import azvm.server as server
    tune = server.tune_gc
    def tuned():
        tune()
        gc.set_threshold(*(int(x) for x in wanted.split(",")))
    server.tune_gc = tuned
from azvm.cli import main
sys.exit(main(sys.argv[1:]))
"""


def measure(tmp: Path, tag: str, duration: float, threshold: str | None) -> list[str]:
    port = free_port()
    log = tmp / f"gc-{tag}.log"
    env = {"AZVM_BENCH_GC_LOG": str(log)}
    if threshold:
        env["AZVM_BENCH_GC_THRESHOLD"] = threshold
    argv = azvm_argv(port, "--in-memory", "--manual-clock")
    argv[1:3] = ["-c", PROBE]  # `python -m azvm serve ...` as `python -c PROBE serve ...`
    with serve(tag, argv, port, "/azvm/health", tmp / "servers.log", env=env):
        populate_http(port, POWER_POOL)
        speed_up(port)
        began = time.time()  # noqa: TID251 - the probe stamps its passes with wall time, in another process
        w = run_wrk(f"http://{HOST}:{port}{VMS_PATH}", duration=duration, connections=16,
                    lua=lua_azvm_power(tmp, POWER_POOL), warmup=0)
        ended = time.time()  # noqa: TID251 - as above
    passes: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for line in log.read_text().splitlines():
        at, gen, us, _collected = line.split()
        if began <= float(at) <= ended:
            passes[int(gen)].append(int(us) / 1000)
    bad = {k: v for k, v in w.statuses.items() if k != 202}
    cells = [tag, f"{w.per_s(202):,.0f}", f"{w.p99_ms:.1f}"]
    for gen in (0, 1, 2):
        ms = passes[gen]
        cells += [str(len(ms)), f"{statistics.median(ms):.1f} / {max(ms):.1f}" if ms else "-"]
    cells.append(f"{100 * sum(sum(v) for v in passes.values()) / 1000 / (ended - began):.1f}")
    if bad:
        cells[0] += f" (failures {bad})"
    return cells


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=40.0, help="seconds of load per server")
    ap.add_argument("--compare", metavar="T0,T1,T2", help="also a server with these gc thresholds")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_gc needs wrk (apt-get install -y wrk)", file=sys.stderr)
        return 2
    if args.compare is not None and (len(args.compare.split(",")) != 3
                                     or not all(x.strip().isdigit() for x in args.compare.split(","))):
        print("--compare takes three integers, as gc.set_threshold does: 70000,20,20", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="azvm-bench-gc-") as d:
        tmp = Path(d)
        rows = [measure(tmp, "azvm's", args.duration, None)]
        if args.compare:
            rows.append(measure(tmp, args.compare, args.duration, args.compare))
    table = Table(title=f"azvm serve --in-memory, power actions on {POWER_POOL} VMs for {args.duration:g} s,"
                        " 16 connections: the collector's passes while they ran")
    for col in ("thresholds", "actions/s", "p99 ms"):
        table.add_column(col, justify="right" if col != "thresholds" else "left")
    for gen in (0, 1, 2):
        table.add_column(f"gen{gen} passes", justify="right")
        table.add_column(f"gen{gen} ms median / longest", justify="right")
    table.add_column("% of the run in passes", justify="right")
    for r in rows:
        table.add_row(*r)
    Console(width=160).print(table)
    print(f"python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
