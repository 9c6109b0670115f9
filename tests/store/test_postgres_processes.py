"""Many processes, one world: separate OS processes act on the same VMs at once through one
PostgreSQL database, and the stored world is exactly what the lifecycle rules make of the
operations that were acknowledged: none lost, none half-written, none decided on a stale head."""

from __future__ import annotations

import multiprocessing
from typing import Any

import psycopg
from tests.conftest import START, vm_body
from tests.pg import PgServer
from tests.store.test_contract import SUB

from azvm.domain.errors import ArmError, ConcurrencyError
from azvm.domain.history import Operation, phase_at, plan
from azvm.domain.table import Op
from azvm.domain.usage import disk_rows, usage_rows
from azvm.ids import IdSource
from azvm.service.clock import restore as restore_clock
from azvm.service.compute import ComputeService, Settings
from azvm.service.ports import VmRow
from azvm.store.postgres import PostgresStore, StoreUnavailable

VMS = ["vm0", "vm1", "vm2"]
ACTIONS = [Op.POWER_OFF, Op.START, Op.DEALLOCATE, Op.RESTART, Op.START, Op.POWER_OFF_SKIP, Op.START]
WORKERS = 3
STEPS = 80
ROUND = 8  # steps per round: within a round every process acts at the same simulated instant
ROUND_US = 7_000_000


class CountingStore(PostgresStore):
    """Counts the appends refused because another process moved the VM's history on first."""

    conflicts = 0

    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int | None) -> None:
        try:
            super().append(row, op, expected_version=expected_version, id_counter=id_counter)
        except ConcurrencyError:
            self.conflicts += 1
            raise


def service(store: PostgresStore) -> ComputeService:
    clock = restore_clock(store, manual=True, speed=1.0, start_us=START, skip=False)
    return ComputeService(store, clock, IdSource(None), Settings(shared_clock=True))


def worker(url: str, index: int, barrier: Any, results: Any) -> None:
    """One server process's worth of requests, each in a request scope as the ARM edge runs them;
    odd workers share commits between requests (group commit, a batch every three requests). The
    processes run in rounds: within a round all act at the same simulated instant, between rounds
    the first moves the shared clock on (so that operations finish and new ones cut them)."""
    store = CountingStore(url)
    store.group_commit = index % 2 == 1
    svc = service(store)
    acked: list[str] = []
    batch: list[str] = []
    refused = busy = 0
    errors: list[str] = []

    def commit() -> None:
        nonlocal batch, busy
        try:
            store.commit()
            acked.extend(batch)
        except StoreUnavailable:
            busy += 1
        batch = []

    for i in range(STEPS):
        if i % ROUND == 0:
            commit()  # nothing held across the barrier
            barrier.wait(120)
            if index == 0:
                with store.request():
                    svc.time.move(advance_us=ROUND_US)
            barrier.wait(120)
        vm = VMS[(i * (index + 1) + index) % len(VMS)]
        action = ACTIONS[(i + 2 * index) % len(ACTIONS)]
        try:
            with store.request():
                svc.time.sync()  # the clock another process moved
                batch.append(svc.action(SUB, "rg", vm, action).op_id)
        except StoreUnavailable:
            busy += 1
        except ArmError as e:
            if e.code not in ("OperationNotAllowed", "Conflict"):  # the lifecycle's refusals (409)
                errors.append(f"{action} {vm}: {e.code} {e.message}")
            refused += 1
        except Exception as e:  # reported to the test, which fails on it
            errors.append(f"{action} {vm}: {e!r}")
        if not store.group_commit or len(batch) >= 3:
            commit()
    commit()
    store.close()
    results.put({"acked": acked, "refused": refused, "busy": busy, "errors": errors, "conflicts": store.conflicts})


def replay_check(history: list[Operation], name: str) -> None:
    """Every action in the history is what the lifecycle rules decide on the operation before it."""
    for prev, o in zip(history, history[1:], strict=False):
        current = phase_at(prev, o.at_us)
        phases, error, preempts = plan(Op(o.name), current, o.at_us, vm_name=name, ongoing=prev)
        assert (phases, preempts) == (o.phases, o.preempts), (name, prev, o)


def test_processes_acting_on_the_same_vms_lose_nothing_and_follow_the_rules(pg_server: PgServer, pg_url: str) -> None:
    setup = PostgresStore(pg_url)
    svc = service(setup)
    svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    for vm in VMS:
        svc.create_or_update(SUB, "rg", vm, vm_body(vm))
    svc.time.move(advance_us=600_000_000)  # running
    created = {o.op_id for _k, h in setup.iter_histories() for o in h}
    setup.close()

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(pg_url, i, start, results)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert [o["errors"] for o in outcomes] == [[]] * WORKERS
    acked = [op_id for o in outcomes for op_id in o["acked"]]

    check = PostgresStore(pg_url)
    histories = dict(check.iter_histories())
    stored = [o.op_id for h in histories.values() for o in h if o.op_id not in created]
    # every acknowledged operation is stored, once; nothing that was not acknowledged is
    assert sorted(stored) == sorted(acked) and len(set(acked)) == len(acked)
    with psycopg.connect(pg_url) as conn:
        for key, versions in conn.execute("SELECT key, array_agg(version ORDER BY version) FROM ops GROUP BY key"):
            assert versions == list(range(1, len(versions) + 1)), key
    for key, history in histories.items():
        head = check.get_vm(key)
        assert head is not None and head.version == len(history) and head.last == history[-1]
        replay_check(history, key.rsplit("/", 1)[1])
    # the billing projections agree with the histories
    assert check.usage_rows() == [r for h in histories.values() for r in usage_rows(h)]
    assert sorted(check.disk_rows()) == sorted(d for h in histories.values() for d in disk_rows(h))
    # the processes did meet: some appends lost a race and were decided again on the fresh head
    assert sum(o["conflicts"] for o in outcomes) > 0, outcomes
    check.close()
