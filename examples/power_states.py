"""The documents' advice as code: read every VM's power state the way "States and billing of Azure
Virtual Machines" recommends, with nothing but the official SDK.

1. List all VMs with their status only (`GET /subscriptions/{s}/providers/Microsoft.Compute/
   virtualMachines?statusOnly=true`, the SDK's `list_all(status_only="true")`): one paged call for
   the whole subscription, the cheapest way to read power states at scale.
2. "In rare situations the power state may not be available" in that list (an intermittent problem
   in its retrieval): list again, up to `retries` times, for the VMs still without one.
3. Still missing: ask Azure Resource Graph, where every VM row carries
   `properties.extended.instanceView.powerState`.

Each VM's answer says which path gave it. Written for Azure and run unchanged against azvm (the test,
tests/test_power_states_recipe.py, injects the missing power states with azvm's faults).

    python examples/power_states.py <subscription-id>        # DefaultAzureCredential, against Azure
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

GRAPH_QUERY = ("Resources | where type =~ 'microsoft.compute/virtualmachines' and id in~ ({ids})"
               " | project id, powerState = tostring(properties.extended.instanceView.powerState.code)")


@dataclass(frozen=True)
class PowerState:
    id: str
    name: str
    power_state: str | None  # "PowerState/running", ... or None when no path could tell
    source: str  # "list", "list retry 1", ..., "resource graph", "none"


def _power(vm: Any) -> str | None:
    view = vm.instance_view
    for s in (view.statuses or []) if view is not None else []:
        if s.code and s.code.startswith("PowerState/"):
            return str(s.code)
    return None


def read_power_states(compute: Any, graph: Any, subscription_id: str, *, retries: int = 2) -> list[PowerState]:
    """Every VM of the subscription with its power state and the path that gave it."""
    found: dict[str, PowerState] = {}
    missing: dict[str, str] = {}  # id (lower case) -> name
    for attempt in range(retries + 1):
        source = "list" if attempt == 0 else f"list retry {attempt}"
        for vm in compute.virtual_machines.list_all(status_only="true"):
            key = vm.id.lower()
            if key in found or (attempt > 0 and key not in missing):
                continue
            code = _power(vm)
            if code is None:
                missing[key] = vm.name
            else:
                found[key] = PowerState(vm.id, vm.name, code, source)
                missing.pop(key, None)
        if not missing:
            break
    if missing:
        from azure.mgmt.resourcegraph.models import QueryRequest

        ids = ", ".join("'" + k.replace("'", "\\'") + "'" for k in missing)
        answer = graph.resources(QueryRequest(subscriptions=[subscription_id], query=GRAPH_QUERY.format(ids=ids)))
        for row in answer.data:
            key = str(row["id"]).lower()
            if key in missing and row.get("powerState"):
                found[key] = PowerState(row["id"], missing.pop(key), row["powerState"], "resource graph")
    for key, name in missing.items():
        found[key] = PowerState(key, name, None, "none")
    return sorted(found.values(), key=lambda p: p.id.lower())


def main(subscription_id: str) -> None:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resourcegraph import ResourceGraphClient

    credential = DefaultAzureCredential()
    states = read_power_states(ComputeManagementClient(credential, subscription_id), ResourceGraphClient(credential),
                               subscription_id)
    for p in states:
        print(f"{p.name:30} {p.power_state or '?':28} {p.source}")


if __name__ == "__main__":
    main(sys.argv[1])
