"""Microsoft.Resources/deployments: ARM template deployments at resource-group and subscription scope.

The routes (paths as azure-mgmt-resource-deployments 2.0.0 and azure-cli 2.91.0 send them, see
../shared/reference/arm-templates.md §5): PUT (201 + Azure-AsyncOperation to
`.../deployments/{name}/operationStatuses/{opId}`), GET, HEAD, list (az sends a trailing slash; the
route table collapses it), DELETE (202 + Location, then 204), cancel, validate (200, or 400 with the
`InvalidTemplateDeployment` envelope), exportTemplate, and the operations list — which at resource-group
scope has no `providers/Microsoft.Resources` segment.

The engine (`azvm.service.deployments`) reaches each resource through `ArmSlots`: the same route
table, handlers and api-version checks as a client's request, so a deployed VM is an ordinary VM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..arm.app import ArmApi
from ..arm.http import Deferred, Req, Response, empty_response, error_response, json_response, parse_json
from ..arm.routes import Params, RouteRow
from ..arm.versions import FAMILIES
from ..domain.errors import ArmError, NotFound
from ..domain.resource_id import ResourceId
from ..service.compute import ComputeService
from ..service.deployments import TYPE, Deployments, Outcome, deployment_id

if TYPE_CHECKING:
    from ..templates import PlannedResource

NAMESPACE = "Microsoft.Resources"
FAMILY = "deployments"
TYPES: list[tuple[str, str]] = [("deployments", FAMILY), ("deployments/operations", FAMILY),
                                ("deployments/operationStatuses", FAMILY)]
SUB = "/subscriptions/{subscriptionId}"
RG = SUB + "/resourcegroups/{resourceGroupName}"
BASE = "https://management.azure.com"  # what a deployment's own writes are addressed to
ANY_VERSION = "2024-11-01"  # for a route whose family accepts any well-formed version


class ArmSlots:
    """Each resource of a deployment goes through its type's own route, handler and api-version check."""

    def __init__(self, api: ArmApi, svc: ComputeService) -> None:
        self.api = api
        self.svc = svc

    def _req(self, method: str, path: str, api_version: str | None, body: Any = None,
             query: dict[str, str] | None = None) -> Req:
        parts = [s for s in path.split("/") if s]
        q = dict(query or {})
        if api_version is not None:
            q["api-version"] = api_version
        raw = orjson.dumps(body) if body is not None else b""
        return Req(method, parts, [s.lower() for s in parts], q, raw, BASE, "application/json")

    def _call(self, req: Req) -> Response:
        try:
            route, params = self.api.router.match(req)
            if route.family is not None:
                self.api.versions.check(req.q("api-version"), family=route.family, type_name=route.type_name,
                                        location=params.get("location", "global"))
            resp = route.handler(req, params)
        except ArmError as e:
            return error_response(e)
        assert not isinstance(resp, Deferred)
        return resp

    @staticmethod
    def _error(resp: Response) -> dict[str, Any] | None:
        if resp.status < 400:
            return None
        body = parse_json(resp.body) if resp.body else {}
        err = body.get("error") if isinstance(body, dict) else None
        return err if isinstance(err, dict) else {"code": str(resp.status), "message": "The request failed."}

    def preflight(self, r: PlannedResource) -> dict[str, Any] | None:
        req = self._req("PUT", r.id, r.api_version)
        try:
            route, params = self.api.router.match(req)
        except ArmError:
            route = None
        if route is None or route.template.startswith("/azvm"):
            ns, t = r.type.split("/", 1)
            return {"code": "NoRegisteredProviderFound", "target": r.id,
                    "message": f"The resource type '{t}' of namespace '{ns}' ({r.where}) is not served by azvm."}
        try:
            if route.family is not None:
                self.api.versions.check(r.api_version, family=route.family, type_name=route.type_name,
                                        location=params.get("location", "global"))
        except ArmError as e:
            return {"code": e.code, "message": e.message, "target": r.id}
        return None

    def put(self, r: PlannedResource, body: dict[str, Any]) -> Outcome:
        resp = self._call(self._req("PUT", r.id, r.api_version, body))
        return self._outcome(resp)

    def delete(self, rid: str) -> Outcome:
        parsed = ResourceId.parse(rid)
        return self._outcome(self._call(self._req("DELETE", rid, self._version_for(parsed))))

    def _outcome(self, resp: Response) -> Outcome:
        error = self._error(resp)
        if error is not None:
            return Outcome(resp.status, error=error)
        url = resp.headers.get("Azure-AsyncOperation")
        if url is None:
            return Outcome(resp.status)
        op_id = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        view = self.svc.operation(op_id)
        end = view.end_us if view is not None else None
        return Outcome(resp.status, end_us=end, op_url=url)

    def result(self, op_url: str) -> tuple[str, dict[str, Any] | None, int | None]:
        u = urlsplit(op_url)
        query = dict(parse_qsl(u.query))
        resp = self._call(self._req("GET", u.path, None, query=query))
        body = parse_json(resp.body) if resp.body else {}
        if resp.status >= 400 or not isinstance(body, dict):
            return "Failed", self._error(resp), None
        op_id = u.path.rstrip("/").rsplit("/", 1)[-1]
        view = self.svc.operation(op_id)
        err = body.get("error")
        return str(body.get("status", "Succeeded")), err if isinstance(err, dict) else None, \
            (view.end_us if view is not None else None)

    def read(self, rid: str, api_version: str | None) -> dict[str, Any] | None:
        try:
            parsed = ResourceId.parse(rid)
        except ArmError:
            return None
        resp = self._call(self._req("GET", rid, api_version or self._version_for(parsed)))
        if resp.status != 200:
            return None
        body = parse_json(resp.body)
        return body if isinstance(body, dict) else None

    def _version_for(self, rid: ResourceId) -> str:
        req = self._req("GET", str(rid), None)
        try:
            route, _ = self.api.router.match(req)
        except ArmError:
            return ANY_VERSION
        versions = FAMILIES.get(route.family or "")
        return versions[-1] if versions else ANY_VERSION

    def group_members(self, sub: str, rg: str) -> list[str]:
        vms, _ = self.svc.list_vms(sub, rg=rg, limit=100_000)
        ids = [str(st.row.model.get("id")) for st in vms]
        after: str | None = None
        while True:
            rows, after = self.svc.resources.page(sub=sub, rg=rg, after=after, limit=1000)
            for row in rows:
                spec = self.svc.resources.spec(row.type)
                if row.type.count("/") == 1 and (spec is None or spec.generic):
                    ids.append(str(row.body.get("id")))
            if after is None:
                return ids


