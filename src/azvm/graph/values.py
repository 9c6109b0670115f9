"""KQL values in Python, and the scalar functions and aggregations that queries call.

Values: None (null), bool, int, float, str, list and dict (dynamic), datetime (UTC) and timedelta.
Semantics follow the Kusto documentation (learn.microsoft.com/kusto/query): string operators
without `_cs` ignore case; `has` matches whole terms (runs of ASCII letters and digits); `tostring`
of null is the empty string and of a dynamic value its compact JSON; a comparison with null is
null, and `where` keeps only rows whose predicate is true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from .errors import KqlError
from .parser import parse_datetime

Number = (int, float)


def is_number(v: Any) -> bool:
    return isinstance(v, Number) and not isinstance(v, bool)


def format_datetime(d: datetime) -> str:
    """A datetime as Kusto writes it: ISO 8601 in UTC with seven fractional digits and `Z`."""
    d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}0Z"


def format_timespan(t: timedelta) -> str:
    """A timespan as Kusto writes it: `[-][d.]hh:mm:ss[.fffffff]`."""
    sign = "-" if t < timedelta(0) else ""
    t = abs(t)
    hours, rem = divmod(t.seconds, 3600)
    minutes, seconds = divmod(rem, 60)
    out = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if t.days:
        out = f"{t.days}.{out}"
    if t.microseconds:
        out += f".{t.microseconds:06d}0"
    return sign + out


def to_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, datetime):
        return format_datetime(v)
    if isinstance(v, timedelta):
        return format_timespan(v)
    return json.dumps(to_json(v), separators=(",", ":"), ensure_ascii=False)


def to_json(v: Any) -> Any:
    """A value as it is written in a response (datetimes and timespans as strings)."""
    if isinstance(v, datetime):
        return format_datetime(v)
    if isinstance(v, timedelta):
        return format_timespan(v)
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


def freeze(v: Any) -> Any:
    """A hashable key for a value: equal keys for equal values, and 1, "1" and true kept apart."""
    if isinstance(v, dict):
        return ("d", tuple(sorted((k, freeze(x)) for k, x in v.items())))
    if isinstance(v, list):
        return ("l", tuple(freeze(x) for x in v))
    if isinstance(v, bool):
        return ("b", v)
    if is_number(v):
        return ("n", v)
    return (type(v).__name__, v)


# -- comparison -----------------------------------------------------------------------------------
def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Two values brought to one comparable kind, or None when they cannot be compared."""
    if is_number(left) and is_number(right):
        return left, right
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    if isinstance(left, bool) and isinstance(right, bool):
        return left, right
    if isinstance(left, datetime) or isinstance(right, datetime):
        ld = left if isinstance(left, datetime) else parse_datetime(left) if isinstance(left, str) else None
        rd = right if isinstance(right, datetime) else parse_datetime(right) if isinstance(right, str) else None
        return (ld, rd) if ld is not None and rd is not None else None
    if isinstance(left, timedelta) and isinstance(right, timedelta):
        return left, right
    if isinstance(left, str) and (is_number(right) or isinstance(right, bool)):
        return left, to_str(right)
    if isinstance(right, str) and (is_number(left) or isinstance(left, bool)):
        return to_str(left), right
    return None


