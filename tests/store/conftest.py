"""The stores' contract runs over every store: memory, SQLite and PostgreSQL (a real server, tests/pg.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

from azvm.store import MemoryStore, SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Makes stores of one kind; with PostgreSQL each store gets a fresh database of its own."""
    made: list[Any] = []
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    urls: list[str] = []

    def factory() -> Any:
        if request.param == "memory":
            s: Any = MemoryStore()
        elif request.param == "sqlite":
            s = SqliteStore(tmp_path / f"s{len(made)}.sqlite3")
        else:
            from azvm.store.postgres import PostgresStore

            assert server is not None
            urls.append(server.fresh_database())
            s = PostgresStore(urls[-1])
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()
    for url in urls:
        assert server is not None
        server.drop_database(url)
