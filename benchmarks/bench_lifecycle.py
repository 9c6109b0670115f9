"""Lifecycle benchmarks: how fast azvm accepts operations, and how fast it derives current states.

    .venv/bin/python benchmarks/bench_lifecycle.py [--vms 200] [--cycles 10] [--derive-vms 100000]

a. accept throughput: a ComputeService over a fresh SqliteStore (durability "normal": every
   accepted operation is committed in its own transaction, in the WAL before the call returns, so
   it survives a process crash) with a manual clock. N VMs are created, then driven through
   powerOff -> deallocate -> start cycles through the service methods; the clock is advanced
   between operations so each one has completed before the next. Reports accepted operations/s.

b. derivation: a SqliteStore holding 100,000 VMs of ten operations each (a create, then
   powerOff/deallocate/start cycles, every plan made by azvm.domain.history.plan). The store is
   filled through a bulk path that lives only here (the SQL of SqliteStore.append, batched in one
   transaction). The measured part is the library's read path: ``store.iter_phases(now)`` plus the
   phase in force at ``now`` (bisect on phase times) for every VM. It runs in a fresh child
   process so that its peak RSS (ru_maxrss) is the derivation's own, not the population's.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from azvm.clock import Clock, parse_iso
from azvm.domain.history import Operation, phase_at, plan
from azvm.domain.table import Op
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, vm_id
from azvm.store.sqlite import SqliteStore

try:
    from rich.console import Console
    from rich.table import Table
except ImportError:  # pragma: no cover - rich is a dependency of azvm
    Console = Table = None  # type: ignore[assignment,misc]

US = 1_000_000
SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg"
START = parse_iso("2026-01-01T00:00:00Z")
ACCEPT_TARGET = 5_000.0
DERIVE_TARGET = 200_000.0
RSS_TARGET_MB = 500.0


def nic_id(name: str) -> str:
    """VM `name`'s own network interface."""
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/networkInterfaces/{name}-nic"


def vm_body(name: str) -> dict[str, Any]:
    """VM `name` from an image, on its own NIC. A ComputeService alone (as here) registers no network
    types, so the NIC is not looked up; through a server it must exist first (bench_arm makes it)."""
    return {
        "location": "eastus",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "imageReference": {
                    "publisher": "Canonical",
                    "offer": "ubuntu-24_04-lts",
                    "sku": "server",
                    "version": "latest",
                }
            },
            "osProfile": {"computerName": name, "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
            "networkProfile": {"networkInterfaces": [{"id": nic_id(name)}]},
        },
    }


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB (macOS in bytes)
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


# -- a. accept throughput ---------------------------------------------------------------------
def bench_accept(tmp: Path, n_vms: int, cycles: int) -> dict[str, Any]:
    store = SqliteStore(tmp / "accept.sqlite3", durability="normal")
    clock = Clock.manual(START)
    svc = ComputeService(store, clock, IdSource(1))
    svc.groups.create_or_update(SUB, RG, {"location": "eastus"})
    t0 = time.perf_counter()
    for i in range(n_vms):
        svc.create_or_update(SUB, RG, f"vm{i}", vm_body(f"vm{i}"))
    create_s = time.perf_counter() - t0
    clock.advance(3600)  # every create has completed: the VMs are Running

    actions = (svc.power_off, svc.deallocate, svc.start)
    ops = 0
    t0 = time.perf_counter()
    for _ in range(cycles):
        for action in actions:
            for i in range(n_vms):
                action(SUB, RG, f"vm{i}")
                ops += 1
            clock.advance(60)  # longer than any of the three: each operation completes
    elapsed = time.perf_counter() - t0

    # sanity: every VM is Running again and has 1 + 3*cycles operations
    st = svc.get_state(SUB, RG, "vm0")
    assert st is not None and st.phase.power == "running", st
    assert len(store.load_history(vm_id(SUB, RG, "vm0").lower())) == 1 + 3 * cycles
    store.close()
    return {
        "vms": n_vms,
        "creates_per_s": n_vms / create_s,
        "ops": ops,
        "seconds": elapsed,
        "ops_per_s": ops / elapsed,
        "rss_mb": peak_rss_mb(),
    }


# -- b. derivation: population (bulk path, benchmark only) -------------------------------------
OPS_CYCLE = (Op.POWER_OFF, Op.DEALLOCATE, Op.START)
OPS_PER_VM = 10  # a create and three powerOff/deallocate/start cycles
OP_SPACING_S = 60
STAGGER_S = 97  # VM i begins (i % 97) s after the others: at `now` some last operations are running


def derive_now() -> int:
    """A time at or after every VM's last operation was accepted, with some still in progress."""
    return START + ((OPS_PER_VM - 1) * OP_SPACING_S + STAGGER_S - 1 + 5) * US


