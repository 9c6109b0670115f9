"""Microsoft.Compute/availabilitySets: a plain resource type (the engine serves its routes).

Shapes as in azure-rest-api-specs `availabilitySet.json`: `platformFaultDomainCount` (1-3, default 2),
`platformUpdateDomainCount` (1-20, default 5), `sku.name` Aligned (managed disks, the default) or
Classic; `virtualMachines` lists the VMs of its group whose `availabilitySet.id` names it, computed when
read. No etag in the body. Deleting a set that still holds VMs is refused.
"""

from __future__ import annotations

from typing import Any

from ...domain.errors import InvalidParameter, OperationNotAllowed
from ...domain.resource_id import ResourceId
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType

TYPE = "Microsoft.Compute/availabilitySets"


def _count(props: dict[str, Any], key: str, default: int, top: int) -> int:
    v = props.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= top:
        raise InvalidParameter(f"The value of parameter '{key}' must be an integer from 1 to {top}.",
                               target=f"properties.{key}")
    return v


def normalize(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    out: dict[str, Any] = {"platformUpdateDomainCount": _count(props, "platformUpdateDomainCount", 5, 20),
                           "platformFaultDomainCount": _count(props, "platformFaultDomainCount", 2, 3)}
    if old is not None:
        before = old.body.get("properties", {})
        for k in ("platformUpdateDomainCount", "platformFaultDomainCount"):
            if out[k] != before.get(k) and members(ctx, old):
                raise OperationNotAllowed(f"Changing property '{k}' is not allowed on an availability set that"
                                          " holds virtual machines.", code="PropertyChangeNotAllowed",
                                          target=f"properties.{k}")
    ppg = props.get("proximityPlacementGroup")
    if ppg is not None:
        out["proximityPlacementGroup"] = ppg
    sku = stored.get("sku") or {"name": "Aligned"}
    if not isinstance(sku, dict) or str(sku.get("name", "")).lower() not in ("aligned", "classic"):
        raise InvalidParameter("The value of parameter 'sku.name' must be 'Aligned' or 'Classic'.", target="sku.name")
    stored["sku"] = {"name": "Aligned" if str(sku["name"]).lower() == "aligned" else "Classic"}
    stored["properties"] = out
    return stored


def members(ctx: Resources, row: ResourceRow) -> list[str]:
    """The live VMs of the set's group that name it."""
    out: list[str] = []
    after: str | None = None
    while True:
        vms = ctx.store.list_vms(sub=row.sub, rg=row.rg, location=None, live_at_us=ctx.now(), after_key=after,
                                 limit=500)
        for vm in vms:
            ref = (vm.model.get("properties", {}).get("availabilitySet") or {}).get("id")
            if isinstance(ref, str) and ref.lower() == row.key and ctx.vm_power(str(vm.model.get("id"))):
                out.append(str(vm.model.get("id")))
        if len(vms) < 500:
            return out
        after = vms[-1].key


def render(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    body = ctx.base_body(row, now)
    body["properties"].pop("provisioningState", None)  # availability sets show none
    body["properties"]["virtualMachines"] = [{"id": i} for i in members(ctx, row)]
    body["properties"]["statuses"] = []
    return body


def check_delete(ctx: Resources, row: ResourceRow) -> None:
    if members(ctx, row):
        raise OperationNotAllowed(f"Availability Set '{row.name}' cannot be deleted. Before deleting an Availability"
                                  " Set please ensure that it does not contain any VM.")


AVAILABILITY_SETS = ResourceType(TYPE, "compute", normalize, render=render, check_delete=check_delete,
                                 etag_in_body=False, put_status=(200, 200))

__all__ = ["AVAILABILITY_SETS"]
