"""Hypothesis strategies shared by the tests: any JSON document, small."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON_LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=12))
JSON: st.SearchStrategy[Any] = st.recursive(
    JSON_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)


def either(*good: Any) -> st.SearchStrategy[Any]:
    """One of the `good` values, or any JSON at all."""
    return st.one_of(st.sampled_from(good), JSON)
