"""The routes of a plain resource type, from its `ResourceType`: one registration per type.

For a top-level type `{Namespace}/{type}`:
    GET    /subscriptions/{s}/providers/{Namespace}/{type}                           list (subscription)
    GET    /subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}      list (group)
    PUT    .../{type}/{resourceName}                                                 201 created / 200 replaced
    GET | PATCH | DELETE  .../{type}/{resourceName}                                  200 / 200 / 202 (204 if absent)
and for a child type `{Namespace}/{type}/{child}` the same under its parent, without the
subscription-wide list. Lists page with `nextLink`; PUT and DELETE carry the LRO headers that the
real types send (Azure-AsyncOperation; Location on DELETE), their operations being Succeeded at once.
"""

from __future__ import annotations

from ..arm.app import ArmApi
from ..arm.http import Req, Response, empty_response, json_response
from ..arm.routes import Params, RouteHandler, RouteRow
from ..domain.errors import NotFound
from ..domain.resource_id import ResourceId
from ..service.resources import Resources, ResourceType

SUB = "/subscriptions/{subscriptionId}"
RG = SUB + "/resourceGroups/{resourceGroupName}"
# where a family's operations live, when not under `locations/{location}/operations` (DiskRP's
# `DiskOperations`, as the Azure-AsyncOperation URLs of disk writes show)
OPERATION_SEGMENTS = {"disks": "DiskOperations"}


def operation_segment(spec: ResourceType) -> str:
    return OPERATION_SEGMENTS.get(spec.family, "operations")


class PlainResource:
    """The handlers of one plain resource type."""

    def __init__(self, api: ArmApi, resources: Resources, spec: ResourceType) -> None:
        self.api = api
        self.res = resources
        self.spec = spec
        self.namespace, *types = spec.type.split("/")
        self.types = types

    # -- the table ---------------------------------------------------------------------------------
    def routes(self) -> list[RouteRow]:
        f, t = self.spec.family, "/".join(self.types)
        ns = self.namespace
        if len(self.types) == 1:
            coll = f"{RG}/providers/{ns}/{self.types[0]}"
            one = coll + "/{resourceName}"
            out: list[RouteRow] = [("GET", f"{SUB}/providers/{ns}/{self.types[0]}", self.list_sub, f, t)]
        else:
            coll = f"{RG}/providers/{ns}/{self.types[0]}/{{resourceName}}/{self.types[1]}"
            one = coll + "/{childName}"
            out = []
        out += [("GET", coll, self.list_group, f, t), ("GET", one, self.get, f, t), ("PUT", one, self.put, f, t),
                ("PATCH", one, self.patch, f, t), ("DELETE", one, self.delete, f, t)]
        return out

    def rid(self, p: Params) -> ResourceId:
        pairs = [self.types[0], p["resourceName"]]
        if len(self.types) > 1:
            pairs += [self.types[1], p["childName"]]
        return ResourceId.of(p["subscriptionId"], p["resourceGroupName"], self.namespace, *pairs)

    # -- handlers ----------------------------------------------------------------------------------
    def list_sub(self, req: Req, p: Params) -> Response:
        rows, last = self.res.page(sub=p["subscriptionId"], type_=self.spec.type, after=self.api.page_after(req),
                                   limit=self.api.page_limit(req))
        now = self.res.now()
        return json_response(self.api.page(req, [self.res.render(r, now) for r in rows], last))

    def list_group(self, req: Req, p: Params) -> Response:
        if len(self.types) > 1:
            parent = ResourceId.of(p["subscriptionId"], p["resourceGroupName"], self.namespace, self.types[0],
                                   p["resourceName"])
            prow = self.res.get(parent)
            now = self.res.now()
            return json_response({"value": [self.res.render(r, now) for r in self.res.children(prow, self.spec.type)]})
        rows, last = self.res.page(sub=p["subscriptionId"], rg=p["resourceGroupName"], type_=self.spec.type,
                                   after=self.api.page_after(req), limit=self.api.page_limit(req))
        now = self.res.now()
        return json_response(self.api.page(req, [self.res.render(r, now) for r in rows], last))

    def get(self, req: Req, p: Params) -> Response:
        return json_response(self.res.render(self.res.get(self.rid(p))))

    def put(self, req: Req, p: Params) -> Response:
        rid = self.rid(p)
        row, created = self.res.put(rid, req.json(), if_match=req.if_match, if_none_match=req.if_none_match)
        headers = self.api.lro_headers(req, self.namespace, rid.subscription, row.location or "global", row.op_id,
                                       location_header=False, segment=operation_segment(self.spec))
        return json_response(self.res.render(row), self.spec.put_status[0 if created else 1], headers)

    def patch(self, req: Req, p: Params) -> Response:
        row = self.res.patch(self.rid(p), req.json(), if_match=req.if_match)
        return json_response(self.res.render(row), 200)

    def delete(self, req: Req, p: Params) -> Response:
        rid = self.rid(p)
        row = self.res.delete(rid, if_match=req.if_match)
        if row is None:
            return empty_response(204)
        return self.api.accepted(req, self.namespace, rid.subscription, row.location or "global", row.op_id,
                                 operation_segment(self.spec))


def plain_operation(req: Req, res: Resources, op_id: str) -> Response:
    """The status of a plain resource's operation (Succeeded from the start); 404 if none."""
    from ..clock import iso

    row = res.operation(op_id)
    if row is None:
        raise NotFound(f"The operation '{op_id}' could not be found.", code="NotFound")
    if req.flag("monitor"):
        return empty_response(200, {"content-length": "0"})
    return json_response({"name": row.op_id, "status": "Succeeded", "startTime": iso(row.at_us),
                          "endTime": iso(row.at_us)})


def operation_status(res: Resources) -> RouteHandler:
    """GET {namespace}/locations/{location}/{operations}/{operationId}: plain operations end at once."""

    def handler(req: Req, p: Params) -> Response:
        return plain_operation(req, res, p["operationId"])
    return handler


__all__ = ["OPERATION_SEGMENTS", "PlainResource", "operation_segment", "operation_status", "plain_operation"]
