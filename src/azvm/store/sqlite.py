"""The embedded default store: SQLite in WAL mode, one transaction per accepted operation.

Durability: with `synchronous=NORMAL` (the default) a committed transaction is in the WAL file
before the commit returns, so it survives `kill -9` of the process (not a power cut: use
`durability="full"` for that). The schema is versioned with `PRAGMA user_version` and migrated
forward on open.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..domain.errors import ConcurrencyError
from ..domain.history import Operation
from ..service.ports import GroupRow, VmRow

MIGRATIONS: list[str] = [
    # 1: the history, its head projection, resource groups, meta
    """
    CREATE TABLE ops (
        key TEXT NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL,
        op_id TEXT NOT NULL UNIQUE, body BLOB NOT NULL,
        PRIMARY KEY (key, version)
    );
    CREATE TABLE vms (
        key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg TEXT NOT NULL, rg_lower TEXT NOT NULL,
        name TEXT NOT NULL, location TEXT NOT NULL, version INTEGER NOT NULL,
        model BLOB NOT NULL, last BLOB NOT NULL, phases BLOB NOT NULL, gone_us INTEGER
    );
    CREATE INDEX vms_by_sub ON vms (sub, key);
    CREATE TABLE groups (
        key TEXT PRIMARY KEY, sub TEXT NOT NULL, name TEXT NOT NULL, location TEXT NOT NULL,
        tags BLOB NOT NULL, created_us INTEGER NOT NULL, delete_op TEXT, delete_at_us INTEGER,
        gone_us INTEGER
    );
    CREATE INDEX groups_by_op ON groups (delete_op);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def _row(r: tuple[Any, ...]) -> VmRow:
    return VmRow(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]),
                 Operation.from_json(orjson.loads(r[7])), r[8])


_VM_COLS = "key, sub, rg, name, location, version, model, last, gone_us"


class SqliteStore:
    def __init__(self, path: str | Path, *, durability: str = "normal") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        self._lock = threading.RLock()
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA cache_size=-65536")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (version,) = self._db.execute("PRAGMA user_version").fetchone()
                if version > SCHEMA_VERSION:
                    raise RuntimeError(f"store schema {version} is newer than this azvm ({SCHEMA_VERSION})")
                for i in range(version, SCHEMA_VERSION):
                    for stmt in MIGRATIONS[i].split(";"):
                        if stmt.strip():
                            self._db.execute(stmt)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- VMs -------------------------------------------------------------------------------
    def get_vm(self, key: str) -> VmRow | None:
        with self._lock:
            r = self._db.execute(f"SELECT {_VM_COLS} FROM vms WHERE key=?", (key,)).fetchone()
        return _row(r) if r else None

    def load_history(self, key: str) -> list[Operation]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM ops WHERE key=? ORDER BY version", (key,)).fetchall()
        return [Operation.from_json(orjson.loads(b)) for (b,) in rows]

    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int) -> None:
        last = orjson.dumps(op.to_json())
        phases = orjson.dumps([list(p) for p in op.phases])
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute("SELECT version FROM vms WHERE key=?", (row.key,)).fetchone()
                if (cur[0] if cur else 0) != expected_version:
                    raise ConcurrencyError(row.key)
                db.execute("INSERT INTO ops (key, version, at_us, op_id, body) VALUES (?,?,?,?,?)",
                           (row.key, expected_version + 1, op.at_us, op.op_id, last))
                db.execute(
                    "INSERT OR REPLACE INTO vms (key, sub, rg, rg_lower, name, location, version, model,"
                    " last, phases, gone_us) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (row.key, row.sub, row.rg, row.rg.lower(), row.name, row.location, expected_version + 1,
                     orjson.dumps(row.model), last, phases, row.gone_us))
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)",
                           (str(id_counter),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def list_vms(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[VmRow]:
        sql = f"SELECT {_VM_COLS} FROM vms WHERE sub=? AND (gone_us IS NULL OR gone_us>?)"
        args: list[Any] = [sub, live_at_us]
        if rg is not None:
            sql += " AND rg_lower=?"
            args.append(rg.lower())
        if location is not None:
            sql += " AND location=?"
            args.append(location)
        if after_key is not None:
            sql += " AND key>?"
            args.append(after_key)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row(r) for r in rows]

    def iter_phases(self, live_at_us: int) -> Iterator[tuple[str, list[Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, phases FROM vms WHERE gone_us IS NULL OR gone_us>?", (live_at_us,)).fetchall()
        loads = orjson.loads
        for key, phases in rows:
            yield key, loads(phases)

    def iter_histories(self) -> Iterator[tuple[str, list[Operation]]]:
        with self._lock:
            rows = self._db.execute("SELECT key, body FROM ops ORDER BY key, version").fetchall()
        cur_key: str | None = None
        ops: list[Operation] = []
        for key, body in rows:
            if key != cur_key:
                if cur_key is not None:
                    yield cur_key, ops
                cur_key, ops = key, []
            ops.append(Operation.from_json(orjson.loads(body)))
        if cur_key is not None:
            yield cur_key, ops

    def find_operation(self, op_id: str) -> tuple[str, Operation, Operation | None] | None:
        with self._lock:
            r = self._db.execute("SELECT key, version, body FROM ops WHERE op_id=?", (op_id,)).fetchone()
            if r is None:
                return None
            n = self._db.execute("SELECT body FROM ops WHERE key=? AND version=?", (r[0], r[1] + 1)).fetchone()
        nxt = Operation.from_json(orjson.loads(n[0])) if n else None
        return r[0], Operation.from_json(orjson.loads(r[2])), nxt

    # -- resource groups -------------------------------------------------------------------
    def put_group(self, row: GroupRow, *, id_counter: int | None = None) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO groups (key, sub, name, location, tags, created_us, delete_op,"
                    " delete_at_us, gone_us) VALUES (?,?,?,?,?,?,?,?,?)",
                    (row.key, row.sub, row.name, row.location, orjson.dumps(row.tags), row.created_us,
                     row.delete_op, row.delete_at_us, row.gone_us))
                if id_counter is not None:
                    db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)",
                               (str(id_counter),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _group(r: tuple[Any, ...]) -> GroupRow:
        return GroupRow(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6], r[7], r[8])

    _GROUP_COLS = "key, sub, name, location, tags, created_us, delete_op, delete_at_us, gone_us"

    def get_group(self, key: str) -> GroupRow | None:
        with self._lock:
            r = self._db.execute(f"SELECT {self._GROUP_COLS} FROM groups WHERE key=?", (key,)).fetchone()
        return self._group(r) if r else None

    def list_groups(self, sub: str) -> list[GroupRow]:
        with self._lock:
            rows = self._db.execute(f"SELECT {self._GROUP_COLS} FROM groups WHERE sub=? ORDER BY key",
                                    (sub,)).fetchall()
        return [self._group(r) for r in rows]

    def find_group_by_op(self, op_id: str) -> GroupRow | None:
        with self._lock:
            r = self._db.execute(f"SELECT {self._GROUP_COLS} FROM groups WHERE delete_op=?",
                                 (op_id,)).fetchone()
        return self._group(r) if r else None

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return r[0] if r else None

    def set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def reset(self) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for t in ("ops", "vms", "groups", "meta"):
                    db.execute(f"DELETE FROM {t}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
