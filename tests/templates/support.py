"""Shared pieces of the template tests: a scope, a template around one expression, a fake reference()."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azvm.templates import Prepared, Scope, prepare

SUB = "00000000-0000-0000-0000-000000000001"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
RG = "rg"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NOW = datetime(2019, 3, 5, 17, 53, 18, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"


def scope(**changes: Any) -> Scope:
    group = {"id": RG_ID, "name": RG, "type": "Microsoft.Resources/resourceGroups", "location": "eastus",
             "properties": {"provisioningState": "Succeeded"}}
    values: dict[str, Any] = {"subscription_id": SUB, "tenant_id": TENANT, "resource_group": group,
                              "deployment_name": "d1", "now": NOW}
    values.update(changes)
    return Scope(**values)


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def template(resources: list[Any] | None = None, **sections: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": resources or [],
    }
    out.update(sections)
    return out


def no_reference(target: str, api_version: str | None, full: bool) -> dict[str, Any]:
    raise AssertionError(f"reference({target}) was not expected")


class FakeArm:
    """A reference() that answers from a table of resource bodies and records what it was asked."""

    def __init__(self, bodies: dict[str, dict[str, Any]]) -> None:
        self.bodies = {k.lower(): v for k, v in bodies.items()}
        self.calls: list[tuple[str, str | None, bool]] = []

    def __call__(self, target: str, api_version: str | None, full: bool) -> dict[str, Any]:
        self.calls.append((target, api_version, full))
        body = self.bodies[target.lower()]
        return body if full else body.get("properties", {})


def value_of(expression: str, *, reference: Callable[[str, str | None, bool], dict[str, Any]] = no_reference,
             **sections: Any) -> Any:
    """The value of one expression, as an output of an otherwise empty template."""
    prepared = prepare(template(outputs={"o": {"type": "object", "value": expression}}, **sections), {}, scope())
    return prepared.outputs(reference)["o"]["value"]


def ids(prepared: Prepared) -> list[str]:
    return [r.id for r in prepared.resources]


def waves(prepared: Prepared) -> list[list[str]]:
    return [[r.name for r in wave] for wave in prepared.order()]
