"""Microsoft.Compute/disks: managed disks, a plain resource type (the engine serves its routes).

Shapes as in azure-rest-api-specs `Microsoft.Compute/DiskRP/stable/*/disk.json` and its examples
(no `etag` in the body). `managedBy` is the VM a disk is attached to (written by the VM service, never
by a PUT); `diskState` is computed when read: Unattached, Attached, or Reserved while its VM is
deallocated ("the disk is attached to a stopped-deallocated VM", DiskState in the spec). The api-version
family is "disks" (2017-03-30 on: old tools delete a VM's OS disk by name through it, CLIENTS.md).
"""

from __future__ import annotations

import copy
from typing import Any

from ...domain.errors import BadRequest, InvalidParameter, OperationNotAllowed
from ...domain.resource_id import ResourceId
from ...service.neighbours import DISK_TYPE, GIB, attached_vm, disk_model, performance, sku_of
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType

CREATE_OPTIONS = ("Empty", "FromImage", "Copy", "Import", "Upload", "Restore")


def normalize(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    sku = stored.get("sku")
    if sku is not None and not isinstance(sku, dict):
        raise InvalidParameter("The value of parameter 'sku' must be an object.", target="sku")
    old_props = old.body.get("properties", {}) if old is not None else {}
    if sku and sku.get("name"):
        sku_name = sku["name"]
    elif old is not None:
        sku_name = (old.body.get("sku") or {}).get("name") or "Standard_LRS"
    else:
        sku_name = "Standard_LRS"
    size = props.get("diskSizeGB")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 65536):
        raise InvalidParameter("The value of parameter 'diskSizeGB' must be an integer from 1 to 65536.",
                               target="properties.diskSizeGB")
    if old is None:
        creation = props.get("creationData")
        if not isinstance(creation, dict):
            raise InvalidParameter("Required parameter 'creationData' is missing (null).",
                                   target="properties.creationData")
        option = creation.get("createOption")
        match = next((o for o in CREATE_OPTIONS if isinstance(option, str) and o.lower() == option.lower()), None)
        if match is None:
            raise InvalidParameter(f"The value '{option}' of parameter 'creationData.createOption' is not allowed."
                                   f" Allowed values are '{', '.join(CREATE_OPTIONS)}'.",
                                   target="properties.creationData.createOption")
        if match == "Empty" and size is None:
            raise InvalidParameter("Required parameter 'diskSizeGB' is missing (null).", target="properties.diskSizeGB")
        os_type = props.get("osType")
        if os_type is not None and os_type not in ("Linux", "Windows"):
            raise InvalidParameter(f"The value '{os_type}' of parameter 'osType' is not allowed. Allowed values are"
                                   " 'Windows', 'Linux'.", target="properties.osType")
        model = disk_model(rid, location=stored["location"], sku=str(sku_name), size_gb=int(size or 32),
                           creation={**creation, "createOption": match}, now_us=ctx.now(), unique_id=ctx.ids.uuid(),
                           os_type=os_type, hyper_v=props.get("hyperVGeneration"), tags=stored.get("tags"),
                           zones=stored.get("zones"))
        return model
    # a replace: what it was made from, when and by whom stays; the size only grows
    model = copy.deepcopy(old.body)
    model.pop("tags", None)
    if stored.get("tags"):
        model["tags"] = stored["tags"]
    now_size = int(old_props.get("diskSizeGB") or 0)
    if size is not None and size < now_size:
        raise BadRequest(f"Disk '{rid.name}' cannot shrink from {now_size} GB to {size} GB: a disk can only grow.",
                         target="properties.diskSizeGB")
    new_size = int(size or now_size)
    model["sku"] = sku_of(sku_name)
    mp = model["properties"]
    mp["diskSizeGB"] = new_size
    mp["diskSizeBytes"] = new_size * GIB
    mp.pop("tier", None)
    mp.update(performance(model["sku"]["name"], new_size))
    for k in ("networkAccessPolicy", "publicNetworkAccess", "burstingEnabled"):
        if props.get(k) is not None:
            mp[k] = props[k]
    return model


def render(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    body = ctx.base_body(row, now)
    vm = row.body.get("managedBy")
    power = ctx.vm_power(str(vm)) if vm else None  # the VM's power state, read once
    if power is None:  # no VM, or it is gone
        body.pop("managedBy", None)
        state = "Unattached"
    else:
        state = "Reserved" if power == "deallocated" else "Attached"
    props = body["properties"]
    shown: dict[str, Any] = {}
    for k, v in props.items():
        shown[k] = v
        if k == "provisioningState":
            shown["diskState"] = state
    body["properties"] = shown
    return body


def check_delete(ctx: Resources, row: ResourceRow) -> None:
    vm = attached_vm(ctx, row)
    if vm is not None:
        raise OperationNotAllowed(f"Disk {row.name} is attached to VM {vm}.")


DISKS = ResourceType(DISK_TYPE, "disks", normalize, render=render, check_delete=check_delete, etag_in_body=False,
                     top_level=("sku", "zones", "extendedLocation"), put_status=(202, 202))

__all__ = ["DISKS"]
