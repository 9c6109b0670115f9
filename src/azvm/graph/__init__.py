"""Azure Resource Graph: a KQL subset parsed with a grammar and evaluated over rows.

Pure: the standard library, lark and azvm.domain only. `parse` turns query text into a tree
(azvm.graph.ast), `run` evaluates it over tables of dict rows at a given time, and `KqlError` is
the 400 Azure answers for a query it cannot run. docs/resource-graph.md lists what is supported.
"""

from .engine import Table, run, tables_of
from .errors import KqlError
from .parser import parse
from .values import format_datetime, to_json

__all__ = ["KqlError", "Table", "format_datetime", "parse", "run", "tables_of", "to_json"]
