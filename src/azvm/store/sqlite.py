"""The embedded default store: SQLite in WAL mode, one transaction per accepted operation.

Durability: with `synchronous=NORMAL` (the default) a committed transaction is in the WAL file
before the commit returns, so it survives `kill -9` of the process (not a power cut: use
`durability="full"` for that). The schema is versioned with `PRAGMA user_version` and migrated
forward on open.
"""

from __future__ import annotations

import functools
import os
import queue
import sqlite3
import threading
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from ..billing import ColumnsBuilder, UsageColumns
from ..billing.columns import Facts
from ..domain.errors import ConcurrencyError
from ..domain.history import Operation
from ..domain.resource_id import references
from ..domain.usage import (
    USAGE_STATE_CODE,
    USAGE_STATES,
    DiskRow,
    DiskTracker,
    UsageRow,
    billing_state,
    disk_rows,
    usage_rows,
    vm_facts,
)
from ..service.ports import GroupRow, ResourceRow, VmRow


def _histories(rows: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, list[Operation]]]:
    """(key, body) rows in (key, version) order, VM by VM."""
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


def _stored_histories(db: sqlite3.Connection, prefix: str | None = None) -> Iterator[tuple[str, list[Operation]]]:
    """Every stored history (whose key starts with `prefix`, if given), VM by VM."""
    where, args = ("", ()) if prefix is None else (" WHERE s.key>=? AND substr(s.key, 1, ?)=?",
                                                    (prefix, len(prefix), prefix))
    return _histories(db.execute(f"SELECT s.key, o.body FROM streams s JOIN ops o ON o.stream = s.id{where}"
                                 " ORDER BY s.key, o.version", args).fetchall())


def _keyed_histories(db: sqlite3.Connection) -> Iterator[tuple[str, list[Operation]]]:
    """Every history as stored before migration 7 (ops by key): for the migrations before it."""
    return _histories(db.execute("SELECT key, body FROM ops ORDER BY key, version").fetchall())


def _backfill_usage(db: sqlite3.Connection) -> None:
    """Migration 2: build the billing projections from the history already stored."""
    for key, ops in _keyed_histories(db):
        db.executemany("INSERT INTO usage VALUES (?,?,?,?,?,?,?)", [(key, *r) for r in usage_rows(ops)])
        db.executemany("INSERT INTO disks VALUES (?,?,?,?,?,?,?)", [(key, *d) for d in disk_rows(ops)])


@functools.cache
def _usage_insert(n: int) -> str:
    """The statement that writes `n` usage rows (an operation's phases) at once."""
    return "INSERT OR REPLACE INTO usage VALUES " + ",".join(["(?,?,?,?)"] * n)


class _Ids:
    """Stream and facts ids of the compact usage projection, cached per process (ids never change)."""

    def __init__(self) -> None:
        self.streams: dict[str, int] = {}
        self.facts: dict[tuple[str, str, str, str], int] = {}

    def stream(self, db: sqlite3.Connection, key: str) -> int:
        sid = self.streams.get(key)
        if sid is None:
            db.execute("INSERT OR IGNORE INTO streams (key) VALUES (?)", (key,))
            sid = int(db.execute("SELECT id FROM streams WHERE key=?", (key,)).fetchone()[0])
            self.streams[key] = sid
        return sid

    def fact(self, db: sqlite3.Connection, f: tuple[str, str, str, str]) -> int:
        fid = self.facts.get(f)
        if fid is None:
            db.execute("INSERT OR IGNORE INTO facts (vm_id, size, location, os_type) VALUES (?,?,?,?)", f)
            fid = int(db.execute("SELECT id FROM facts WHERE vm_id=? AND size=? AND location=? AND os_type=?",
                                 f).fetchone()[0])
            self.facts[f] = fid
        return fid

    def rows(self, db: sqlite3.Connection, key: str, usage: list[UsageRow]) -> list[tuple[int, int, int, int]]:
        sid = self.stream(db, key)
        return [(sid, r[1], USAGE_STATE_CODE[r[2]], self.fact(db, (r[0], r[3], r[4], r[5]))) for r in usage]


def _backfill_compact_usage(db: sqlite3.Connection) -> None:
    """Migration 3: the compact usage projection, from the history already stored."""
    ids = _Ids()
    for key, ops in _keyed_histories(db):
        db.executemany("INSERT OR REPLACE INTO usage VALUES (?,?,?,?)", ids.rows(db, key, usage_rows(ops)))


def _backfill_refs(db: sqlite3.Connection) -> None:
    """Migration 5: the reference index, from the resource versions already stored."""
    for key, blob in db.execute("SELECT key, row FROM resource_versions").fetchall():
        body = orjson.loads(blob)["body"]
        db.executemany("INSERT OR IGNORE INTO resource_refs VALUES (?,?)", [(t, key) for t in references(body)])


def _ops_by_stream(db: sqlite3.Connection) -> None:
    """Migration 7: the history keyed by its VM's stream id, an integer, rather than by its key (some
    120 characters). An action adds an entry of a few bytes to the (stream, version) index where it
    added one of 130: a store's history index is a tenth of the size, and neighbouring VMs' entries
    share index pages, so that a commit of many actions writes fewer pages to the WAL."""
    if "stream" in {c[1] for c in db.execute("PRAGMA table_info(ops)")}:
        return  # already so (a store whose version was set back, as tests do)
    db.execute("INSERT OR IGNORE INTO streams (key) SELECT DISTINCT key FROM ops ORDER BY key")
    db.execute("""CREATE TABLE ops_by_stream (
        stream INTEGER NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL,
        op_id TEXT NOT NULL UNIQUE, body BLOB NOT NULL,
        PRIMARY KEY (stream, version)
    )""")
    db.execute("INSERT INTO ops_by_stream SELECT s.id, o.version, o.at_us, o.op_id, o.body"
               " FROM ops o JOIN streams s ON s.key = o.key ORDER BY o.rowid")
    db.execute("DROP TABLE ops")
    db.execute("ALTER TABLE ops_by_stream RENAME TO ops")


