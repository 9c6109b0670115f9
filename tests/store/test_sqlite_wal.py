"""The SQLite WAL stays bounded under writes that never pause, and its checkpoints never cut a batch:
the checkpointing thread's round (SqliteStore.checkpoint) run by hand, on a bound made small."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from azvm.store.sqlite import SqliteStore

PAGE = "x" * 3000  # a meta value that fills most of a page: about a frame per write


def open_store(tmp_path: Path) -> tuple[SqliteStore, sqlite3.Connection]:
    store = SqliteStore(tmp_path / "azvm.sqlite3")
    store._db.execute("PRAGMA wal_autocheckpoint=0")  # as under start_background_checkpoints
    store.group_commit = True
    store.catch_up_frames = 64
    return store, sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)


class Racing:
    """The checkpointing thread's connection, with a writer that never pauses: each checkpoint pass
    made without the store's lock has a batch committed while it runs, so no such pass ever finds
    the WAL complete (what the server's event loop does to the thread). Deterministically: a reader
    holds the WAL as it was while the batch commits, so the pass copies up to there and no further,
    as it would had the batch come while it copied."""

    def __init__(self, conn: sqlite3.Connection, store: SqliteStore) -> None:
        self.conn, self.store, self.batches = conn, store, 0
        self.reader = sqlite3.connect(store.path, isolation_level=None)
        self.frames: list[int] = []  # the WAL's length (frames) that each pass found

    def execute(self, sql: str) -> FakeCursor:
        racing = not self.store._lock._is_owned()  # type: ignore[attr-defined]
        if racing:
            self.reader.execute("BEGIN")
            self.reader.execute("SELECT count(*) FROM meta").fetchone()
            self.batches += 1
            for i in range(8):
                self.store.set_meta(f"k{self.batches % 5}-{i}", PAGE + str(self.batches))
            self.store.commit()
        row = self.conn.execute(sql).fetchone()
        if racing:
            self.reader.execute("COMMIT")
        self.frames.append(row[1])
        return FakeCursor(row)


class FakeCursor:
    def __init__(self, row: tuple[int, int, int]) -> None:
        self.row = row

    def fetchone(self) -> tuple[int, int, int]:
        return self.row


def test_the_wal_restarts_from_its_start_past_the_bound(tmp_path: Path) -> None:
    store, conn = open_store(tmp_path)
    racing = Racing(conn, store)
    try:
        for _round in range(40):
            store.checkpoint(racing)  # type: ignore[arg-type]
        sizes = racing.frames
        # without the catch-up the WAL only grows (about 9 frames a batch: some 500 here); with it, it
        # starts over each time it passes the bound
        assert max(sizes) < 64 + 6 * 9, sizes
        assert sum(b < a for a, b in zip(sizes, sizes[1:], strict=False)) >= 3, sizes
        assert store.get_meta("k0-7") == PAGE + str(racing.batches - racing.batches % 5)
    finally:
        racing.reader.close()
        conn.close()
        store.close()


def test_a_checkpoint_never_cuts_an_open_batch(tmp_path: Path) -> None:
    store, conn = open_store(tmp_path)
    try:
        for i in range(80):
            store.set_meta(f"k{i}", PAGE)
        store.commit()
        store.set_meta("pending", "written, not yet committed")  # a batch in progress
        store.checkpoint(conn)  # finds the batch open until it gives up: commits nothing, cuts nothing
        assert store.pending()
        other = sqlite3.connect(store.path)
        assert other.execute("SELECT value FROM meta WHERE name='pending'").fetchone() is None
        store.commit()
        got = other.execute("SELECT value FROM meta WHERE name='pending'").fetchone()
        assert got == ("written, not yet committed",)
        other.close()
    finally:
        conn.close()
        store.close()


def test_closing_stops_a_checkpointer_that_waits_for_a_gap(tmp_path: Path) -> None:
    """The thread's catch-up waits (holding nothing) for the open batch to end; closing the store ends
    the batch and stops the thread rather than holding the lock while waiting for it."""
    store, conn = open_store(tmp_path)
    conn.close()
    store.catch_up_frames = 1
    for i in range(4):
        store.set_meta(f"k{i}", PAGE)
    store.commit()
    store.set_meta("pending", "committed by close")  # a batch that stays open until close()
    store.start_background_checkpoints(every_s=0.0)  # round after round, each waiting for the batch to end
    assert store._checkpointer is not None
    thread = store._checkpointer[1]
    store.close()
    assert not thread.is_alive()
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT value FROM meta WHERE name='pending'").fetchone() == ("committed by close",)
    other.close()