class DeploymentRoutes:
    def __init__(self, api: ArmApi, svc: ComputeService, engine: Deployments) -> None:
        self.api = api
        self.svc = svc
        self.engine = engine

    def routes(self) -> list[RouteRow]:
        out: list[RouteRow] = []
        for scope in (RG, SUB):
            d = scope + "/providers/Microsoft.Resources/deployments"
            one = d + "/{deploymentName}"
            out += [
                ("GET", d, self.list, FAMILY, "deployments"),
                ("PUT", one, self.put, FAMILY, "deployments"),
                ("GET", one, self.get, FAMILY, "deployments"),
                ("HEAD", one, self.head, FAMILY, "deployments"),
                ("DELETE", one, self.delete, FAMILY, "deployments"),
                ("POST", one + "/cancel", self.cancel, FAMILY, "deployments"),
                ("POST", one + "/validate", self.validate, FAMILY, "deployments"),
                ("POST", one + "/exportTemplate", self.export, FAMILY, "deployments"),
                ("GET", one + "/operationStatuses/{operationId}", self.status, FAMILY, "deployments/operationStatuses"),
                ("GET", one + "/operationResults/{operationId}", self.delete_result, FAMILY, "deployments"),
            ]
        # the operations list: at resource-group scope without `providers/Microsoft.Resources`
        # (DeploymentOperations_List), at subscription scope with it (DeploymentOperations_ListAtSubscriptionScope)
        for ops in (RG + "/deployments/{deploymentName}/operations",
                    SUB + "/providers/Microsoft.Resources/deployments/{deploymentName}/operations"):
            out += [("GET", ops, self.operations, FAMILY, "deployments/operations"),
                    ("GET", ops + "/{operationId}", self.operation, FAMILY, "deployments/operations")]
        return out

    @staticmethod
    def _scope(p: Params) -> tuple[str, str | None, str]:
        return p["subscriptionId"], p.get("resourceGroupName"), p.get("deploymentName", "")

    def put(self, req: Req, p: Params) -> Response:
        sub, rg, name = self._scope(p)
        row, created = self.engine.create(sub, rg, name, req.body)
        op = row.body["opId"]
        url = f"{req.base}{deployment_id(sub, rg, row.name)}/operationStatuses/{op}?api-version={req.q('api-version')}"
        return json_response(self.engine.render(row), 201 if created else 200,
                             {"Azure-AsyncOperation": url, **self.api.retry_headers()})

    def get(self, req: Req, p: Params) -> Response:
        return json_response(self.engine.render(self.engine.require(*self._scope(p))))

    def head(self, req: Req, p: Params) -> Response:
        return empty_response(204 if self.engine.find(*self._scope(p)) is not None else 404)

    def list(self, req: Req, p: Params) -> Response:
        sub, rg, _ = self._scope(p)
        rows = self.engine.listed(sub, rg)
        value = [self.engine.render(r) for r in rows]
        flt = req.q("$filter")
        if flt:
            value = _filter(value, flt)
        top = self.api.page_limit(req)
        return json_response({"value": value[:top] if top else value})

    def delete(self, req: Req, p: Params) -> Response:
        sub, rg, name = self._scope(p)
        if not self.engine.delete(sub, rg, name):
            return empty_response(204)
        url = f"{req.base}{deployment_id(sub, rg, name)}/operationResults/delete?api-version={req.q('api-version')}"
        return empty_response(202, {"Location": url, **self.api.retry_headers()})

    def delete_result(self, req: Req, p: Params) -> Response:
        return empty_response(204)  # a deployment's deletion from the history is done when accepted

    def cancel(self, req: Req, p: Params) -> Response:
        self.engine.cancel(*self._scope(p))
        return empty_response(204)

    def validate(self, req: Req, p: Params) -> Response:
        sub, rg, name = self._scope(p)
        return json_response(self.engine.validate(sub, rg, name, req.body))

    def export(self, req: Req, p: Params) -> Response:
        return json_response(self.engine.export(self.engine.require(*self._scope(p))))

    def status(self, req: Req, p: Params) -> Response:
        row = self.engine.require(*self._scope(p))
        if str(row.body.get("opId")) != p["operationId"]:
            raise NotFound(f"The operation '{p['operationId']}' could not be found.", code="OperationNotFound")
        body = self.engine.status(row)
        if body["status"] not in ("Succeeded", "Failed", "Canceled") and self.svc.clock.state.skip:
            due = self.engine.next_due(row.key)
            if due is not None:  # time skipping: the client waits for the deployment's next instant
                self.svc.time.skip_to(due)
                self.engine.catch_up()
                row = self.engine.require(*self._scope(p))
                body = self.engine.status(row)
        return json_response(body, headers=self.api.retry_headers())

    def operations(self, req: Req, p: Params) -> Response:
        row = self.engine.require(*self._scope(p))
        return json_response({"value": self.engine.operations(row)})

    def operation(self, req: Req, p: Params) -> Response:
        row = self.engine.require(*self._scope(p))
        for op in self.engine.operations(row):
            if op["operationId"].lower() == p["operationId"].lower():
                return json_response(op)
        raise NotFound(f"The deployment operation '{p['operationId']}' could not be found.",
                       code="DeploymentOperationNotFound")


