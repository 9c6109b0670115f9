"""Runs a parsed query over tables of rows: pure, no I/O, the time given by the caller.

A table is its column names (in order) and its rows (dicts with every column). Each operator
knows the columns it receives, so a name that is not a column is refused before any row is read,
with Kusto's wording (`'where' operator: Failed to resolve scalar expression named 'x'`).

Column names as Kusto gives them: a projected path `properties.hardwareProfile.vmSize` is
`properties_hardwareProfile_vmSize`, a conversion of a path (`tostring(properties.x)`) takes the
path's name, an aggregation is `count_`, `dcount_x`, `any_x`, `sum_x`, `list_x` (make_list),
`set_x` (make_set), anything else `Column1`, `Column2`, ...; a join renames a right-side column
that the left side already has with a numeric suffix (`subscriptionId1`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from . import ast as a
from .errors import KqlError, semantic, unsupported
from .parser import parse
from .values import AGGREGATES, CONVERSIONS, SCALARS, binary, freeze, in_list, member, sort_compare

Row = dict[str, Any]
Fn = Callable[[Row], Any]


@dataclass
class Table:
    columns: list[str]
    rows: list[Row] = field(default_factory=list)


JOIN_KINDS = ("innerunique", "inner", "leftouter", "rightouter", "fullouter", "leftanti", "anti", "leftantisemi",
              "rightanti", "rightantisemi", "leftsemi", "rightsemi")
DEFAULT_TABLE = "resources"


@dataclass
class Context:
    tables: Mapping[str, Callable[[], Table]]  # lower-case name -> loader
    now: datetime
    loaded: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str | None) -> Table:
        key = (name or DEFAULT_TABLE).lower()
        if key not in self.tables:
            known = ", ".join(sorted(self.tables))
            raise KqlError(f"Logical table '{name}' is invalid, unsupported or disallowed: azvm serves {known}.",
                           code="DisallowedLogicalTableName", token=name)
        if key not in self.loaded:
            self.loaded[key] = self.tables[key]()
        return self.loaded[key]


def run(query: a.Query | str, tables: Mapping[str, Callable[[], Table]], *, now: datetime) -> Table:
    """The result of a query (text or tree) over `tables` at time `now`."""
    q = parse(query) if isinstance(query, str) else query
    return _run(q, Context({k.lower(): v for k, v in tables.items()}, now))


def tables_of(query: a.Query) -> set[str]:
    """The lower-case names of the tables a query reads (joins included)."""
    out = {(query.table or DEFAULT_TABLE).lower()}
    for op in query.ops:
        if isinstance(op, a.Join):
            out |= tables_of(op.right)
    return out


def _run(q: a.Query, ctx: Context) -> Table:
    base = ctx.table(q.table)
    t = Table(list(base.columns), base.rows)
    for op in q.ops:
        t = _apply(op, t, ctx)
    return t


# -- expressions ----------------------------------------------------------------------------------
def column_name(e: a.Expr) -> str | None:
    """The name Kusto gives an unnamed expression's column, or None (then `ColumnN`)."""
    if isinstance(e, a.Col):
        return e.name
    if isinstance(e, a.Member):
        base = column_name(e.obj)
        return f"{base}_{e.name}" if base else None
    if isinstance(e, a.Index) and isinstance(e.index, a.Lit) and isinstance(e.index.value, (str, int)):
        base = column_name(e.obj)
        return f"{base}_{e.index.value}" if base else None
    if isinstance(e, a.Call) and e.name in CONVERSIONS and len(e.args) == 1:
        return column_name(e.args[0])
    return None


def _names(items: Iterable[a.Assign]) -> list[str]:
    out: list[str] = []
    n = 0
    for item in items:
        name = item.name or column_name(item.expr)
        if name is None:
            n += 1
            name = f"Column{n}"
        out.append(name)
    return out


