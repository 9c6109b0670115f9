"""Microsoft.Insights/eventtypes/management/values: the Activity Log at subscription scope, so that
azure-mgmt-monitor's `activity_logs.list` and `az monitor activity-log list` read what azvm's
history says (events derived in azvm.service.activity; shapes in graph-health-activity.md section C)."""

from __future__ import annotations

from typing import Any

from ..arm.app import ArmApi
from ..arm.http import Req, Response, json_response
from ..arm.routes import Params, RouteRow
from ..clock import iso
from ..domain.errors import BadRequest
from ..service.activity import ActivityEvent, EventPages, parse_filter
from ..service.compute import ComputeService

SUB = "/subscriptions/{subscriptionId}"
PAGE_SIZE = 200
# the top-level fields `$select` may name (graph-health-activity.md C.1)
SELECTABLE = ("authorization", "caller", "category", "channels", "claims", "correlationId", "description",
              "eventDataId", "eventName", "eventTimestamp", "httpRequest", "id", "level", "operationId",
              "operationName", "properties", "resourceGroupName", "resourceProviderName", "resourceType",
              "resourceId", "status", "submissionTimestamp", "subStatus", "subscriptionId", "tenantId")
_SELECTABLE = {f.lower(): f for f in SELECTABLE}
_TICKS_AT_EPOCH = 621_355_968_000_000_000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01


def _localized(value: str, localized: str | None = None) -> dict[str, str]:
    return {"value": value, "localizedValue": value if localized is None else localized}


class ActivityLog:
    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc
        self.pages = EventPages()

    def routes(self) -> list[RouteRow]:
        return [("GET", SUB + "/providers/Microsoft.Insights/eventtypes/management/values", self.list,
                 "insights", "eventtypes")]

    def list(self, req: Req, p: Params) -> Response:
        # a nextLink's $skiptoken is "<the first page's instant>@<the last event's key>": every page of
        # a listing is read as of its first (EventPages)
        token = self.api.page_after(req)
        now, after = self.svc.now(), None
        if token is not None:
            at, sep, after = token.partition("@")
            if not sep or not at.isdigit():
                raise BadRequest(f"The skip token '{req.q('$skiptoken')}' is invalid.", code="InvalidParameter",
                                 target="$skiptoken")
            now = int(at)
        flt = parse_filter(req.q("$filter"), now)
        select = _select(req.q("$select"))
        events, last = self.pages.page(self.svc.store, p["subscriptionId"], flt, now, after=after, limit=PAGE_SIZE)
        value = [self.render(e) for e in events]
        if select is not None:
            value = [{k: v for k, v in body.items() if k in select} for body in value]
        return json_response(self.api.page(req, value, None if last is None else f"{now}@{last}"))

    def render(self, e: ActivityEvent) -> dict[str, Any]:
        tenant = self.api.cfg.tenant_id
        ticks = _TICKS_AT_EPOCH + e.at_us * 10
        props: dict[str, Any] = {"eventCategory": "Administrative", "entity": e.resource_id,
                                 "message": e.operation_name, "hierarchy": f"{tenant}/{e.subscription_id}"}
        if e.status_code:
            props["statusCode"] = e.status_code
        if e.error is not None:
            props["statusMessage"] = {"error": {"code": e.error[0], "message": e.error[1]}}
        return {
            "authorization": {"action": e.operation_name, "scope": e.resource_id},
            "caller": e.caller,
            "channels": "Operation",
            "claims": {"aud": "https://management.azure.com/", "iss": f"https://sts.windows.net/{tenant}/",
                       # a user is named by its upn, an application by its appid (as Azure's claims do)
                       ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn" if "@" in e.caller
                        else "appid"): e.caller,
                       "http://schemas.microsoft.com/identity/claims/tenantid": tenant},
            "correlationId": e.correlation_id,
            "description": "",
            "eventDataId": e.event_data_id,
            "eventName": _localized(e.event_name, "Begin request" if e.event_name == "BeginRequest" else "End request"),
            "category": _localized("Administrative"),
            "eventTimestamp": iso(e.at_us),
            "httpRequest": {"clientRequestId": e.operation_id, "clientIpAddress": "127.0.0.1", "method": e.method},
            "id": f"{e.resource_id}/events/{e.event_data_id}/ticks/{ticks}",
            "level": e.level,
            "operationId": e.operation_id,
            "operationName": _localized(e.operation_name, e.operation_localized),
            "properties": props,
            "resourceGroupName": e.resource_group,
            "resourceProviderName": _localized(e.resource_provider),
            "resourceType": _localized(e.resource_type),
            "resourceId": e.resource_id,
            "status": _localized(e.status),
            "subStatus": _localized(e.sub_status, e.sub_status_localized),
            "submissionTimestamp": iso(e.at_us),
            "subscriptionId": e.subscription_id,
            "tenantId": tenant,
            "relatedEvents": [],
        }


def _select(text: str | None) -> set[str] | None:
    if text is None or not text.strip():
        return None
    out = set()
    for part in text.split(","):
        name = _SELECTABLE.get(part.strip().lower())
        if name is None:
            raise BadRequest(f"The $select field '{part.strip()[:60]}' is not supported; the supported fields are"
                             f" {', '.join(SELECTABLE)}.")
        out.add(name)
    return out


__all__ = ["ActivityLog"]
