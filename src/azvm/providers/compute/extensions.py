"""Microsoft.Compute/virtualMachines/extensions: kept in their VM (azvm.service.extensions).

Paths as in azure-rest-api-specs `virtualMachineExtension.json`:
    GET    {vm}/extensions                         list ({"value": [...]}; $expand=instanceView)
    PUT    {vm}/extensions/{vmExtensionName}       201 created / 200 replaced, Azure-AsyncOperation
    PATCH  {vm}/extensions/{vmExtensionName}       200, Azure-AsyncOperation
    GET    {vm}/extensions/{vmExtensionName}       200 ($expand=instanceView)
    DELETE {vm}/extensions/{vmExtensionName}       202 with Location (204 when absent)
Each change is an update of the VM; its operation is the VM's (served at locations/{l}/operations).
"""

from __future__ import annotations

from ...arm import render
from ...arm.app import ArmApi
from ...arm.http import Req, Response, empty_response, json_response
from ...arm.routes import Params, RouteRow
from ...domain.errors import ArmError
from ...service.compute import ComputeService
from .virtual_machines import NAMESPACE, VM

TYPE = "virtualMachines/extensions"
EXT = VM + "/extensions/{vmExtensionName}"


def _expand(req: Req) -> bool:
    expand = (req.q("$expand") or "").lower()
    if expand and expand != "instanceview":
        raise ArmError(f"The value '{req.q('$expand')}' of query parameter '$expand' is not allowed. Allowed values"
                       " are 'instanceView'.", code="InvalidParameter", target="$expand")
    return expand == "instanceview"


class Extensions:
    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc

    def routes(self) -> list[RouteRow]:
        c = "compute"
        return [("GET", VM + "/extensions", self.list, c, TYPE), ("GET", EXT, self.get, c, TYPE),
                ("PUT", EXT, self.put, c, TYPE), ("PATCH", EXT, self.patch, c, TYPE),
                ("DELETE", EXT, self.delete, c, TYPE)]

    def list(self, req: Req, p: Params) -> Response:
        expand = _expand(req)
        st = self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])
        return json_response({"value": [render.extension_body(st, e, expand=expand)
                                        for e in st.row.model.get("resources") or []]})

    def get(self, req: Req, p: Params) -> Response:
        expand = _expand(req)
        st, ext = self.svc.get_extension(p["subscriptionId"], p["resourceGroupName"], p["vmName"],
                                         p["vmExtensionName"])
        return json_response(render.extension_body(st, ext, expand=expand))

    def put(self, req: Req, p: Params) -> Response:
        sub = p["subscriptionId"]
        st, op, ext, created = self.svc.put_extension(sub, p["resourceGroupName"], p["vmName"], p["vmExtensionName"],
                                                      req.json())
        headers = self.api.lro_headers(req, NAMESPACE, sub, st.row.location, op.op_id, location_header=False)
        return json_response(render.extension_body(st, ext), 201 if created else 200, headers)

    def patch(self, req: Req, p: Params) -> Response:
        sub = p["subscriptionId"]
        st, op, ext = self.svc.patch_extension(sub, p["resourceGroupName"], p["vmName"], p["vmExtensionName"],
                                               req.json())
        headers = self.api.lro_headers(req, NAMESPACE, sub, st.row.location, op.op_id, location_header=False)
        return json_response(render.extension_body(st, ext), 200, headers)

    def delete(self, req: Req, p: Params) -> Response:
        sub = p["subscriptionId"]
        done = self.svc.delete_extension(sub, p["resourceGroupName"], p["vmName"], p["vmExtensionName"])
        if done is None:
            return empty_response(204)
        op, location = done
        return self.api.accepted(req, NAMESPACE, sub, location, op.op_id)


__all__ = ["Extensions"]
