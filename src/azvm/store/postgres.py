"""The PostgreSQL store: one database shared by any number of azvm processes on any number of hosts.

The same contract as SQLite (azvm.service.ports.Store, tests/store/test_contract.py) over the same
shape of tables: `ops` (the append-only history, unique `(key, version)`), `vms` (the head of each
history), the billing projections `usage`/`facts`/`disks`, `groups`, `meta`, and for plain resources
`resource_versions`, `resources` and `resource_refs`. docs/postgres.md says how to run it.

- **Optimistic concurrency**: an append is `INSERT ... ON CONFLICT (key, version) DO NOTHING`; no
  row back means another writer took that version first, and the append raises ConcurrencyError
  (the service reads the fresh head and decides again). A conflict never aborts the transaction.
- **One round trip per write**: an append (history, head, billing projections, id counter) is one
  statement of data-modifying CTEs; the `BEGIN`/`SAVEPOINT` that open a request's transaction travel
  in the same pipeline. psycopg prepares statements that repeat.
- **Group commit** as with SQLite: with `group_commit` on, the writes of the requests that one turn
  of the event loop handles share one transaction, each request inside a savepoint of its own, and
  `commit()` ends it; the server answers none of them before it has returned.
- **Errors of the database never reach a client as such**: a lost connection is reopened, and a read
  outside a transaction tried once more; a deadlock, a serialization failure, a lock timeout or a
  lost connection inside a request rolls that request back and raises StoreUnavailable (503 with
  Retry-After: the Azure SDKs retry it). If the shared transaction of a group commit is lost, every
  request in it is refused at `commit()`: none is acknowledged.
- **Migrations** are numbered, recorded in `azvm_schema` (one row per migration applied), applied at
  open under an advisory lock (several processes may open at once); a database that a newer azvm
  migrated further is refused with SchemaTooNew.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg

from ..billing import UsageColumns
from ..domain.errors import ArmError, ConcurrencyError
from ..domain.history import Operation
from ..domain.resource_id import references
from ..domain.usage import USAGE_STATE_CODE, USAGE_STATES, DiskRow, DiskTracker, UsageRow, op_usage_rows
from ..service.ports import GroupRow, ResourceRow, VmRow
from .sqlite import _VM_COLS, SqliteStore, _resource, _resource_json, _RowCache, vm_query

Conn = psycopg.Connection[tuple[Any, ...]]
Params = dict[str, Any] | Sequence[Any] | None


class StoreUnavailable(ArmError):
    """The database cannot take this request now (deadlock, serialization failure, lost connection):
    nothing of it was written; the client should retry after `retry_after` seconds."""

    code = "ServiceUnavailable"
    retry_after = 1

    def __init__(self, message: str = "The service is busy; the request was not applied. Retry it shortly.") -> None:
        super().__init__(message)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer azvm than this one."""


