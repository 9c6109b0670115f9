"""Template language expressions: the grammar (lark), the syntax tree and its evaluation.

A JSON string that starts with `[` and ends with `]` is an expression; `[[` at the start escapes a literal `[`
(MicrosoftDocs azure-docs, articles/azure-resource-manager/templates/template-expressions.md, "Escape characters").
Inside: function calls (names case-insensitive), single-quoted strings with `''` for a quote, integers, and on any
value `.property` and `[index]` access; property names are matched case-insensitively, as ARM does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedEOF, UnexpectedInput, VisitError

_GRAMMAR = r"""
?start: expr
?expr: atom
     | expr "." NAME          -> member
     | expr "[" expr "]"      -> index
?atom: NAME "(" [expr ("," expr)*] ")"  -> call
     | STRING                 -> string
     | INT                    -> integer
INT: /-?[0-9]+/
STRING: /'(?:[^']|'')*'/
NAME: /[A-Za-z_$][A-Za-z0-9_$.]*(?=\s*\()|[A-Za-z_$][A-Za-z0-9_$]*/
%ignore /[ \t\r\n]+/
"""


class ExpressionError(Exception):
    """An expression that cannot be read or evaluated; the template layer adds where it stands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int


@dataclass(frozen=True, slots=True)
class Call:
    name: str          # as written
    args: tuple[Node, ...]

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Member:
    target: Node
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    index: Node


Node = Literal | Call | Member | Index


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    def call(self, name: Token, *args: Node | None) -> Node:
        return Call(str(name), tuple(a for a in args if a is not None))

    def string(self, token: Token) -> Node:
        return Literal(str(token)[1:-1].replace("''", "'"))

    def integer(self, token: Token) -> Node:
        return Literal(int(str(token)))

    def member(self, target: Node, name: Token) -> Node:
        return Member(target, str(name))

    def index(self, target: Node, index: Node) -> Node:
        return Index(target, index)


_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=True)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The syntax tree of an expression's inside (without the brackets)."""
    try:
        tree = _PARSER.parse(text)
        return _ToTree().transform(tree)
    except UnexpectedEOF:
        raise ExpressionError(f"The language expression '{text}' is not valid: it ends before it is complete.") \
            from None
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        if token is not None and getattr(token, "type", "") == "$END":
            raise ExpressionError(f"The language expression '{text}' is not valid: it ends before it is "
                                  "complete.") from None
        column = getattr(exc, "column", None)
        at = f" at position '{column}'" if isinstance(column, int) and column > 0 else ""
        raise ExpressionError(f"The language expression '{text}' is not valid: unexpected text{at}.") from None
    except (VisitError, LarkError):
        raise ExpressionError(f"The language expression '{text}' is not valid.") from None


def expression_of(value: str) -> str | None:
    """The inside of `value` if it is an expression, else None (a literal, `[[` escapes included)."""
    if len(value) >= 2 and value[0] == "[" and value[-1] == "]" and not value.startswith("[["):
        return value[1:-1]
    return None


def literal_of(value: str) -> str:
    """A string that is not an expression, with the `[[` escape undone."""
    if value.startswith("[[") and value.endswith("]"):
        return value[1:]
    return value


class Context(Protocol):
    """What evaluation needs from where the expression stands (see azvm.templates.template)."""

    def call(self, name: str, args: Sequence[Any], node: Call) -> Any: ...



def evaluate(node: Node, ctx: Context) -> Any:
    """The value of an expression tree. `if` evaluates only the branch it takes (template-functions-logical.md)."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Call):
        if node.key == "if":
            if len(node.args) != 3:
                raise ExpressionError("The template function 'if' expects exactly three parameters: the condition, "
                                      "the true value and the false value.")
            condition = evaluate(node.args[0], ctx)
            if not isinstance(condition, bool):
                raise ExpressionError("The template function 'if' expects its first parameter to be of type "
                                      f"'Boolean'. The provided value is of type '{type_name(condition)}'.")
            return evaluate(node.args[1] if condition else node.args[2], ctx)
        return ctx.call(node.key, [evaluate(a, ctx) for a in node.args], node)
    if isinstance(node, Member):
        return member(evaluate(node.target, ctx), node.name)
    return index(evaluate(node.target, ctx), evaluate(node.index, ctx))


def member(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        if name in value:
            return value[name]
        folded = name.lower()
        for key, item in value.items():
            if key.lower() == folded:
                return item
        available = ", ".join(value)
        raise ExpressionError(f"The language expression property '{name}' doesn't exist, available properties are "
                              f"'{available}'.")
    raise ExpressionError(f"The language expression property '{name}' can't be evaluated: the value is of type "
                          f"'{type_name(value)}', not 'Object'.")


def index(value: Any, key: Any) -> Any:
    if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
        if 0 <= key < len(value):
            return value[key]
        raise ExpressionError(f"The language expression property array index '{key}' is out of bounds.")
    if isinstance(value, dict) and isinstance(key, str):
        return member(value, key)
    raise ExpressionError(f"The language expression can't index a value of type '{type_name(value)}' with a "
                          f"value of type '{type_name(key)}'.")


def type_name(value: Any) -> str:
    """ARM's names of JSON types in its messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def walk(node: Node) -> list[Node]:
    """Every node of a tree, parents first."""
    out: list[Node] = [node]
    if isinstance(node, Call):
        for arg in node.args:
            out.extend(walk(arg))
    elif isinstance(node, Member):
        out.extend(walk(node.target))
    elif isinstance(node, Index):
        out.extend(walk(node.target))
        out.extend(walk(node.index))
    return out
