"""Benchmark the billing meter: 10,000 VMs over 30 days with 1,000,000 state changes, and a year of a
100,000-VM fleet with 10,000,000.

Run: .venv/bin/python benchmarks/bench_billing.py [--vms 10000] [--rows-per-vm 100] [--no-fleet] [--fleet-runs 3]

Prints wall times (time.perf_counter) for billing an in-memory timeline by each grouping, for the
same timeline imported from a generated CSV history, and read from azvm's SQLite store (the target:
store to bill under 0.5 s; the rows read as tuples, the path before the columnar read, beside it as
a peer); each VM's cost so far as the dashboard needs it; the daily cost-details export; then the
peak memory (tracemalloc, measured in a separate pass since tracing slows Python down) and the
process's maximum resident set size (resource.getrusage). Last, a fleet of --fleet-vms VMs over a
year, --fleet-rows-per-vm changes each, written into a store, billed from the store in a fresh
process --fleet-runs times: time, CPU time and peak resident memory of each run and their medians
(targets: 5 s, 1 GB). A billing run in a fresh process imports its modules (and pyarrow.compute,
when installed) before the clock starts. Its CPU time counts every thread of the process (SQLite
reads in a thread of its own); beside wall time it tells how much a busy machine slowed the run.
Its peak RSS counts the pages of the database file that SQLite maps (mmap) and reads: they are
shown apart (what the resident pages of mapped files grew by from the start of the run to its end).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from fractions import Fraction
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
    vm_costs,
    write_cost_csv,
)
from azvm.domain.usage import USAGE_STATES
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
                   window: tuple[int, int], target: str = "target <= 2 s") -> Any:
    """Time reading rows (and disks) and billing them by VM, and print both and their sum."""
    t = time.perf_counter()
    rows, disks = read()
    took_read = time.perf_counter() - t
    print(f"  {label:<52} {took_read:7.3f} s")
    t = time.perf_counter()
    result = bill(rows, disks, prices, rules, *window)
    took_bill = time.perf_counter() - t
    print(f"  {'bill(group_by=' + repr('vm') + ') of those rows':<52} {took_bill:7.3f} s")
    print(f"  {'total, read to bill':<52} {took_read + took_bill:7.3f} s  ({target})")
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
    ap.add_argument("--fleet-vms", type=int, default=100_000, help="0: no fleet")
    ap.add_argument("--fleet-rows-per-vm", type=int, default=100)
    ap.add_argument("--fleet-days", type=int, default=365)
    ap.add_argument("--fleet-runs", type=int, default=3, help="fresh processes billing the fleet (median)")
    ap.add_argument("--no-fleet", dest="fleet_vms", action="store_const", const=0)
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

    def rows_from_store() -> tuple[Any, Any]:  # the path before the columnar read: a tuple per row
        return store.usage_rows(), store.disk_rows()

    timed("load the rows into a SQLite store (setup, not part of the target)", load_store)
    print("the same from azvm's SQLite store (target: store to bill < 0.5 s):")
    result = read_then_bill("usage_rows(): the rows as tuples, as before", rows_from_store, prices, rules, window,
                            "peer")
    assert result.total_exact == expected
    result = read_then_bill("timeline_from_store(): the rows as columns", from_store, prices, rules, window,
                            "target < 0.5 s")
    assert result.total_exact == expected
    took, cpu, peak_mib, _mapped = child_run("store", tmp, window)
    print(f"  {'the same in a fresh process, cold':<52} {took:7.3f} s  (CPU {cpu:.3f} s, peak RSS {peak_mib:.0f} MiB)")
    del result

    print("each VM's compute cost so far, as the dashboard shows it (10,000 VMs, from the store's columns):")
    columns = timeline_from_store(store).rows
    summed = timed("bill(group_by='vm'), its VM lines added up per VM",
                   lambda: vm_lines_summed(columns, prices, rules, window))
    costs = timed("vm_costs(): integers, one Fraction per VM", lambda: vm_costs(columns, prices, rules, *window))
    assert costs == summed
    store.close()

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
        print(f"    {label:<50} {child_run(how, tmp, window)[2]:8.1f} MiB")
    keep.cleanup()
    if args.fleet_vms:
        fleet(args.fleet_vms, args.fleet_rows_per_vm, args.fleet_days, args.fleet_runs, prices, rules)


def vm_lines_summed(rows: Any, prices: Any, rules: Any, window: tuple[int, int]) -> dict[str, Any]:
    """Each VM's cost as the VM lines of a bill by VM add up (what the dashboard did)."""
    out: dict[str, Any] = {}
    for line in bill(rows, (), prices, rules, *window).lines:
        key = line.group.lower()
        so_far = out.get(key, Fraction(0))
        out[key] = None if line.exact is None or so_far is None else so_far + line.exact
    return out