def equals(left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    pair = _coerce_pair(left, right)
    if pair is None:
        return bool(freeze(left) == freeze(right))
    return bool(pair[0] == pair[1])


def order(op: str, left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    pair = _coerce_pair(left, right)
    if pair is None:
        return None
    x, y = pair
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


_RANK = {bool: 0, int: 1, float: 1, datetime: 2, timedelta: 3, str: 4}


def sort_compare(x: Any, y: Any) -> int:
    """Order of two non-null values: by kind, then by value (strings ordinally, as Kusto sorts)."""
    rx, ry = _RANK.get(type(x), 5), _RANK.get(type(y), 5)
    if rx != ry:
        return -1 if rx < ry else 1
    if rx == 5:
        x, y = to_str(x), to_str(y)
    return -1 if x < y else (1 if x > y else 0)


# -- string operators -----------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _term(needle: str, prefix: bool, suffix: bool, cs: bool) -> re.Pattern[str]:
    head = "" if suffix else r"(?<![A-Za-z0-9])"  # hassuffix: the term may start anywhere
    tail = "" if prefix else r"(?![A-Za-z0-9])"  # hasprefix: the term may go on
    return re.compile(head + re.escape(needle) + tail, 0 if cs else re.IGNORECASE)


def _has(hay: str, needle: str, *, prefix: bool = False, suffix: bool = False, cs: bool = False) -> bool:
    if needle == "":
        return True
    return _term(needle, prefix, suffix, cs).search(hay) is not None


def _string_op(base: str, cs: bool) -> Callable[[str, str], bool]:
    def low(s: str) -> str:
        return s if cs else s.lower()
    if base == "contains":
        return lambda h, n: low(n) in low(h)
    if base == "startswith":
        return lambda h, n: low(h).startswith(low(n))
    if base == "endswith":
        return lambda h, n: low(h).endswith(low(n))
    if base == "has":
        return lambda h, n: _has(h, n, cs=cs)
    if base == "hasprefix":
        return lambda h, n: _has(h, n, prefix=True, cs=cs)
    if base == "hassuffix":
        return lambda h, n: _has(h, n, suffix=True, cs=cs)
    raise KeyError(base)


STRING_OPS = ("contains", "startswith", "endswith", "has", "hasprefix", "hassuffix")


def binary(op: str) -> Callable[[Any, Any], Any]:
    """The function of a binary operator (not `and`/`or`, which the engine short-circuits)."""
    if op == "==":
        return equals
    if op == "!=":
        return lambda x, y: None if (r := equals(x, y)) is None else not r
    if op in ("=~", "!~"):
        def ci(x: Any, y: Any) -> bool | None:
            if x is None and y is None:
                return None
            same = to_str(x).lower() == to_str(y).lower()
            return same if op == "=~" else not same
        return ci
    if op in ("<", "<=", ">", ">="):
        return lambda x, y: order(op, x, y)
    if op == "matches regex":
        return lambda x, y: _regex(to_str(y)).search(to_str(x)) is not None
    negate = op.startswith("!")
    name = op.lstrip("!")
    cs = name.endswith("_cs")
    base = name.removesuffix("_cs")
    if base in STRING_OPS:
        f = _string_op(base, cs)
        return lambda x, y: f(to_str(x), to_str(y)) != negate
    if op in ("+", "-", "*", "/", "%"):
        return lambda x, y: arithmetic(op, x, y)
    raise KqlError(f"The operator '{op}' is not supported by azvm's Resource Graph.", code="InvalidQueryLanguage",
                   token=op)


@lru_cache(maxsize=128)
def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise KqlError(f"The regular expression '{pattern}' is not valid: {e}.", code="SemanticError") from None


def arithmetic(op: str, x: Any, y: Any) -> Any:
    if x is None or y is None:
        return None
    try:
        if is_number(x) and is_number(y):
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if y == 0:
                return None
            if op == "/":
                return int(x / y) if isinstance(x, int) and isinstance(y, int) else x / y
            return x - y * int(x / y) if isinstance(x, int) and isinstance(y, int) else x % y
        if op == "+" and isinstance(x, datetime) and isinstance(y, timedelta):
            return x + y
        if op == "+" and isinstance(x, timedelta) and isinstance(y, (datetime, timedelta)):
            return y + x
        if op == "-" and isinstance(x, (datetime, timedelta)) and isinstance(y, timedelta):
            return x - y
        if op == "-" and isinstance(x, datetime) and isinstance(y, datetime):
            return x - y
        if op in ("*", "/") and isinstance(x, timedelta) and is_number(y):
            return x * y if op == "*" else (x / y if y else None)
    except (OverflowError, ValueError):
        return None
    return None


def in_list(op: str, value: Any, items: Sequence[Any]) -> bool | None:
    flat: list[Any] = []
    for i in items:
        flat.extend(i if isinstance(i, list) else [i])
    if op in ("has_any", "has_all"):
        hay = to_str(value)
        hits = [_has(hay, to_str(n)) for n in flat]
        return any(hits) if op == "has_any" else all(hits)
    negate = op.startswith("!")
    if op.endswith("~"):
        low = to_str(value).lower()
        found = any(to_str(i).lower() == low for i in flat)
    else:
        if value is None:
            return None
        found = any(equals(value, i) is True for i in flat)
    return found != negate


# -- conversions ----------------------------------------------------------------------------------
def to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v == v and abs(v) != float("inf") else None
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            f = to_float(v)
            return int(f) if f is not None and f == f and abs(f) != float("inf") else None
    return None


def to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if is_number(v):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def to_dynamic(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def to_datetime(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        return parse_datetime(v)
    return None


def is_empty(v: Any) -> bool:
    return v is None or v == ""


def member(v: Any, key: Any) -> Any:
    """`v.key` and `v[key]`: a property of a bag, an element of an array (negative from the end)."""
    if isinstance(v, dict) and isinstance(key, str):
        return v.get(key)
    if isinstance(v, list) and is_number(key) and isinstance(key, int):
        n = len(v)
        i = key + n if key < 0 else key
        return v[i] if 0 <= i < n else None
    return None


# -- scalar functions -----------------------------------------------------------------------------
Scalar = Callable[..., Any]


def _split(s: Any, delim: Any, index: Any = None) -> Any:
    parts = to_str(s).split(to_str(delim)) if to_str(delim) else [to_str(s)]
    if index is None:
        return parts
    i = to_int(index)
    return [parts[i]] if i is not None and 0 <= i < len(parts) else []


def _substring(s: Any, start: Any, length: Any = None) -> str:
    text = to_str(s)
    i = max(0, to_int(start) or 0)
    n = to_int(length) if length is not None else None
    return text[i:] if n is None else text[i:i + max(0, n)]


def _indexof(s: Any, lookup: Any) -> int | None:
    if s is None or lookup is None:
        return None
    return to_str(s).find(to_str(lookup))


def _coalesce(*args: Any) -> Any:
    for v in args:
        if not is_empty(v):
            return v
    return args[-1] if args else None


def _case(*args: Any) -> Any:
    raise AssertionError("case is evaluated lazily by the engine")  # pragma: no cover


def _extract(pattern: Any, group: Any, s: Any) -> Any:
    m = _regex(to_str(pattern)).search(to_str(s))
    g = to_int(group)
    if m is None or g is None or g > (m.re.groups or 0):
        return None
    return m.group(g)


def _not(v: Any) -> bool | None:
    b = to_bool(v)
    return None if b is None else not b


def _gettype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "real"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "dictionary"
    if isinstance(v, list):
        return "array"
    if isinstance(v, datetime):
        return "datetime"
    return "timespan"


# name -> (function, min args, max args); None: any number
SCALARS: dict[str, tuple[Scalar, int, int | None]] = {
    "tostring": (to_str, 1, 1),
    "tolower": (lambda v: to_str(v).lower(), 1, 1),
    "toupper": (lambda v: to_str(v).upper(), 1, 1),
    "toint": (to_int, 1, 1),
    "tolong": (to_int, 1, 1),
    "todouble": (to_float, 1, 1),
    "toreal": (to_float, 1, 1),
    "tobool": (to_bool, 1, 1),
    "toboolean": (to_bool, 1, 1),
    "todynamic": (to_dynamic, 1, 1),
    "parse_json": (to_dynamic, 1, 1),
    "todatetime": (to_datetime, 1, 1),
    "isempty": (is_empty, 1, 1),
    "isnotempty": (lambda v: not is_empty(v), 1, 1),
    "isnull": (lambda v: v is None, 1, 1),
    "isnotnull": (lambda v: v is not None, 1, 1),
    "strcat": (lambda *a: "".join(to_str(x) for x in a), 1, 64),
    "strcat_array": (lambda arr, d: to_str(d).join(to_str(x) for x in arr) if isinstance(arr, list) else "", 2, 2),
    "split": (_split, 2, 3),
    "strlen": (lambda v: len(to_str(v)), 1, 1),
    "substring": (_substring, 2, 3),
    "indexof": (_indexof, 2, 2),
    "replace_string": (lambda s, a, b: to_str(s).replace(to_str(a), to_str(b)) if to_str(a) else to_str(s), 3, 3),
    "extract": (_extract, 3, 3),
    "trim_start": (lambda r, s: _regex("^(?:" + to_str(r) + ")+").sub("", to_str(s)), 2, 2),
    "trim_end": (lambda r, s: _regex("(?:" + to_str(r) + ")+$").sub("", to_str(s)), 2, 2),
    "coalesce": (_coalesce, 1, 64),
    "array_length": (lambda v: len(v) if isinstance(v, list) else None, 1, 1),
    "bag_keys": (lambda v: list(v) if isinstance(v, dict) else None, 1, 1),
    "pack_array": (lambda *a: list(a), 1, 64),
    "not": (_not, 1, 1),
    "gettype": (_gettype, 1, 1),
    "iff": (lambda c, x, y: x if c is True else y, 3, 3),
    "iif": (lambda c, x, y: x if c is True else y, 3, 3),
    "case": (_case, 3, None),
}
CONVERSIONS = frozenset({"tostring", "toint", "tolong", "todouble", "toreal", "tobool", "toboolean",
                         "todynamic", "parse_json", "todatetime"})

# -- aggregations ---------------------------------------------------------------------------------
Aggregate = Callable[[list[list[Any]]], Any]  # one list of argument values per row


def _values(rows: list[list[Any]]) -> list[Any]:
    return [r[0] for r in rows if r and r[0] is not None]


def _distinct(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        k = freeze(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def _extreme(rows: list[list[Any]], sign: int) -> Any:
    best: Any = None
    for v in _values(rows):
        if best is None or sort_compare(v, best) * sign > 0:
            best = v
    return best


def _sum(rows: list[list[Any]]) -> Any:
    nums = [v for v in _values(rows) if is_number(v)]
    return sum(nums) if nums else None


def _avg(rows: list[list[Any]]) -> Any:
    nums = [v for v in _values(rows) if is_number(v)]
    return sum(nums) / len(nums) if nums else None


# name -> (function, min args, max args, column-name prefix)
AGGREGATES: dict[str, tuple[Aggregate, int, int, str]] = {
    "count": (lambda rows: len(rows), 0, 0, "count"),
    "countif": (lambda rows: sum(1 for r in rows if r[0] is True), 1, 1, "countif"),
    "dcount": (lambda rows: len(_distinct(_values(rows))), 1, 2, "dcount"),
    "any": (lambda rows: rows[0][0] if rows else None, 1, 1, "any"),
    "take_any": (lambda rows: rows[0][0] if rows else None, 1, 1, "any"),
    "sum": (_sum, 1, 1, "sum"),
    "min": (lambda rows: _extreme(rows, -1), 1, 1, "min"),
    "max": (lambda rows: _extreme(rows, 1), 1, 1, "max"),
    "avg": (_avg, 1, 1, "avg"),
    "make_list": (lambda rows: _values(rows), 1, 2, "list"),
    "make_set": (lambda rows: _distinct(_values(rows)), 1, 2, "set"),
}

__all__ = ["AGGREGATES", "CONVERSIONS", "SCALARS", "arithmetic", "binary", "equals", "format_datetime",
           "format_timespan", "freeze", "in_list", "is_empty", "is_number", "member", "sort_compare", "to_json",
           "to_str"]
