"""Benchmark the billing meter: 10,000 VMs over 30 days with 1,000,000 state changes.

Run: .venv/bin/python benchmarks/bench_billing.py [--vms 10000] [--rows-per-vm 100]

Prints wall times (time.perf_counter) for billing an in-memory timeline by each grouping, for the
same timeline imported from a generated CSV history, and for the daily cost-details export; then
the peak memory (tracemalloc, measured in a separate pass since tracing slows Python down) and the
process's maximum resident set size (resource.getrusage).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from azvm.billing import (
    DiskSpan,
    StateChange,
    bill,
    cost_records,
    read_history_csv,
    rule_set,
    sample_prices,
    write_cost_csv,
)
from azvm.service.billing import timeline_from_store
from azvm.service.history_import import arrow_available, read_timeline
from azvm.store import SqliteStore

T = TypeVar("T")
S = 1_000_000
DAY = 86_400 * S
START = 1_714_521_600 * S  # 2024-05-01T00:00:00Z
SIZES = ("Standard_D2s_v3", "Standard_B1s", "Standard_D4s_v5", "Standard_E2s_v5", "Standard_B2ms")
REGIONS = ("eastus", "westeurope", "westus2")
# a plausible cycle of power states (every VM starts with `creating`)
CYCLE = ("running", "stopping", "stopped", "starting", "running", "deallocating", "deallocated", "starting")


class Lcg:
    """A tiny deterministic generator (the project bans `random` outside its id source)."""

    def __init__(self, seed: int) -> None:
        self.state = seed

    def below(self, n: int) -> int:
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.state >> 16) % n


def generate(n_vms: int, per_vm: int, days: int) -> tuple[list[StateChange], list[DiskSpan]]:
    rng = Lcg(42)
    span = days * DAY
    rows: list[StateChange] = []
    disks: list[DiskSpan] = []
    for v in range(n_vms):
        vm = (
            f"/subscriptions/00000000-0000-0000-0000-{v % 7:012d}/resourceGroups/rg{v % 50}"
            f"/providers/Microsoft.Compute/virtualMachines/vm{v:05d}"
        )
        size, region = SIZES[v % len(SIZES)], REGIONS[v % len(REGIONS)]
        os_type = "Windows" if v % 5 == 0 else "Linux"
        times = sorted(rng.below(span) for _ in range(per_vm - 1))
        rows.append(StateChange(vm, START, "creating", size, region, os_type))
        for i, t in enumerate(times):
            rows.append(StateChange(vm, START + t, CYCLE[i % len(CYCLE)], size, region, os_type))
        disks.append(DiskSpan(vm, f"vm{v:05d}_os", "Premium_LRS", 128, START, None))
    return rows, disks


def timed(label: str, fn: Callable[[], T]) -> T:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    print(f"  {label:<52} {time.perf_counter() - t:7.3f} s")
    return out


def read_then_bill(label: str, read: Callable[[], tuple[Any, Any]], prices: Any, rules: Any,
                   window: tuple[int, int]) -> Any:
    """Time reading rows (and disks) and billing them by VM, and print both and their sum."""
    t = time.perf_counter()
    rows, disks = read()
    took_read = time.perf_counter() - t
    print(f"  {label:<52} {took_read:7.3f} s")
    t = time.perf_counter()
    result = bill(rows, disks, prices, rules, *window)
    took_bill = time.perf_counter() - t
    print(f"  {'bill(group_by=' + repr('vm') + ') of those rows':<52} {took_bill:7.3f} s")
    print(f"  {'total, read to bill':<52} {took_read + took_bill:7.3f} s  (target <= 2 s)")
    return result


def write_history_csv(rows: list[StateChange], path: Path) -> None:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    with path.open("w", newline="", encoding="utf-8") as fp:
        w = csv.writer(fp)
        w.writerow(("vm_id", "size", "region", "os", "time", "power_state"))
        for r in rows:
            when = (epoch + dt.timedelta(microseconds=r.at_us)).isoformat().replace("+00:00", "Z")
            w.writerow((r.vm_id, r.size, r.location, r.os_type, when, f"PowerState/{r.state}"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=10_000)
    ap.add_argument("--rows-per-vm", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    prices, rules = sample_prices(), rule_set("docs-2021")
    window = (START, START + args.days * DAY)

    print(f"generating {args.vms} VMs x {args.rows_per_vm} rows over {args.days} days ...")
    rows, disks = generate(args.vms, args.rows_per_vm, args.days)
    print(f"  {len(rows):,} state changes, {len(disks):,} disks")

    print("bill an in-memory timeline (rules docs-2021, sample price sheet):")
    result = timed("bill(group_by='vm'), no disks", lambda: bill(rows, [], prices, rules, *window))
    for g in ("vm", "state", "day", "meter"):
        result = timed(
            f"bill(group_by={g!r}) with {len(disks):,} disks",
            lambda g=g: bill(rows, disks, prices, rules, *window, group_by=g),
        )  # type: ignore[misc]
    print(f"  total {result.total_display} {result.currency}, {len(result.lines)} lines (by meter)")

    keep = tempfile.TemporaryDirectory()
    tmp = Path(keep.name)
    expected = bill(rows, disks, prices, rules, *window).total_exact
    path = tmp / "history.csv"
    timed("write the history CSV (setup, not part of the target)", lambda: write_history_csv(rows, path))
    print(f"  history.csv: {path.stat().st_size / 1e6:.1f} MB")
    print("the same from an imported CSV:")
    result = read_then_bill("read_history_csv (parse, validate, sort)", lambda: (read_history_csv(path), disks),
                            prices, rules, window)
    assert result.total_exact == expected
    if arrow_available():
        print("the same through azvm's import (Apache Arrow's CSV reader, pip install azvm[fast-import]):")
        result = read_then_bill("read_timeline with the Arrow fast path", lambda: (read_timeline(path), disks),
                                prices, rules, window)
        assert result.total_exact == expected
    else:
        print("  (pip install azvm[fast-import] for the Arrow fast path)")

    store = SqliteStore(tmp / "azvm.sqlite3")

    def load_store() -> None:  # what azvm's projection holds after these state changes
        db = store._db
        db.execute("BEGIN")
        by_vm: dict[str, list[tuple[str, int, str, str, str, str]]] = {}
        for r in rows:
            by_vm.setdefault(r[0].lower(), []).append(tuple(r))  # type: ignore[arg-type]
        for key, vm_rows in by_vm.items():
            db.executemany("INSERT INTO usage VALUES (?,?,?,?)", store._ids.rows(db, key, vm_rows))
        db.executemany("INSERT INTO disks VALUES (?,?,?,?,?,?,?)", ((d[0].lower(), *d) for d in disks))
        db.execute("COMMIT")

    def from_store() -> tuple[Any, Any]:
        tl = timeline_from_store(store)
        return tl.rows, tl.disks

    timed("load the rows into a SQLite store (setup, not part of the target)", load_store)
    print("the same from azvm's SQLite store:")
    result = read_then_bill("read the timeline and disks from the store", from_store, prices, rules, window)
    assert result.total_exact == expected
    store.close()
    del result

    print("daily cost-details export (not part of the 2 s target):")
    recs = timed(
        "cost_records (one per resource, meter, day)",
        lambda: cost_records(rows, disks, prices, rules, *window),
    )
    timed(f"write_cost_csv ({len(recs):,} rows, in memory)", lambda: write_cost_csv(recs, io.StringIO()))
    recs.clear()

    print("memory:")
    gc.collect()
    tracemalloc.start()
    bill(rows, disks, prices, rules, *window, group_by="day")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  tracemalloc peak during bill(group_by='day'): {peak / 2**20:8.1f} MiB (input rows excluded)")
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  max RSS of this whole run (input, copies, CSV import, export): {maxrss_kib / 1024:8.1f} MiB")
    print("  peak RSS of one billing run alone, each in a fresh process (target < 1 GB):")
    for label, how in (("store to bill", "store"), ("CSV to bill, Arrow fast path", "arrow"),
                       ("CSV to bill, standard reader", "csv")):
        if how == "arrow" and not arrow_available():
            continue
        print(f"    {label:<50} {child_peak_mib(how, tmp, window):8.1f} MiB")
    keep.cleanup()


CHILD = """
import sys
from pathlib import Path
from azvm.billing import bill, read_history_csv, rule_set, sample_prices
how, tmp, start, end = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if how == "store":
    from azvm.service.billing import timeline_from_store
    from azvm.store import SqliteStore
    store = SqliteStore(tmp / "azvm.sqlite3")
    tl = timeline_from_store(store)
    rows, disks = tl.rows, tl.disks
elif how == "arrow":
    from azvm.service.history_import import read_timeline
    rows, disks = read_timeline(tmp / "history.csv"), []
else:
    rows, disks = read_history_csv(tmp / "history.csv"), []
bill(rows, disks, sample_prices(), rule_set("docs-2021"), start, end)
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork and exec)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def child_peak_mib(how: str, tmp: Path, window: tuple[int, int]) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, how, str(tmp), str(window[0]), str(window[1])],
                         capture_output=True, text=True, check=True, timeout=600)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


if __name__ == "__main__":
    main()
