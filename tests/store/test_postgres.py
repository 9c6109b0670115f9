"""What the PostgreSQL store adds to the contract: numbered migrations, group commit across
connections, and database failures (a lost connection, a deadlock) turned into retryable refusals
that never leave half a request behind. Against a real server (tests/pg.py)."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from tests.pg import PgServer
from tests.store.test_contract import SUB, op, row

from azvm.service.ports import GroupRow
from azvm.store import open_store
from azvm.store.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore, SchemaTooNew, StoreUnavailable, migrate


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM azvm_schema ORDER BY version")]


def test_a_new_database_gets_every_migration_recorded(pg_server: PgServer) -> None:
    url = pg_server.fresh_database(empty=True)
    s = open_store(url)
    assert isinstance(s, PostgresStore)
    s.close()
    assert versions(url) == list(range(1, SCHEMA_VERSION + 1))
    pg_server.drop_database(url)


def test_an_older_database_is_migrated_forward_and_keeps_its_history(pg_server: PgServer) -> None:
    url = pg_server.fresh_database(empty=True)
    with psycopg.connect(url, autocommit=True) as conn:
        assert migrate(conn, upto=1) == 0  # as written by an azvm that had migration 1 only
        conn.execute("INSERT INTO meta (name, value) VALUES ('id_counter', '41')")
    assert versions(url) == [1]
    s = PostgresStore(url)
    a = op("a", 0)
    s.append(row("vm", 1, a), a, expected_version=0, id_counter=None)  # the later tables are there
    assert s.get_meta("id_counter") == "41" and s.usage_rows()[0][2] == "starting"
    s.close()
    assert versions(url) == list(range(1, len(MIGRATIONS) + 1))
    pg_server.drop_database(url)


def test_a_database_from_a_newer_azvm_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO azvm_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}, newer than this azvm's"):
        PostgresStore(pg_url)


def test_processes_opening_a_new_database_at_once_migrate_it_once(pg_server: PgServer) -> None:
    url = pg_server.fresh_database(empty=True)
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(url))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(opened) == 4
    for s in opened:
        s.close()
    assert versions(url) == list(range(1, SCHEMA_VERSION + 1))
    pg_server.drop_database(url)


def test_an_unreachable_database_is_a_clear_refusal(tmp_path: Any) -> None:
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        PostgresStore(f"postgresql://azvm@/azvm?host={tmp_path}&port=1", connect_timeout=2)


def test_group_commit_shows_a_batch_to_other_processes_only_once_committed(pg_url: str) -> None:
    s, other = PostgresStore(pg_url), PostgresStore(pg_url)
    s.group_commit = True
    a, b = op("a", 0), op("b", 0)
    for name, o in (("x", a), ("y", b)):
        with s.request():
            s.append(row(name, 1, o), o, expected_version=0, id_counter=None)
    assert s.pending() and s.get_vm(row("y", 1, b).key) is not None  # the batch reads its own writes
    assert other.get_vm(row("x", 1, a).key) is None
    s.commit()
    assert not s.pending()
    assert other.get_vm(row("x", 1, a).key).last == a and other.get_vm(row("y", 1, b).key).last == b
    s.close()
    other.close()


def _kill_connection(server: PgServer, store: PostgresStore) -> None:
    assert store._conn is not None
    pid = store._conn.info.backend_pid
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_lost_connection_is_reopened_for_a_read(pg_server: PgServer, pg_url: str) -> None:
    s = PostgresStore(pg_url)
    a = op("a", 0)
    s.append(row("vm", 1, a), a, expected_version=0, id_counter=None)
    _kill_connection(pg_server, s)
    assert s.get_vm(row("vm", 1, a).key).last == a
    s.close()


def test_a_connection_lost_inside_a_request_refuses_it_and_keeps_nothing(pg_server: PgServer, pg_url: str) -> None:
    s = PostgresStore(pg_url)
    a, b = op("a", 0), op("b", 0)
    with pytest.raises(StoreUnavailable), s.request():
        s.append(row("vm", 1, a), a, expected_version=0, id_counter=None)
        _kill_connection(pg_server, s)
        s.put_group(GroupRow(f"/subscriptions/{SUB}/resourcegroups/rg", SUB, "rg", "eastus", {}, 1))
    assert s.get_vm(row("vm", 1, a).key) is None  # the next request finds a new connection
    with s.request():
        s.append(row("vm", 1, b), b, expected_version=0, id_counter=None)
    assert s.load_history(row("vm", 1, b).key) == [b]
    s.close()


def test_a_lost_batch_acknowledges_none_of_its_requests(pg_server: PgServer, pg_url: str) -> None:
    """Group commit: a request whose own writes went fine is still refused when the batch's
    transaction is lost before its commit (the edge answers no request of the batch)."""
    s = PostgresStore(pg_url)
    s.group_commit = True
    a, b = op("a", 0), op("b", 0)
    with s.request():
        s.append(row("x", 1, a), a, expected_version=0, id_counter=None)
    _kill_connection(pg_server, s)
    with pytest.raises(StoreUnavailable), s.request():
        s.append(row("y", 1, b), b, expected_version=0, id_counter=None)
    assert s.pending()
    with pytest.raises(StoreUnavailable):
        s.commit()
    assert not s.pending()
    assert s.get_vm(row("x", 1, a).key) is None and s.get_vm(row("y", 1, b).key) is None
    with s.request():  # and the store goes on
        s.append(row("x", 1, a), a, expected_version=0, id_counter=None)
    s.commit()
    assert s.get_vm(row("x", 1, a).key).last == a
    s.close()


def test_a_deadlock_between_two_batches_is_run_again_and_loses_nothing(pg_url: str) -> None:
    """Two processes' batches each hold a row the other wants next: PostgreSQL breaks the cycle by
    failing one statement; the store commits that batch's earlier requests and runs the failed request
    again, so both requests succeed and every write is kept."""
    p, q = PostgresStore(pg_url), PostgresStore(pg_url)
    for s in (p, q):
        s.group_commit = True
    with p.request():
        p.set_meta("a", "p1")
    with q.request():
        q.set_meta("b", "q1")
    outcome: dict[str, BaseException | None] = {}

    def write(name: str, s: PostgresStore, meta: str) -> None:
        try:
            with s.request():
                s.set_meta(meta, name + "2")
            outcome[name] = None
        except BaseException as e:
            outcome[name] = e
        finally:  # the batch ends either way, which lets the other side go on
            try:
                s.commit()
            except BaseException as e:  # reported by the assertion below
                outcome[name + " commit"] = e

    tp = threading.Thread(target=write, args=("p", p, "b"))
    tq = threading.Thread(target=write, args=("q", q, "a"))
    tp.start()
    tq.start()
    tp.join(60)
    tq.join(60)
    errors = {k: v for k, v in outcome.items() if v is not None}
    assert set(outcome) == {"p", "q"} and errors == {}, outcome
    check = PostgresStore(pg_url)
    # each batch's first write and each crossing write, whichever ran again
    assert {k: check.get_meta(k) for k in "ab"} == {"a": "q2", "b": "p2"}
    for s in (p, q, check):
        s.close()
