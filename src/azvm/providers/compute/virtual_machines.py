"""Microsoft.Compute/virtualMachines: the one resource type with a lifecycle.

Paths and api-versions as in azure-rest-api-specs `Microsoft.Compute/ComputeRP/stable/*/virtualMachine.json`;
the shapes of answers as recorded from the real service (shared/conformance/recorded/).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ...arm import render
from ...arm.app import ArmApi
from ...arm.http import Req, Response, empty_response, json_response, raw_json_response
from ...arm.routes import Params, RouteHandler, RouteRow
from ...domain.errors import ArmError, VmNotFound
from ...domain.history import FaultKind
from ...domain.states import OperationStatus
from ...domain.table import Op
from ...service.compute import ComputeService
from ...service.validation import SIZE_NAMES, SIZES
from ..generic import plain_operation

NAMESPACE = "Microsoft.Compute"
TYPE = "virtualMachines"
SUB = "/subscriptions/{subscriptionId}"
RG = SUB + "/resourceGroups/{resourceGroupName}"
VMS = RG + "/providers/Microsoft.Compute/virtualMachines"
VM = VMS + "/{vmName}"
LOC = SUB + "/providers/Microsoft.Compute/locations/{location}"

# POST {vm}/{action} -> the operation; powerOff and deallocate read their flags
ACTIONS = {"start": Op.START, "restart": Op.RESTART, "redeploy": Op.REDEPLOY, "reapply": Op.REAPPLY}
EXPAND_GET = ("instanceview", "userdata")


def sizes() -> list[dict[str, Any]]:
    return [{"name": SIZE_NAMES[k], "numberOfCores": v[0], "osDiskSizeInMB": 1047552,
             "resourceDiskSizeInMB": v[3], "memoryInMB": v[1], "maxDataDiskCount": v[2]}
            for k, v in SIZES.items()]


class Listed:
    """The VM lists' pages, each VM's JSON kept as rendered once its operations have ended.

    A VM's body in a list depends on its head (model and last operation) and, while that operation
    runs, on the time; once it has ended, only a new head changes it. So a page asks the store for
    the (key, version) of its VMs only, and renders just those whose head is new or still moving:
    within one generation of the store (meta `generation`, new on every reset) a version names one
    head, in this process or any other. What is kept is bounded (CACHE_BYTES), and dropped whole
    when full. Read faults (a missing or unknown power state) are drawn per read, so their lists
    never come from here."""

    CACHE_BYTES = 256 * 1024 * 1024

    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc
        # by (expand, statusOnly), by key: (generation, version, rendered from this instant on, JSON)
        self._kept: dict[tuple[bool, bool], dict[str, tuple[str | None, int, int, bytes]]] = {}
        self._bytes = 0

    def page(self, req: Req, sub: str, rg: str | None, location: str | None, expand: bool,
             status_only: bool) -> Response:
        svc = self.svc
        if rg is not None:
            svc.groups.require(sub, rg)
        limit = self.api.page_limit(req) or svc.settings.page_size
        after = self.api.page_after(req)
        now = svc.now()
        generation = svc.store.get_meta("generation")
        kept = self._kept.setdefault((expand, status_only), {})
        parts: list[bytes] = []
        last: str | None = None
        for key, version in self._heads(sub, rg, location, now, after, limit + 1):
            if len(parts) == limit:
                last = after  # the page is full and a VM follows
                break
            after = key
            hit = kept.get(key)
            if hit is not None and hit[1] == version and hit[0] == generation and now >= hit[2]:
                parts.append(hit[3])
                continue
            row = svc.store.get_vm(key)
            st = svc.get_state_row(row, now) if row is not None else None
            if st is None:
                continue
            body = orjson.dumps(render.vm_body(st, expand=expand, status_only=status_only))
            parts.append(body)
            if now >= st.row.last.end_us and st.row.version == version:  # it no longer moves
                self._keep(kept, key, (generation, version, now, body))
        out = b'{"value":[' + b",".join(parts) + b"]"
        if last is not None:
            out += b',"nextLink":' + orjson.dumps(self.api.next_link(req, last))
        return raw_json_response(out + b"}")

    def _heads(self, sub: str, rg: str | None, location: str | None, now: int, after: str | None,
               batch: int) -> Iterator[tuple[str, int]]:
        """The (key, version) of the live VMs after `after`, in key order, read `batch` at a time."""
        while heads := self.svc.store.vm_heads(sub=sub, rg=rg, location=location, live_at_us=now,
                                               after_key=after, limit=batch):
            yield from heads
            after = heads[-1][0]

    def _keep(self, kept: dict[str, tuple[str | None, int, int, bytes]], key: str,
              entry: tuple[str | None, int, int, bytes]) -> None:
        if self._bytes + len(entry[3]) > self.CACHE_BYTES:
            for mode in self._kept.values():
                mode.clear()
            self._bytes = 0
        old = kept.get(key)
        if old is not None:
            self._bytes -= len(old[3])
        kept[key] = entry
        self._bytes += len(entry[3])


class VirtualMachines:
    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc
        self._listed = Listed(api, svc)

    def routes(self) -> list[RouteRow]:
        c = "compute"
        out: list[RouteRow] = [
            ("GET", SUB + "/providers/Microsoft.Compute/virtualMachines", self.list_all, c, TYPE),
            ("GET", LOC + "/virtualMachines", self.list_by_location, c, "locations/virtualMachines"),
            ("GET", LOC + "/vmSizes", self.location_sizes, c, "locations/vmSizes"),
            ("GET", LOC + "/operations/{operationId}", self.operation, c, "locations/operations"),
            ("GET", LOC + "/operationResults/{operationId}", self.operation, c, "locations/operations"),
            ("GET", VMS, self.list_by_group, c, TYPE),
            ("GET", VM, self.get, c, TYPE),
            ("PUT", VM, self.put, c, TYPE),
            ("PATCH", VM, self.patch, c, TYPE),
            ("DELETE", VM, self.delete, c, TYPE),
            ("GET", VM + "/instanceView", self.instance_view, c, TYPE),
            ("GET", VM + "/vmSizes", self.vm_sizes, c, TYPE),
            ("POST", VM + "/powerOff", self.power_off, c, TYPE),
            ("POST", VM + "/deallocate", self.deallocate, c, TYPE),
        ]
        out += [("POST", VM + "/" + a, self._action(op), c, TYPE) for a, op in ACTIONS.items()]
        return out

    # -- lists ---------------------------------------------------------------------------------------
    def list_all(self, req: Req, p: Params) -> Response:
        return self._list(req, p["subscriptionId"], rg=None, location=None)

    def list_by_location(self, req: Req, p: Params) -> Response:
        return self._list(req, p["subscriptionId"], rg=None, location=p["location"])

    def list_by_group(self, req: Req, p: Params) -> Response:
        return self._list(req, p["subscriptionId"], rg=p["resourceGroupName"], location=None)

    def _list(self, req: Req, sub: str, *, rg: str | None, location: str | None) -> Response:
        status_only = req.flag("statusOnly")
        expand = (req.q("$expand") or "").lower()
        if expand and expand != "instanceview":
            raise ArmError(f"The value '{req.q('$expand')}' of query parameter '$expand' is not allowed. Allowed"
                           " values are 'instanceView'.", code="InvalidParameter", target="$expand")
        faults = self.svc.faults
        if not faults.reads_on:
            return self._listed.page(req, sub, rg, location, expand == "instanceview", status_only)
        vms, last = self.svc.list_vms(sub, rg=rg, location=location, after_key=self.api.page_after(req),
                                      limit=self.api.page_limit(req))
        if status_only:  # the power state may be missing (SPEC.md section 3)
            value = [render.vm_body(st, status_only=True, power=not faults.on_read(
                FaultKind.POWER_MISSING, st.row.key, save=False)) for st in vms]
            faults.flush()
        else:
            value = [render.vm_body(st, expand=expand == "instanceview", status_only=status_only) for st in vms]
        return json_response(self.api.page(req, value, last))

    def location_sizes(self, req: Req, p: Params) -> Response:
        return json_response({"value": sizes()})

    def vm_sizes(self, req: Req, p: Params) -> Response:
        self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])
        return json_response({"value": sizes()})

    # -- one VM --------------------------------------------------------------------------------------
    def get(self, req: Req, p: Params) -> Response:
        expand = (req.q("$expand") or "").lower()
        if expand and expand not in EXPAND_GET:
            raise ArmError(f"The value '{req.q('$expand')}' of query parameter '$expand' is not allowed."
                           " Allowed values are 'instanceView', 'userData'.", code="InvalidParameter",
                           target="$expand")
        st = self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"], skip_update=not expand)
        return json_response(render.vm_body(st, expand=expand == "instanceview", user_data=expand == "userdata"))

    def put(self, req: Req, p: Params) -> Response:
        sub = p["subscriptionId"]
        st, op, created = self.svc.create_or_update(sub, p["resourceGroupName"], p["vmName"], req.json())
        headers = self.api.lro_headers(req, NAMESPACE, sub, st.row.location, op.op_id, location_header=False)
        body = render.vm_body(st)
        headers["etag"] = body["etag"]  # as the real PUT answers (cli_vm_resize_put_200_2025.json)
        return json_response(body, 201 if created else 200, headers)

    def patch(self, req: Req, p: Params) -> Response:
        st, _op = self.svc.update(p["subscriptionId"], p["resourceGroupName"], p["vmName"], req.json())
        return json_response(render.vm_body(st), 200, self.api.retry_headers())

    def delete(self, req: Req, p: Params) -> Response:
        try:
            return self._act(req, p, Op.FORCE_DELETE if req.flag("forceDeletion") else Op.DELETE)
        except VmNotFound:  # decided on the stored head, not on an earlier read that another process's delete
            return empty_response(204)  # (or the clock) may have overtaken: a VM already gone is 204

    def instance_view(self, req: Req, p: Params) -> Response:
        st = self.svc.require_vm(p["subscriptionId"], p["resourceGroupName"], p["vmName"])
        return json_response(render.instance_view(st))

    # -- actions -------------------------------------------------------------------------------------
    def _act(self, req: Req, p: Params, op_kind: Op) -> Response:
        sub = p["subscriptionId"]
        op, location = self.svc.act(sub, p["resourceGroupName"], p["vmName"], op_kind)
        return self.api.accepted(req, NAMESPACE, sub, location, op.op_id)

    def _action(self, op_kind: Op) -> RouteHandler:
        def handler(req: Req, p: Params) -> Response:
            return self._act(req, p, op_kind)
        return handler

    def power_off(self, req: Req, p: Params) -> Response:
        return self._act(req, p, Op.POWER_OFF_SKIP if req.flag("skipShutdown") else Op.POWER_OFF)

    def deallocate(self, req: Req, p: Params) -> Response:
        return self._act(req, p, Op.HIBERNATE if req.flag("hibernate") else Op.DEALLOCATE)

    # -- operations ----------------------------------------------------------------------------------
    def operation(self, req: Req, p: Params) -> Response:
        sub, location, op_id = p["subscriptionId"], p["location"], p["operationId"]
        view = self.svc.operation(op_id)
        if view is None:
            return plain_operation(req, self.svc.resources, op_id)  # a disk's, an availability set's
        in_progress = view.status == OperationStatus.IN_PROGRESS
        if req.flag("monitor"):
            if in_progress:
                _a, monitor = self.api.operation_urls(req, NAMESPACE, sub, location, op_id,
                                                      req.q("api-version") or "")
                return empty_response(202, {"Location": monitor, **self.api.retry_headers()})
            return empty_response(200, {"content-length": "0"})
        headers = self.api.retry_headers() if in_progress else None
        return json_response(render.operation_body(view), 200, headers)
