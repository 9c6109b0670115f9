"""Azure Resource Graph: a KQL subset parsed with a grammar and evaluated over rows.

Pure: the standard library, lark and azvm.domain only. `parse` turns query text into a tree
(azvm.graph.ast), `run` evaluates it over tables of dict rows at a given time, and `KqlError` is
the 400 Azure answers for a query it cannot run. docs/resource-graph.md lists what is supported.

The names load their modules when first used (PEP 562): the grammar and lark are imported by the
first query, not by every `azvm serve` as it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import loader

if TYPE_CHECKING:
    from .engine import Table, run, tables_of
    from .errors import KqlError
    from .parser import parse
    from .values import format_datetime, to_json

_HOME = {"Table": "engine", "run": "engine", "tables_of": "engine", "KqlError": "errors", "parse": "parser",
         "format_datetime": "values", "to_json": "values"}


__getattr__ = loader(__name__, _HOME)


__all__ = ["KqlError", "Table", "format_datetime", "parse", "run", "tables_of", "to_json"]