class _Compiler:
    def __init__(self, columns: Iterable[str], operator: str, ctx: Context,
                 sides: tuple[list[str], list[str]] | None = None) -> None:
        self.columns = set(columns)
        self.operator = operator
        self.ctx = ctx
        self.sides = sides

    def compile(self, e: a.Expr) -> Fn:
        if isinstance(e, a.Lit):
            v = e.value
            return lambda r: v
        if isinstance(e, a.Col):
            if e.name not in self.columns:
                raise semantic(self.operator, f"Failed to resolve scalar expression named '{e.name}'")
            name = e.name
            return lambda r: r.get(name)
        if isinstance(e, a.Side):
            raise semantic(self.operator, f"'{e.side}.{e.name}' is only allowed in the 'on' clause of a join")
        if isinstance(e, a.Member):
            obj, key = self.compile(e.obj), e.name
            return lambda r: member(obj(r), key)
        if isinstance(e, a.Index):
            obj, idx = self.compile(e.obj), self.compile(e.index)
            return lambda r: member(obj(r), idx(r))
        if isinstance(e, a.Neg):
            inner = self.compile(e.expr)
            return lambda r: binary("-")(0, inner(r))
        if isinstance(e, a.Binary):
            return self._binary(e)
        if isinstance(e, a.InList):
            left = self.compile(e.left)
            items = [self.compile(i) for i in e.items]
            op = e.op
            return lambda r: in_list(op, left(r), [i(r) for i in items])
        return self._call(e)

    def _binary(self, e: a.Binary) -> Fn:
        left, right = self.compile(e.left), self.compile(e.right)
        if e.op in ("and", "or"):  # three-valued: false decides an `and`, true an `or`; null otherwise
            decides = e.op == "or"

            def logic(r: Row) -> bool | None:
                x = left(r)
                if x is decides:
                    return bool(decides)
                y = right(r)
                if y is decides:
                    return bool(decides)
                return (not decides) if x is (not decides) and y is (not decides) else None
            return logic
        f = binary(e.op)
        return lambda r: f(left(r), right(r))

    def _call(self, e: a.Call) -> Fn:
        name = e.name
        if name in AGGREGATES and name not in SCALARS:
            raise semantic(self.operator, f"the aggregation '{name}()' is allowed only in 'summarize'")
        if name == "now":
            self._arity(e, 0, 0)
            now = self.ctx.now
            return lambda r: now
        if name == "ago":
            self._arity(e, 1, 1)
            span = self.compile(e.args[0])
            now = self.ctx.now
            return lambda r: binary("-")(now, span(r))
        if name not in SCALARS:
            raise unsupported("The function", name)
        f, lo, hi = SCALARS[name]
        self._arity(e, lo, hi)
        args = [self.compile(x) for x in e.args]
        if name == "case":
            if len(args) % 2 == 0:
                raise semantic(self.operator, "case() expects pairs of predicate and value, then an else value")

            def case(r: Row) -> Any:
                for i in range(0, len(args) - 1, 2):
                    if args[i](r) is True:
                        return args[i + 1](r)
                return args[-1](r)
            return case
        if name in ("iff", "iif"):
            c, x, y = args
            return lambda r: x(r) if c(r) is True else y(r)
        if len(args) == 1:
            (only,) = args
            return lambda r: f(only(r))
        return lambda r: f(*(g(r) for g in args))

    def _arity(self, e: a.Call, lo: int, hi: int | None) -> None:
        n = len(e.args)
        if n < lo or (hi is not None and n > hi):
            want = str(lo) if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
            raise semantic(self.operator, f"function '{e.name}' expects {want} argument(s), got {n}")


def _constant_int(e: a.Expr, operator: str, ctx: Context) -> int:
    v = _Compiler((), operator, ctx).compile(e)({})
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise semantic(operator, "expects a constant non-negative integer")
    return v


