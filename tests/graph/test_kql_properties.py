"""Properties of the KQL engine: a `where` built from random clauses keeps exactly the rows that the
same filter, computed directly in Python, keeps; counts, orders and pages agree with the rows; and
no text, however broken, gets anything but a KqlError out of the parser."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from azvm.graph import KqlError, Table, parse, run

NOW = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ["web", "Web", "db", "DB1", "eastus", "westus", "EastUS", "running", "stopped", "prod", "dev", "a", ""]
POWER = ["running", "stopped", "deallocated", "starting"]


@st.composite
def rows(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        tags = draw(st.one_of(st.none(), st.fixed_dictionaries({"env": st.sampled_from(WORDS)})))
        out.append({"id": f"/r/{i}", "name": draw(st.sampled_from(WORDS)) + str(i),
                    "location": draw(st.sampled_from(["eastus", "westus", "EastUS"])), "tags": tags,
                    "properties": {"extended": {"instanceView": {"powerState": {
                        "code": "PowerState/" + draw(st.sampled_from(POWER))}}}}})
    return out


# a field: (KQL expression, its value in a row; never null, so that the logic is two-valued)
FIELDS = {
    "name": ("name", lambda r: r["name"]),
    "location": ("location", lambda r: r["location"]),
    "power": ("tostring(properties.extended.instanceView.powerState.code)",
              lambda r: r["properties"]["extended"]["instanceView"]["powerState"]["code"]),
    "env": ("tostring(tags.env)", lambda r: (r["tags"] or {}).get("env", "")),
}
OPS: dict[str, Any] = {
    "==": lambda v, x: v == x, "!=": lambda v, x: v != x,
    "=~": lambda v, x: v.lower() == x.lower(), "!~": lambda v, x: v.lower() != x.lower(),
    "contains": lambda v, x: x.lower() in v.lower(), "!contains": lambda v, x: x.lower() not in v.lower(),
    "contains_cs": lambda v, x: x in v,
    "startswith": lambda v, x: v.lower().startswith(x.lower()), "endswith": lambda v, x: v.lower().endswith(x.lower()),
    "!startswith": lambda v, x: not v.lower().startswith(x.lower()),
}


def quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


@st.composite
def clause(draw: Any) -> tuple[str, Any]:
    field, (expr, get) = draw(st.sampled_from(sorted(FIELDS.items())))
    literal = draw(st.sampled_from(WORDS + ["PowerState/running", "PowerState/STOPPED", "it's"]))
    if draw(st.booleans()):
        op = draw(st.sampled_from(sorted(OPS)))
        test = OPS[op]
        return f"{expr} {op} {quote(literal)}", lambda r: bool(test(get(r), literal))
    many = draw(st.lists(st.sampled_from(WORDS + ["PowerState/running"]), min_size=1, max_size=3))
    op = draw(st.sampled_from(["in", "!in", "in~", "!in~"]))
    ci = op.endswith("~")

    def test(r: dict[str, Any]) -> bool:
        v = get(r)
        found = any((v.lower() == m.lower()) if ci else v == m for m in many)
        return found != op.startswith("!")
    return f"{expr} {op} ({', '.join(quote(m) for m in many)})", test


def filters() -> Any:
    return st.recursive(
        clause(),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: (f"({p[0][0]}) and ({p[1][0]})",
                                                   lambda r, p=p: p[0][1](r) and p[1][1](r))),
            st.tuples(inner, inner).map(lambda p: (f"({p[0][0]}) or ({p[1][0]})",
                                                   lambda r, p=p: p[0][1](r) or p[1][1](r))),
            inner.map(lambda c: (f"not({c[0]})", lambda r, c=c: not c[1](r)))),
        max_leaves=6)


def table(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resources": lambda: Table(["id", "name", "location", "tags", "properties"], data)}


@settings(max_examples=300, deadline=None)
@given(rows(), filters())
def test_where_keeps_what_the_filter_keeps(data: list[dict[str, Any]], flt: tuple[str, Any]) -> None:
    text, keep = flt
    got = run(f"Resources | where {text} | project id", table(data), now=NOW).rows
    assert [r["id"] for r in got] == [r["id"] for r in data if keep(r)], text


@settings(max_examples=150, deadline=None)
@given(rows(), filters(), st.integers(0, 15))
def test_counts_orders_and_takes_agree_with_the_rows(data: list[dict[str, Any]], flt: tuple[str, Any],
                                                     n: int) -> None:
    text, keep = flt
    kept = [r for r in data if keep(r)]
    tables = table(data)
    counted = run(f"Resources | where {text} | summarize count() by location", tables, now=NOW).rows
    assert {r["location"]: r["count_"] for r in counted} == Counter(r["location"] for r in kept)
    ordered = run(f"Resources | where {text} | order by name asc, id asc | take {n} | project name",
                  tables, now=NOW).rows
    assert [r["name"] for r in ordered] == [r["name"] for r in sorted(kept, key=lambda r: (r["name"], r["id"]))][:n]
    assert run(f"Resources | where {text} | count", tables, now=NOW).rows == [{"Count": len(kept)}]
    distinct = run(f"Resources | where {text} | distinct location", tables, now=NOW).rows
    assert [r["location"] for r in distinct] == list(dict.fromkeys(r["location"] for r in kept))


TOKENS = ["Resources", "|", "where", "project", "summarize", "count()", "by", "name", "==", "=~", "'x'", "(", ")",
          "[", "]", ".", ",", "and", "or", "join", "kind=leftouter", "on", "$left.id", "$right.id", "dynamic(",
          "{", "}", "1", "-", "order", "asc", "extend", "=", "mv-expand", "take", "parse", "'", '"', "@", "datetime(",
          "1d", "in~", "!has", "tostring(", "top", "*", "project-away", "//", "\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=14), st.text(max_size=6))
def test_broken_text_is_always_a_kql_error(tokens: list[str], noise: str) -> None:
    text = " ".join(tokens) + noise
    try:
        run(parse(text), table([]), now=NOW)
    except KqlError as e:
        body = e.body()["error"]
        assert body["code"] == "BadRequest" and body["details"][0]["code"] == "InvalidQuery"
