"""Deterministic ids with a seed, and never the same id twice across a restart."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import START, SUB, vm_body

from azvm.clock import Clock
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, Settings
from azvm.store import MemoryStore, SqliteStore


def run(svc: ComputeService) -> list[str]:
    svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    ids = []
    for name in ("a", "b"):
        st, op, _ = svc.create_or_update(SUB, "rg", name, vm_body())
        ids += [op.op_id, st.row.model["properties"]["vmId"]]
    svc.clock.advance(60)
    ids.append(svc.power_off(SUB, "rg", "a").op_id)
    return ids


def test_the_same_seed_gives_the_same_ids() -> None:
    one = run(ComputeService(MemoryStore(), Clock.manual(START, skip=False), IdSource(42), Settings()))
    two = run(ComputeService(MemoryStore(), Clock.manual(START, skip=False), IdSource(42), Settings()))
    other = run(ComputeService(MemoryStore(), Clock.manual(START, skip=False), IdSource(43), Settings()))
    assert one == two and set(one).isdisjoint(other) and len(set(one)) == len(one)


def test_a_restarted_server_never_repeats_an_id(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = ComputeService(SqliteStore(path), Clock.manual(START, skip=False), IdSource(42), Settings())
    before = run(first)
    now = first.now()
    first.store.close()
    again = ComputeService(SqliteStore(path), Clock.manual(now, skip=False), IdSource(42), Settings())
    after = [again.start(SUB, "rg", "a").op_id, again.restart(SUB, "rg", "b").op_id]
    assert set(after).isdisjoint(before)
    again.store.close()


def test_a_forked_child_draws_ids_of_its_own() -> None:
    """`--workers N` forks: a child must not repeat its parent's unseeded ids."""
    import os

    IdSource().uuid()  # the parent's generator exists before the fork
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.write(w, " ".join(IdSource().uuid() for _ in range(3)).encode())
        os._exit(0)
    os.close(w)
    mine = [IdSource().uuid() for _ in range(3)]
    with os.fdopen(r) as f:
        theirs = f.read().split()
    os.waitpid(pid, 0)
    assert len(theirs) == 3 and set(theirs).isdisjoint(mine)


def test_operation_ids_come_in_order_and_seeded_ones_as_any_id() -> None:
    """Unseeded operation ids sort in the order they were drawn (the stores' op-id index then grows
    at its end), are well-formed UUIDs and unique; seeded ones stay the seeded sequence."""
    import uuid

    src = IdSource()
    ids = [src.operation_id() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {8} and all(str(uuid.UUID(i)) == i for i in ids)
    a, b = IdSource(7), IdSource(7)
    assert [a.operation_id(), a.uuid(), a.operation_id()] == [b.uuid(), b.uuid(), b.uuid()]