def _filter(value: list[dict[str, Any]], flt: str) -> list[dict[str, Any]]:
    """`$filter=provisioningState eq '{state}'`, the one filter Deployments_List documents."""
    parts = flt.split()
    if len(parts) == 3 and parts[0].lower() == "provisioningstate" and parts[1].lower() == "eq":
        want = parts[2].strip("'").lower()
        return [d for d in value if str(d["properties"]["provisioningState"]).lower() == want]
    raise ArmError(f"The $filter '{flt[:200]}' is not supported: use provisioningState eq '{{state}}'.",
                   code="InvalidFilter", target="$filter")


def engine(api: ArmApi, service: ComputeService) -> Deployments:
    """The deployment engine over `service`, reaching resources through `api`'s route table; its
    `catch_up` must run before every request (build_api chains it to the clock's sync)."""
    d = Deployments(service.store, service.resources, service.time, service.clock, service.ids, service.time.lock,
                    lambda _sub: api.cfg.tenant_id, shared=service.settings.shared_clock)
    d.slots = ArmSlots(api, service)
    return d


def routes(api: ArmApi, service: ComputeService, deployments: Deployments) -> list[RouteRow]:
    return DeploymentRoutes(api, service, deployments).routes()


__all__ = ["NAMESPACE", "TYPE", "TYPES", "engine", "routes"]
