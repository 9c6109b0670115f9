"""The wire shapes of ARM: VMs, instance views, operation statuses, resource groups."""

from __future__ import annotations

import json
from typing import Any

from ..clock import iso
from ..domain.history import OperationView
from ..domain.states import Prov
from ..service.compute import VmState
from ..service.ports import GroupRow
from ..service.throttling import Refusal
from ..service.views import provisioning_state, status_entries
from .http import Response, json_response


def instance_view(st: VmState, *, status_only: bool = False, power: bool = True) -> dict[str, Any]:
    props = st.row.model.get("properties", {})
    view: dict[str, Any] = {}
    osp = props.get("osProfile")
    if osp and osp.get("computerName"):
        view["computerName"] = osp["computerName"]
    if not status_only:
        storage = props.get("storageProfile", {})
        created = st.row.model.get("properties", {}).get("timeCreated")
        disk_status = [{"code": "ProvisioningState/succeeded", "level": "Info",
                        "displayStatus": "Provisioning succeeded", **({"time": created} if created else {})}]
        disks = [storage.get("osDisk", {})] + list(storage.get("dataDisks") or [])
        view["disks"] = [{"name": d.get("name"), "statuses": disk_status} for d in disks if d.get("name")]
        view["hyperVGeneration"] = "V1"
    view["statuses"] = status_entries(st.phase, power=power)
    exts = st.row.model.get("resources") or []
    if exts and not status_only:
        view["extensions"] = [extension_view(st, e) for e in exts]
    return view


def extension_state(st: VmState, ext: dict[str, Any]) -> str:
    """An extension is Creating (Updating) while the VM operation that wrote it runs."""
    if ext.get("_at") != st.row.last.at_us:
        return "Succeeded"
    prov = Prov(st.phase.prov)
    if prov == Prov.FAILED:
        return "Failed"
    if prov.provisioning_state.value in ("Succeeded", "Failed"):
        return prov.provisioning_state.value
    return "Creating" if ext.get("_created") == ext.get("_at") else "Updating"


def extension_view(st: VmState, ext: dict[str, Any]) -> dict[str, Any]:
    """An extension's instance view (as the VM's instanceView.extensions shows it)."""
    props = ext.get("properties") or {}
    state = extension_state(st, ext)
    if state == "Succeeded":
        status = {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                  "message": "Enable succeeded"}
    elif state == "Failed":
        status = {"code": "ProvisioningState/failed", "level": "Error", "displayStatus": "Provisioning failed",
                  "message": "Enable failed"}
    else:
        status = {"code": "ProvisioningState/transitioning", "level": "Info", "displayStatus": "Transitioning"}
    return {"name": ext.get("name"), "type": f"{props.get('publisher')}.{props.get('type')}",
            "typeHandlerVersion": props.get("typeHandlerVersion"), "statuses": [status]}


def extension_body(st: VmState, ext: dict[str, Any], *, expand: bool = False) -> dict[str, Any]:
    """A VM extension resource (Microsoft.Compute/virtualMachines/extensions)."""
    body = {k: v for k, v in ext.items() if k not in ("_at", "_created", "properties")}
    props = dict(ext.get("properties") or {})
    shown: dict[str, Any] = {}
    for k in ("autoUpgradeMinorVersion", "enableAutomaticUpgrade", "forceUpdateTag"):
        if k in props:
            shown[k] = props.pop(k)
    shown["provisioningState"] = extension_state(st, ext)
    shown.update(props)
    if expand:
        shown["instanceView"] = extension_view(st, ext)
    body["properties"] = shown
    return body


