"""Microsoft.ResourceGraph/resources: KQL queries over everything azvm holds.

`POST /providers/Microsoft.ResourceGraph/resources` (azure-rest-api-specs
`specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/stable/2022-10-01/resourcegraph.json`,
`Resources`; shapes in `../shared/reference/graph-health-activity.md` §A). The query is parsed and
run by azvm.graph over three tables built from the service at the simulated now:

- `resources`: every VM (its body as GET shows it, with ARG's `properties.extended.instanceView`
  carrying the power state), each VM extension, and every plain resource (disks, networks, NICs,
  public IPs, NSGs, availability sets, ...; child resources such as subnets stay inside their
  parent, as in Resource Graph). `type` and `resourceGroup` are lower case; `id` keeps its casing.
- `resourcecontainers`: the subscriptions and their resource groups.
- `healthresources`: each VM's `microsoft.resourcehealth/availabilitystatuses` row, from the same
  status that Microsoft.ResourceHealth serves.

Tables are built only when the query reads them. Without `subscriptions` in the body the query
covers every subscription the caller can see (the principal's own in strict mode); in strict mode
a row is shown only if the principal may read it (`{type}/read` over its id).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import graph
from ..arm import render
from ..arm.app import ArmApi
from ..arm.http import Req, Response, json_response
from ..arm.routes import Params, RouteRow
from ..domain.errors import ArmError, BadRequest
from ..domain.resource_id import ResourceId
from ..service.compute import ComputeService, VmState
from .resource_health import status_body
from .resources import subscription_body

if TYPE_CHECKING:
    from ..graph import Table

NAMESPACE = "Microsoft.ResourceGraph"
# azure-rest-api-specs has 2019-04-01, 2020-04-01-preview, 2021-03-01 (the SDK 8.0.1 default), 2022-10-01
# (resourcegraph/.../stable and preview folders); until a `resourcegraph` family lists them, any
# well-formed version is accepted, as for ARM's own routes
FAMILY = "resourcegraph"
TYPES: list[tuple[str, str]] = [("resources", FAMILY)]  # (resource type, api-version family)

PAGE_SIZE = 1000  # "By default, Resource Graph limits any query to returning only 1,000 records" (work-with-data.md)
GROUP_TYPE = "microsoft.resources/subscriptions/resourcegroups"
FACET_TOP = 10  # FacetRequestOptions.$top default (resourcegraph.json)
# the columns of the resources-like tables, in Resource Graph's order (graph-health-activity.md §A.3)
COLUMNS = ["id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
           "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"]
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SCOPE_FILTERS = ("AtScopeAndBelow", "AtScopeAndAbove", "AtScopeExact", "AtScopeAboveAndBelow")
_TYPES_OF = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "object",
             datetime: "datetime"}


def _row(body: dict[str, Any], *, type_: str, sub: str, rg: str, tenant: str) -> dict[str, Any]:
    """A row of the resources-like tables from a resource's ARM body."""
    return {"id": body.get("id"), "name": body.get("name"), "type": type_.lower(), "tenantId": tenant,
            "kind": body.get("kind") or "", "location": body.get("location") or "", "resourceGroup": rg.lower(),
            "subscriptionId": sub, "managedBy": body.get("managedBy") or "", "sku": body.get("sku"),
            "plan": body.get("plan"), "properties": body.get("properties") or {}, "tags": body.get("tags"),
            "identity": body.get("identity"), "zones": body.get("zones"),
            "extendedLocation": body.get("extendedLocation")}