def _models_apart(db: sqlite3.Connection) -> None:
    """Migration 8: each VM's model in a table of its own (`vm_models`, by stream id), out of its head
    row, and the head's last operation without the model it made (`"model": true` stands for the
    head's): a head row is some 900 bytes rather than 2 to 3.5 KB, four to a page rather than one,
    so that a commit of actions on neighbouring VMs rewrites fewer pages. The history keeps every
    operation whole."""
    if "stream" in {c[1] for c in db.execute("PRAGMA table_info(vms)")}:
        return  # already so (a store whose version was set back, as tests do)
    db.execute("INSERT OR IGNORE INTO streams (key) SELECT key FROM vms ORDER BY rowid")
    db.execute("""CREATE TABLE heads (
        key TEXT PRIMARY KEY, stream INTEGER NOT NULL, sub TEXT NOT NULL, rg TEXT NOT NULL,
        rg_lower TEXT NOT NULL, name TEXT NOT NULL, location TEXT NOT NULL, version INTEGER NOT NULL,
        last BLOB NOT NULL, phases BLOB NOT NULL, gone_us INTEGER
    )""")
    db.execute("CREATE TABLE vm_models (stream INTEGER PRIMARY KEY, model BLOB NOT NULL)")
    rows = db.execute("SELECT v.key, s.id, v.sub, v.rg, v.rg_lower, v.name, v.location, v.version, v.model, v.last,"
                      " v.phases, v.gone_us FROM vms v JOIN streams s ON s.key = v.key ORDER BY v.rowid")
    for r in rows.fetchall():
        last = orjson.loads(r[9])
        if last.get("model") is not None and last["model"] == orjson.loads(r[8]):
            last["model"] = True
        db.execute("INSERT INTO heads VALUES (?,?,?,?,?,?,?,?,?,?,?)", (*r[:8], orjson.dumps(last), *r[10:]))
        db.execute("INSERT INTO vm_models VALUES (?,?)", (r[1], r[8]))
    db.execute("DROP TABLE vms")
    db.execute("ALTER TABLE heads RENAME TO vms")
    db.execute("CREATE INDEX vms_by_sub ON vms (sub, key)")


def _resources_with_rowid(db: sqlite3.Connection) -> None:
    """Migration 9: plain resources' versions and heads in rowid tables rather than WITHOUT ROWID ones.
    A WITHOUT ROWID row keeps at most some 1,000 bytes on its leaf page (a 4 KiB page); a resource's
    row is 1.2 to 1.5 KB, so each one spilled its rest into an overflow page of its own, mostly empty:
    the two tables took 230 MB for 10,000 VMs' NICs and disks, two thirds of it unused. A rowid table
    keeps such rows whole on its leaves, two or three to a page; (key, version) and key stay unique
    through their index."""
    for table in ("resource_versions", "resources"):
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
        if "WITHOUT ROWID" not in sql.upper():
            return  # already so (a store whose version was set back, as tests do)
    db.execute("""CREATE TABLE resource_versions_r (
        key TEXT NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL, op_id TEXT NOT NULL,
        row BLOB NOT NULL,
        PRIMARY KEY (key, version)
    )""")
    db.execute("INSERT INTO resource_versions_r SELECT key, version, at_us, op_id, row FROM resource_versions"
               " ORDER BY key, version")
    db.execute("""CREATE TABLE resources_r (
        key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg_lower TEXT NOT NULL, type_lower TEXT NOT NULL,
        version INTEGER NOT NULL, gone_us INTEGER, row BLOB NOT NULL
    )""")
    db.execute("INSERT INTO resources_r SELECT key, sub, rg_lower, type_lower, version, gone_us, row FROM resources"
               " ORDER BY key")
    db.execute("DROP TABLE resource_versions")
    db.execute("DROP TABLE resources")
    db.execute("ALTER TABLE resource_versions_r RENAME TO resource_versions")
    db.execute("ALTER TABLE resources_r RENAME TO resources")
    db.execute("CREATE INDEX resource_versions_by_op ON resource_versions (op_id)")
    db.execute("CREATE INDEX resources_by_sub ON resources (sub, key)")


def _heads_without_phases(db: sqlite3.Connection) -> None:
    """Migration 10: a VM's head without `phases`, the copy of its last operation's phases that
    `last` holds already. Every operation rewrote the head with both, some 250 bytes of its 850 more
    than it needed, so fewer heads shared a page: a power action's commit wrote 2.4 pages of heads in
    each batch of 8 neighbouring VMs, as bench_power's clients make them (2.0 without it). SQLite
    rewrites each row without the column; the heads keep their pages, with the space freed in them,
    until a VACUUM packs them (a store made since is packed)."""
    if "phases" in {c[1] for c in db.execute("PRAGMA table_info(vms)")}:
        db.execute("ALTER TABLE vms DROP COLUMN phases")


MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
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
    # 2: projections for the billing meter (states over time, disks), kept in step by append()
    """
    CREATE TABLE usage (
        key TEXT NOT NULL, vm_id TEXT NOT NULL, at_us INTEGER NOT NULL, state TEXT NOT NULL,
        size TEXT NOT NULL, location TEXT NOT NULL, os_type TEXT NOT NULL,
        PRIMARY KEY (key, at_us)
    ) WITHOUT ROWID;
    CREATE TABLE disks (
        key TEXT NOT NULL, vm_id TEXT NOT NULL, name TEXT NOT NULL, sku TEXT NOT NULL,
        size_gb INTEGER NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER
    );
    CREATE INDEX disks_by_key ON disks (key, end_us);
    """,
    _backfill_usage,
    # 3: the usage projection, compact: a stream id, a state code and a facts id per row (a million
    #    rows read in a fraction of a second); rebuilt from the history
    """
    DROP TABLE usage;
    CREATE TABLE streams (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
    CREATE TABLE facts (
        id INTEGER PRIMARY KEY, vm_id TEXT NOT NULL, size TEXT NOT NULL, location TEXT NOT NULL,
        os_type TEXT NOT NULL, UNIQUE (vm_id, size, location, os_type)
    );
    CREATE TABLE usage (
        stream INTEGER NOT NULL, at_us INTEGER NOT NULL, state INTEGER NOT NULL, facts INTEGER NOT NULL,
        PRIMARY KEY (stream, at_us)
    ) WITHOUT ROWID;
    """,
    _backfill_compact_usage,
    # 4: plain (tracked) resources: every version of each (the history), and the head of each
    """
    CREATE TABLE resource_versions (
        key TEXT NOT NULL, version INTEGER NOT NULL, at_us INTEGER NOT NULL, op_id TEXT NOT NULL,
        row BLOB NOT NULL,
        PRIMARY KEY (key, version)
    ) WITHOUT ROWID;
    CREATE INDEX resource_versions_by_op ON resource_versions (op_id);
    CREATE TABLE resources (
        key TEXT PRIMARY KEY, sub TEXT NOT NULL, rg_lower TEXT NOT NULL, type_lower TEXT NOT NULL,
        version INTEGER NOT NULL, gone_us INTEGER, row BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX resources_by_sub ON resources (sub, key);
    """,
    # 5: who refers to whom among plain resources (a NIC to its subnet, ...), from every version
    """
    CREATE TABLE resource_refs (
        target TEXT NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (target, source)
    ) WITHOUT ROWID;
    """,
    _backfill_refs,
    # 6: the disks in the order the billing meter reads them (disk_rows), every column in the index:
    #    no sort and no table lookups
    "CREATE INDEX IF NOT EXISTS disks_in_order ON disks (key, start_us, name, vm_id, sku, size_gb, end_us)",
    _ops_by_stream,
    _models_apart,
    _resources_with_rowid,
    _heads_without_phases,
]

SCHEMA_VERSION = len(MIGRATIONS)


def _row(r: tuple[Any, ...]) -> VmRow:
    model = orjson.loads(r[6])
    last = orjson.loads(r[7])
    if last.get("model") is True:  # the head's model (SqliteStore.append)
        last["model"] = model
    return VmRow(r[0], r[1], r[2], r[3], r[4], r[5], model, Operation.from_json(last), r[8])


