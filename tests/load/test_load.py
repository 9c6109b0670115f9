"""Load and crashes on real server processes over one store: SQLite under `azvm serve --workers 2`, and
PostgreSQL under two `azvm serve --database` processes (each with a data directory of its own).

64 concurrent clients issue a mix of reads, power actions, creates and deletes for a few seconds
(tests/load/harness.py; benchmarks/bench_load.py runs the same for longer over 10,000 VMs). Then:

- no answer but what the lifecycle rules allow (2xx, 409 refusals, 404 for a VM that the load
  deleted), each error in ARM's envelope; no 500, no `database is locked`; every instance view read
  during the load is a documented state;
- every acknowledged operation (a 2xx naming an Azure-AsyncOperation) is in the history; without a
  crash, nothing else is either; every history is what the lifecycle rules decide, operation by
  operation; each VM's head and billing projections are the fold of its history;
- every acknowledged operation ends (Succeeded, or Canceled by a later one) and every VM settles;
- the bill served (`/azvm/billing`, from every process) equals the bill recomputed from the histories
  and `azvm bill` over the store (`--data-dir`, `--database`).

With a crash: `kill -9` of one server process in the middle of the load (and, on PostgreSQL, a restart
of the database server as well): clients see at worst a lost connection or a 503 with Retry-After,
the other process keeps serving, and nothing acknowledged is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from azvm.store.postgres import PostgresStore
from azvm.store.sqlite import SqliteStore
from tests.load import harness as h
from tests.pg import PgServer

VMS = 240  # the benchmark: 10,000
CLIENTS = 64
SECONDS = 5.0


def split(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(stable, churn): one VM in ten is created and deleted by the load, the others only act."""
    churn = [n for i, n in enumerate(names) if i % 10 == 0]
    return [n for n in names if n not in set(churn)], churn


def check_world(bases: Sequence[str], res: h.LoadResult, open_store: Callable[[], Any], *, exact: bool,
                stop: Callable[[], None], bill_from: Sequence[str]) -> None:
    """Everything the module docstring promises after the load (harness.verify_world)."""
    stable, churn = split(h.names(VMS))
    problems = h.verify_world(bases, stable, churn, res, open_store, exact=exact, stop=stop, bill_from=bill_from)
    assert problems == [], problems[:20]


def no_tracebacks(*logs: Path) -> None:
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "database is locked" not in text, text[-3000:]


def test_load_on_sqlite_with_two_workers(tmp_path: Path) -> None:
    server = h.serve(["--data-dir", str(tmp_path / "data")], tmp_path / "serve.log", workers=2)
    try:
        h.populate([server.base], VMS)
        stable, churn = split(h.names(VMS))
        res = h.run_load([server.base], stable, churn, clients=CLIENTS, seconds=SECONDS)
        assert res.retryable == {}, (h.describe(res), res.refused[:10])
        check_world([server.base], res, lambda: SqliteStore(tmp_path / "data" / "azvm.sqlite3"), exact=True,
                    stop=server.stop, bill_from=["--data-dir", str(tmp_path / "data")])
    finally:
        server.stop()
    no_tracebacks(server.log)


def test_load_on_postgresql_with_two_processes(pg_url: str, tmp_path: Path) -> None:
    servers = [h.serve(["--database", pg_url, "--data-dir", str(tmp_path / f"host{i}")], tmp_path / f"serve{i}.log")
               for i in range(2)]
    bases = [s.base for s in servers]

    def stop() -> None:
        for s in servers:
            s.stop()

    try:
        h.populate(bases, VMS)
        stable, churn = split(h.names(VMS))
        res = h.run_load(bases, stable, churn, clients=CLIENTS, seconds=SECONDS)
        assert res.retryable == {}, (h.describe(res), res.refused[:10])
        check_world(bases, res, lambda: PostgresStore(pg_url), exact=True, stop=stop,
                    bill_from=["--database", pg_url])
    finally:
        stop()
    no_tracebacks(*(s.log for s in servers))


def test_kill_9_of_a_worker_under_load_on_sqlite(tmp_path: Path) -> None:
    server = h.serve(["--data-dir", str(tmp_path / "data")], tmp_path / "serve.log", workers=2)
    try:
        h.populate([server.base], VMS)
        stable, churn = split(h.names(VMS))
        victim = server.workers()[0]
        res = h.run_load([server.base], stable, churn, clients=CLIENTS, seconds=SECONDS * 1.5,
                         during=h.schedule((SECONDS / 2, lambda: h.kill_9(victim))))
        # the other worker kept serving (and the supervisor started a new one in the victim's place)
        assert res.answered_after_mark[server.base] > 0, h.describe(res)
        assert victim not in server.workers()
        assert set(res.retryable) <= {"connection"}, h.describe(res)  # nothing refused: SQLite never 503s
        check_world([server.base], res, lambda: SqliteStore(tmp_path / "data" / "azvm.sqlite3"), exact=False,
                    stop=server.stop, bill_from=["--data-dir", str(tmp_path / "data")])
    finally:
        server.stop()
    no_tracebacks(server.log)


@pytest.mark.timeout(600)
def test_kill_9_of_a_process_and_a_database_restart_under_load_on_postgresql(restartable_pg: PgServer,
                                                                             tmp_path: Path) -> None:
    url = restartable_pg.fresh_database()
    servers = [h.serve(["--database", url, "--data-dir", str(tmp_path / f"host{i}")], tmp_path / f"serve{i}.log")
               for i in range(2)]
    bases = [s.base for s in servers]
    victim, survivor = servers

    def stop() -> None:
        for s in servers:
            s.stop()

    try:
        h.populate(bases, VMS)
        stable, churn = split(h.names(VMS))
        t = SECONDS / 2
        res = h.run_load(bases, stable, churn, clients=CLIENTS, seconds=SECONDS * 2, during=h.schedule(
            (t, lambda: h.kill_9(victim.proc.pid)), (t + 1, restartable_pg.crash), (t + 2, restartable_pg.start)))
        assert res.answered_after_mark[survivor.base] > 0, h.describe(res)
        # while the database was down the survivor refused with 503 and Retry-After (and no 500)
        assert res.retryable["503"] > 0 and set(res.retryable) <= {"503", "connection"}, h.describe(res)
        # after the restart the survivor served again, operations accepted included
        assert len(res.steps_done) == 3 and res.answered_after(res.steps_done[2]) > 0, h.describe(res)
        # a new process on the same database joins the same world
        servers.append(h.serve(["--database", url, "--data-dir", str(tmp_path / "host2")], tmp_path / "serve2.log"))
        check_world([survivor.base, servers[-1].base], res, lambda: PostgresStore(url), exact=False, stop=stop,
                    bill_from=["--database", url])
    finally:
        stop()
        restartable_pg.drop_database(url)
    no_tracebacks(*(s.log for s in servers))