def _with_groups(value: Any) -> Any:
    """Resource Graph adds `resourceGroup` next to every nested resource `id` of a VM (its NICs, its
    managed disks: graph-health-activity.md §A.3)."""
    if isinstance(value, list):
        return [_with_groups(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _with_groups(v) for k, v in value.items()}
    rid = ResourceId.try_parse(out["id"]) if isinstance(out.get("id"), str) else None
    if rid is not None and rid.resource_group and "resourceGroup" not in out:
        out["resourceGroup"] = rid.resource_group
    return out


def vm_row(st: VmState, tenant: str) -> dict[str, Any]:
    """A VM as Resource Graph shows it: the VM's body with `properties.extended.instanceView`."""
    body = render.vm_body(st)
    view = render.instance_view(st)
    power = next((s for s in view.get("statuses", []) if str(s.get("code", "")).startswith("PowerState/")), None)
    extended: dict[str, Any] = {k: view[k] for k in ("computerName", "hyperVGeneration") if k in view}
    if power is not None:
        extended["powerState"] = {"code": power["code"], "displayStatus": power.get("displayStatus"),
                                  "level": power.get("level")}
    props = _with_groups(body["properties"])
    props["extended"] = {"instanceView": extended}
    body["properties"] = props
    return _row(body, type_=str(body.get("type")), sub=st.row.sub, rg=st.row.rg, tenant=tenant)


def extension_rows(st: VmState, tenant: str) -> list[dict[str, Any]]:
    out = []
    for ext in st.row.model.get("resources") or []:
        body = render.extension_body(st, ext)
        out.append(_row(body, type_=str(body.get("type") or "Microsoft.Compute/virtualMachines/extensions"),
                        sub=st.row.sub, rg=st.row.rg, tenant=tenant))
    return out


def health_row(st: VmState, tenant: str) -> dict[str, Any]:
    """A VM's `microsoft.resourcehealth/availabilitystatuses` row of HealthResources (properties as
    MicrosoftDocs `articles/virtual-machines/resource-graph-availability.md` lists them)."""
    status = status_body(st)
    p = status["properties"]
    props = {"targetResourceType": "Microsoft.Compute/virtualMachines",
             "targetResourceId": str(st.row.model.get("id") or st.row.key),
             "occurredTime": p.get("occuredTime"), "availabilityState": p.get("availabilityState"),
             "title": p.get("title"), "summary": p.get("summary"), "reasonType": p.get("reasonType")}
    return _row({**status, "properties": props}, type_=str(status["type"]), sub=st.row.sub, rg=st.row.rg,
                tenant=tenant)


class ResourceGraph:
    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc

    def routes(self) -> list[RouteRow]:
        return [("POST", f"/providers/{NAMESPACE}/resources", self.resources, FAMILY, "resources")]

    # -- the tables ---------------------------------------------------------------------------------
    def _vms(self, subs: list[str]) -> Iterator[VmState]:
        for sub in subs:
            vms, _ = self.svc.list_vms(sub, limit=1_000_000)
            yield from vms

    def _resources(self, subs: list[str]) -> list[dict[str, Any]]:
        tenant = self.api.cfg.tenant_id
        rows: list[dict[str, Any]] = []
        for st in self._vms(subs):
            rows.append(vm_row(st, tenant))
            rows.extend(extension_rows(st, tenant))
        res = self.svc.resources
        now = self.svc.now()
        for sub in subs:
            after: str | None = None
            while True:
                page, after = res.page(sub=sub, after=after, limit=1000)
                for r in page:
                    spec = res.spec(r.type)
                    if r.type.count("/") > 1 or (spec is not None and not spec.generic):
                        continue  # a child (a subnet) is shown inside its parent; deployments are not rows
                    rows.append(_row(res.render(r, now), type_=r.type, sub=r.sub, rg=r.rg, tenant=tenant))
                if after is None:
                    break
        rows.sort(key=lambda r: str(r["id"]).lower())
        return rows

    def _containers(self, subs: list[str]) -> list[dict[str, Any]]:
        tenant = self.api.cfg.tenant_id
        now = self.svc.now()
        rows = []
        for sub in subs:
            s = subscription_body(sub, tenant)
            props = {"subscriptionId": sub, "state": s["state"], "subscriptionPolicies": s["subscriptionPolicies"],
                     "managementGroupAncestorsChain": []}
            # a subscription's `name` in Resource Graph is its display name (`project subscriptionName = name`)
            rows.append(_row({"id": s["id"], "name": s["displayName"], "properties": props},
                             type_="microsoft.resources/subscriptions", sub=sub, rg="", tenant=tenant))
            for g in self.svc.groups.list(sub):
                # a group's type in Resource Graph names its parent: `microsoft.resources/subscriptions/resourcegroups`
                row = _row(render.group_body(g, now), type_=GROUP_TYPE, sub=sub, rg="", tenant=tenant)
                row["resourceGroup"] = g.name  # resourcecontainers keep the group's casing (§A.2)
                rows.append(row)
        return rows

    def _health(self, subs: list[str]) -> list[dict[str, Any]]:
        tenant = self.api.cfg.tenant_id
        return [health_row(st, tenant) for st in self._vms(subs)]

    def _tables(self, subs: list[str], readable: Callable[[dict[str, Any]], bool] | None
                ) -> dict[str, Callable[[], Table]]:
        def table(build: Callable[[list[str]], list[dict[str, Any]]]) -> Callable[[], Table]:
            built: list[Table] = []  # once per request: the facets read the same rows again

            def load() -> Table:
                if not built:
                    rows = build(subs)
                    kept = rows if readable is None else [r for r in rows if readable(r)]
                    built.append(graph.Table(list(COLUMNS), kept))
                return built[0]
            return load
        return {"resources": table(self._resources), "resourcecontainers": table(self._containers),
                "healthresources": table(self._health)}

    # -- the request --------------------------------------------------------------------------------
    def resources(self, req: Req, p: Params) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise ArmError("The request content was invalid and could not be deserialized: the body must be a JSON"
                           " object.", code="InvalidRequestContent")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("The property 'query' is required: a KQL query (Resources | ...).", target="query")
        options = _options(body.get("options"))
        subs = self._subscriptions(req, body)
        query = graph.parse(text)
        now = datetime.fromtimestamp(self.svc.now() / 1_000_000, UTC)
        tables = self._tables(subs, _reader(req))
        result = graph.run(query, tables, now=now)
        total = len(result.rows)
        if options.token is not None:
            offset = _untoken(options.token, text) if options.skip is None else options.skip
        else:
            from ..graph import ast as kql  # its dataclasses load with the first query, not as the server starts

            limited = any(isinstance(op, (kql.Take, kql.Top)) for op in query.ops)
            offset = 0 if limited else (options.skip or 0)  # "skip is ignored" with limit/take (work-with-data.md)
        page = result.rows[offset:offset + options.top]
        more = offset + len(page) < total
        out: dict[str, Any] = {"totalRecords": total, "count": len(page),
                               "resultTruncated": "true" if more and "id" not in result.columns else "false"}
        if more and "id" in result.columns:  # "id field is required ... to return the pages" (ResourcesFirstPageQuery)
            out["$skipToken"] = _token(offset + len(page), text)
        out["facets"] = [_facet(f, text, tables, now) for f in _facet_list(body.get("facets"))]
        out["data"] = _data(result.columns, page, options.table)
        return json_response(out)

    def _subscriptions(self, req: Req, body: dict[str, Any]) -> list[str]:
        mgs = body.get("managementGroups")
        if mgs:
            raise BadRequest("azvm has no management groups: scope the query with 'subscriptions' (or neither, for"
                             " every subscription the caller can see).", target="managementGroups")
        visible = (req.principal.principal.subscriptions() if req.principal is not None
                   else [self.api.cfg.subscription_id])
        subs = body.get("subscriptions")
        if subs is None:
            return list(visible)
        if not isinstance(subs, list) or not all(isinstance(s, str) and _GUID.fullmatch(s) for s in subs):
            raise BadRequest("The property 'subscriptions' must be a list of subscription ids (GUIDs).",
                             target="subscriptions")
        return list(dict.fromkeys(s.lower() for s in subs))


class _Options:
    def __init__(self, top: int, skip: int | None, token: str | None, table: bool) -> None:
        self.top, self.skip, self.token, self.table = top, skip, token, table


def _options(value: Any) -> _Options:
    """`QueryRequestOptions`: $top (1..1000), $skip (>= 0), $skipToken, resultFormat (table | objectArray),
    allowPartialScopes, authorizationScopeFilter (resourcegraph.json)."""
    if value is None:
        return _Options(PAGE_SIZE, None, None, False)
    if not isinstance(value, dict):
        raise BadRequest("The property 'options' must be an object.", target="options")
    top = value.get("$top")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 1000):
        raise BadRequest("The option '$top' must be an integer from 1 to 1000.", target="options.$top")
    skip = value.get("$skip")
    if skip is not None and (isinstance(skip, bool) or not isinstance(skip, int) or skip < 0):
        raise BadRequest("The option '$skip' must be a non-negative integer.", target="options.$skip")
    token = value.get("$skipToken")
    if token is not None and not isinstance(token, str):
        raise BadRequest("The option '$skipToken' must be a string.", target="options.$skipToken")
    fmt = value.get("resultFormat", "objectArray")
    if not isinstance(fmt, str) or fmt.lower() not in ("objectarray", "table"):
        raise BadRequest(f"The option 'resultFormat' must be 'objectArray' or 'table', not {json.dumps(fmt)}.",
                         target="options.resultFormat")
    scope_filter = value.get("authorizationScopeFilter")
    if scope_filter is not None and scope_filter not in _SCOPE_FILTERS:
        raise BadRequest(f"The option 'authorizationScopeFilter' must be one of {', '.join(_SCOPE_FILTERS)}.",
                         target="options.authorizationScopeFilter")
    return _Options(top or PAGE_SIZE, skip, token or None, fmt.lower() == "table")