class _RowCache:
    """Parsed heads, reused while their stored bytes are unchanged (so correct across processes)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.rows: dict[str, tuple[bytes, bytes, VmRow]] = {}
        self.trusted = False  # True while the cached heads are known to be the stored ones

    def get(self, r: tuple[Any, ...]) -> VmRow:
        hit = self.rows.get(r[0])
        if hit is not None and hit[0] == r[7] and hit[1] == r[6]:
            return hit[2]
        row = _row(r)
        if len(self.rows) >= self.size:
            self.rows.clear()
        self.rows[r[0]] = (r[7], r[6], row)
        return row

    def model_blob(self, row: VmRow) -> bytes | None:
        hit = self.rows.get(row.key)
        return hit[1] if hit is not None and hit[2].model is row.model else None


def _resource_json(row: ResourceRow) -> dict[str, Any]:
    return {"key": row.key, "sub": row.sub, "rg": row.rg, "type": row.type, "name": row.name,
            "location": row.location, "version": row.version, "body": row.body, "etag": row.etag,
            "at": row.at_us, "created": row.created_us, "op": row.op_id, "gone": row.gone_us}


def _resource(blob: bytes) -> ResourceRow:
    d = orjson.loads(blob)
    return ResourceRow(d["key"], d["sub"], d["rg"], d["type"], d["name"], d["location"], d["version"], d["body"],
                       d["etag"], d["at"], d["created"], d["op"], d["gone"])


_VM_COLS = "key, sub, rg, name, location, version, model, last, gone_us"
# SQLite keeps a head's model apart (migration 8): the same columns, from the head and its model
_VM_JOINED = "v.key, v.sub, v.rg, v.name, v.location, v.version, m.model, v.last, v.gone_us"
_VMS_JOINED = "vms v JOIN vm_models m ON m.stream = v.stream"


def vm_query(cols: str, sub: str, rg: str | None, location: str | None, live_at_us: int,
             mark: str = "?", source: str = "vms") -> tuple[str, list[Any]]:
    """The VMs of a subscription (in a group, at a location) live at an instant: the query with its
    filters and their values (`mark`: the driver's placeholder), for the paging to complete."""
    sql = f"SELECT {cols} FROM {source} WHERE sub={mark} AND (gone_us IS NULL OR gone_us>{mark})"
    args: list[Any] = [sub, live_at_us]
    if rg is not None:
        sql += f" AND rg_lower={mark}"
        args.append(rg.lower())
    if location is not None:
        sql += f" AND location={mark}"
        args.append(location)
    return sql, args


# The WAL under writes that never pause. A passive checkpoint copies frames into the database while
# the writer goes on, but never all of them (more are committed meanwhile), and the WAL restarts
# from its start only when a transaction begins after a complete checkpoint: otherwise it would grow
# without end. Past CATCH_UP_FRAMES (128 MiB of 4 KiB pages; about a second and a half of power
# actions at full speed) the checkpointing thread copies in passes while the writer goes on, then
# the few hundred frames committed meanwhile holding the store's lock between two commits, so that
# the next transaction writes from the WAL's start: the writer waits 2-5 ms (the database file is
# synced just before, without the lock, so that pass's own sync writes only its pages) where a
# RESTART checkpoint, the bound before, held it up for over 100 ms (it copies whatever the last
# passive pass left, and writers sleep in their busy handler). The
# bound is kept small because frames that grow the file into new blocks make the kernel zero each
# block first (11-13% of a power-action server's CPU in `perf record` with a 1 GiB WAL), while
# frames written over old blocks cost a copy. With other processes writing the same file
# (`--workers`) the last pass may never find the WAL complete: past twice the bound, RESTART.
CATCH_UP_FRAMES = 32_768


class _RequestScope:
    """SqliteStore.request(): a class rather than a generator, as it wraps every request."""

    __slots__ = ("store",)

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        s = self.store
        s._lock.acquire()
        try:
            s._in_request, s._request_savepoint = True, False
            if not s.sole_writer:
                version = s._db.execute("PRAGMA data_version").fetchone()[0]
                s.foreign_writes = version != s._data_version
                if s.foreign_writes:  # another process committed: cached heads may be stale
                    s._cache.rows.clear()
                    s._data_version = version
            s._cache.trusted = True
        except BaseException:
            s._in_request = False
            s._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        s = self.store
        try:
            if s._request_savepoint:
                if kind is not None:
                    s._w.execute("ROLLBACK TO request")
                    s._w.execute("RELEASE request")
                    s._forget()
                else:
                    s._w.execute("RELEASE request")
        finally:
            s._in_request, s._request_savepoint = False, False
            s._cache.trusted = False
            s._lock.release()


class SqliteStore:
    def __init__(self, path: str | Path, *, durability: str = "normal") -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        self._lock = threading.RLock()
        self._gap = threading.Condition(self._lock)  # notified as each transaction ends (checkpoint)
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA mmap_size=17179869184")
        self._cache = _RowCache()
        # vm_heads' answers: (total_changes, data_version), from when, until when (the first end of a
        # VM listed), the heads
        self._heads: dict[tuple[Any, ...], tuple[tuple[int, int | None], int, int, list[tuple[str, int]]]] = {}
        self._ids = _Ids()
        self._w = db.cursor()  # for the hot path's writes, whose cursors nobody reads
        self._request_scope = _RequestScope(self)
        self._tx_open = False
        self._in_request = self._request_savepoint = False
        self._data_version: int | None = None
        self._checkpointer: tuple[threading.Event, threading.Thread] | None = None
        self._generation: str | None = None
        self._migrate()

    # -- transactions ------------------------------------------------------------------------
    # Every write runs in a savepoint of an IMMEDIATE transaction. Alone (the default), the
    # transaction commits at once. With `group_commit` on, it stays open so that the writes of
    # many concurrent requests share one commit: the server answers none of them before
    # `commit()` has returned (azvm.arm.app.GroupCommit), so nothing acknowledged is ever lost.
    group_commit = False
    # the one process that writes this store (a server holding its data directory alone, azvm.server):
    # no other process can commit, so a request need not ask SQLite whether one did
    sole_writer = False
    # whether another process committed since the previous request began (read by each request; a
    # process then re-reads what it shares through the store: clock, fault rules, schedule)
    foreign_writes = True
    catch_up_frames = CATCH_UP_FRAMES  # the WAL's bound (an attribute so that a test can make it small)

    def _begin(self) -> sqlite3.Connection:
        """The connection, in the batch's transaction (opened if none is), the lock held."""
        db = self._db
        if not self._tx_open:
            db.execute("BEGIN IMMEDIATE")
            self._tx_open = True
            if not self.sole_writer:  # alone on the file, this process made every reset itself
                self._check_generation()
        return db

    def _request_write(self) -> sqlite3.Connection:
        """The connection for a write of a request under group commit, the lock held: in the batch's
        transaction and the request's savepoint, opened if need be. Nothing is left to do after
        the write: a failure rolls back to the savepoint (request())."""
        db = self._begin()
        if not self._request_savepoint:
            self._w.execute("SAVEPOINT request")  # everything one request writes: all or nothing
            self._request_savepoint = True
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self.group_commit and self._in_request:
                yield self._request_write()
                return
            db = self._begin()
            if not self.group_commit:  # a transaction of its own
                try:
                    yield db
                except BaseException:
                    self._end_tx("ROLLBACK")
                    self._forget()
                    raise
                self.commit()
                return
            db.execute("SAVEPOINT w")  # one write among the batch's
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK TO w")
                db.execute("RELEASE w")
                self._forget()
                raise
            db.execute("RELEASE w")

    def request(self) -> _RequestScope:
        """The writes of one request: if it fails after writing, none of them stays (under group
        commit they would otherwise be committed with the batch)."""
        return self._request_scope

    def _forget(self) -> None:
        """Drop what this process cached: after a rollback it may name rows that do not exist."""
        self._cache.rows.clear()
        self._ids = _Ids()

    def _check_generation(self) -> None:
        """Another process may have reset the store since this one last wrote: then its cached ids
        are stale. The generation changes on every reset."""
        r = self._db.execute("SELECT value FROM meta WHERE name='generation'").fetchone()
        gen = r[0] if r else ""
        if gen != self._generation:
            self._forget()
            self._generation = gen

    def _end_tx(self, how: str) -> None:
        self._tx_open = False
        try:
            self._db.execute(how)
        except BaseException:
            self._forget()
            raise
        finally:
            self._gap.notify_all()

    def pending(self) -> bool:
        return self._tx_open

    def commit(self) -> None:
        with self._lock:
            if self._tx_open:
                try:
                    self._end_tx("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (version,) = self._db.execute("PRAGMA user_version").fetchone()
                if version > SCHEMA_VERSION:
                    raise RuntimeError(f"store schema {version} is newer than this azvm ({SCHEMA_VERSION})")
                for i in range(version, SCHEMA_VERSION):
                    step = MIGRATIONS[i]
                    if callable(step):
                        step(self._db)
                        continue
                    for stmt in step.split(";"):
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
            if self._cache.trusted:  # inside a request, nobody else has committed since it began
                hit = self._cache.rows.get(key)
                if hit is not None:
                    return hit[2]
            r = self._db.execute(f"SELECT {_VM_JOINED} FROM {_VMS_JOINED} WHERE v.key=?", (key,)).fetchone()
            return self._cache.get(r) if r else None

    def load_history(self, key: str) -> list[Operation]:
        with self._lock:
            rows = self._db.execute("SELECT o.body FROM streams s JOIN ops o ON o.stream = s.id WHERE s.key=?"
                                    " ORDER BY o.version", (key,)).fetchall()
        return [Operation.from_json(orjson.loads(b)) for (b,) in rows]

    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int | None) -> None:
        d = op.to_json()
        last = orjson.dumps(d)  # the history's, whole
        if op.model is not None and op.model is row.model:  # the head's model, kept apart (migration 8)
            d["model"] = True
            head_last = orjson.dumps(d)
        else:
            head_last = last
        with self._write() as db:
            w = self._w
            same_model = self._cache.model_blob(row)  # the head's stored model, when this op keeps it
            sid = self._ids.stream(db, row.key)
            try:  # (stream, version) is unique: a stream that moved on refuses the insert
                w.execute("INSERT INTO ops (stream, version, at_us, op_id, body) VALUES (?,?,?,?,?)",
                          (sid, expected_version + 1, op.at_us, op.op_id, last))
            except sqlite3.IntegrityError as e:
                if "ops.stream" in str(e) or "PRIMARY" in str(e).upper():
                    self._cache.rows.pop(row.key, None)  # another process moved on: read it afresh
                    raise ConcurrencyError(row.key) from None
                raise
            if same_model is not None and expected_version:  # the head row exists: rewrite only what moved
                model = same_model
                w.execute("UPDATE vms SET version=?, last=?, gone_us=? WHERE key=?",
                          (expected_version + 1, head_last, row.gone_us, row.key))
            else:
                model = orjson.dumps(row.model)
                self._put_head(db, row, sid, expected_version + 1, model, head_last)
            if id_counter is not None:
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)", (str(id_counter),))
            self._project(row, op, expected_version, sid)
            self._cache.rows[row.key] = (head_last, model, row)

    @staticmethod
    def _put_head(db: sqlite3.Connection, row: VmRow, sid: int, version: int, model: bytes, last: bytes) -> None:
        db.execute(
            "INSERT INTO vms (key, stream, sub, rg, rg_lower, name, location, version, last, gone_us)"
            # not sub: the key names it, and setting it would rewrite its entry in vms_by_sub
            " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET rg=excluded.rg,"
            " rg_lower=excluded.rg_lower, name=excluded.name, location=excluded.location,"
            " version=excluded.version, last=excluded.last, gone_us=excluded.gone_us",
            (row.key, sid, row.sub, row.rg, row.rg.lower(), row.name, row.location, version, last, row.gone_us))
        db.execute("INSERT OR REPLACE INTO vm_models (stream, model) VALUES (?,?)", (sid, model))

    def _project(self, row: VmRow, op: Operation, expected_version: int, sid: int) -> None:
        """Writes the operation's usage rows, and the VM's disks when they change."""
        db = self._db
        cached = self._cache.rows.get(row.key)
        prev_end = cached[2].last.end_us if cached is not None and cached[2].version == expected_version else None
        fid = self._ids.fact(db, (str(row.model.get("id", "")), *vm_facts(row.model)))
        values: list[int] = []  # op_usage_rows(op, row.model) as _Ids.rows stores them, in one statement
        for p in op.phases:
            values += (sid, p.at_us, USAGE_STATE_CODE[billing_state(p)], fid)
        if prev_end is None or prev_end > op.at_us:  # the new operation cuts the previous plan
            self._w.execute("DELETE FROM usage WHERE stream=? AND at_us>=?", (sid, op.at_us))
        self._w.execute(_usage_insert(len(op.phases)), values)
        if op.model is None and op.phases[-1].power is not None:
            return  # disks change only with the model or a deletion
        open_disks = {n: (sku, size, start) for n, sku, size, start in db.execute(
            "SELECT name, sku, size_gb, start_us FROM disks WHERE key=? AND end_us IS NULL", (row.key,))}
        tracker = DiskTracker(str(row.model.get("id", row.key)), open_disks)
        tracker.apply(op)
        for _vm, name, _sku, _size, start, end in tracker.closed:
            db.execute("UPDATE disks SET end_us=? WHERE key=? AND name=? AND start_us=? AND end_us IS NULL",
                       (end, row.key, name, start))
        for name, (sku, size, start) in tracker.open.items():
            if name not in open_disks:
                db.execute("INSERT INTO disks VALUES (?,?,?,?,?,?,NULL)",
                           (row.key, tracker.vm_id, name, sku, size, start))

    def usage_rows(self) -> list[UsageRow]:
        with self._lock:
            facts = {fid: (vm, size, loc, os_type) for fid, vm, size, loc, os_type in
                     self._db.execute("SELECT id, vm_id, size, location, os_type FROM facts")}
            raw = self._db.execute("SELECT at_us, state, facts FROM usage ORDER BY stream, at_us").fetchall()
        names = USAGE_STATES
        out: list[UsageRow] = []
        append = out.append
        last_fid, f = -1, ("", "", "", "")
        for at, code, fid in raw:
            if fid != last_fid:
                last_fid, f = fid, facts[fid]
            append((f[0], at, names[code], f[1], f[2], f[3]))
        return out

    def vm_tags(self) -> dict[str, dict[str, str]]:
        """Each VM's tags (current model), by resource id: for the cost export's Tags column."""
        with self._lock:
            models = [orjson.loads(m) for (m,) in self._db.execute("SELECT model FROM vm_models")]
        return {str(m.get("id")): dict(m["tags"]) for m in models if m.get("tags")}

    def disk_rows(self) -> list[DiskRow]:
        with self._lock:
            rows: list[DiskRow] = self._db.execute(
                "SELECT vm_id, name, sku, size_gb, start_us, end_us FROM disks ORDER BY key, start_us, name"
            ).fetchall()
        return rows

    def list_vms(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[VmRow]:
        sql, args = vm_query(_VM_JOINED, sub, rg, location, live_at_us, source=_VMS_JOINED)
        rows = self._page(sql, args, after_key, limit)
        return [self._cache.get(r) for r in rows]

    def vm_heads(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[tuple[str, int]]:
        """Kept while nothing is written (this connection's total_changes, and SQLite's data_version
        for other processes' commits) and no VM listed reaches its end: a listing walked again
        reads no row."""
        with self._lock:
            ask = (sub, rg.lower() if rg is not None else None, location, after_key, limit)
            stamp = (self._db.total_changes, self._data_version)
            kept = self._heads.get(ask)
            if kept is not None and kept[0] == stamp and kept[1] <= live_at_us < kept[2]:
                return kept[3]
            sql, args = vm_query("key, version, gone_us", sub, rg, location, live_at_us)
            rows = self._page(sql, args, after_key, limit)
            heads = [(k, v) for k, v, _ in rows]
            if len(self._heads) >= 100_000:
                self._heads.clear()
            ends = [g for _, _, g in rows if g is not None]
            self._heads[ask] = (stamp, live_at_us, min(ends, default=1 << 62), heads)
            return heads

    def iter_phases(self, live_at_us: int) -> Iterator[tuple[str, list[Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, last FROM vms WHERE gone_us IS NULL OR gone_us>?", (live_at_us,)).fetchall()
        loads = orjson.loads
        for key, last in rows:
            yield key, loads(last)["phases"]

    def iter_histories(self, prefix: str | None = None) -> Iterator[tuple[str, list[Operation]]]:
        with self._lock:
            histories = list(_stored_histories(self._db, prefix))
        yield from histories

    def find_operation(self, op_id: str) -> tuple[str, Operation, Operation | None] | None:
        with self._lock:
            r = self._db.execute("SELECT s.key, o.stream, o.version, o.body FROM ops o JOIN streams s"
                                 " ON s.id = o.stream WHERE o.op_id=?", (op_id,)).fetchone()
            if r is None:
                return None
            n = self._db.execute("SELECT body FROM ops WHERE stream=? AND version=?", (r[1], r[2] + 1)).fetchone()
        nxt = Operation.from_json(orjson.loads(n[0])) if n else None
        return r[0], Operation.from_json(orjson.loads(r[3])), nxt

    # -- resource groups -------------------------------------------------------------------
    def put_group(self, row: GroupRow, *, id_counter: int | None = None) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO groups (key, sub, name, location, tags, created_us, delete_op,"
                " delete_at_us, gone_us) VALUES (?,?,?,?,?,?,?,?,?)",
                (row.key, row.sub, row.name, row.location, orjson.dumps(row.tags), row.created_us,
                 row.delete_op, row.delete_at_us, row.gone_us))
            if id_counter is not None:
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)", (str(id_counter),))

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

    # -- plain resources ---------------------------------------------------------------------
    def get_resource(self, key: str) -> ResourceRow | None:
        with self._lock:
            r = self._db.execute("SELECT row FROM resources WHERE key=?", (key,)).fetchone()
        return _resource(r[0]) if r else None

    def put_resource(self, row: ResourceRow, *, expected_version: int, id_counter: int | None = None) -> None:
        blob = orjson.dumps(_resource_json(row))
        with self._write() as db:
            try:  # (key, version) is unique: a resource that moved on refuses the insert
                db.execute("INSERT INTO resource_versions (key, version, at_us, op_id, row) VALUES (?,?,?,?,?)",
                           (row.key, expected_version + 1, row.at_us, row.op_id, blob))
            except sqlite3.IntegrityError:
                raise ConcurrencyError(row.key) from None
            db.executemany("INSERT OR IGNORE INTO resource_refs VALUES (?,?)",
                           [(t, row.key) for t in references(row.body)])
            db.execute("INSERT INTO resources (key, sub, rg_lower, type_lower, version, gone_us, row)"
                       # an update in place: the row keeps its rowid, and its entry in resources_by_sub
                       " VALUES (?,?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET rg_lower=excluded.rg_lower,"
                       " type_lower=excluded.type_lower, version=excluded.version, gone_us=excluded.gone_us,"
                       " row=excluded.row", (row.key, row.sub.lower(), row.rg.lower(), row.type.lower(),
                                             expected_version + 1, row.gone_us, blob))
            if id_counter is not None:
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('id_counter', ?)", (str(id_counter),))

    def resource_history(self, key: str) -> list[ResourceRow]:
        with self._lock:
            rows = self._db.execute("SELECT row FROM resource_versions WHERE key=? ORDER BY version",
                                    (key,)).fetchall()
        return [_resource(r) for (r,) in rows]

    def resource_versions(self, types: Sequence[str]) -> list[ResourceRow]:
        wanted = sorted({t.lower() for t in types})
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                "SELECT v.row FROM resource_versions v JOIN resources r ON r.key = v.key"
                f" WHERE r.type_lower IN ({marks}) ORDER BY v.key, v.version", wanted).fetchall()
        return [_resource(r) for (r,) in rows]

    def list_resources(self, *, sub: str, rg: str | None, type: str | None, live_at_us: int,
                       after_key: str | None, limit: int, prefix: str | None = None) -> list[ResourceRow]:
        sql = "SELECT row FROM resources WHERE sub=? AND (gone_us IS NULL OR gone_us>?)"
        args: list[Any] = [sub.lower(), live_at_us]
        if rg is not None:
            sql += " AND rg_lower=?"
            args.append(rg.lower())
        if type is not None:
            sql += " AND type_lower=?"
            args.append(type.lower())
        if prefix is not None:
            sql += " AND key>=? AND substr(key, 1, ?)=?"
            args += [prefix, len(prefix), prefix]
        return [_resource(r) for (r,) in self._page(sql, args, after_key, limit)]

    def _page(self, sql: str, args: list[Any], after_key: str | None, limit: int) -> list[Any]:
        """The rows of `sql` (a query with its filters) after `after_key`, in key order, `limit` at most."""
        if after_key is not None:
            sql += " AND key>?"
            args.append(after_key)
        with self._lock:
            return self._db.execute(sql + " ORDER BY key LIMIT ?", [*args, limit]).fetchall()

    def referrers(self, target_key: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT source FROM resource_refs WHERE target=? ORDER BY source",
                                    (target_key,)).fetchall()
        return [r for (r,) in rows]

    def find_resource_op(self, op_id: str) -> ResourceRow | None:
        with self._lock:
            r = self._db.execute("SELECT row FROM resource_versions WHERE op_id=?", (op_id,)).fetchone()
        return _resource(r[0]) if r else None

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return r[0] if r else None

    def set_meta(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def compare_and_set_meta(self, name: str, expected: str | None, value: str) -> bool:
        """Set `name` to `value` if it still reads `expected` (None: absent), atomically across
        processes; False (and nothing written) if another writer changed it first."""
        with self._write() as db:
            if expected is None:
                cur = db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value))
            else:
                cur = db.execute("UPDATE meta SET value=? WHERE name=? AND value=?", (value, name, expected))
            return cur.rowcount == 1

    def reset(self) -> None:
        with self._write() as db:
            self._forget()
            for t in ("ops", "vms", "vm_models", "groups", "meta", "usage", "disks", "streams", "facts", "resources",
                      "resource_versions", "resource_refs"):
                db.execute(f"DELETE FROM {t}")
            self._generation = os.urandom(8).hex()  # other processes drop their cached ids
            db.execute("INSERT INTO meta (name, value) VALUES ('generation', ?)", (self._generation,))

    def start_background_checkpoints(self, every_s: float = 0.25) -> None:
        """Move WAL frames into the database from a thread of its own instead of inside a commit:
        a checkpoint (with its fsync of the database file) then never holds up a request, and
        SQLite works on the other core meanwhile (it releases the GIL)."""
        if self._checkpointer is not None:
            return
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        stop = threading.Event()

        def run() -> None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            try:
                while not stop.wait(every_s):
                    try:
                        self.checkpoint(conn)
                    except sqlite3.Error:  # busy now: the next round catches up
                        continue
            finally:
                conn.close()

        thread = threading.Thread(target=run, name="azvm-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (stop, thread)

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One round of the checkpointing thread, on its own connection `conn` (see CATCH_UP_FRAMES)."""
        _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames < self.catch_up_frames:
            return
        for _pass in range(4):  # what the writer committed during the previous pass
            if frames - done <= 256:
                break
            _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        # SQLite syncs the database file only in a pass that reaches the WAL's end: the one below, made
        # under the lock. What the passes above copied is synced here first, without the lock, so
        # that pass syncs only its own few pages: a data directory copied just before the server
        # started (1 GB in the OS's cache) made it hold every request for 0.6 s
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:  # the rest between two commits (a batch's transaction is never cut)
            if self._gap.wait_for(lambda: not self._tx_open, timeout=0.25):
                _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > 2 * self.catch_up_frames and done < frames:  # other processes keep writing: make them wait
            conn.execute("PRAGMA wal_checkpoint(RESTART)")

    def close(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:  # stopped first, without the lock: its catch-up may be waiting for it
            stop, thread = checkpointer
            stop.set()
            thread.join(10)
        with self._lock:
            self.commit()
            if checkpointer is not None:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass
            self._db.close()

    # -- the billing projection as columns (azvm.billing.UsageColumns) -----------------------------
    def usage_columns(self) -> UsageColumns:
        """`usage_rows` as columns, with no tuple per row: per VM, its rows packed (``at_us << 5 |
        state``) in one string, parsed a few thousand VMs at a time (by Apache Arrow when it is
        installed) while a thread of its own has SQLite read the next ones (its steps let go of
        the GIL), and its facts id (one, unless it was resized). The rows, the facts they name and
        the rows of resized VMs are read in one transaction (see `_reading`)."""
        decode = _packed_decoder()
        builder = ColumnsBuilder(USAGE_STATES)
        with self._reading() as db:
            reader = _ReadAhead(lambda: self._usage_chunks(db))
            for rows, resized in reader:
                packed, lengths, in_order = decode([r[2] for r in rows])
                if not resized:
                    fids: list[int | list[int]] = [int(r[1]) for r in rows]
                else:  # the packed rows of a resized VM as read with their facts
                    fids, lo = [], 0
                    for (sid, fid, _p), n in zip(rows, lengths, strict=True):
                        mine = resized.get(sid)
                        if mine is None:
                            fids.append(int(fid))
                        else:
                            packed[lo:lo + n] = array("q", [p for p, _f in mine])
                            fids.append([f for _p, f in mine])
                        lo += n
                builder.add(packed, lengths, fids, in_order)
            return builder.build(reader.result)

    @staticmethod
    def _usage_chunks(db: sqlite3.Connection) -> Generator[tuple[list[Any], dict[int, list[Any]]], None,
                                                           dict[int, Facts]]:
        """The usage projection VM by VM, a chunk at a time: (stream id, its facts ids, its packed
        rows) with the (packed row, facts id) of each row of the VMs resized; then the facts."""
        bits = UsageColumns.STATE_BITS
        cur = db.execute(f"SELECT stream, group_concat(DISTINCT facts), group_concat((at_us << {bits}) | state)"
                         " FROM usage GROUP BY stream")
        while rows := cur.fetchmany(_USAGE_CHUNK):
            yield rows, {sid: db.execute(f"SELECT (at_us << {bits}) | state, facts FROM usage WHERE stream=?"
                                         " ORDER BY at_us", (sid,)).fetchall() for sid, fids, _p in rows if "," in fids}
        return {fid: (vm, size, loc, os_type) for fid, vm, size, loc, os_type in
                db.execute("SELECT id, vm_id, size, location, os_type FROM facts")}

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection in a read transaction, to read a whole table once: what is read in it is
        one state of the store. A connection of its own, for what is committed: the store's own
        goes on serving meanwhile, and keeps its map of the file (through which every page read
        would stay resident in this process: a year of 100,000 VMs, 360 MiB more, for no speed).
        The store's own, under its lock, while it holds writes not yet committed (group commit:
        they are read too) or when the database is in memory."""
        with self._lock:
            own = self._db.in_transaction or self.path in ("", ":memory:")
            if own:
                with self._snapshot():
                    yield self._db
                return
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction (unless one is open): what is read in it is one state of the store."""
        db = self._db
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")


#: VMs read at a time by `SqliteStore.usage_columns` (some 400,000 rows: a few MB of text)
_USAGE_CHUNK = 4096

Decode = Callable[[list[str]], tuple["array[int]", list[int], bool]]


def _packed_decoder() -> Decode:
    """What parses the packed rows: Apache Arrow when it is installed, else orjson."""
    from ..service.billing import fast_decode

    return fast_decode() or _decode_json


def _decode_json(texts: list[str]) -> tuple[array[int], list[int], bool]:
    """Texts of comma-separated integers: their integers one after another, how many each text
    holds, and False (their order is left to be checked)."""
    return array("q", orjson.loads(f"[{','.join(texts)}]")), [t.count(",") + 1 for t in texts], False


T = TypeVar("T")
R = TypeVar("R")


class _ReadAhead(Generic[T, R]):
    """The items of a generator made by a thread of its own, at most `depth` ahead of the reader;
    `result` is what the generator returned. For SQLite reads: its steps let go of the GIL, so the
    next chunk is read while the reader works on the one before. The reader's thread must not use
    the connection until the iteration is over (the iteration ends with the thread, whatever
    happens)."""

    def __init__(self, produce: Callable[[], Generator[T, None, R]], depth: int = 2) -> None:
        self._produce = produce
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.result: R

    def _run(self) -> None:
        put = self._queue.put
        gen = self._produce()
        try:
            while not self._stop.is_set():
                try:
                    item = next(gen)
                except StopIteration as done:
                    put((1, done.value))
                    return
                put((0, item))
        except BaseException as e:  # noqa: BLE001 (raised again in the reader's thread)
            put((2, e))
        finally:
            gen.close()

    def __iter__(self) -> Iterator[T]:
        worker = threading.Thread(target=self._run, name="azvm-read-ahead", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = self._queue.get()
                if kind == 0:
                    yield item
                elif kind == 1:
                    self.result = item
                    return
                else:
                    raise item
        finally:
            self._stop.set()
            while worker.is_alive():  # make room for its last item, if it is waiting to put one
                with suppress(queue.Empty):
                    self._queue.get(timeout=0.01)
            worker.join()