# keys compare byte by byte (COLLATE "C"), as in SQLite and in Python: pages and listings agree
MIGRATIONS: list[str] = [
    # 1: the history, its head projection, resource groups, meta
    """
    CREATE TABLE ops (
        key text COLLATE "C" NOT NULL, version integer NOT NULL, at_us bigint NOT NULL,
        op_id text NOT NULL UNIQUE, body bytea NOT NULL,
        PRIMARY KEY (key, version)
    );
    CREATE TABLE vms (
        key text COLLATE "C" PRIMARY KEY, sub text COLLATE "C" NOT NULL, rg text NOT NULL,
        rg_lower text COLLATE "C" NOT NULL, name text NOT NULL, location text NOT NULL,
        version integer NOT NULL, model bytea NOT NULL, last bytea NOT NULL, phases bytea NOT NULL,
        gone_us bigint
    );
    CREATE INDEX vms_by_sub ON vms (sub, key);
    CREATE TABLE groups (
        key text COLLATE "C" PRIMARY KEY, sub text COLLATE "C" NOT NULL, name text NOT NULL,
        location text NOT NULL, tags bytea NOT NULL, created_us bigint NOT NULL, delete_op text,
        delete_at_us bigint, gone_us bigint
    );
    CREATE INDEX groups_by_sub ON groups (sub, key);
    CREATE INDEX groups_by_op ON groups (delete_op);
    CREATE TABLE meta (name text PRIMARY KEY, value text NOT NULL);
    """,
    # 2: the billing meter's projections, kept in step by append(): each VM's billing states over
    #    time (a facts id per row: VM id, size, location, OS type) and its disks' lifetimes
    """
    CREATE TABLE facts (
        id bigint PRIMARY KEY, vm_id text NOT NULL, size text NOT NULL, location text NOT NULL,
        os_type text NOT NULL
    );
    CREATE TABLE usage (
        key text COLLATE "C" NOT NULL, at_us bigint NOT NULL, state smallint NOT NULL, facts bigint NOT NULL,
        PRIMARY KEY (key, at_us)
    );
    CREATE TABLE disks (
        key text COLLATE "C" NOT NULL, vm_id text NOT NULL, name text COLLATE "C" NOT NULL, sku text NOT NULL,
        size_gb integer NOT NULL, start_us bigint NOT NULL, end_us bigint
    );
    CREATE INDEX disks_open ON disks (key) WHERE end_us IS NULL;
    """,
    # 3: plain (tracked) resources: every version, the head of each, who refers to whom
    """
    CREATE TABLE resource_versions (
        key text COLLATE "C" NOT NULL, version integer NOT NULL, at_us bigint NOT NULL, op_id text NOT NULL,
        row bytea NOT NULL,
        PRIMARY KEY (key, version)
    );
    CREATE INDEX resource_versions_by_op ON resource_versions (op_id);
    CREATE TABLE resources (
        key text COLLATE "C" PRIMARY KEY, sub text COLLATE "C" NOT NULL, rg_lower text COLLATE "C" NOT NULL,
        type_lower text COLLATE "C" NOT NULL, version integer NOT NULL, gone_us bigint, row bytea NOT NULL
    );
    CREATE INDEX resources_by_sub ON resources (sub, key);
    CREATE INDEX resources_by_type ON resources (type_lower);
    CREATE TABLE resource_refs (
        target text COLLATE "C" NOT NULL, source text COLLATE "C" NOT NULL,
        PRIMARY KEY (target, source)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
SCHEMA_TABLE = "azvm_schema"
_MIGRATION_LOCK = 0x617A766D  # pg_advisory_xact_lock key: one migrating process at a time ("azvm")
TABLES = ("ops", "vms", "groups", "meta", "usage", "facts", "disks", "resource_versions", "resources",
          "resource_refs")


def migrate(conn: Conn, upto: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the database's version, up to `upto`, in one transaction; returns
    the version the database had. Refuses a database that a newer azvm migrated (SchemaTooNew)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version integer PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        r = conn.execute(f"SELECT coalesce(max(version), 0) FROM {SCHEMA_TABLE}").fetchone()
        found = int(r[0]) if r else 0
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(f"the PostgreSQL database holds azvm schema version {found}, newer than this azvm's"
                               f" ({SCHEMA_VERSION}): run a newer azvm, or give this one another database")
        for i in range(found, upto):
            conn.execute(MIGRATIONS[i])  # several statements: the simple query protocol (no parameters)
            conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (%s)", (i + 1,))
    return found


def holds_store(url: str, connect_timeout: float = 10.0) -> bool:
    """Whether the database at `url` holds an azvm store (its schema table), without writing to it:
    a reader (`azvm bill --database`) must not make a store in a database that has none.
    StoreUnavailable when it cannot be reached."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(connect_timeout)),
                             application_name="azvm") as conn:
            r = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (SCHEMA_TABLE,)).fetchone()
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise StoreUnavailable(f"the database cannot be reached: {first}") from e
    return bool(r and r[0])


def _fact_id(f: tuple[str, str, str, str]) -> int:
    """A facts row's id, the same in every process: 64 bits of a hash of its values (no round trip
    to learn an id, no cache to keep in step across processes)."""
    return int.from_bytes(hashlib.blake2b("\0".join(f).encode(), digest_size=8).digest(), "big", signed=True)


# sqlstate classes that say "not now": 08 connection, 40 transaction rollback (serialization
# failure, deadlock), 53 insufficient resources, 55P03 lock timeout, 57 operator intervention
# (statement timeout, shutdown); docs: https://www.postgresql.org/docs/current/errcodes-appendix.html
_TRANSIENT_CLASSES = ("08", "40", "53", "57")


# a deadlock or a serialization failure: two transactions (two processes' batches) each wait on the
# other; PostgreSQL fails one statement to break the cycle (nothing of it was applied)
_CONTENDED = ("40P01", "40001")


def _transient(e: BaseException) -> bool:
    if isinstance(e, psycopg.OperationalError) and getattr(e, "sqlstate", None) is None:
        return True  # the connection broke (no server answer)
    state = getattr(e, "sqlstate", None) or ""
    return state[:2] in _TRANSIENT_CLASSES or state == "55P03"