def _token(offset: int, query: str) -> str:
    """A continuation: the next row's offset in the result of this query."""
    raw = json.dumps({"$skip": offset, "q": hashlib.sha256(query.encode()).hexdigest()[:16]})
    return base64.b64encode(raw.encode()).decode()


def _untoken(token: str, query: str) -> int:
    try:
        doc = json.loads(base64.b64decode(token, validate=True))
        offset, digest = doc["$skip"], doc["q"]
    except (ValueError, KeyError, TypeError):
        raise BadRequest("The option '$skipToken' is not a token that this service returned.",
                         target="options.$skipToken") from None
    if not isinstance(offset, int) or offset < 0 or digest != hashlib.sha256(query.encode()).hexdigest()[:16]:
        raise BadRequest("The option '$skipToken' belongs to another query: send the query it was returned with.",
                         target="options.$skipToken")
    return offset


def _reader(req: Req) -> Callable[[dict[str, Any]], bool] | None:
    """In strict mode, whether the caller may read a row (`{type}/read` over its id); None: all rows."""
    if req.principal is None:
        return None
    assignments = req.principal.principal.assignments

    def readable(row: dict[str, Any]) -> bool:
        scope = "/" + "/".join(s for s in str(row["id"]).lower().split("/") if s)
        action = f"{row['type']}/read"
        return any(a.permits(action, scope) for a in assignments)
    return readable


