"""KQL as Resource Graph reads it: a lark grammar (LALR, contextual lexer) and the tree it builds.

The grammar covers the tabular operators and expressions of inventory and power-state queries
(docs/resource-graph.md lists them). KQL keywords are lower case and case-sensitive, as in Kusto;
table names are matched case-insensitively by the engine, as Resource Graph does. A query that
does not parse is a `ParserFailure` with the line and column of the offending token; an operator
that KQL has but azvm does not run (`parse`, `union`, `mv-apply`, ...) is `InvalidQueryLanguage`
naming it, as Azure answers for the operators Resource Graph does not support.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as a
from .errors import KqlError, unsupported

GRAMMAR = r"""
start: query
query: (table | operator) ("|" operator)*
table: NAME

?operator: where | extend | project | project_away | project_rename | summarize | sort | top | take
         | distinct | mv_expand | join | count

where: ("where" | "filter") expr
extend: "extend" assigns
project: "project" assigns
project_away: "project-away" column_pattern ("," column_pattern)*
column_pattern: NAME STAR?
project_rename: "project-rename" rename ("," rename)*
rename: NAME "=" NAME
summarize: "summarize" assigns? by_clause?
by_clause: "by" assigns
sort: ("order" | "sort") "by" sort_key ("," sort_key)*
sort_key: expr direction? nulls?
!direction: "asc" | "desc"
!nulls: "nulls" ("first" | "last")
top: "top" expr "by" sort_key
take: ("limit" | "take") expr
distinct: "distinct" (STAR | assigns)
mv_expand: "mv-expand" mv_item ("," mv_item)* mv_limit?
mv_item: assign ("to" "typeof" "(" NAME ")")?
mv_limit: "limit" expr
join: "join" join_kind? "(" query ")" "on" expr ("," expr)*
join_kind: "kind" "=" NAME
count: "count"

assigns: assign ("," assign)*
assign: expr                      -> unnamed
      | NAME "=" expr             -> named

?expr: or_expr
?or_expr: and_expr
        | or_expr "or" and_expr   -> or_op
?and_expr: cmp_expr
         | and_expr "and" cmp_expr -> and_op
?cmp_expr: sum
         | sum cmp_op sum                          -> compare
         | sum list_op "(" [expr ("," expr)*] ")"  -> in_list
!cmp_op: "==" | "!=" | "=~" | "!~" | "<" | "<=" | ">" | ">="
       | "contains" | "!contains" | "contains_cs" | "!contains_cs"
       | "has" | "!has" | "has_cs" | "!has_cs"
       | "hasprefix" | "!hasprefix" | "hassuffix" | "!hassuffix"
       | "startswith" | "!startswith" | "startswith_cs" | "!startswith_cs"
       | "endswith" | "!endswith" | "endswith_cs" | "!endswith_cs"
       | "matches" "regex"
!list_op: "in" | "!in" | "in~" | "!in~" | "has_any" | "has_all"
?sum: product
    | sum "+" product             -> add
    | sum "-" product             -> sub
?product: unary
        | product "*" unary       -> mul
        | product "/" unary       -> div
        | product "%" unary       -> mod
?unary: postfix
      | "-" unary                 -> neg
?postfix: atom
        | postfix "." NAME        -> member
        | postfix "[" expr "]"    -> index
?atom: literal
     | NAME                       -> column
     | "[" STRING "]"             -> bracket_column
     | SIDE "." NAME              -> side_column
     | NAME "(" [arg ("," arg)*] ")" -> call
     | "(" expr ")"
?arg: expr
    | STAR                        -> star

?literal: STRING                  -> string
        | NUMBER                  -> number
        | TIMESPAN                -> timespan
        | DATETIME                -> datetime
        | BOOL                    -> boolean
        | "dynamic" "(" json ")"  -> dynamic
?json: STRING                     -> json_string
     | NUMBER                     -> json_number
     | "-" NUMBER                 -> json_negative
     | BOOL                       -> boolean
     | "null"                     -> json_null
     | "[" [json ("," json)*] "]" -> json_array
     | "{" [pair ("," pair)*] "}" -> json_object