# -- operators ------------------------------------------------------------------------------------
def _apply(op: a.Operator, t: Table, ctx: Context) -> Table:
    if isinstance(op, a.Where):
        pred = _Compiler(t.columns, "where", ctx).compile(op.pred)
        return Table(t.columns, [r for r in t.rows if pred(r) is True])
    if isinstance(op, a.Extend):
        return _extend(op, t, ctx)
    if isinstance(op, a.Project):
        c = _Compiler(t.columns, "project", ctx)
        fns = [c.compile(i.expr) for i in op.items]
        names = _names(op.items)
        cols = list(dict.fromkeys(names))
        return Table(cols, [dict(zip(names, (f(r) for f in fns), strict=True)) for r in t.rows])
    if isinstance(op, a.ProjectAway):
        drop = _matching(op.names, t.columns, "project-away")
        cols = [c for c in t.columns if c not in drop]
        return Table(cols, [{c: r.get(c) for c in cols} for r in t.rows])
    if isinstance(op, a.ProjectRename):
        renames = {}
        for new, old in op.pairs:
            if old not in t.columns:
                raise semantic("project-rename", f"Failed to resolve scalar expression named '{old}'")
            renames[old] = new
        cols = [renames.get(c, c) for c in t.columns]
        return Table(cols, [{renames.get(k, k): v for k, v in r.items()} for r in t.rows])
    if isinstance(op, a.Summarize):
        return _summarize(op, t, ctx)
    if isinstance(op, a.Sort):
        return Table(t.columns, _sorted(t, op.keys, "order", ctx))
    if isinstance(op, a.Top):
        n = _constant_int(op.count, "top", ctx)
        return Table(t.columns, _sorted(t, (op.key,), "top", ctx)[:n])
    if isinstance(op, a.Take):
        return Table(t.columns, t.rows[:_constant_int(op.count, "take", ctx)])
    if isinstance(op, a.Distinct):
        return _distinct(op, t, ctx)
    if isinstance(op, a.MvExpand):
        return _mv_expand(op, t, ctx)
    if isinstance(op, a.Join):
        return _join(op, t, ctx)
    return Table(["Count"], [{"Count": len(t.rows)}])


def _extend(op: a.Extend, t: Table, ctx: Context) -> Table:
    cols = list(t.columns)
    rows = t.rows
    n = 0
    for item in op.items:  # each item sees the columns the earlier ones made
        fn = _Compiler(cols, "extend", ctx).compile(item.expr)
        name = item.name or column_name(item.expr)
        if name is None:
            n += 1
            name = f"Column{n}"
        if name not in cols:
            cols.append(name)
        rows = [{**r, name: fn(r)} for r in rows]
    return Table(cols, rows)


def _matching(patterns: tuple[str, ...], columns: list[str], operator: str) -> set[str]:
    out: set[str] = set()
    for p in patterns:
        if p.endswith("*"):
            out |= {c for c in columns if c.startswith(p[:-1])}
        elif p in columns:
            out.add(p)
        else:
            raise semantic(operator, f"Failed to resolve scalar expression named '{p}'")
    return out


def _group_key(values: list[Any], names: list[str], operator: str) -> tuple[Any, ...]:
    for v, name in zip(values, names, strict=True):
        if isinstance(v, (dict, list)):
            raise semantic(operator, f"Summarize group key '{name}' is of a 'dynamic' type. Please use an explicit"
                                     " cast (for example tostring())")
    return tuple(freeze(v) for v in values)


