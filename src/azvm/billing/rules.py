"""Billing rule sets: which power states are billed, as data.

The three built-in rule sets live in ``azvm/data/rules-<name>.json``; a user can load their own
from a JSON file of the same shape (see docs/billing.md). Every rule set must say, for every
state of `BILLING_STATES`, whether it is billed and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .model import BILLING_STATES, BillingError

__all__ = [
    "BUILTIN_RULE_SETS",
    "DEFAULT_RULE_SET",
    "RuleSet",
    "RuleSetError",
    "StateRule",
    "load_rules",
    "parse_rules",
    "rule_set",
]

BUILTIN_RULE_SETS: tuple[str, ...] = ("docs-2018", "docs-2021", "azure-2023")
DEFAULT_RULE_SET = "docs-2021"


class RuleSetError(BillingError):
    """A rule set document is invalid; `field` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str, source: str = "") -> None:
        self.field = field
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f'{where}rule set field "{field}": {message}')


@dataclass(frozen=True, slots=True)
class StateRule:
    billed: bool
    reason: str


@dataclass(frozen=True)
class RuleSet:
    name: str
    title: str
    source: str
    states: Mapping[str, StateRule]
    minimum_billed_seconds: int = 0

    def billed(self, state: str) -> bool:
        return self.states[state].billed

    def rule(self, state: str) -> StateRule:
        return self.states[state]

    @property
    def billed_states(self) -> frozenset[str]:
        return frozenset(s for s, r in self.states.items() if r.billed)


def _require(doc: Mapping[str, Any], key: str, typ: type, what: str, src: str) -> Any:
    if key not in doc:
        raise RuleSetError(key, f"missing; expected {what}", src)
    value = doc[key]
    # bool is an int: refuse it where a number is wanted
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise RuleSetError(key, f"expected {what}, got {json.dumps(value)}", src)
    return value


def parse_rules(doc: Any, source: str = "") -> RuleSet:
    """Validate a decoded rule set document and build the RuleSet."""
    if not isinstance(doc, dict):
        raise RuleSetError("(document)", "expected a JSON object", source)
    known = {"name", "title", "source", "minimum_billed_seconds", "states"}
    for key in doc:
        if key not in known:
            raise RuleSetError(key, f"unknown field; expected one of {', '.join(sorted(known))}", source)
    name = _require(doc, "name", str, "a non-empty string", source)
    if not name.strip():
        raise RuleSetError("name", "expected a non-empty string", source)
    title = doc.get("title", name)
    if not isinstance(title, str):
        raise RuleSetError("title", f"expected a string, got {json.dumps(title)}", source)
    src = _require(doc, "source", str, "a string naming where the rules come from", source)
    minimum = doc.get("minimum_billed_seconds", 0)
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
        raise RuleSetError(
            "minimum_billed_seconds", f"expected an integer >= 0, got {json.dumps(minimum)}", source
        )
    states_doc = _require(doc, "states", dict, "an object mapping each state to its rule", source)
    for state in states_doc:
        if state not in BILLING_STATES:
            raise RuleSetError(
                f"states.{state}", f"unknown state; expected one of {', '.join(BILLING_STATES)}", source
            )
    states: dict[str, StateRule] = {}
    for state in BILLING_STATES:
        field = f"states.{state}"
        if state not in states_doc:
            raise RuleSetError(field, "missing; every state must say whether it is billed", source)
        entry = states_doc[state]
        if not isinstance(entry, dict):
            raise RuleSetError(field, 'expected an object {"billed": true|false, "reason": "..."}', source)
        billed = entry.get("billed")
        if not isinstance(billed, bool):
            raise RuleSetError(f"{field}.billed", f"expected true or false, got {json.dumps(billed)}", source)
        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise RuleSetError(f"{field}.reason", f"expected a string, got {json.dumps(reason)}", source)
        extra = set(entry) - {"billed", "reason"}
        if extra:
            bad = f"{field}.{sorted(extra)[0]}"
            raise RuleSetError(bad, "unknown field; expected billed, reason", source)
        states[state] = StateRule(billed, reason or ("billed" if billed else "not billed"))
    if states["deleted"].billed:
        raise RuleSetError("states.deleted.billed", "expected false: a deleted VM does not exist", source)
    return RuleSet(name, title, src, MappingProxyType(states), minimum)


def load_rules(path: str | Path) -> RuleSet:
    """Load and validate a rule set from a JSON file."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RuleSetError("(document)", f"not valid JSON ({exc})", str(p)) from exc
    return parse_rules(doc, str(p))


_cache: dict[str, RuleSet] = {}


def rule_set(name: str = DEFAULT_RULE_SET) -> RuleSet:
    """A built-in rule set by name (``docs-2018``, ``docs-2021``, ``azure-2023``)."""
    if name not in BUILTIN_RULE_SETS:
        expected = ", ".join(BUILTIN_RULE_SETS)
        raise RuleSetError("name", f"unknown rule set {name!r}; expected one of {expected}")
    if name not in _cache:
        text = (resources.files("azvm") / "data" / f"rules-{name}.json").read_text(encoding="utf-8")
        _cache[name] = parse_rules(json.loads(text), f"rules-{name}.json")
    return _cache[name]
