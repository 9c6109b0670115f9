"""Group commit (azvm.arm.app.GroupCommit) over a real SQLite store: the requests that wrote in one
turn of the event loop wait for one commit; none is answered before it; one waiter cancelled
leaves the others and the commit alone; a failed commit reaches every waiter."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from azvm.arm.app import GroupCommit
from azvm.store.sqlite import SqliteStore


def open_store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "azvm.sqlite3")
    store.group_commit = True
    return store


def committed(store: SqliteStore, name: str) -> str | None:
    """What another connection reads: only what was committed."""
    conn = sqlite3.connect(store.path)
    try:
        r = conn.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return r[0] if r else None
    finally:
        conn.close()


async def request(store: SqliteStore, group: GroupCommit, name: str, seen: dict[str, str | None]) -> str:
    """A request: writes in its own savepoint, then waits for the batch's commit before answering."""
    with store.request():
        store.set_meta(name, "1")
    seen[name] = committed(store, name)  # before the commit: another connection sees nothing yet
    await group.durable()
    return name


def test_the_writes_of_one_turn_share_one_commit_and_none_is_answered_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path)
    group = GroupCommit(store)
    seen: dict[str, str | None] = {}
    commits = 0
    commit = store.commit

    def counting_commit() -> None:
        nonlocal commits
        commits += 1
        commit()

    monkeypatch.setattr(store, "commit", counting_commit)

    async def main() -> list[str]:
        return await asyncio.gather(*(request(store, group, f"r{i}", seen) for i in range(5)))

    assert asyncio.run(main()) == [f"r{i}" for i in range(5)]
    assert commits == 1
    assert seen == {f"r{i}": None for i in range(5)}  # uncommitted while the batch was forming
    assert [committed(store, f"r{i}") for i in range(5)] == ["1"] * 5
    store.close()


def test_a_cancelled_waiter_is_cancelled_alone_once_the_batch_is_committed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    group = GroupCommit(store)
    seen: dict[str, str | None] = {}

    async def main() -> tuple[list[str | BaseException], bool]:
        tasks = [asyncio.ensure_future(request(store, group, f"r{i}", seen)) for i in range(3)]
        await asyncio.sleep(0)  # each has written and waits for the batch
        assert group.batch is not None
        tasks[1].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return results, group.batch is None

    results, batch_done = asyncio.run(main())
    assert results[0] == "r0" and results[2] == "r2"
    assert isinstance(results[1], asyncio.CancelledError)
    assert batch_done
    # the batch was committed whole: the cancelled request's write too (it was only not answered)
    assert [committed(store, f"r{i}") for i in range(3)] == ["1", "1", "1"]
    store.close()


def test_a_failed_commit_reaches_every_waiter_and_nothing_is_kept(tmp_path: Path) -> None:
    """SQLite's own COMMIT fails: a deferred foreign key, checked only then, that one request broke.
    Every request of the batch gets the error, and the store rolls the whole batch back."""
    store = open_store(tmp_path)
    store._db.execute("PRAGMA foreign_keys=ON")
    store._db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    store._db.execute("CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
    group = GroupCommit(store)
    seen: dict[str, str | None] = {}

    async def breaking() -> str:
        with store.request():
            store.set_meta("r-breaking", "1")
            with store._write() as db:
                db.execute("INSERT INTO child (p) VALUES (1)")  # no parent 1: refused at COMMIT only
        await group.durable()
        return "r-breaking"

    async def main() -> list[str | BaseException]:
        return await asyncio.gather(*(request(store, group, f"r{i}", seen) for i in range(3)), breaking(),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert [committed(store, n) for n in ("r0", "r1", "r2", "r-breaking")] == [None] * 4
    assert not store.pending() and not store._db.in_transaction
    # the store goes on: the next batch commits
    assert asyncio.run(request(store, group, "after", seen)) == "after"
    assert committed(store, "after") == "1"
    store.close()


def test_a_request_that_wrote_nothing_waits_for_no_commit(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    group = GroupCommit(store)

    async def main() -> tuple[bool, bool]:
        with store.request():
            store.get_meta("generation")
        await group.durable()
        return group.batch is None, store.pending()

    assert asyncio.run(main()) == (True, False)
    store.close()


@pytest.mark.parametrize("batch", [3, 200])
def test_a_failed_request_in_a_batch_loses_its_own_writes_only(tmp_path: Path, batch: int) -> None:
    store = open_store(tmp_path)
    group = GroupCommit(store)
    failing = {1, batch - 2}  # the second, and the last but one (the same for 3)

    async def one(i: int) -> str:
        with store.request():
            store.set_meta(f"r{i}", "1")
            store.set_meta(f"r{i}-second", "1")
            if i in failing:
                raise ValueError("the answer could not be made")
        await group.durable()
        return f"r{i}"

    async def main() -> list[str | BaseException]:
        return await asyncio.gather(*(one(i) for i in range(batch)), return_exceptions=True)

    results = asyncio.run(main())
    assert [i for i, r in enumerate(results) if isinstance(r, ValueError)] == sorted(failing)
    for i in range(batch):
        kept = None if i in failing else "1"
        assert (committed(store, f"r{i}"), committed(store, f"r{i}-second")) == (kept, kept), i
    assert not store.pending()
    store.close()