def _summarize(op: a.Summarize, t: Table, ctx: Context) -> Table:
    c = _Compiler(t.columns, "summarize", ctx)
    by_fns = [c.compile(i.expr) for i in op.by]
    by_names = _names(op.by)
    aggs: list[tuple[str, Callable[[list[list[Any]]], Any], list[Fn]]] = []
    for item in op.aggs:
        e = item.expr
        if not isinstance(e, a.Call) or e.name not in AGGREGATES:
            raise semantic("summarize", "expects aggregation functions (count(), dcount(), any(), ...) before 'by'")
        f, lo, hi, prefix = AGGREGATES[e.name]
        c._arity(e, lo, hi)
        args = [c.compile(x) for x in e.args[:1]]
        if item.name is not None:
            name = item.name
        else:
            arg = column_name(e.args[0]) if e.args else None
            name = f"{prefix}_{arg or ''}"
        aggs.append((name, f, args))
    groups: dict[tuple[Any, ...], tuple[list[Any], list[list[Any]]]] = {}
    for r in t.rows:
        values = [f(r) for f in by_fns]
        key = _group_key(values, by_names, "summarize")
        group = groups.get(key)
        if group is None:
            group = groups[key] = (values, [])
        group[1].append([[g(r) for g in args] for _n, _f, args in aggs])
    if not by_fns and not groups:
        groups[()] = ([], [])
    cols = list(dict.fromkeys([*by_names, *(n for n, _f, _a in aggs)]))
    out = []
    for values, per_row in groups.values():
        row: Row = dict(zip(by_names, values, strict=True))
        for i, (name, f, _args) in enumerate(aggs):
            row[name] = f([r[i] for r in per_row])
        out.append(row)
    return Table(cols, out)


def _sorted(t: Table, keys: tuple[a.SortKey, ...], operator: str, ctx: Context) -> list[Row]:
    c = _Compiler(t.columns, operator, ctx)
    fns = [(c.compile(k.expr), k.desc, k.desc is False if k.nulls_first is None else k.nulls_first)
           for k in keys]
    decorated = [([f(r) for f, _d, _n in fns], r) for r in t.rows]

    def cmp(x: tuple[list[Any], Row], y: tuple[list[Any], Row]) -> int:
        for (vx, vy, (_f, desc, nulls_first)) in zip(x[0], y[0], fns, strict=True):
            if vx is None or vy is None:
                if vx is None and vy is None:
                    continue
                return (-1 if vx is None else 1) * (1 if nulls_first else -1)
            d = sort_compare(vx, vy)
            if d:
                return -d if desc else d
        return 0
    decorated.sort(key=cmp_to_key(cmp))
    return [r for _k, r in decorated]


def _distinct(op: a.Distinct, t: Table, ctx: Context) -> Table:
    items = op.items if op.items is not None else tuple(a.Assign(None, a.Col(c)) for c in t.columns)
    c = _Compiler(t.columns, "distinct", ctx)
    fns = [c.compile(i.expr) for i in items]
    cols = _names(items)
    seen: set[tuple[Any, ...]] = set()
    out = []
    for r in t.rows:
        values = [f(r) for f in fns]
        key = tuple(freeze(v) for v in values)
        if key not in seen:
            seen.add(key)
            out.append(dict(zip(cols, values, strict=True)))
    return Table(list(dict.fromkeys(cols)), out)