def _column_type(values: list[Any]) -> str:
    for v in values:
        if v is not None:
            return _TYPES_OF.get(type(v), "string")
    return "object"


def _data(columns: list[str], rows: list[dict[str, Any]], table: bool) -> Any:
    if not table:
        return [{c: graph.to_json(r.get(c)) for c in columns} for r in rows]
    return {"columns": [{"name": c, "type": _column_type([r.get(c) for r in rows])} for c in columns],
            "rows": [[graph.to_json(r.get(c)) for c in columns] for r in rows]}


def _facet_list(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(f, dict) and isinstance(f.get("expression"), str)
                                              for f in value):
        raise BadRequest("The property 'facets' must be a list of objects with an 'expression'.", target="facets")
    return value


def _facet(f: dict[str, Any], query: str, tables: dict[str, Callable[[], Table]], now: datetime) -> dict[str, Any]:
    """A facet (`FacetRequest`): the query's rows counted by `expression`, filtered, sorted and cut as its
    options say; a FacetError when the expression or options do not run (ResourcesFacetQuery.json)."""
    expression = f["expression"]
    opts = f.get("options") or {}
    try:
        if not isinstance(opts, dict):
            raise BadRequest("The facet's options must be an object.")
        flt, sort_by, order = opts.get("filter"), opts.get("sortBy"), str(opts.get("sortOrder") or "desc")
        top = opts.get("$top", FACET_TOP)
        if order.lower() not in ("asc", "desc") or isinstance(top, bool) or not isinstance(top, int) \
                or not 1 <= top <= 1000:
            raise BadRequest("The facet's sortOrder must be asc or desc and its $top an integer from 1 to 1000.")
        text = query + (f"\n| where {flt}" if flt else "") + f"\n| summarize count = count() by {expression}"
        counted = graph.run(text, tables, now=now)
        ordered = graph.run(f"T | order by {sort_by or 'count'} {order.lower()} | take {top}",
                      {"t": lambda: counted}, now=now)
    except graph.KqlError as e:
        detail = (e.details or [{}])[-1]
        message = str(detail.get("message", e.message))
        m = re.search(r"Failed to resolve scalar expression named '([^']*)'", message)
        error = ({"code": "InvalidColumnNames", "message": f"Invalid column names: [{m.group(1)}]."} if m
                 else {"code": str(detail.get("code", e.code)), "message": message})
        return {"expression": expression, "resultType": "FacetError", "errors": [error]}
    except ArmError as e:
        return {"expression": expression, "resultType": "FacetError",
                "errors": [{"code": e.code, "message": e.message}]}
    return {"expression": expression, "resultType": "FacetResult", "totalRecords": len(counted.rows),
            "count": len(ordered.rows), "data": [{c: graph.to_json(r.get(c)) for c in ordered.columns}
                                                 for r in ordered.rows]}


def routes(api: ArmApi, service: ComputeService) -> list[RouteRow]:
    return ResourceGraph(api, service).routes()


__all__ = ["COLUMNS", "NAMESPACE", "TYPES", "ResourceGraph", "extension_rows", "health_row", "routes", "vm_row"]