pair: STRING ":" json

SIDE: "$left" | "$right"
STAR: "*"
BOOL.2: /(true|false|True|False|TRUE|FALSE)(?![A-Za-z0-9_])/
TIMESPAN.3: /\d+(\.\d+)?(microseconds?|ticks?|ms|d|h|m|s)(?![A-Za-z0-9_])/
DATETIME.3: /datetime\([^)]*\)/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /'(?:[^'\\\n]|\\.)*'/ | /"(?:[^"\\\n]|\\.)*"/ | /@'(?:[^'\n]|'')*'/ | /@"(?:[^"\n]|"")*"/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
COMMENT: /\/\/[^\n]*/
%ignore COMMENT
%ignore /\s+/
"""

# operators of KQL that azvm's grammar does not have: named in the answer rather than a parser error
KQL_OPERATORS = ("as", "consume", "evaluate", "facet", "find", "fork", "getschema", "invoke", "lookup",
                 "make-series", "mv-apply", "parse", "parse-where", "parse-kv", "partition", "print",
                 "project-keep", "project-reorder", "range", "reduce", "render", "sample", "sample-distinct",
                 "scan", "search", "serialize", "top-hitters", "top-nested", "union", "let", "datatable",
                 "externaldata", "mvexpand", "mvapply")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1),
          "ms": timedelta(milliseconds=1), "microsecond": timedelta(microseconds=1),
          "microseconds": timedelta(microseconds=1), "tick": timedelta(microseconds=0.1),
          "ticks": timedelta(microseconds=0.1)}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def string_value(text: str) -> str:
    """The value of a KQL string literal: '...' or "..." with backslash escapes, @'...' verbatim."""
    if text.startswith("@"):
        quote = text[1]
        return text[2:-1].replace(quote * 2, quote)
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def parse_datetime(text: str) -> datetime | None:
    """A datetime as KQL reads one (ISO 8601; naive means UTC), or None."""
    s = text.strip()
    if not s:
        return None
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


@v_args(inline=True)
class _Build(Transformer[Token, Any]):
    """The lark tree to azvm.graph.ast values."""

    def start(self, q: a.Query) -> a.Query:
        return q

    def query(self, *stages: Any) -> a.Query:
        first, *rest = stages
        if isinstance(first, str):
            return a.Query(first, tuple(rest))
        return a.Query(None, tuple(stages))

    def table(self, name: Token) -> str:
        return str(name)

    # -- operators ---------------------------------------------------------------------------------
    def where(self, pred: a.Expr) -> a.Where:
        return a.Where(pred)

    def extend(self, items: tuple[a.Assign, ...]) -> a.Extend:
        return a.Extend(items)

    def project(self, items: tuple[a.Assign, ...]) -> a.Project:
        return a.Project(items)

    def project_away(self, *names: str) -> a.ProjectAway:
        return a.ProjectAway(names)

    def column_pattern(self, name: Token, star: Token | None = None) -> str:
        return str(name) + ("*" if star is not None else "")

    def project_rename(self, *pairs: tuple[str, str]) -> a.ProjectRename:
        return a.ProjectRename(pairs)

    def rename(self, new: Token, old: Token) -> tuple[str, str]:
        return str(new), str(old)

    def summarize(self, *parts: Any) -> a.Summarize:
        aggs: tuple[a.Assign, ...] = ()
        by: tuple[a.Assign, ...] = ()
        for p in parts:
            if isinstance(p, _By):
                by = p.items
            else:
                aggs = p
        return a.Summarize(aggs, by)

    def by_clause(self, items: tuple[a.Assign, ...]) -> _By:
        return _By(items)

    def sort(self, *keys: a.SortKey) -> a.Sort:
        return a.Sort(keys)

    def sort_key(self, expr: a.Expr, *mods: Any) -> a.SortKey:
        desc, nulls_first = True, None
        for m in mods:
            if m == "asc":
                desc = False
            elif m == "desc":
                desc = True
            else:
                nulls_first = m == "nulls first"
        return a.SortKey(expr, desc, nulls_first)

    def direction(self, tok: Token) -> str:
        return str(tok)

    def nulls(self, _nulls: Token, which: Token) -> str:
        return f"nulls {which}"

    def top(self, count: a.Expr, key: a.SortKey) -> a.Top:
        return a.Top(count, key)

    def take(self, count: a.Expr) -> a.Take:
        return a.Take(count)

    def distinct(self, items: Any) -> a.Distinct:
        return a.Distinct(None if isinstance(items, Token) else items)

    def mv_expand(self, *parts: Any) -> a.MvExpand:
        items = tuple(p for p in parts if isinstance(p, a.Assign))
        limits = [p for p in parts if isinstance(p, _Limit)]
        return a.MvExpand(items, limits[0].count if limits else None)

    def mv_item(self, item: a.Assign, _type: Token | None = None) -> a.Assign:
        return item

    def mv_limit(self, count: a.Expr) -> _Limit:
        return _Limit(count)

    def join(self, *parts: Any) -> a.Join:
        kind = "innerunique"
        rest = list(parts)
        if isinstance(rest[0], _Kind):
            kind = rest.pop(0).kind
        right, *on = rest
        return a.Join(kind, right, tuple(on))

    def join_kind(self, name: Token) -> _Kind:
        return _Kind(str(name))

    def count(self) -> a.Count:
        return a.Count()

    def assigns(self, *items: a.Assign) -> tuple[a.Assign, ...]:
        return items

    def unnamed(self, expr: a.Expr) -> a.Assign:
        return a.Assign(None, expr)

    def named(self, name: Token, expr: a.Expr) -> a.Assign:
        return a.Assign(str(name), expr)

    # -- expressions ---------------------------------------------------------------------------------
    def or_op(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("or", left, right)

    def and_op(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("and", left, right)

    def compare(self, left: a.Expr, op: str, right: a.Expr) -> a.Binary:
        return a.Binary(op, left, right)

    def cmp_op(self, *toks: Token) -> str:
        return " ".join(str(t) for t in toks)

    def list_op(self, tok: Token) -> str:
        return str(tok)

    def in_list(self, left: a.Expr, op: str, *items: a.Expr | None) -> a.InList:
        return a.InList(op, left, tuple(i for i in items if i is not None))

    def add(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("+", left, right)

    def sub(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("-", left, right)

    def mul(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("*", left, right)

    def div(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("/", left, right)

    def mod(self, left: a.Expr, right: a.Expr) -> a.Binary:
        return a.Binary("%", left, right)

    def neg(self, expr: a.Expr) -> a.Expr:
        if isinstance(expr, a.Lit) and isinstance(expr.value, (int, float, timedelta)) \
                and not isinstance(expr.value, bool):
            return a.Lit(-expr.value)
        return a.Neg(expr)

    def member(self, obj: a.Expr, name: Token) -> a.Member:
        return a.Member(obj, str(name))

    def index(self, obj: a.Expr, idx: a.Expr) -> a.Index:
        return a.Index(obj, idx)

    def column(self, name: Token) -> a.Col:
        return a.Col(str(name))

    def bracket_column(self, s: Token) -> a.Col:
        return a.Col(string_value(str(s)))

    def side_column(self, side: Token, name: Token) -> a.Side:
        return a.Side(str(side), str(name))

    def call(self, name: Token, *args: a.Expr | None) -> a.Call:
        return a.Call(str(name), tuple(x for x in args if x is not None))

    def star(self, _tok: Token) -> a.Lit:
        return a.Lit("*")

    # -- literals ----------------------------------------------------------------------------------
    def string(self, s: Token) -> a.Lit:
        return a.Lit(string_value(str(s)))

    def number(self, n: Token) -> a.Lit:
        text = str(n)
        return a.Lit(float(text) if any(c in text for c in ".eE") else int(text))

    def timespan(self, t: Token) -> a.Lit:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)", str(t))
        assert m is not None
        return a.Lit(float(m.group(1)) * _UNITS[m.group(2)])

    def datetime(self, t: Token) -> a.Lit:
        inner = str(t)[len("datetime("):-1]
        d = parse_datetime(inner)
        if d is None:
            raise KqlError(f"The datetime literal '{t}' is not valid.", code="ParserFailure", token=str(t),
                           line=t.line or -1, column=t.column or -1)
        return a.Lit(d)

    def boolean(self, t: Token) -> a.Lit:
        return a.Lit(str(t).lower() == "true")

    def dynamic(self, value: a.Lit) -> a.Lit:
        return value

    def json_string(self, s: Token) -> a.Lit:
        return a.Lit(string_value(str(s)))

    def json_number(self, n: Token) -> a.Lit:
        return self.number(n)

    def json_negative(self, n: Token) -> a.Lit:
        return a.Lit(-self.number(n).value)

    def json_null(self) -> a.Lit:
        return a.Lit(None)

    def json_array(self, *items: a.Lit | None) -> a.Lit:
        return a.Lit([i.value for i in items if i is not None])

    def json_object(self, *pairs: tuple[str, Any] | None) -> a.Lit:
        return a.Lit({k: v for p in pairs if p is not None for k, v in [p]})

    def pair(self, key: Token, value: a.Lit) -> tuple[str, Any]:
        return string_value(str(key)), value.value


class _By:
    def __init__(self, items: tuple[a.Assign, ...]) -> None:
        self.items = items


class _Limit:
    def __init__(self, count: a.Expr) -> None:
        self.count = count


class _Kind:
    def __init__(self, kind: str) -> None:
        self.kind = kind


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=False, maybe_placeholders=True)


@lru_cache(maxsize=256)
def parse(text: str) -> a.Query:
    """A query's syntax tree; KqlError (ParserFailure, InvalidQueryLanguage) when it is not KQL that
    azvm runs."""
    if not text.strip():
        raise KqlError("The query is empty.", code="ParserFailure", line=1, column=0)
    try:
        tree = _parser().parse(text)
        result = _Build().transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, KqlError):
            raise e.orig_exc from None
        raise
    except UnexpectedInput as e:
        raise _failure(text, e) from None
    assert isinstance(result, a.Query)
    return result


def _word_at(text: str, pos: int) -> str:
    m = re.match(r"[A-Za-z_][A-Za-z0-9_-]*|\S", text[pos:])
    return m.group(0) if m else ""


def _failure(text: str, e: UnexpectedInput) -> KqlError:
    line, column = getattr(e, "line", -1), getattr(e, "column", -1)
    if isinstance(e, UnexpectedEOF):
        return KqlError("The query ended where more was expected.", code="ParserFailure", token="<EOF>",
                        line=line, column=column)
    pos = e.pos_in_stream if e.pos_in_stream is not None else 0
    word = str(e.token) if isinstance(e, UnexpectedToken) else _word_at(text, pos)
    if isinstance(e, UnexpectedToken) and e.token.type == "$END":
        return KqlError("The query ended where more was expected.", code="ParserFailure", token="<EOF>",
                        line=line, column=column)
    if word in KQL_OPERATORS or _word_at(text, pos) in KQL_OPERATORS:
        return unsupported("The operator", _word_at(text, pos), line, column)
    start = len(text) - len(text.lstrip())
    if _word_at(text, start) in KQL_OPERATORS:  # `let x = ...;`, `union ...`: the statement azvm does not run
        return unsupported("The operator", _word_at(text, start), 1, 0)
    expected = ""
    if isinstance(e, (UnexpectedToken, UnexpectedCharacters)):
        names = sorted(_spell(t) for t in (e.expected if isinstance(e, UnexpectedToken) else e.allowed) or ())
        if names and len(names) <= 12:
            expected = f"; expected one of {', '.join(names)}"
    return KqlError(f"Syntax error at line {line}, position {column}: unexpected '{word}'{expected}.",
                    code="ParserFailure", token=word, line=line, column=column)


def _spell(terminal: str) -> str:
    """A terminal's name as a reader knows it (the keyword, the symbol)."""
    try:
        pattern = _parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    if pattern.type == "str":
        return json.dumps(pattern.value)
    return terminal.lower()


__all__ = ["GRAMMAR", "KQL_OPERATORS", "parse", "parse_datetime", "string_value"]
