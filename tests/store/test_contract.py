"""One contract for every store: memory, SQLite and PostgreSQL (tests/store/conftest.py runs each test over each)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from azvm.domain.errors import ConcurrencyError
from azvm.domain.history import Operation, Phase
from azvm.service.ports import GroupRow, VmRow

SUB = "00000000-0000-0000-0000-000000000000"


def op(op_id: str, at: int, power: str = "running", end: int | None = None) -> Operation:
    phases = (Phase(at, "updating", "starting"), Phase(end or at + 10, "succeeded", power))
    return Operation(op_id, "start", at, phases)


def row(name: str, version: int, last: Operation, gone: int | None = None, rg: str = "RG") -> VmRow:
    key = f"/subscriptions/{SUB}/resourcegroups/{rg}/providers/microsoft.compute/virtualmachines/{name}".lower()
    return VmRow(key, SUB, rg, name, "eastus", version, {"name": name, "location": "eastus", "properties": {}},
                 last, gone)


def test_append_and_read_back(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    a, b = op("a", 0), op("b", 100, "stopped")
    s.append(row("vm", 1, a), a, expected_version=0, id_counter=1)
    s.append(row("vm", 2, b), b, expected_version=1, id_counter=2)
    r = s.get_vm(row("vm", 2, b).key)
    assert r.version == 2 and r.last == b and r.model["name"] == "vm"
    assert s.load_history(r.key) == [a, b]
    assert s.find_operation("a") == (r.key, a, b)
    assert s.find_operation("b") == (r.key, b, None)
    assert s.find_operation("zzz") is None
    assert s.get_meta("id_counter") == "2"


def test_optimistic_concurrency_refuses_a_stale_append(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    a, b, c = op("a", 0), op("b", 100), op("c", 100)
    s.append(row("vm", 1, a), a, expected_version=0, id_counter=1)
    s.append(row("vm", 2, b), b, expected_version=1, id_counter=2)
    with pytest.raises(ConcurrencyError):
        s.append(row("vm", 2, c), c, expected_version=1, id_counter=3)
    assert [o.op_id for o in s.load_history(row("vm", 2, b).key)] == ["a", "b"]
    assert s.find_operation("c") is None  # nothing half-written


def test_listing_pages_by_key_and_hides_gone_vms(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    for i in range(5):
        o = op(f"o{i}", 0)
        s.append(row(f"vm{i}", 1, o, gone=50 if i == 2 else None), o, expected_version=0, id_counter=i)
    names = [r.name for r in s.list_vms(sub=SUB, rg=None, location=None, live_at_us=10, after_key=None, limit=10)]
    assert names == ["vm0", "vm1", "vm2", "vm3", "vm4"]
    page = s.list_vms(sub=SUB, rg="rg", location="eastus", live_at_us=60, after_key=None, limit=2)
    assert [r.name for r in page] == ["vm0", "vm1"]
    rest = s.list_vms(sub=SUB, rg="rg", location=None, live_at_us=60, after_key=page[-1].key, limit=10)
    assert [r.name for r in rest] == ["vm3", "vm4"]
    assert s.list_vms(sub=SUB, rg=None, location="westus", live_at_us=60, after_key=None, limit=10) == []
    assert sorted(k.rsplit("/", 1)[1] for k, _ in s.iter_phases(60)) == ["vm0", "vm1", "vm3", "vm4"]
    assert [len(h) for _k, h in s.iter_histories()] == [1, 1, 1, 1, 1]


def test_groups_meta_and_reset(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    g = GroupRow(f"/subscriptions/{SUB}/resourcegroups/rg", SUB, "RG", "eastus", {"a": "b"}, 5)
    s.put_group(g)
    assert s.get_group(g.key) == g and s.list_groups(SUB) == [g]
    g2 = GroupRow(g.key, SUB, "RG", "eastus", {}, 5, "op1", 10, 20)
    s.put_group(g2, id_counter=9)
    assert s.find_group_by_op("op1") == g2 and s.get_meta("id_counter") == "9"
    s.set_meta("clock", "1,2,0.0,1")
    assert s.get_meta("clock") == "1,2,0.0,1"
    s.reset()
    assert s.get_group(g.key) is None and s.get_meta("clock") is None


def test_sqlite_survives_reopening(tmp_path: Any) -> None:
    from azvm.store import SqliteStore
    from azvm.store.sqlite import SCHEMA_VERSION

    s = SqliteStore(tmp_path / "a.sqlite3")
    a = op("a", 0)
    s.append(row("vm", 1, a), a, expected_version=0, id_counter=1)
    s.close()
    s2 = SqliteStore(tmp_path / "a.sqlite3")
    assert s2.load_history(row("vm", 1, a).key) == [a]
    assert s2._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert s2._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s2.close()


def _scenario(store: Any) -> Any:
    from tests.conftest import make_service, vm_body

    from azvm.domain.table import Op

    svc = make_service(store)
    svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    body = vm_body(hibernation=True)
    body["properties"]["storageProfile"]["dataDisks"] = [{"lun": 0, "createOption": "Empty", "diskSizeGB": 100}]
    svc.create_or_update(SUB, "rg", "a", body)
    svc.create_or_update(SUB, "rg", "b", vm_body(image=False))
    for secs, call in [(60, lambda: svc.power_off(SUB, "rg", "a")), (3, lambda: svc.deallocate(SUB, "rg", "a")),
                       (100, lambda: svc.update(SUB, "rg", "a", {"properties": {
                           "hardwareProfile": {"vmSize": "Standard_B2s"},
                           "storageProfile": {"dataDisks": []}}})),
                       (5, lambda: svc.action(SUB, "rg", "a", Op.START)), (600, lambda: svc.delete(SUB, "rg", "b")),
                       (30, lambda: svc.create_or_update(SUB, "rg", "b", vm_body()))]:
        svc.clock.advance(secs)
        call()
    svc.clock.advance(3600)
    return svc


def test_billing_projections_agree_with_the_history(store_factory: Callable[[], Any]) -> None:
    from azvm.domain.usage import disk_rows, usage_rows

    svc = _scenario(store_factory())
    s = svc.store
    expected_usage = [r for _k, ops in s.iter_histories() for r in usage_rows(ops)]
    assert s.usage_rows() == expected_usage
    states = [r[2] for r in expected_usage if r[0].endswith("/a")]
    # the deallocate 3 s into the powerOff preempts it: no stopped phase
    assert states == ["creating", "running", "running", "running", "stopping", "deallocating",
                      "deallocated", "deallocated", "deallocated", "starting", "running"]
    sizes = {r[3] for r in expected_usage if r[0].endswith("/a")}
    assert sizes == {"Standard_D2s_v3", "Standard_B2s"}
    expected_disks = sorted(d for _k, ops in s.iter_histories() for d in disk_rows(ops))
    assert sorted(s.disk_rows()) == expected_disks
    a_disks = [d for d in expected_disks if d[0].endswith("/a")]
    assert len(a_disks) == 2 and sum(1 for d in a_disks if d[5] is None) == 1  # the data disk was detached
    b_disks = [d for d in expected_disks if d[0].endswith("/b")]
    assert sorted(d[5] is None for d in b_disks) == [False, True]  # deleted with its VM, then a new one


def test_migration_backfills_the_billing_projections(tmp_path: Any) -> None:
    from azvm.store import SqliteStore

    path = tmp_path / "m.sqlite3"
    svc = _scenario(SqliteStore(path))
    usage, disks = svc.store.usage_rows(), svc.store.disk_rows()
    histories = dict(svc.store.iter_histories())
    keys = list(histories)
    assert len(keys) == 2 and histories == {key: svc.store.load_history(key) for key in keys}
    op_ids = [h[-1].op_id for h in histories.values()]
    found = [svc.store.find_operation(i) for i in op_ids]
    heads = {key: svc.store.get_vm(key) for key in keys}
    db = svc.store._db
    # the heads as schema 1 kept them (the model in the row, the last operation whole)
    db.execute("CREATE TABLE vms1 (key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg TEXT NOT NULL, rg_lower TEXT NOT NULL,"
               " name TEXT NOT NULL, location TEXT NOT NULL, version INTEGER NOT NULL, model BLOB NOT NULL,"
               " last BLOB NOT NULL, phases BLOB NOT NULL, gone_us INTEGER)")
    for r in db.execute("SELECT v.key, v.sub, v.rg, v.rg_lower, v.name, v.location, v.version, m.model, v.last,"
                        " v.gone_us FROM vms v JOIN vm_models m ON m.stream = v.stream").fetchall():
        last = orjson.loads(r[8])
        if last.get("model") is True:
            last["model"] = orjson.loads(r[7])
        db.execute("INSERT INTO vms1 VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                   (*r[:8], orjson.dumps(last), orjson.dumps(last["phases"]), r[9]))
    db.execute("DROP TABLE vms")
    db.execute("DROP TABLE vm_models")
    db.execute("ALTER TABLE vms1 RENAME TO vms")
    db.execute("CREATE INDEX vms_by_sub ON vms (sub, key)")
    # the history as schema 1 kept it (ops by key), the later projections gone
    db.execute("CREATE TABLE ops1 (key TEXT NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL,"
               " op_id TEXT NOT NULL UNIQUE, body BLOB NOT NULL, PRIMARY KEY (key, version))")
    db.execute("INSERT INTO ops1 SELECT s.key, o.version, o.at_us, o.op_id, o.body FROM ops o"
               " JOIN streams s ON s.id = o.stream ORDER BY o.rowid")
    db.execute("DROP TABLE ops")
    db.execute("ALTER TABLE ops1 RENAME TO ops")
    for table in ("usage", "disks", "streams", "facts", "resources", "resource_versions", "resource_refs"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version=1")  # as a store written before migrations 2 to 7
    svc.store.close()
    again = SqliteStore(path)
    assert again.usage_rows() == usage and sorted(again.disk_rows()) == sorted(disks)
    assert again._db.execute("SELECT count(*) FROM facts").fetchone()[0] >= 3  # compact rows
    assert {key: again.load_history(key) for key in keys} == histories  # migration 7: the history by stream
    assert [again.find_operation(i) for i in op_ids] == found
    assert dict(again.iter_histories()) == histories
    assert {key: again.get_vm(key) for key in keys} == heads  # migration 8: each model apart from its head
    lasts = [r[0] for r in again._db.execute("SELECT last FROM vms ORDER BY key")]
    assert [b'"model":true' in last for last in lasts] == [False, True]  # b's last operation made its model
    again.close()


def test_a_stale_head_in_one_process_is_refreshed_after_a_conflict(tmp_path: Any) -> None:
    from tests.conftest import START, vm_body

    from azvm.clock import Clock
    from azvm.ids import IdSource
    from azvm.service.compute import ComputeService, Settings
    from azvm.store import SqliteStore

    path = tmp_path / "two.sqlite3"
    a = ComputeService(SqliteStore(path), Clock.manual(START, skip=False), IdSource(None), Settings())
    b = ComputeService(SqliteStore(path), Clock.manual(START, skip=False), IdSource(None), Settings())
    a.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    a.create_or_update(SUB, "rg", "vm", vm_body())
    for s in (a, b):
        s.clock.advance(60)
    with a.store.request():  # a's cache is trusted from here on ...
        b.power_off(SUB, "rg", "vm")  # ... when b commits a change a has not seen
        op = a.deallocate(SUB, "rg", "vm")  # a conflicts once, re-reads, decides on the fresh head
    key = f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm"
    assert [o.name for o in a.store.load_history(key)] == ["create", "powerOff", "deallocate"]
    assert a.store.load_history(key)[-1].op_id == op.op_id
    a.store.close()
    b.store.close()


def test_the_reference_index_is_rebuilt_from_stored_versions(tmp_path: Any) -> None:
    """Migration 5 indexes who refers to whom from the resource versions already stored."""
    from azvm.domain.resource_id import ResourceId
    from azvm.service.ports import ResourceRow
    from azvm.store import SqliteStore
    from azvm.store.sqlite import MIGRATIONS, _backfill_refs

    path = tmp_path / "refs.sqlite3"
    s = SqliteStore(path)
    subnet = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
    nic = ResourceId.parse(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n")
    ipc = {"name": "c", "properties": {"subnet": {"id": subnet}}}
    body = {"id": str(nic), "properties": {"ipConfigurations": [ipc]}}
    s.put_resource(ResourceRow(nic.key, SUB, "rg", nic.type, "n", "eastus", 1, body, "e", 1, 1, "op1"),
                   expected_version=0)
    assert s.referrers(subnet.lower()) == [nic.key]
    s._db.execute("DROP TABLE resource_refs")
    s._db.execute(f"PRAGMA user_version={MIGRATIONS.index(_backfill_refs) - 1}")  # before the index and its backfill
    s.close()
    again = SqliteStore(path)
    assert again.referrers(subnet.lower()) == [nic.key]
    again.close()


def _resource(name: str, version: int, op_id: str) -> Any:
    from azvm.domain.resource_id import ResourceId
    from azvm.service.ports import ResourceRow

    rid = ResourceId.parse(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{name}")
    return ResourceRow(rid.key, SUB, "rg", rid.type, name, "eastus", version, {"id": str(rid), "v": version},
                       f"e{version}", version, 1, op_id)


def test_a_stale_resource_version_is_refused(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    s.put_resource(_resource("v", 1, "p1"), expected_version=0, id_counter=4)
    s.put_resource(_resource("v", 2, "p2"), expected_version=1)
    with pytest.raises(ConcurrencyError):
        s.put_resource(_resource("v", 2, "p3"), expected_version=1, id_counter=9)
    key = _resource("v", 1, "p1").key
    assert [r.op_id for r in s.resource_history(key)] == ["p1", "p2"]
    assert s.get_resource(key).body["v"] == 2 and s.find_resource_op("p3") is None
    assert s.get_meta("id_counter") == "4"  # the refused write's counter was not kept either


def test_resources_kept_without_rowid_are_moved_to_rowid_tables(tmp_path: Any) -> None:
    """Migration 9: a store of schema 8 kept resources' versions and heads in WITHOUT ROWID tables; after
    it, the same versions, heads, operations and pages, and (key, version) still refuses a stale write."""
    from azvm.store import SqliteStore
    from azvm.store.sqlite import MIGRATIONS, _resources_with_rowid

    path = tmp_path / "res.sqlite3"
    s = SqliteStore(path)
    for i in range(3):
        s.put_resource(_resource(f"v{i}", 1, f"a{i}"), expected_version=0)
        s.put_resource(_resource(f"v{i}", 2, f"b{i}"), expected_version=1)
    s.put_resource(dataclasses.replace(_resource("v1", 3, "c1"), gone_us=5), expected_version=2)  # deleted
    keys = [_resource(f"v{i}", 1, "x").key for i in range(3)]

    def seen(st: Any) -> Any:
        return ([st.resource_history(k) for k in keys], [st.get_resource(k) for k in keys],
                [st.find_resource_op(f"b{i}") for i in range(3)],
                st.list_resources(sub=SUB, rg=None, type=None, live_at_us=10, after_key=None, limit=10))

    before = seen(s)
    db = s._db
    for table, cols, pk in (("resource_versions", "key TEXT NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL,"
                             " op_id TEXT NOT NULL, row BLOB NOT NULL", "PRIMARY KEY (key, version)"),
                            ("resources", "key TEXT NOT NULL, sub TEXT NOT NULL, rg_lower TEXT NOT NULL, type_lower"
                             " TEXT NOT NULL, version INTEGER NOT NULL, gone_us INTEGER, row BLOB NOT NULL",
                             "PRIMARY KEY (key)")):
        db.execute(f"CREATE TABLE {table}8 ({cols}, {pk}) WITHOUT ROWID")  # as schema 4 made it
        db.execute(f"INSERT INTO {table}8 SELECT * FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}8 RENAME TO {table}")
    db.execute("CREATE INDEX resource_versions_by_op ON resource_versions (op_id)")
    db.execute("CREATE INDEX resources_by_sub ON resources (sub, key)")
    db.execute(f"PRAGMA user_version={MIGRATIONS.index(_resources_with_rowid)}")
    s.close()
    again = SqliteStore(path)
    tables = dict(again._db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'resource%' AND type='table'"))
    assert set(tables) == {"resources", "resource_versions", "resource_refs"}
    assert "WITHOUT ROWID" not in tables["resources"] + tables["resource_versions"]
    assert seen(again) == before
    with pytest.raises(ConcurrencyError):
        again.put_resource(_resource("v0", 2, "d0"), expected_version=1)
    again.put_resource(_resource("v0", 3, "e0"), expected_version=2)  # a head updated in place
    assert again.get_resource(keys[0]).body["v"] == 3 and [r.op_id for r in again.resource_history(keys[0])] == [
        "a0", "b0", "e0"]
    again.close()


def test_heads_without_their_copy_of_the_phases(tmp_path: Any) -> None:
    """Migration 10: a store of schema 9 kept a copy of each head's last phases in `vms.phases`; after
    it the column is gone, the same heads, histories, phases and usage are read, and a head is still
    rewritten in place by the next operation."""
    from tests.conftest import make_service

    from azvm.store import SqliteStore
    from azvm.store.sqlite import MIGRATIONS, _heads_without_phases

    path = tmp_path / "heads.sqlite3"
    svc = _scenario(SqliteStore(path))
    keys = [k for k, _ops in svc.store.iter_histories()]

    def seen(st: Any) -> Any:
        return ({k: st.get_vm(k) for k in keys}, dict(st.iter_histories()), sorted(st.iter_phases(0)),
                st.usage_rows())

    before = seen(svc.store)
    db = svc.store._db
    db.execute("ALTER TABLE vms ADD COLUMN phases BLOB NOT NULL DEFAULT x''")  # as schema 9 had it
    for key, last in db.execute("SELECT key, last FROM vms").fetchall():
        db.execute("UPDATE vms SET phases=? WHERE key=?", (orjson.dumps(orjson.loads(last)["phases"]), key))
    db.execute(f"PRAGMA user_version={MIGRATIONS.index(_heads_without_phases)}")
    svc.store.close()
    again = SqliteStore(path)
    assert "phases" not in {c[1] for c in again._db.execute("PRAGMA table_info(vms)")}
    assert seen(again) == before
    svc2 = make_service(again)
    svc2.clock.advance(4000)
    op = svc2.power_off(SUB, "rg", "a")
    head = again.get_vm(next(k for k in keys if k.endswith("/a")))
    assert head is not None and head.last.op_id == op.op_id and head.version == len(again.load_history(head.key))
    assert dict(again.iter_phases(0))[head.key] == [list(p) for p in op.phases]
    again.close()


def test_compare_and_set_meta_refuses_a_changed_value(store_factory: Callable[[], Any]) -> None:
    s = store_factory()
    assert s.compare_and_set_meta("clock", None, "a")
    assert not s.compare_and_set_meta("clock", None, "b")  # someone set it first
    assert s.compare_and_set_meta("clock", "a", "c")
    assert not s.compare_and_set_meta("clock", "a", "d")  # moved on meanwhile: no lost update
    assert s.get_meta("clock") == "c"


@pytest.mark.parametrize("group_commit", [False, True])
def test_a_failed_request_writes_nothing(store_factory: Callable[[], Any], group_commit: bool) -> None:
    from azvm.store import MemoryStore

    s = store_factory()
    if isinstance(s, MemoryStore):
        pytest.skip("the in-memory store has no transactions (a request's writes are not undone)")
    if not group_commit and type(s).__name__ == "SqliteStore":
        pytest.skip("SQLite commits each write alone outside group commit")
    s.group_commit = group_commit
    a, b = op("a", 0), op("b", 5)
    with s.request():
        s.append(row("kept", 1, a), a, expected_version=0, id_counter=1)
    with pytest.raises(RuntimeError), s.request():
        s.append(row("vm", 1, b), b, expected_version=0, id_counter=2)
        s.set_meta("clock", "x")
        s.put_group(GroupRow(f"/subscriptions/{SUB}/resourcegroups/rg", SUB, "RG", "eastus", {}, 5))
        raise RuntimeError("the answer could not be sent")
    s.commit()
    assert s.get_vm(row("vm", 1, b).key) is None and s.find_operation("b") is None
    assert s.get_meta("clock") is None and s.list_groups(SUB) == [] and s.get_meta("id_counter") == "1"
    assert s.get_vm(row("kept", 1, a).key).last == a
