"""Stores of the history. `open_store` picks one from a data directory or `in-memory`."""

from __future__ import annotations

from pathlib import Path

from ..service.ports import Store
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "open_store"]


def open_store(data_dir: str | Path | None, *, durability: str = "normal") -> Store:
    if data_dir is None:
        return MemoryStore()
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return SqliteStore(d / "azvm.sqlite3", durability=durability)
