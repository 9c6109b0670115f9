"""bench_arm's workloads on two versions of azvm side by side, in alternating rounds.

    .venv/bin/python benchmarks/bench_versions.py --base REV [--rounds 3] [--vms 10000] [--duration 5]

"No speed is lost" is a comparison between two versions, and on a machine whose speed moves from
minute to minute (a shared host), two runs of bench_arm made at different times do not compare. Here
both versions serve at once: the checkout this script belongs to ("new") and REV ("base", checked
out into a temporary git worktree). For each configuration (in memory; SQLite, one process; SQLite,
`--workers 2`) and each workload of bench_arm (a. GET instanceView; b. the statusOnly listing, page
by page; c. POST powerOff/start over a pool of 512 VMs, a fresh pool each round), a round measures
base and new one after the other, each going first in turn, and prints new/base; the figure is the
median of the rounds' ratios.

Each version makes its own world with its own bench_arm (`populate_http` in memory, `populate_dir`
for SQLite), so REV must have both (bb1ac3e, the last version before the resource-provider slots,
and every later one do). Needs `wrk`. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench_arm import (
    API,
    HOST,
    POWER_POOL,
    PY,
    START_TIME,
    VMS_PATH,
    azvm_argv,
    check_running,
    copy_world,
    list_pages,
    lua_azvm_power,
    lua_paths,
    run_wrk,
    serve,
    speed_up,
)
from bench_startup import free_port

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("memory", "sqlite x1", "sqlite x2")
WORKLOADS = ("a. GET instanceView", "b. list statusOnly, VMs/s", "c. POST power, 202/s")


def with_version(tree: Path, code: str) -> None:
    """Run `code` with that version's azvm and benchmarks importable (bench_arm as b)."""
    subprocess.run(
        [PY, "-c", f"import sys; sys.path.insert(0, {str(tree / 'benchmarks')!r}); import bench_arm as b; {code}"],
        check=True,
        env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the git revision to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--vms", type=int, default=10_000, help="VMs of every world")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk measurement")
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench_versions needs wrk: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    if 1000 + args.rounds * POWER_POOL > args.vms:
        print(f"--rounds {args.rounds} needs --vms {1000 + args.rounds * POWER_POOL} at least", file=sys.stderr)
        return 2
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], check=True,
                             capture_output=True, text=True).stdout.strip()
    except subprocess.CalledProcessError:
        print(f"--base {args.base}: not a revision of {ROOT}", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="azvm-bench-versions-") as d, ExitStack() as stack:
        tmp = Path(d)
        log = tmp / "servers.log"
        base_tree = tmp / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base_tree), rev], check=True)
        stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                       check=False)
        trees = {"base": base_tree, "new": ROOT}
        ports: dict[tuple[str, str], int] = {}
        for ver, tree in trees.items():
            world = tmp / f"{ver}-world"
            with_version(tree, f"from pathlib import Path; b.populate_dir(Path({str(world)!r}), {args.vms})")
            env = {"PYTHONPATH": str(tree / "src")}
            p = free_port()
            stack.enter_context(serve(f"{ver} memory", azvm_argv(p, "--in-memory", "--manual-clock", "--start-time",
                                                                 START_TIME), p, "/azvm/health", log, env=env))
            with_version(tree, f"b.populate_http({p}, {args.vms})")
            ports[(ver, "memory")] = p
            for workers in (1, 2):
                data = tmp / f"{ver}-data{workers}"
                copy_world(world, data)
                p = free_port()
                stack.enter_context(serve(f"{ver} sqlite x{workers}",
                                          azvm_argv(p, "--data-dir", str(data), "--workers", str(workers),
                                                    "--manual-clock"),
                                          p, "/azvm/health", log, env=env, settle=1.5 if workers > 1 else 0))
                ports[(ver, f"sqlite x{workers}")] = p
        listed = {k: list_pages(p) for k, p in ports.items()}  # (paths of the pages, VMs seen)
        pages = {k: paths for k, (paths, _vms) in listed.items()}
        for p in ports.values():
            speed_up(p)

        def measure(ver: str, cfg: str, workload: str, r: int) -> float:
            p = ports[(ver, cfg)]
            url = f"http://{HOST}:{p}"
            if workload.startswith("a."):
                return run_wrk(f"{url}{VMS_PATH}/vm0/instanceView?{API}", duration=args.duration,
                               connections=args.connections).rps
            if workload.startswith("b."):
                per_page = listed[(ver, cfg)][1] / len(pages[(ver, cfg)])
                lua = lua_paths(tmp, f"list_{p}.lua", pages[(ver, cfg)])
                return run_wrk(url + pages[(ver, cfg)][0], duration=args.duration, connections=args.connections,
                               lua=lua).rps * per_page
            first = 1000 + r * POWER_POOL
            check_running(p, [f"vm{first}", f"vm{first + POWER_POOL - 1}"])
            w = run_wrk(url + VMS_PATH, duration=args.duration, connections=args.connections,
                        lua=lua_azvm_power(tmp, POWER_POOL, first), warmup=0)
            bad = {k: v for k, v in w.statuses.items() if k != 202}
            if bad:
                print(f"{ver} {cfg} round {r + 1}: failures {bad}")
            return w.per_s(202)

        got: dict[tuple[str, str, str], list[float]] = {}
        for r in range(args.rounds):
            for cfg in CONFIGS:
                for workload in WORKLOADS:
                    for ver in ("base", "new") if r % 2 == 0 else ("new", "base"):
                        got.setdefault((cfg, workload, ver), []).append(measure(ver, cfg, workload, r))
                    a, b = got[(cfg, workload, "base")][-1], got[(cfg, workload, "new")][-1]
                    print(f"round {r + 1}: {cfg}, {workload}: base {a:,.0f}, new {b:,.0f}, new/base {b / a:.2f}",
                          flush=True)
        table = Table(title=f"new ({ROOT.name} checkout) against base ({rev}), {args.vms:,} VMs, "
                            f"{args.rounds} rounds of {args.duration:g} s")
        for col in ("configuration", "workload", "base (median)", "new (median)", "new/base (median)", "rounds"):
            table.add_column(col, justify="left" if col in ("configuration", "workload") else "right")
        for cfg in CONFIGS:
            for workload in WORKLOADS:
                base, new = got[(cfg, workload, "base")], got[(cfg, workload, "new")]
                q = [b / a for a, b in zip(base, new, strict=True) if a]
                table.add_row(cfg, workload, f"{statistics.median(base):,.0f}", f"{statistics.median(new):,.0f}",
                              f"{statistics.median(q):.2f}", ", ".join(f"{x:.2f}" for x in q))
        Console(width=140).print(table)
        print(f"python {sys.version.split()[0]}; wrk -t1 -c{args.connections}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