def populate(path: Path, n_vms: int) -> dict[str, Any]:
    store = SqliteStore(path, durability="normal")
    # one realistic model (what a create through the service stores), renamed per VM
    from azvm.store.memory import MemoryStore

    msvc = ComputeService(MemoryStore(), Clock.manual(START), IdSource(7))
    msvc.groups.create_or_update(SUB, RG, {"location": "eastus"})
    template = msvc.create_or_update(SUB, RG, "vmtemplate", vm_body("vmtemplate"))[0].row.model
    template_json = orjson.dumps(template).decode()
    ids = IdSource(2)
    db = store._db  # the bulk path: SqliteStore.append's SQL, many rows per transaction
    t0 = time.perf_counter()
    n_ops = 0
    batch_ops: list[tuple[Any, ...]] = []
    batch_vms: list[tuple[Any, ...]] = []

    def flush() -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO streams (id, key) VALUES (?,?)", {(o[0], o[5]) for o in batch_ops})
        db.executemany("INSERT INTO ops (stream, version, at_us, op_id, body) VALUES (?,?,?,?,?)",
                       [o[:5] for o in batch_ops])
        db.executemany(
            "INSERT OR REPLACE INTO vms (key, stream, sub, rg, rg_lower, name, location, version, last,"
            " gone_us) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [v[:2] + v[3:] for v in batch_vms],
        )
        db.executemany("INSERT OR REPLACE INTO vm_models (stream, model) VALUES (?,?)", [v[1:3] for v in batch_vms])
        db.execute("COMMIT")
        batch_ops.clear()
        batch_vms.clear()

    for i in range(n_vms):
        name = f"vm{i}"
        rid = vm_id(SUB, RG, name)
        key = rid.lower()
        model_json = template_json.replace("vmtemplate", name)
        model = orjson.loads(model_json)
        t = START + (i % STAGGER_S) * US
        current = None
        op: Operation | None = None
        for v in range(OPS_PER_VM):
            name_op = Op.CREATE if v == 0 else OPS_CYCLE[(v - 1) % 3]
            phases, error, preempts = plan(name_op, current, t, vm_name=name)
            op = Operation(ids.uuid(), name_op.value, t, phases, preempts, model if v == 0 else None, error)
            batch_ops.append((i + 1, v + 1, t, op.op_id, orjson.dumps(op.to_json()), key))  # stream i + 1
            n_ops += 1
            t += OP_SPACING_S * US
            current = phase_at(op, t)
        assert op is not None
        batch_vms.append(
            (
                key,
                i + 1,  # its stream
                model_json.encode(),
                SUB,
                RG,
                RG,
                name,
                "eastus",
                OPS_PER_VM,
                orjson.dumps(op.to_json()),
                None,
            )
        )
        if len(batch_vms) >= 1_000:  # small batches: each orjson.dumps result holds ~4 KB (see below)
            flush()
    if batch_vms:
        flush()
    db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)", (str(ids.counter),))
    seconds = time.perf_counter() - t0
    store.close()
    return {
        "vms": n_vms,
        "ops": n_ops,
        "seconds": seconds,
        "db_mb": path.stat().st_size / 2**20,
        "rss_mb": peak_rss_mb(),
    }


# -- b. derivation: the measured read path (run in a child process) ----------------------------
def derive_all(store: SqliteStore, now: int) -> tuple[int, Counter[tuple[str, str]]]:
    """The phase in force at `now` of every live VM, from the store's head rows."""
    n = 0
    states: Counter[tuple[str, str]] = Counter()
    first = lambda p: p[0]  # noqa: E731
    for _key, phases in store.iter_phases(now):
        i = bisect_right(phases, now, key=first) - 1
        ph = phases[i if i > 0 else 0]
        states[(ph[1], ph[2])] += 1
        n += 1
    return n, states


