"""The documents' advice as code: read every VM's power state the way "States and billing of Azure
Virtual Machines" recommends, with nothing but the official SDK.

1. List all VMs with their status only (`GET /subscriptions/{s}/providers/Microsoft.Compute/
   virtualMachines?statusOnly=true`, the SDK's `list_all(status_only="true")`): one paged call for
   the whole subscription, the cheapest way to read power states at scale.
2. "In rare situations the power state may not be available" in that list (an intermittent problem
   in its retrieval): list again, up to `retries` times, for the VMs still without one.
3. Still missing: ask Azure Resource Graph, where every VM row carries
   `properties.extended.instanceView.powerState`.

Each VM's answer says which path gave it (`source`). Source: Microsoft's *States and billing status
of Azure Virtual Machines*, section "Retrieve power state" (`shared/seeds/004`): "we recommend
retrying using the same API or using Azure Resource Health or Azure Resource Graph".

`examples/power_states.py` runs this against a subscription; `azvm audit` builds on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GRAPH_CHUNK", "GRAPH_QUERY", "PowerState", "power_code", "read_power_states", "status_codes"]

GRAPH_QUERY = ("Resources | where type =~ 'microsoft.compute/virtualmachines' and id in~ ({ids})"
               " | project id, powerState = tostring(properties.extended.instanceView.powerState.code)")
GRAPH_CHUNK = 200  # ids per Resource Graph query (a query's text is limited; its answer pages at 1,000 rows)


@dataclass(frozen=True)
class PowerState:
    id: str
    name: str
    power_state: str | None  # "PowerState/running", ... or None when no path could tell
    source: str  # "list", "list retry 1", ..., "resource graph", "none"
    # the VM as the list showed it (the SDK's model: size, disks, NICs, tags), for callers that need more
    vm: Any = field(default=None, compare=False, repr=False)


def status_codes(vm: Any) -> list[str]:
    """The status codes of a VM model's instance view (ProvisioningState/..., PowerState/...)."""
    view = getattr(vm, "instance_view", None)
    return [str(s.code) for s in (view.statuses or []) if s.code] if view is not None else []


def power_code(vm: Any) -> str | None:
    """The `PowerState/...` code of a VM model's instance view, or None when it is missing."""
    return next((c for c in status_codes(vm) if c.startswith("PowerState/")), None)


def _quoted(ids: Iterable[str]) -> str:
    return ", ".join("'" + k.replace("\\", "\\\\").replace("'", "\\'") + "'" for k in ids)


def read_power_states(compute: Any, graph: Any, subscription_id: str, *, retries: int = 2) -> list[PowerState]:
    """Every VM of the subscription with its power state and the path that gave it, sorted by id."""
    found: dict[str, PowerState] = {}
    missing: dict[str, Any] = {}  # id (lower case) -> the VM as listed
    for attempt in range(retries + 1):
        source = "list" if attempt == 0 else f"list retry {attempt}"
        for vm in compute.virtual_machines.list_all(status_only="true"):
            key = vm.id.lower()
            if key in found or (attempt > 0 and key not in missing):
                continue
            code = power_code(vm)
            if code is None:
                missing[key] = vm
            else:
                found[key] = PowerState(vm.id, vm.name, code, source, vm)
                missing.pop(key, None)
        if not missing:
            break
    if missing:
        from azure.mgmt.resourcegraph.models import QueryRequest

        keys = list(missing)
        for i in range(0, len(keys), GRAPH_CHUNK):
            query = GRAPH_QUERY.format(ids=_quoted(keys[i:i + GRAPH_CHUNK]))
            answer = graph.resources(QueryRequest(subscriptions=[subscription_id], query=query))
            for row in answer.data:
                key = str(row["id"]).lower()
                if key in missing and row.get("powerState"):
                    vm = missing.pop(key)
                    found[key] = PowerState(vm.id, vm.name, row["powerState"], "resource graph", vm)
    for key, vm in missing.items():
        found[key] = PowerState(vm.id, vm.name, None, "none", vm)
    return sorted(found.values(), key=lambda p: p.id.lower())