def fleet(n_vms: int, per_vm: int, days: int, runs: int, prices: Any, rules: Any) -> None:
    """A fleet over `days` (one OS disk per VM) written straight into a store's tables, then billed
    from the store in `runs` fresh processes."""
    print(f"a fleet: {n_vms:,} VMs x {per_vm} state changes over {days} days, one disk each"
          " (targets: store to bill < 5 s, peak RSS < 1 GB):")
    keep = tempfile.TemporaryDirectory()
    tmp = Path(keep.name)
    window = (START, START + days * DAY)
    timed(f"write {n_vms * per_vm:,} rows into a SQLite store (setup)",
          lambda: write_fleet(tmp / "azvm.sqlite3", n_vms, per_vm, days))
    results = []
    for n in range(max(1, runs)):
        results.append(child_run("store", tmp, window))
        took, cpu, peak_mib, mapped_mib = results[-1]
        print(f"  {f'store to bill, in a fresh process (run {n + 1})':<52} {took:7.3f} s  (CPU {cpu:.3f} s,"
              f" peak RSS {peak_mib:.0f} MiB, {mapped_mib:.0f} MiB of it the database file mapped)")
    took, cpu, peak_mib, mapped_mib = (statistics.median(r[i] for r in results) for i in range(4))
    print(f"  {f'store to bill, median of {len(results)}':<52} {took:7.3f} s  (CPU {cpu:.3f} s,"
          f" peak RSS {peak_mib:.0f} MiB, {mapped_mib:.0f} MiB of it the database file mapped)")
    store = SqliteStore(tmp / "azvm.sqlite3")
    tl = timed("timeline_from_store() (in this process)", lambda: timeline_from_store(store))
    result = timed("bill(group_by='vm') of those rows", lambda: bill(tl.rows, tl.disks, prices, rules, *window))
    print(f"  total {result.total_display} {result.currency}, {len(result.lines):,} lines")
    store.close()
    keep.cleanup()


def write_fleet(path: Path, n_vms: int, per_vm: int, days: int) -> None:
    """The store's billing projection of a fleet, generated by SQLite itself: VM v's change i lies in
    the i-th of `per_vm` equal slots of the period (the first at its start, `creating`), at a spot
    that a multiplicative hash of (v, i) picks, its state from the same cycle as `generate`."""
    store = SqliteStore(path)
    db = store._db
    slot = days * DAY // per_vm
    code = {s: i for i, s in enumerate(USAGE_STATES)}
    cycle = " ".join(f"WHEN {i} THEN {code[s]}" for i, s in enumerate(CYCLE))

    def vm_id(v: int) -> str:
        return (f"/subscriptions/00000000-0000-0000-0000-{v % 7:012d}/resourceGroups/rg{v % 50}"
                f"/providers/Microsoft.Compute/virtualMachines/vm{v:06d}")

    db.execute("BEGIN")
    db.executemany("INSERT INTO streams (id, key) VALUES (?, ?)", ((v + 1, vm_id(v).lower()) for v in range(n_vms)))
    db.executemany("INSERT INTO facts (id, vm_id, size, location, os_type) VALUES (?, ?, ?, ?, ?)",
                   ((v + 1, vm_id(v), SIZES[v % len(SIZES)], REGIONS[v % len(REGIONS)],
                     "Windows" if v % 5 == 0 else "Linux") for v in range(n_vms)))
    db.execute(f"""WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < {per_vm})
        INSERT INTO usage (stream, at_us, state, facts)
        SELECT s.id, CASE WHEN i.n = 0 THEN {START} ELSE {START} + i.n * {slot}
                          + ((s.id * 2654435761 + i.n * 40503) % {slot}) END,
               CASE WHEN i.n = 0 THEN {code["creating"]} ELSE CASE (i.n - 1) % {len(CYCLE)} {cycle} END END, s.id
        FROM streams s, i ORDER BY s.id, i.n""")
    db.executemany("INSERT INTO disks VALUES (?, ?, ?, ?, ?, ?, NULL)",
                   ((vm_id(v).lower(), vm_id(v), f"vm{v:06d}_os", "Premium_LRS", 128, START) for v in range(n_vms)))
    db.execute("COMMIT")
    store.close()


CHILD = """
import sys, time
from pathlib import Path
from azvm.billing import bill, read_history_csv, rule_set, sample_prices
from azvm.service.billing import timeline_from_store
from azvm.service.history_import import arrow_available, read_timeline
from azvm.store import SqliteStore
if arrow_available():
    import pyarrow.compute  # module imports are not billing time
how, tmp, start, end = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
prices, rules = sample_prices(), rule_set("docs-2021")


def status():
    return dict(line.split(":", 1) for line in open("/proc/self/status"))


mapped_before = int(status().get("RssFile", "0").split()[0])
t, c = time.perf_counter(), time.process_time()
if how == "store":
    store = SqliteStore(tmp / "azvm.sqlite3")
    tl = timeline_from_store(store)
    rows, disks = tl.rows, tl.disks
elif how == "arrow":
    rows, disks = read_timeline(tmp / "history.csv"), []
else:
    rows, disks = read_history_csv(tmp / "history.csv"), []
bill(rows, disks, prices, rules, start, end)
took, cpu = time.perf_counter() - t, time.process_time() - c
# VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork and exec);
# RssFile: the resident pages of mapped files, the database's (SQLite maps it) added to the libraries'
end = status()
print(took, cpu, end["VmHWM"].split()[0], int(end.get("RssFile", "0").split()[0]) - mapped_before)
"""


def child_run(how: str, tmp: Path, window: tuple[int, int]) -> tuple[float, float, float, float]:
    """(seconds, CPU seconds, peak MiB, MiB of mapped files at the end) of reading and billing in a
    fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, how, str(tmp), str(window[0]), str(window[1])],
                         capture_output=True, text=True, check=True, timeout=600)
    took, cpu, peak_kib, mapped_kib = out.stdout.strip().splitlines()[-1].split()
    return float(took), float(cpu), int(peak_kib) / 1024, int(mapped_kib) / 1024


if __name__ == "__main__":
    main()