_APPEND_HEAD = """
WITH ins AS (
    INSERT INTO ops (key, version, at_us, op_id, body) VALUES (%(key)s, %(version)s, %(at)s, %(op)s, %(last)s)
    ON CONFLICT (key, version) DO NOTHING RETURNING key
), head AS (
    INSERT INTO vms (key, sub, rg, rg_lower, name, location, version, model, last, phases, gone_us)
    SELECT key, %(sub)s, %(rg)s, %(rg_lower)s, %(name)s, %(location)s, %(version)s, %(model)s, %(last)s,
           %(phases)s, %(gone)s FROM ins
    ON CONFLICT (key) DO UPDATE SET sub=excluded.sub, rg=excluded.rg, rg_lower=excluded.rg_lower,
        name=excluded.name, location=excluded.location, version=excluded.version, model=excluded.model,
        last=excluded.last, phases=excluded.phases, gone_us=excluded.gone_us
), cut AS (  -- the new operation cuts what the previous plan had ahead
    DELETE FROM usage u USING ins WHERE u.key = ins.key AND u.at_us >= %(at)s AND u.at_us <> ALL(%(u_at)s::bigint[])
), new_facts AS (
    INSERT INTO facts (id, vm_id, size, location, os_type)
    SELECT f.* FROM unnest(%(f_id)s::bigint[], %(f_vm)s::text[], %(f_size)s::text[], %(f_loc)s::text[],
                           %(f_os)s::text[]) AS f WHERE EXISTS (SELECT 1 FROM ins)
    ON CONFLICT (id) DO NOTHING
), new_usage AS (
    INSERT INTO usage (key, at_us, state, facts)
    SELECT ins.key, u.a, u.s, u.f FROM ins, unnest(%(u_at)s::bigint[], %(u_state)s::smallint[], %(u_facts)s::bigint[])
        AS u(a, s, f)
    ON CONFLICT (key, at_us) DO UPDATE SET state=excluded.state, facts=excluded.facts
)"""
_APPEND_DISKS = """, closed AS (
    UPDATE disks d SET end_us = c.e FROM ins, unnest(%(c_name)s::text[], %(c_start)s::bigint[], %(c_end)s::bigint[])
        AS c(n, s, e)
    WHERE d.key = ins.key AND d.name = c.n AND d.start_us = c.s AND d.end_us IS NULL
), opened AS (
    INSERT INTO disks (key, vm_id, name, sku, size_gb, start_us, end_us)
    SELECT ins.key, %(vm_id)s, o.n, o.k, o.z, o.s, NULL FROM ins,
        unnest(%(o_name)s::text[], %(o_sku)s::text[], %(o_size)s::integer[], %(o_start)s::bigint[]) AS o(n, k, z, s)
)"""
_COUNTER = """, counter AS (
    INSERT INTO meta (name, value) SELECT 'id_counter', %(ids)s::text FROM ins
    ON CONFLICT (name) DO UPDATE SET value = greatest(meta.value::bigint, excluded.value::bigint)::text
)"""
# an append is one statement: the parts it needs (disks change only with the model or a deletion;
# the id counter is kept only with a seeded id source), each variant prepared once per connection
_APPENDS = {(disks, counter): _APPEND_HEAD + (_APPEND_DISKS if disks else "") + (_COUNTER if counter else "")
            + "\nSELECT count(*) FROM ins" for disks in (False, True) for counter in (False, True)}

_PUT_RESOURCE = """
WITH ins AS (
    INSERT INTO resource_versions (key, version, at_us, op_id, row) VALUES (%(key)s, %(version)s, %(at)s, %(op)s,
        %(row)s)
    ON CONFLICT (key, version) DO NOTHING RETURNING key
), head AS (
    INSERT INTO resources (key, sub, rg_lower, type_lower, version, gone_us, row)
    SELECT key, %(sub)s, %(rg_lower)s, %(type_lower)s, %(version)s, %(gone)s, %(row)s FROM ins
    ON CONFLICT (key) DO UPDATE SET sub=excluded.sub, rg_lower=excluded.rg_lower, type_lower=excluded.type_lower,
        version=excluded.version, gone_us=excluded.gone_us, row=excluded.row
), refs AS (
    INSERT INTO resource_refs (target, source) SELECT t, ins.key FROM ins, unnest(%(refs)s::text[]) AS t
    ON CONFLICT DO NOTHING
), counter AS (
    INSERT INTO meta (name, value) SELECT 'id_counter', %(ids)s::text FROM ins WHERE %(ids)s::text IS NOT NULL
    ON CONFLICT (name) DO UPDATE SET value = greatest(meta.value::bigint, excluded.value::bigint)::text
)
SELECT count(*) FROM ins
"""

_PUT_GROUP = """
WITH g AS (
    INSERT INTO groups (key, sub, name, location, tags, created_us, delete_op, delete_at_us, gone_us)
    VALUES (%(key)s, %(sub)s, %(name)s, %(location)s, %(tags)s, %(created)s, %(op)s, %(at)s, %(gone)s)
    ON CONFLICT (key) DO UPDATE SET sub=excluded.sub, name=excluded.name, location=excluded.location,
        tags=excluded.tags, created_us=excluded.created_us, delete_op=excluded.delete_op,
        delete_at_us=excluded.delete_at_us, gone_us=excluded.gone_us
), counter AS (
    INSERT INTO meta (name, value) SELECT 'id_counter', %(ids)s::text WHERE %(ids)s::text IS NOT NULL
    ON CONFLICT (name) DO UPDATE SET value = greatest(meta.value::bigint, excluded.value::bigint)::text
)
SELECT 1
"""

