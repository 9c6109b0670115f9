"""Names a package loads from its modules when first used (PEP 562 `__getattr__`), so that a heavy
dependency (lark, json5, a grammar) is imported by the first use, not by every `azvm serve` start.
Standard library only."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def loader(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each name to the submodule that defines it."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{home}", package), name)

    return __getattr__


__all__ = ["loader"]
