"""Stores of the history. `open_store` picks one: a data directory (SQLite), a `postgresql://` URL
(PostgreSQL, azvm.store.postgres: needs psycopg, the `postgres` extra) or None (in memory)."""

from __future__ import annotations

import os
from pathlib import Path

from ..files import make_private
from ..files import private_dir as make_private_dir  # server.py makes the data directory with it
from ..service.ports import Store
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "is_database_url", "make_private_dir", "open_store"]

DB_NAME = "azvm.sqlite3"
# SQLite gives the -wal and -shm files (and a rollback journal) the permissions of the database file
SIDE_FILES = ("-wal", "-shm", "-journal")


URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(where: str | Path | None) -> bool:
    """Whether `where` names a PostgreSQL database (a libpq URL) rather than a data directory."""
    return isinstance(where, str) and where.startswith(URL_SCHEMES)


def open_store(data_dir_or_url: str | Path | None, *, durability: str = "normal") -> Store:
    if data_dir_or_url is None:
        return MemoryStore()
    if is_database_url(data_dir_or_url):
        try:
            from .postgres import PostgresStore  # psycopg is imported only by those who use it
        except ImportError as e:
            raise RuntimeError("a postgresql:// database needs psycopg: pip install 'azvm[postgres]'") from e

        return PostgresStore(str(data_dir_or_url), durability=durability)
    d = Path(data_dir_or_url)
    make_private_dir(d)
    db = d / DB_NAME
    # the history is the owner's only (0600), also when an older azvm left it readable by others
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for path in (db, *(d / (DB_NAME + suffix) for suffix in SIDE_FILES)):
        make_private(path)
    return SqliteStore(db, durability=durability)
