"""Microsoft.ResourceHealth/availabilityStatuses for VMs: the current status of one VM, its list,
and the lists at subscription and resource-group scope (azure-rest-api-specs
`specification/resourcehealth/.../ResourceHealth`, `AvailabilityStatuses_*`; shapes in
`../shared/reference/graph-health-activity.md` §B). The status follows the VM's power state at
the simulated now (`service/health.py`); the routes name the VM's own template so that they sit
under `{vmName}` in the route table.
"""

from __future__ import annotations

from typing import Any

from ..arm.app import ArmApi
from ..arm.http import Req, Response, json_response
from ..arm.routes import Params, RouteRow
from ..clock import iso
from ..domain.errors import ArmError
from ..service import health
from ..service.compute import ComputeService, VmState

NAMESPACE = "Microsoft.ResourceHealth"
TYPE = "Microsoft.ResourceHealth/AvailabilityStatuses"
FAMILY = "resourcehealth"
SUB = "/subscriptions/{subscriptionId}"
RG = SUB + "/resourceGroups/{resourceGroupName}"
VM = RG + "/providers/Microsoft.Compute/virtualMachines/{vmName}"
STATUSES = f"/providers/{NAMESPACE}/availabilityStatuses"


def status_body(st: VmState, *, expand_actions: bool = False) -> dict[str, Any]:
    """An `AvailabilityStatus` of a VM at its time (`st.at_us`)."""
    a = health.of_phase(st.phase) or health.UNKNOWN
    rid = str(st.row.model.get("id") or st.row.key)
    props: dict[str, Any] = {
        "availabilityState": a.state.value, "title": a.title, "summary": a.summary,
        "reasonType": a.reason_type, "context": a.context, "category": a.category,
        "reasonChronicity": a.chronicity.value,
        "occuredTime": iso(health.since(st.row.last, st.at_us)), "reportedTime": iso(st.at_us),
    }
    if a.state != health.AvailabilityState.AVAILABLE:
        props["detailedStatus"] = a.summary
    if expand_actions:
        props["recommendedActions"] = [
            {"action": text, "actionUrl": "<#ResourceBlade>", "actionUrlText": "resource blade"}
            for text in a.recommended_actions]
    return {"id": f"{rid}{STATUSES}/current", "name": "current", "type": TYPE, "location": st.row.location,
            "properties": props}


class ResourceHealth:
    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc

    def routes(self) -> list[RouteRow]:
        t = "availabilityStatuses"
        return [
            ("GET", VM + STATUSES + "/current", self.get_by_resource, FAMILY, t),
            ("GET", VM + STATUSES, self.list_by_resource, FAMILY, t),
            ("GET", RG + STATUSES, self.list_by_resource_group, FAMILY, t),
            ("GET", SUB + STATUSES, self.list_by_subscription_id, FAMILY, t),
        ]

    def get_by_resource(self, req: Req, p: Params) -> Response:
        expand = _expand(req)
        st = self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])
        return json_response(status_body(st, expand_actions=expand))

    def list_by_resource(self, req: Req, p: Params) -> Response:
        """A VM's statuses: the current one (azvm keeps no separate 14-day history of statuses)."""
        expand = _expand(req)
        _no_filter(req)
        st = self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])
        return json_response({"value": [status_body(st, expand_actions=expand)]})

    def list_by_resource_group(self, req: Req, p: Params) -> Response:
        return self._list(req, p["subscriptionId"], p["resourceGroupName"])

    def list_by_subscription_id(self, req: Req, p: Params) -> Response:
        return self._list(req, p["subscriptionId"], None)

    def _list(self, req: Req, sub: str, rg: str | None) -> Response:
        expand = _expand(req)
        _no_filter(req)
        vms, last = self.svc.list_vms(sub, rg=rg, after_key=self.api.page_after(req),
                                      limit=self.api.page_limit(req))
        value = [status_body(st, expand_actions=expand) for st in vms]
        return json_response(self.api.page(req, value, last))


def _expand(req: Req) -> bool:
    """`$expand` as the SDK sends it (`recommendedactions`, any casing); other values add nothing."""
    return "recommendedactions" in (req.q("$expand") or "").lower()


def _no_filter(req: Req) -> None:
    if req.q("$filter"):
        raise ArmError("The query parameter '$filter' of Resource Health lists is not supported by azvm.",
                       code="InvalidParameter", target="$filter")


def register(api: ArmApi, svc: ComputeService) -> list[RouteRow]:
    return ResourceHealth(api, svc).routes()


__all__ = ["ResourceHealth", "register", "status_body"]
