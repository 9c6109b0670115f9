"""Fixtures of the load tests: PostgreSQL servers (tests/pg.py) and a scratch directory outside pytest's
root-owned temporary tree (the PostgreSQL server runs as another user)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import PgServer, pg_server, pg_url, start_server  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def restartable_pg() -> Iterator[PgServer]:
    """A PostgreSQL server of this module's own, that a test may crash and start again (never the
    session's shared one, nor AZVM_TEST_PG_URL's)."""
    server = start_server(own_server=True)
    try:
        yield server
    finally:
        server.stop()