def _expand(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return [{k: x} for k, x in v.items()]
    return [v]


def _mv_expand(op: a.MvExpand, t: Table, ctx: Context) -> Table:
    c = _Compiler(t.columns, "mv-expand", ctx)
    fns = [c.compile(i.expr) for i in op.items]
    names = _names(op.items)
    limit = _constant_int(op.limit, "mv-expand", ctx) if op.limit is not None else None
    cols = list(t.columns) + [n for n in dict.fromkeys(names) if n not in t.columns]
    out: list[Row] = []
    for r in t.rows:
        lists = [_expand(f(r)) for f in fns]
        n = max(len(x) for x in lists) if lists else 0
        if limit is not None:
            n = min(n, limit)
        for i in range(n):
            row = dict(r)
            for name, values in zip(names, lists, strict=True):
                row[name] = values[i] if i < len(values) else None
            out.append(row)
    return Table(cols, out)


def _join_keys(on: tuple[a.Expr, ...], left: Table, right: Table, ctx: Context) -> tuple[list[Fn], list[Fn]]:
    conditions: list[a.Expr] = []

    def flatten(e: a.Expr) -> None:
        if isinstance(e, a.Binary) and e.op == "and":
            flatten(e.left)
            flatten(e.right)
        else:
            conditions.append(e)
    for e in on:
        flatten(e)
    lc, rc = _Compiler(left.columns, "join", ctx), _Compiler(right.columns, "join", ctx)
    lk: list[Fn] = []
    rk: list[Fn] = []
    for e in conditions:
        if isinstance(e, a.Col):
            lk.append(lc.compile(e))
            rk.append(rc.compile(e))
        elif isinstance(e, a.Binary) and e.op == "==" and isinstance(e.left, a.Side) and isinstance(e.right, a.Side) \
                and {e.left.side, e.right.side} == {"$left", "$right"}:
            lside, rside = (e.left, e.right) if e.left.side == "$left" else (e.right, e.left)
            lk.append(lc.compile(a.Col(lside.name)))
            rk.append(rc.compile(a.Col(rside.name)))
        else:
            raise semantic("join", "the 'on' clause takes column names or '$left.x == $right.y', joined by 'and'")
    return lk, rk


def _join(op: a.Join, left: Table, ctx: Context) -> Table:
    kind = op.kind.lower()
    if kind not in JOIN_KINDS:
        raise semantic("join", f"unknown join kind '{op.kind}'; azvm runs {', '.join(JOIN_KINDS)}")
    right = _run(op.right, ctx)
    lk, rk = _join_keys(op.on, left, right, ctx)

    def key(fns: list[Fn], r: Row) -> tuple[Any, ...] | None:
        values = [f(r) for f in fns]
        return None if any(v is None for v in values) else tuple(freeze(v) for v in values)
    index: dict[tuple[Any, ...], list[Row]] = {}
    for r in right.rows:
        k = key(rk, r)
        if k is not None:
            index.setdefault(k, []).append(r)
    if kind in ("leftsemi", "leftanti", "anti", "leftantisemi"):
        keep = kind == "leftsemi"
        return Table(left.columns, [r for r in left.rows if ((key(lk, r) or ()) in index) == keep])
    left_keys = {k for r in left.rows if (k := key(lk, r)) is not None}
    if kind in ("rightsemi", "rightanti", "rightantisemi"):
        keep = kind == "rightsemi"
        return Table(right.columns, [r for r in right.rows if (key(rk, r) in left_keys) == keep])
    # right-side columns that the left already has get a numeric suffix
    rename: dict[str, str] = {}
    taken = set(left.columns)
    for c in right.columns:
        name, n = c, 0
        while name in taken:
            n += 1
            name = f"{c}{n}"
        rename[c] = name
        taken.add(name)
    cols = list(left.columns) + [rename[c] for c in right.columns]
    empty_right = {rename[c]: None for c in right.columns}
    empty_left = dict.fromkeys(left.columns)
    lrows = left.rows
    if kind == "innerunique":  # one left row per key (Kusto's default join)
        seen: set[tuple[Any, ...] | None] = set()
        lrows = []
        for r in left.rows:
            k = key(lk, r)
            if k not in seen:
                seen.add(k)
                lrows.append(r)
    out: list[Row] = []
    matched: set[int] = set()
    for r in lrows:
        k = key(lk, r)
        hits = index.get(k, []) if k is not None else []
        for h in hits:
            matched.add(id(h))
            out.append({**r, **{rename[c]: v for c, v in h.items()}})
        if not hits and kind in ("leftouter", "fullouter"):
            out.append({**r, **empty_right})
    if kind in ("rightouter", "fullouter"):
        for h in right.rows:
            if id(h) not in matched:
                out.append({**empty_left, **{rename[c]: v for c, v in h.items()}})
    return Table(cols, out)


__all__ = ["DEFAULT_TABLE", "JOIN_KINDS", "Context", "Table", "column_name", "run", "tables_of"]
