"""The syntax tree of a query: frozen values that the parser builds and the engine runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

# -- expressions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Any  # None, bool, int, float, str, list, dict, datetime, timedelta


@dataclass(frozen=True)
class Col:
    name: str  # a column, written `name` or `['name']`


@dataclass(frozen=True)
class Side:
    side: str  # "$left" or "$right", in a join's `on`
    name: str


@dataclass(frozen=True)
class Member:
    obj: Expr
    name: str  # `obj.name`


@dataclass(frozen=True)
class Index:
    obj: Expr
    index: Expr  # `obj[0]`, `obj['name']`


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Binary:
    op: str  # "and", "or", "==", "=~", "contains", "+", ... as written
    left: Expr
    right: Expr


@dataclass(frozen=True)
class InList:
    op: str  # "in", "!in", "in~", "!in~", "has_any", "has_all"
    left: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Neg:
    expr: Expr


Expr: TypeAlias = Lit | Col | Side | Member | Index | Call | Binary | InList | Neg

# -- tabular operators ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    name: str | None  # `name = expr`, or None: the engine names the column
    expr: Expr


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    desc: bool = True  # KQL sorts descending unless told `asc`
    nulls_first: bool | None = None  # None: nulls first ascending, last descending


@dataclass(frozen=True)
class Where:
    pred: Expr


@dataclass(frozen=True)
class Extend:
    items: tuple[Assign, ...]


@dataclass(frozen=True)
class Project:
    items: tuple[Assign, ...]


@dataclass(frozen=True)
class ProjectAway:
    names: tuple[str, ...]  # a trailing `*` is a wildcard


@dataclass(frozen=True)
class ProjectRename:
    pairs: tuple[tuple[str, str], ...]  # (new, old)


@dataclass(frozen=True)
class Summarize:
    aggs: tuple[Assign, ...]
    by: tuple[Assign, ...]


@dataclass(frozen=True)
class Sort:
    keys: tuple[SortKey, ...]


@dataclass(frozen=True)
class Top:
    count: Expr
    key: SortKey


@dataclass(frozen=True)
class Take:
    count: Expr


@dataclass(frozen=True)
class Distinct:
    items: tuple[Assign, ...] | None  # None: `distinct *`


@dataclass(frozen=True)
class MvExpand:
    items: tuple[Assign, ...]
    limit: Expr | None = None


@dataclass(frozen=True)
class Join:
    kind: str
    right: Query
    on: tuple[Expr, ...]


@dataclass(frozen=True)
class Count:
    pass


Operator: TypeAlias = (Where | Extend | Project | ProjectAway | ProjectRename | Summarize | Sort | Top | Take
                       | Distinct | MvExpand | Join | Count)


@dataclass(frozen=True)
class Query:
    table: str | None  # None: the default table (`Resources`)
    ops: tuple[Operator, ...]


__all__ = ["Assign", "Binary", "Call", "Col", "Count", "Distinct", "Expr", "Extend", "InList", "Index", "Join",
           "Lit", "Member", "MvExpand", "Neg", "Operator", "Project", "ProjectAway", "ProjectRename", "Query",
           "Side", "Sort", "SortKey", "Summarize", "Take", "Top", "Where"]