_SET_META = "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
_GROUP_COLS = SqliteStore._GROUP_COLS


class PostgresStore:
    """A Store over one PostgreSQL database (`postgresql://user@host/db`, any libpq connection string)."""

    foreign_writes = True  # other processes may always have committed (a request reads all meta in one round trip)

    # With `group_commit` on, the writes of many concurrent requests share one transaction and one
    # commit (azvm.arm.app.GroupCommit answers none of them before `commit()` has returned).
    group_commit = False

    def __init__(self, url: str, *, durability: str = "normal", connect_timeout: float = 10.0,
                 lock_timeout_ms: int = 5000) -> None:
        self.url = url
        # a commit returns once it is on the server's disk (synchronous_commit=on, PostgreSQL's
        # default) whatever `durability` says: nothing acknowledged is lost when the server or its
        # database restarts
        self.durability = durability
        self._connect_timeout = connect_timeout
        self._lock_timeout_ms = lock_timeout_ms
        self._lock = threading.RLock()
        self._conn: Conn | None = None
        self._tx_open = False  # a transaction is open on the connection (a request's, or a batch's)
        self._in_request = False
        self._request_savepoint = False  # the current request has written (its savepoint exists)
        self._request_failed: BaseException | None = None  # the database refused the request midway
        self._broken: BaseException | None = None  # the batch's transaction was lost: commit() refuses
        self._deferred: list[str] = []  # statements sent with the next round trip (RELEASE of a savepoint)
        self._meta: dict[str, str] | None = None  # meta as read in this request (one round trip)
        # the writes of the current request and their results, to run it again in a transaction of its
        # own when a deadlock fails it (`_run_again`); how many times it was run again
        self._request_writes: list[tuple[list[tuple[str, Params]], list[tuple[Any, ...]]]] = []
        self._request_retries = 0
        self._cache = _RowCache()
        try:
            migrate(self._connection())
        except BaseException:
            self.close()
            raise

    # -- connection --------------------------------------------------------------------------------
    def _connection(self) -> Conn:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:  # a broken one is closed before it is replaced (never left to the collector)
            self._conn = None
            with contextlib.suppress(psycopg.Error):
                conn.close()
        try:
            conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=2,
                                   connect_timeout=max(1, round(self._connect_timeout)),
                                   application_name="azvm")
            # a wait on another process's lock ends (retryably) instead of holding up this process's
            # requests; azvm's statements are key lookups, which a generic plan serves without planning
            conn.execute(f"SET lock_timeout = {int(self._lock_timeout_ms)}; SET plan_cache_mode = force_generic_plan")
        except psycopg.Error as e:
            raise StoreUnavailable("The database cannot be reached; the request was not applied."
                                   " Retry it shortly.") from e
        self._conn = conn
        self._deferred = []
        return conn

    def _lost(self, e: BaseException) -> None:
        """The connection broke: everything of its open transaction is gone."""
        if self._tx_open:
            self._broken = self._broken or e
        self._tx_open = False
        self._request_savepoint = False
        self._deferred = []
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def _round_trip(self, stmts: Sequence[tuple[str, Params]], *, binary: bool = False) -> list[tuple[Any, ...]]:
        """Send `stmts` (with any deferred statement first) in one round trip; the rows of the last."""
        conn = self._connection()
        todo: list[tuple[str, Params]] = [(s, None) for s in self._deferred]
        self._deferred = []
        todo += stmts
        if len(todo) == 1:
            cur = conn.execute(todo[0][0], todo[0][1], binary=binary)
        else:
            with conn.pipeline():
                for sql, params in todo:
                    cur = conn.execute(sql, params, binary=binary)
        return cur.fetchall() if cur.description is not None else []

    # -- reads ---------------------------------------------------------------------------------------
    def _read(self, sql: str, params: Params = None, *, binary: bool = False) -> list[tuple[Any, ...]]:
        with self._lock:
            for attempt in (1, 2):
                in_tx = self._tx_open
                try:
                    return self._round_trip([(sql, params)], binary=binary)
                except psycopg.Error as e:
                    if not _transient(e):
                        if in_tx:
                            self._abandon(e)
                        raise
                    if in_tx or attempt == 2:  # what the transaction held is gone with it
                        self._abandon(e)
                        raise StoreUnavailable() from e
                    self._lost(e)  # a read on its own: reconnect and read again
            raise AssertionError("unreachable")

    def _abandon(self, e: BaseException) -> None:
        """A statement failed inside the open transaction, which PostgreSQL has now aborted: the
        current request is refused and, if the transaction held others' writes, the batch too."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._lost(e)
            return
        if self._in_request and self._request_savepoint:
            try:
                conn.execute("ROLLBACK TO SAVEPOINT request")
                self._request_failed = self._request_failed or e
                return
            except psycopg.Error:
                pass
        self._broken = self._broken or e  # the whole transaction is lost
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            self._lost(e)
        self._tx_open = False
        self._request_savepoint = False

    # -- writes --------------------------------------------------------------------------------------
    def _write(self, stmts: list[tuple[str, Params]]) -> list[tuple[Any, ...]]:
        """Run `stmts` as part of the current unit: the request's transaction (under its savepoint),
        the batch's (group commit), or a transaction of their own; the rows of the last statement."""
        with self._lock:
            if self._broken is not None or self._request_failed is not None:
                raise StoreUnavailable()
            if not self._in_request and not self.group_commit:
                return self._write_alone(stmts)
            pre: list[tuple[str, Params]] = []
            post: list[tuple[str, Params]] = []
            if not self._tx_open:
                pre.append(("BEGIN", None))
            if self._in_request:
                if not self._request_savepoint:
                    pre.append(("SAVEPOINT request", None))
            else:
                pre.append(("SAVEPOINT w", None))
                post.append(("RELEASE SAVEPOINT w", None))
            was_open = self._tx_open
            try:
                rows = self._round_trip(pre + stmts + post)
            except psycopg.Error as e:
                self._after_write_error(e, was_open)
                if self._in_request and getattr(e, "sqlstate", None) in _CONTENDED and self._run_again(e):
                    return self._write(stmts)
                if _transient(e):
                    raise StoreUnavailable() from e
                raise
            self._tx_open = True
            if self._in_request:
                self._request_savepoint = True
                self._request_writes.append((stmts, rows))
            return rows

    def _run_again(self, e: BaseException) -> bool:
        """A deadlock failed a statement of the current request, which is now rolled back to its
        savepoint. The other transaction in the cycle waits on rows that this one holds for the
        earlier requests of its batch (complete, waiting only for their commit): commit them now,
        which lets the other go on, then write this request's statements again in a new transaction
        (the caller then sends the failed one again). True if that worked; False (nothing of this
        request stays, and it is refused as before) if a write that was repeated gave another result
        than the first time (another process changed what it wrote over), or after three tries.
        A lost commit of the earlier requests refuses them all, as a failed group commit does."""
        conn = self._conn
        if (self._request_retries >= 3 or self._broken is not None or conn is None or conn.closed or conn.broken
                or not self._tx_open):
            return False
        self._request_retries += 1
        self._request_savepoint = False
        self._deferred = []
        try:
            self._round_trip([("COMMIT", None)])
        except psycopg.Error as lost:
            self._broken = lost  # the batch's earlier requests are refused at commit()
            self._lost(lost)
            return False
        self._tx_open = False
        self._request_failed = None
        pre: list[tuple[str, Params]] = [("BEGIN", None), ("SAVEPOINT request", None)]
        for stmts, rows in self._request_writes:
            try:
                again = self._round_trip(pre + stmts)
            except psycopg.Error as e2:
                self._after_write_error(e2, self._tx_open)
                self._request_failed = self._request_failed or e2
                return False
            self._tx_open, self._request_savepoint, pre = True, True, []
            if again != rows:
                self._round_trip([("ROLLBACK TO SAVEPOINT request", None)])
                self._request_failed = e
                return False
        return True

    def _after_write_error(self, e: BaseException, was_open: bool) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._tx_open = self._tx_open or was_open
            self._lost(e)
            return
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.IDLE:  # BEGIN never ran: nothing to undo
            return
        self._tx_open = True
        if self._in_request:
            if not self._request_savepoint:
                # the pipeline's SAVEPOINT request may or may not have run: roll back to it if it did
                try:
                    conn.execute("ROLLBACK TO SAVEPOINT request")
                    self._request_savepoint = True
                except psycopg.Error:
                    self._tx_open = was_open
                    self._abandon(e)
                    return
            else:
                conn.execute("ROLLBACK TO SAVEPOINT request")
            self._request_failed = e
            return
        try:
            conn.execute("ROLLBACK TO SAVEPOINT w")
            conn.execute("RELEASE SAVEPOINT w")
        except psycopg.Error:
            self._abandon(e)

    def _write_alone(self, stmts: list[tuple[str, Params]]) -> list[tuple[Any, ...]]:
        """A write outside any request or batch: its own transaction, tried again on a transient error."""
        todo = stmts if len(stmts) == 1 else [("BEGIN", None), *stmts, ("COMMIT", None)]
        for attempt in (1, 2, 3):
            try:
                return self._round_trip(todo)
            except psycopg.Error as e:
                conn = self._conn
                if conn is not None and not conn.closed and not conn.broken:
                    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                else:
                    self._lost(e)
                if not _transient(e):
                    raise
                if attempt == 3 or (conn is None or conn.broken):
                    # a lost connection may have taken the commit's answer with it: not tried again
                    raise StoreUnavailable() from e
        raise AssertionError("unreachable")

    @contextmanager
    def request(self) -> Iterator[None]:
        """The writes of one request: all of them, or none if it fails. Without group commit the
        request's transaction commits when it ends."""
        with self._lock:
            self._in_request, self._request_savepoint, self._request_failed = True, False, None
            self._meta = None
            self._request_writes, self._request_retries = [], 0
            try:
                yield
                if self._request_failed is not None:  # the database refused a write that was swallowed
                    raise StoreUnavailable() from self._request_failed
            except BaseException:
                if self._request_savepoint and self._request_failed is None and self._tx_open:
                    try:
                        self._round_trip([("ROLLBACK TO SAVEPOINT request", None)])
                    except psycopg.Error as e:
                        self._abandon(e)
                self._cache.rows.clear()
                if not self.group_commit and self._tx_open:
                    self._end("ROLLBACK")
                raise
            else:
                if self._request_savepoint:
                    self._deferred.append("RELEASE SAVEPOINT request")
                if not self.group_commit:
                    self.commit()
            finally:
                self._in_request, self._request_savepoint, self._request_failed = False, False, None
                self._meta = None
                self._request_writes = []
                if not self.group_commit:
                    self._broken = None  # what was lost was this request's only, and it has failed

    def _end(self, how: str) -> None:
        self._tx_open = False
        self._deferred = []
        try:
            self._round_trip([(how, None)])
        except psycopg.Error as e:
            self._lost(e)
            if how == "COMMIT":
                raise StoreUnavailable("The change could not be committed; retry the request.") from e

    def pending(self) -> bool:
        return self._tx_open or self._broken is not None

    def commit(self) -> None:
        with self._lock:
            if self._broken is not None:
                e, self._broken = self._broken, None
                if self._tx_open:
                    self._end("ROLLBACK")
                raise StoreUnavailable("The change could not be committed; retry the request.") from e
            if self._tx_open:
                self._end("COMMIT")

    # -- VMs -----------------------------------------------------------------------------------------
    def get_vm(self, key: str) -> VmRow | None:
        rows = self._read(f"SELECT {_VM_COLS} FROM vms WHERE key=%s", (key,), binary=True)
        return self._cache.get(rows[0]) if rows else None

    def load_history(self, key: str) -> list[Operation]:
        rows = self._read("SELECT body FROM ops WHERE key=%s ORDER BY version", (key,), binary=True)
        return [Operation.from_json(orjson.loads(b)) for (b,) in rows]

    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int | None) -> None:
        last = orjson.dumps(op.to_json())
        model = self._cache.model_blob(row) or orjson.dumps(row.model)
        usage: dict[int, tuple[int, int]] = {}  # at_us -> (state, facts): the last phase at an instant wins
        facts: dict[int, tuple[str, str, str, str]] = {}
        for vm_id, at, state, size, location, os_type in op_usage_rows(op, row.model):
            f = (vm_id, size, location, os_type)
            fid = _fact_id(f)
            facts[fid] = f
            usage[at] = (USAGE_STATE_CODE[state], fid)
        closed: list[DiskRow] = []
        opened: list[tuple[str, str, int, int]] = []
        vm_id = str(row.model.get("id", row.key))
        disks = op.model is not None or op.phases[-1].power is None
        if disks:
            open_disks = {n: (sku, size, start) for n, sku, size, start in self._read(
                "SELECT name, sku, size_gb, start_us FROM disks WHERE key=%s AND end_us IS NULL", (row.key,))}
            tracker = DiskTracker(vm_id, open_disks)
            tracker.apply(op)
            vm_id = tracker.vm_id
            closed = tracker.closed
            opened = [(n, sku, size, start) for n, (sku, size, start) in tracker.open.items() if n not in open_disks]
        f_cols = list(zip(*[(fid, *f) for fid, f in facts.items()], strict=True)) or [(), (), (), (), ()]
        params = {
            "key": row.key, "version": expected_version + 1, "at": op.at_us, "op": op.op_id, "last": last,
            "sub": row.sub, "rg": row.rg, "rg_lower": row.rg.lower(), "name": row.name, "location": row.location,
            "model": model, "phases": orjson.dumps([list(p) for p in op.phases]), "gone": row.gone_us,
            "u_at": list(usage), "u_state": [s for s, _f in usage.values()], "u_facts": [f for _s, f in usage.values()],
            "f_id": list(f_cols[0]), "f_vm": list(f_cols[1]), "f_size": list(f_cols[2]), "f_loc": list(f_cols[3]),
            "f_os": list(f_cols[4]),
            "c_name": [d[1] for d in closed], "c_start": [d[4] for d in closed], "c_end": [d[5] for d in closed],
            "vm_id": vm_id, "o_name": [d[0] for d in opened], "o_sku": [d[1] for d in opened],
            "o_size": [d[2] for d in opened], "o_start": [d[3] for d in opened],
            "ids": str(id_counter) if id_counter is not None else None,
        }
        (n,), = self._write([(_APPENDS[disks, id_counter is not None], params)])
        if not n:  # (key, version) taken: another writer moved the stream on
            self._cache.rows.pop(row.key, None)
            raise ConcurrencyError(row.key)
        self._cache.rows[row.key] = (last, model, row)

    def usage_rows(self) -> list[UsageRow]:
        facts = {fid: (vm, size, loc, os_type) for fid, vm, size, loc, os_type in
                 self._read("SELECT id, vm_id, size, location, os_type FROM facts")}
        raw = self._read("SELECT at_us, state, facts FROM usage ORDER BY key, at_us", binary=True)
        names = USAGE_STATES
        out: list[UsageRow] = []
        append = out.append
        last_fid, f = None, ("", "", "", "")
        for at, code, fid in raw:
            if fid != last_fid:
                last_fid, f = fid, facts[fid]
            append((f[0], at, names[code], f[1], f[2], f[3]))
        return out

    def vm_tags(self) -> dict[str, dict[str, str]]:
        models = [orjson.loads(m) for (m,) in self._read("SELECT model FROM vms", binary=True)]
        return {str(m.get("id")): dict(m["tags"]) for m in models if m.get("tags")}

    def disk_rows(self) -> list[DiskRow]:
        rows: list[DiskRow] = self._read(
            "SELECT vm_id, name, sku, size_gb, start_us, end_us FROM disks ORDER BY key, start_us, name")
        return rows

    def list_vms(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[VmRow]:
        sql, args = vm_query(_VM_COLS, sub, rg, location, live_at_us, "%s")
        return [self._cache.get(r) for r in self._page(sql, args, after_key, limit)]

    def vm_heads(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[tuple[str, int]]:
        sql, args = vm_query("key, version", sub, rg, location, live_at_us, "%s")
        return [(k, v) for k, v in self._page(sql, args, after_key, limit)]

    def iter_phases(self, live_at_us: int) -> Iterator[tuple[str, list[Any]]]:
        rows = self._read("SELECT key, phases FROM vms WHERE gone_us IS NULL OR gone_us>%s", (live_at_us,),
                          binary=True)
        loads = orjson.loads
        for key, phases in rows:
            yield key, loads(phases)

    def iter_histories(self, prefix: str | None = None) -> Iterator[tuple[str, list[Operation]]]:
        where, args = ("", ()) if prefix is None else (" WHERE starts_with(key, %s)", (prefix,))
        rows = self._read(f"SELECT key, body FROM ops{where} ORDER BY key, version", args, binary=True)
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
        rows = self._read("SELECT o.key, o.body, n.body FROM ops o LEFT JOIN ops n ON n.key = o.key"
                          " AND n.version = o.version + 1 WHERE o.op_id=%s", (op_id,), binary=True)
        if not rows:
            return None
        key, body, nxt = rows[0]
        return key, Operation.from_json(orjson.loads(body)), Operation.from_json(orjson.loads(nxt)) if nxt else None

    # -- resource groups -------------------------------------------------------------------------------
    def put_group(self, row: GroupRow, *, id_counter: int | None = None) -> None:
        self._write([(_PUT_GROUP, {
            "key": row.key, "sub": row.sub, "name": row.name, "location": row.location,
            "tags": orjson.dumps(row.tags), "created": row.created_us, "op": row.delete_op,
            "at": row.delete_at_us, "gone": row.gone_us, "ids": str(id_counter) if id_counter is not None else None})])

    _group = staticmethod(SqliteStore._group)

    def get_group(self, key: str) -> GroupRow | None:
        rows = self._read(f"SELECT {_GROUP_COLS} FROM groups WHERE key=%s", (key,), binary=True)
        return self._group(rows[0]) if rows else None

    def list_groups(self, sub: str) -> list[GroupRow]:
        rows = self._read(f"SELECT {_GROUP_COLS} FROM groups WHERE sub=%s ORDER BY key", (sub,), binary=True)
        return [self._group(r) for r in rows]

    def find_group_by_op(self, op_id: str) -> GroupRow | None:
        rows = self._read(f"SELECT {_GROUP_COLS} FROM groups WHERE delete_op=%s", (op_id,), binary=True)
        return self._group(rows[0]) if rows else None

    # -- plain resources -------------------------------------------------------------------------------
    def get_resource(self, key: str) -> ResourceRow | None:
        rows = self._read("SELECT row FROM resources WHERE key=%s", (key,), binary=True)
        return _resource(rows[0][0]) if rows else None

    def put_resource(self, row: ResourceRow, *, expected_version: int, id_counter: int | None = None) -> None:
        blob = orjson.dumps(_resource_json(row))
        (n,), = self._write([(_PUT_RESOURCE, {
            "key": row.key, "version": expected_version + 1, "at": row.at_us, "op": row.op_id, "row": blob,
            "sub": row.sub.lower(), "rg_lower": row.rg.lower(), "type_lower": row.type.lower(), "gone": row.gone_us,
            "refs": sorted(references(row.body)), "ids": str(id_counter) if id_counter is not None else None})])
        if not n:  # (key, version) taken: the resource moved on
            raise ConcurrencyError(row.key)

    def resource_history(self, key: str) -> list[ResourceRow]:
        rows = self._read("SELECT row FROM resource_versions WHERE key=%s ORDER BY version", (key,), binary=True)
        return [_resource(r) for (r,) in rows]

    def resource_versions(self, types: Sequence[str]) -> list[ResourceRow]:
        wanted = sorted({t.lower() for t in types})
        if not wanted:
            return []
        rows = self._read("SELECT v.row FROM resource_versions v JOIN resources r ON r.key = v.key"
                          " WHERE r.type_lower = ANY(%s) ORDER BY v.key, v.version", (wanted,), binary=True)
        return [_resource(r) for (r,) in rows]

    def list_resources(self, *, sub: str, rg: str | None, type: str | None, live_at_us: int,
                       after_key: str | None, limit: int, prefix: str | None = None) -> list[ResourceRow]:
        sql = "SELECT row FROM resources WHERE sub=%s AND (gone_us IS NULL OR gone_us>%s)"
        args: list[Any] = [sub.lower(), live_at_us]
        if rg is not None:
            sql += " AND rg_lower=%s"
            args.append(rg.lower())
        if type is not None:
            sql += " AND type_lower=%s"
            args.append(type.lower())
        if prefix is not None:
            sql += " AND key>=%s AND starts_with(key, %s)"
            args += [prefix, prefix]
        return [_resource(r[0]) for r in self._page(sql, args, after_key, limit)]

    def _page(self, sql: str, args: list[Any], after_key: str | None, limit: int) -> list[tuple[Any, ...]]:
        """The rows of `sql` (a query with its filters) after `after_key`, in key order, `limit` at most."""
        if after_key is not None:
            sql += " AND key>%s"
            args.append(after_key)
        return self._read(sql + " ORDER BY key LIMIT %s", [*args, limit], binary=True)

    def referrers(self, target_key: str) -> list[str]:
        return [r for (r,) in self._read("SELECT source FROM resource_refs WHERE target=%s ORDER BY source",
                                         (target_key,))]

    def find_resource_op(self, op_id: str) -> ResourceRow | None:
        rows = self._read("SELECT row FROM resource_versions WHERE op_id=%s", (op_id,), binary=True)
        return _resource(rows[0][0]) if rows else None

    # -- meta ------------------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        """Inside a request, every meta value is read in one round trip at the first call (the clock,
        the deployments' schedule and the fault rules are each read on most requests)."""
        with self._lock:
            if not self._in_request:
                rows = self._read("SELECT value FROM meta WHERE name=%s", (name,))
                return rows[0][0] if rows else None
            if self._meta is None:
                self._meta = dict(self._read("SELECT name, value FROM meta"))
            return self._meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self._write([(_SET_META, (name, value))])
            if self._meta is not None:
                self._meta[name] = value

    def compare_and_set_meta(self, name: str, expected: str | None, value: str) -> bool:
        """Set `name` to `value` if it still reads `expected` (None: absent), atomically across
        processes; False (and nothing written) if another writer changed it first."""
        with self._lock:
            if expected is None:
                rows = self._write([("INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
                                     " RETURNING 1", (name, value))])
            else:
                rows = self._write([("UPDATE meta SET value=%s WHERE name=%s AND value=%s RETURNING 1",
                                     (value, name, expected))])
            if self._meta is not None:
                self._meta = None  # read afresh
            return bool(rows)

    def reset(self) -> None:
        with self._lock:
            self._write([(f"TRUNCATE {', '.join(TABLES)}", None),
                         (_SET_META, ("generation", os.urandom(8).hex()))])  # what processes cached is stale
            self._cache.rows.clear()
            self._meta = {} if self._in_request else None

    def close(self) -> None:
        with self._lock:
            try:
                self.commit()
            finally:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    # -- the billing projection as columns (azvm.billing.UsageColumns) -----------------------------
    def usage_columns(self) -> UsageColumns:
        """`usage_rows` as columns: per VM, its rows packed (``at_us << 5 | state``) and their facts ids."""
        bits = UsageColumns.STATE_BITS
        facts = {fid: (vm, size, loc, os_type) for fid, vm, size, loc, os_type in
                 self._read("SELECT id, vm_id, size, location, os_type FROM facts")}
        streams = self._read(f"SELECT array_agg((at_us << {bits}) | state ORDER BY at_us),"
                             " array_agg(facts ORDER BY at_us) FROM usage GROUP BY key", binary=True)
        return UsageColumns.from_streams(facts, USAGE_STATES, ((list(p), list(f)) for p, f in streams))

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "SchemaTooNew", "StoreUnavailable", "holds_store",
           "migrate"]
