"""The stores side by side: appends/s and head reads/s on SQLite and on PostgreSQL, in one run.

    .venv/bin/python benchmarks/bench_store.py [--vms 500] [--ops 4000] [--reads 20000] [--batch 32]
                                               [--database postgresql://...]

Each store gets the same work through the Store port (azvm.service.ports), with operations planned
by azvm.domain.history.plan beforehand so that only the store is measured:

- appends, one per transaction: each append is a request of its own, committed before the next
  (what `azvm serve` does under light load);
- appends, group commit: requests of one append each, `--batch` of them sharing one commit (what
  `azvm serve` does under load: one commit per turn of the event loop);
- head reads: `get_vm` of VMs in a fixed shuffled order (what every GET of a VM does first);
- requests: a head read then an append, in a request scope (a power action's store work).

SQLite runs as azvm serves it (WAL, synchronous=NORMAL: a commit is in the WAL before it returns,
no fsync per commit). PostgreSQL is the server of `--database` (a database that this run empties),
or else one started for this run exactly as the tests start it (tests/pg.py: Debian's binaries, a
Unix socket, fsync off, so no fsync per commit either; synchronous_commit on). Figures are printed,
never asserted.
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
sys.path.insert(0, str(ROOT))  # tests.pg: the PostgreSQL server of the tests

from azvm.clock import parse_iso  # noqa: E402
from azvm.domain.history import Operation, phase_at, plan  # noqa: E402
from azvm.domain.table import Op  # noqa: E402
from azvm.service.ports import VmRow  # noqa: E402
from azvm.store.postgres import PostgresStore  # noqa: E402
from azvm.store.sqlite import SqliteStore  # noqa: E402

SUB = "00000000-0000-0000-0000-000000000000"
START = parse_iso("2026-01-01T00:00:00Z")
US = 1_000_000
CYCLE = [Op.POWER_OFF, Op.DEALLOCATE, Op.START]


def model(name: str) -> dict[str, Any]:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
    return {"id": rid, "name": name, "location": "eastus", "tags": {"team": "bench"}, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"name": f"{name}-os", "osType": "Linux", "diskSizeGB": 30,
                                      "managedDisk": {"storageAccountType": "Premium_LRS"}}},
        "networkProfile": {"networkInterfaces": [{"id": rid + "-nic"}]}}}


class Work:
    """Every VM's create, then power cycles: (row, op, expected_version) in the order they are appended."""

    def __init__(self, vms: int, ops: int) -> None:
        self.creates: list[tuple[VmRow, Operation, int]] = []
        self.actions: list[tuple[VmRow, Operation, int]] = []
        heads: dict[str, tuple[VmRow, Operation]] = {}
        n = 0
        for i in range(vms):
            name = f"vm{i:06d}"
            m = model(name)
            phases, _e, _p = plan(Op.CREATE, None, START, vm_name=name)
            o = Operation(f"op-{n}", "create", START, phases, True, m)
            n += 1
            r = VmRow(m["id"].lower(), SUB, "rg", name, "eastus", 1, m, o, None)
            self.creates.append((r, o, 0))
            heads[r.key] = (r, o)
        keys = list(heads)
        for j in range(ops):
            key = keys[j % len(keys)]
            r, last = heads[key]
            at = START + (j // len(keys) + 1) * 3600 * US
            kind = CYCLE[(j // len(keys)) % len(CYCLE)]
            phases, _e, pre = plan(kind, phase_at(last, at), at, vm_name=r.name, ongoing=last)
            o = Operation(f"op-{n}", kind.value, at, phases, pre)
            n += 1
            nr = VmRow(r.key, SUB, "rg", r.name, "eastus", r.version + 1, r.model, o, None)
            self.actions.append((nr, o, r.version))
            heads[key] = (nr, o)
        self.keys = keys


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s"


def measure(store: Any, work: Work, reads: int, batch: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for r, o, v in work.creates:
        store.append(r, o, expected_version=v, id_counter=None)
    half = len(work.actions) // 3
    alone, grouped, last = work.actions[:half], work.actions[half:2 * half], work.actions[2 * half:]

    t = time.perf_counter()
    for r, o, v in alone:
        with store.request():
            store.append(r, o, expected_version=v, id_counter=None)
        store.commit()  # SQLite without group commit has committed already: a no-op
    out["appends, one commit each"] = rate(len(alone), time.perf_counter() - t)

    store.group_commit = True
    t = time.perf_counter()
    for i, (r, o, v) in enumerate(grouped):
        with store.request():
            store.append(r, o, expected_version=v, id_counter=None)
        if (i + 1) % batch == 0:
            store.commit()
    store.commit()
    out[f"appends, group commit ({batch})"] = rate(len(grouped), time.perf_counter() - t)

    keys = work.keys
    order = [keys[(i * 7919) % len(keys)] for i in range(reads)]
    get = store.get_vm
    t = time.perf_counter()
    for k in order:
        get(k)
    out["head reads"] = rate(reads, time.perf_counter() - t)

    t = time.perf_counter()
    for i, (r, o, v) in enumerate(last):
        with store.request():
            get(r.key)
            store.append(r, o, expected_version=v, id_counter=None)
        if (i + 1) % batch == 0:
            store.commit()
    store.commit()
    out[f"read + append requests, group commit ({batch})"] = rate(len(last), time.perf_counter() - t)
    store.group_commit = False
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vms", type=int, default=500)
    ap.add_argument("--ops", type=int, default=6000)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--database", help="a PostgreSQL database to use (emptied); default: a server of this run's own")
    args = ap.parse_args()
    work = Work(args.vms, args.ops)
    results: dict[str, dict[str, str]] = {}
    cleanup: list[Callable[[], None]] = []

    with tempfile.TemporaryDirectory() as d:
        sqlite = SqliteStore(Path(d) / "bench.sqlite3")
        results["SQLite"] = measure(sqlite, work, args.reads, args.batch)
        sqlite.close()

    url = args.database
    note = ""
    if url is None:
        from tests.pg import start_server

        try:
            server = start_server()
        except BaseException as e:  # pytest's skip outside pytest: no PostgreSQL here
            print(f"PostgreSQL: not measured ({e})")
            server = None
        if server is not None:
            cleanup.append(server.stop)
            url = server.fresh_database()
            note = " (a server of this run's own: Unix socket, fsync off)"
    try:
        if url is not None:
            pg = PostgresStore(url)
            pg.reset()
            results["PostgreSQL"] = measure(pg, work, args.reads, args.batch)
            pg.close()
    finally:
        for c in cleanup:
            c()

    names = list(results)
    rows = list(results["SQLite"])
    width = max(len(r) for r in rows)
    print(f"{args.vms} VMs, {args.ops} operations, {args.reads} head reads{note}")
    print(" " * width + "".join(f"  {n:>12}" for n in names))
    for r in rows:
        print(r.ljust(width) + "".join(f"  {results[n][r]:>12}" for n in names))


if __name__ == "__main__":
    main()