def derive_child(path: str, now: int, repeats: int, profile: bool) -> None:
    rss_before = peak_rss_mb()
    store = SqliteStore(path, durability="normal")
    runs = []
    n = 0
    states: Counter[tuple[str, str]] = Counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        n, states = derive_all(store, now)
        runs.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "vms": n,
        "runs": runs,
        "rss_before_mb": rss_before,
        "rss_mb": peak_rss_mb(),
        "states": {f"{k[0]}/{k[1]}": v for k, v in sorted(states.items())},
    }
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        derive_all(store, now)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(10)
        out["profile"] = s.getvalue()
        # the SQL alone (fetchall of key, last), without JSON decoding or bisect
        t0 = time.perf_counter()
        rows = store._db.execute(
            "SELECT key, last FROM vms WHERE gone_us IS NULL OR gone_us>?", (now,)
        ).fetchall()
        out["sql_only_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _k, b in rows:
            orjson.loads(b)
        out["loads_only_s"] = time.perf_counter() - t0
    store.close()
    print(json.dumps(out))


def run_child(*args: str) -> dict[str, Any]:
    """Run this script in a fresh process. On Linux a child's ru_maxrss starts from its parent's
    high-water mark (it is carried over fork/exec), so the children are spawned from the small
    parent, never from the populating process."""
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_derive(path: Path, now: int, repeats: int = 3, profile: bool = True) -> dict[str, Any]:
    return run_child(
        "--derive-child",
        str(path),
        "--now",
        str(now),
        "--repeats",
        str(repeats),
        *(["--profile"] if profile else []),
    )


# -- output -------------------------------------------------------------------------------------
def show(title: str, header: list[str], rows: list[list[str]]) -> None:
    if Table is not None:
        t = Table(title=title)
        for h in header:
            t.add_column(h, justify="right" if h not in ("measure", "note") else "left")
        for r in rows:
            t.add_row(*r)
        Console(width=140).print(t)
    else:
        print(title)
        for r in [header, *rows]:
            print("  " + " | ".join(r))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms", type=int, default=200, help="VMs in the accept benchmark")
    ap.add_argument("--cycles", type=int, default=10, help="powerOff/deallocate/start cycles per VM")
    ap.add_argument("--derive-vms", type=int, default=100_000)
    ap.add_argument("--derive-child", help=argparse.SUPPRESS)
    ap.add_argument("--populate-child", help=argparse.SUPPRESS)
    ap.add_argument("--now", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.populate_child:
        print(json.dumps(populate(Path(args.populate_child), args.derive_vms)))
        return 0
    if args.derive_child:
        derive_child(args.derive_child, args.now, args.repeats, args.profile)
        return 0

    print(
        f"azvm lifecycle benchmarks  (python {sys.version.split()[0]},"
        f" sqlite {__import__('sqlite3').sqlite_version},"
        f" {os.cpu_count()} CPUs)"
    )
    with tempfile.TemporaryDirectory(prefix="azvm-bench-") as d:
        tmp = Path(d)
        a = bench_accept(tmp, args.vms, args.cycles)
        show(
            "a. accept throughput (ComputeService + SqliteStore, one transaction per operation)",
            ["measure", "value", "target", "note"],
            [
                ["VMs created", f"{a['vms']:,}", "", f"{a['creates_per_s']:,.0f} creates/s (setup)"],
                ["operations accepted", f"{a['ops']:,}", "", f"powerOff/deallocate/start x {args.cycles}"],
                ["elapsed", f"{a['seconds']:.2f} s", "", ""],
                [
                    "accepted operations/s",
                    f"{a['ops_per_s']:,.0f}",
                    f">= {ACCEPT_TARGET:,.0f}",
                    "MET" if a["ops_per_s"] >= ACCEPT_TARGET else "MISSED",
                ],
                ["peak RSS (process)", f"{a['rss_mb']:.0f} MB", "", "ru_maxrss after phase a"],
            ],
        )

        db = tmp / "derive.sqlite3"
        p = run_child("--populate-child", str(db), "--derive-vms", str(args.derive_vms))
        now = derive_now()
        r = run_derive(db, now)
        best = min(r["runs"])
        vps = r["vms"] / best
        show(
            "b. derivation: current state of every VM (store.iter_phases + bisect at now)",
            ["measure", "value", "target", "note"],
            [
                [
                    "population (bulk, not measured)",
                    f"{p['vms']:,} VMs / {p['ops']:,} ops",
                    "",
                    f"{p['seconds']:.1f} s, store {p['db_mb']:.0f} MB",
                ],
                ["VMs derived", f"{r['vms']:,}", "", "runs: " + ", ".join(f"{x:.3f} s" for x in r["runs"])],
                [
                    "VMs/s (best run)",
                    f"{vps:,.0f}",
                    f">= {DERIVE_TARGET:,.0f}",
                    "MET" if vps >= DERIVE_TARGET else "MISSED",
                ],
                [
                    "peak RSS (derivation child)",
                    f"{r['rss_mb']:.0f} MB",
                    f"< {RSS_TARGET_MB:.0f} MB",
                    ("MET" if r["rss_mb"] < RSS_TARGET_MB else "MISSED")
                    + f" (after imports: {r['rss_before_mb']:.0f} MB)",
                ],
                ["SQL fetchall alone", f"{r['sql_only_s']:.3f} s", "", "SELECT key, last FROM vms"],
                ["orjson.loads alone", f"{r['loads_only_s']:.3f} s", "", "of the last operations"],
                ["peak RSS (population child)", f"{p['rss_mb']:.0f} MB", "", "not measured: setup"],
            ],
        )
        print("states at now:", ", ".join(f"{k}={v:,}" for k, v in r["states"].items()))
        print("cProfile of one derivation (sorted by own time):")
        print("\n".join(line for line in r["profile"].splitlines() if line.strip())[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
