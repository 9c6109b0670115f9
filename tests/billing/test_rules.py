from __future__ import annotations

import json
from pathlib import Path

import pytest

from azvm.billing import (
    BILLING_STATES,
    BUILTIN_RULE_SETS,
    DEFAULT_RULE_SET,
    RuleSetError,
    load_rules,
    rule_set,
)

# SPEC.md section 4, plus azvm's choice for `unknown` (billed under every set: still allocated)
EXPECTED_BILLED = {
    "docs-2018": {"running", "stopping", "unknown"},
    "docs-2021": {"running", "stopping", "stopped", "unknown"},
    "azure-2023": {"starting", "running", "stopping", "stopped", "unknown"},
}


@pytest.mark.parametrize("name", BUILTIN_RULE_SETS)
def test_builtin_rule_sets_match_the_spec_table(name: str) -> None:
    rules = rule_set(name)
    assert rules.name == name
    assert rules.billed_states == EXPECTED_BILLED[name]
    assert set(rules.states) == set(BILLING_STATES)
    assert rules.minimum_billed_seconds == 0
    assert rules.source
    assert all(r.reason for r in rules.states.values())


def test_default_is_docs_2021() -> None:
    assert DEFAULT_RULE_SET == "docs-2021"
    assert rule_set() is rule_set("docs-2021")


def test_never_billed_states_under_every_set() -> None:
    for name in BUILTIN_RULE_SETS:
        for state in ("creating", "deallocating", "deallocated", "hibernated", "deleted"):
            assert not rule_set(name).billed(state), (name, state)


def test_unknown_name_is_refused() -> None:
    with pytest.raises(RuleSetError, match="docs-2018"):
        rule_set("docs-1999")


def _doc() -> dict[str, object]:
    return json.loads((Path(__file__).parents[2] / "src/azvm/data/rules-docs-2021.json").read_text())


def test_load_a_user_rule_set(tmp_path: Path) -> None:
    doc = _doc()
    doc["name"] = "mine"
    doc["minimum_billed_seconds"] = 60
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(doc))
    rules = load_rules(p)
    assert rules.name == "mine" and rules.minimum_billed_seconds == 60
    assert rules.billed("stopped")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["states"].pop("stopped"), "states.stopped"),
        (lambda d: d["states"]["running"].update(billed="yes"), "states.running.billed"),
        (lambda d: d["states"].update(sleeping={"billed": False}), "states.sleeping"),
        (lambda d: d.update(minimum_billed_seconds=-1), "minimum_billed_seconds"),
        (lambda d: d.update(minimum_billed_seconds=True), "minimum_billed_seconds"),
        (lambda d: d.pop("name"), "name"),
        (lambda d: d.pop("source"), "source"),
        (lambda d: d.update(extra=1), "extra"),
        (lambda d: d["states"]["deleted"].update(billed=True), "states.deleted.billed"),
    ],
)
def test_invalid_rule_sets_name_the_field(tmp_path: Path, mutate: object, field: str) -> None:
    doc = _doc()
    mutate(doc)  # type: ignore[operator]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(RuleSetError) as info:
        load_rules(p)
    assert info.value.field == field
    assert f'"{field}"' in str(info.value) and "bad.json" in str(info.value)


def test_invalid_json_rule_set(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text("{nope")
    with pytest.raises(RuleSetError, match="not valid JSON"):
        load_rules(p)