def vm_body(st: VmState, *, expand: bool = False, status_only: bool = False, user_data: bool = False,
            power: bool = True) -> dict[str, Any]:
    """A VM as GET and the lists show it; `power` False leaves the power state out of its instance
    view (a power-missing fault: "in rare situations" the list lacks it, SPEC.md section 3)."""
    m = st.row.model
    props_in = m.get("properties", {})
    props: dict[str, Any] = {}
    if "hardwareProfile" in props_in:
        props["hardwareProfile"] = props_in["hardwareProfile"]
    props["provisioningState"] = provisioning_state(st.phase)
    for k, v in props_in.items():
        if k not in ("hardwareProfile", "timeCreated") and (k != "userData" or user_data):
            props[k] = v  # userData only with $expand=userData, as Compute shows it
    if expand or status_only:
        props["instanceView"] = instance_view(st, status_only=status_only, power=power)
    if "timeCreated" in props_in:
        props["timeCreated"] = props_in["timeCreated"]
    body: dict[str, Any] = {"name": m.get("name"), "id": m.get("id"), "type": m.get("type"),
                            "location": m.get("location")}
    for k in ("tags", "zones", "identity", "plan", "extendedLocation"):
        if k in m:
            body[k] = m[k]
    body["properties"] = props
    body["etag"] = f'"{st.row.version}"'
    if m.get("resources"):
        body["resources"] = [extension_body(st, e) for e in m["resources"]]
    return body


def operation_body(view: OperationView) -> dict[str, Any]:
    body: dict[str, Any] = {"startTime": iso(view.op.at_us)}
    if view.end_us is not None:
        body["endTime"] = iso(view.end_us)
    body["status"] = view.status.value
    if view.error is not None:
        body["error"] = {"code": view.error[0], "message": view.error[1]}
    body["name"] = view.op.op_id
    return body


def group_body(g: GroupRow, now: int) -> dict[str, Any]:
    body: dict[str, Any] = {"id": f"/subscriptions/{g.sub}/resourceGroups/{g.name}", "name": g.name,
                            "type": "Microsoft.Resources/resourceGroups", "location": g.location}
    if g.tags:
        body["tags"] = g.tags
    body["properties"] = {"provisioningState": "Deleting" if g.delete_op else "Succeeded"}
    return body


_ARM_KIND = {"reads": "read", "writes": "write", "deletes": "delete"}


def throttled(refusal: Refusal, sub: str, actor: str, now_us: int, headers: dict[str, str]) -> Response:
    """429 as ARM or Compute answers it when a bucket is empty, with Retry-After (whole seconds).

    ARM: `SubscriptionRequestsThrottled`, "Number of 'read' requests for subscription '{s}' actor '{a}'
    exceeded. Please try again after '{n}' seconds." (a body a client logged from ARM in 2026; the code
    and status also in Microsoft's troubleshooting article "Troubleshoot the SubscriptionRequestsThrottled
    error code (429)").
    Compute: `OperationNotAllowed` with a `TooManyRequests` detail naming the policy, and
    `innererror.internalErrorCode` `TooManyRequestsReceived` (MicrosoftDocs/azure-docs
    `articles/aks/troubleshooting.md`, `troubleshooting-throttling-errors.md`;
    shared/conformance/recorded/arm_error_examples_from_issues_and_docs.json, compute_throttling_429).
    """
    if refusal.compute:
        group = {"operationGroup": refusal.bucket, "startTime": iso(now_us),
                 "endTime": iso(now_us + refusal.retry_after * 1_000_000),
                 "allowedRequestCount": refusal.capacity, "measuredRequestCount": refusal.capacity + 1}
        error: dict[str, Any] = {
            "code": "OperationNotAllowed",
            "message": "The server rejected the request because too many requests have been received for this"
                       " subscription.",
            "details": [{"code": "TooManyRequests", "target": refusal.bucket,
                         "message": json.dumps(group, separators=(",", ":"))}],
            "innererror": {"internalErrorCode": "TooManyRequestsReceived"}}
    else:
        error = {"code": "SubscriptionRequestsThrottled",
                 "message": f"Number of '{_ARM_KIND[refusal.bucket]}' requests for subscription '{sub}' actor"
                            f" '{actor}' exceeded. Please try again after '{refusal.retry_after}' seconds."}
    return json_response({"error": error}, 429, {"Retry-After": str(refusal.retry_after), **headers})
