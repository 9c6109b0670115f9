"""The ARM REST dialect for Microsoft.Compute/virtualMachines, and what clients call around it.

One dispatcher: paths are matched segment by segment, case-insensitively, with empty segments
collapsed (`//`), as ARM does. Handlers parse and delegate to the service.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from ..domain.errors import ArmError, NotFound
from ..domain.table import Op
from ..service.billing import BillingService, timeline_from_store
from ..service.compute import ComputeService
from ..service.validation import REGIONS, SIZE_NAMES, SIZES, normalize_location
from . import render
from .http import MAX_BODY, Deferred, Req, Response, empty_response, error_response, json_response
from .versions import COMPUTE_VERSIONS, ApiVersionPolicy

log = logging.getLogger("azvm.arm")

TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
VM_TYPE_NAME = "virtualMachines"


@dataclass
class ServerConfig:
    poll_delay: float = 1.0  # seconds a client should wait between polls (Retry-After)
    tenant_id: str = TENANT_ID
    subscription_id: str = DEFAULT_SUBSCRIPTION


Handler = Callable[[Req], Response | Deferred]


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _untoken(tok: str) -> str:
    try:
        return base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode()
    except ValueError:
        raise ArmError(f"The skip token '{tok}' is invalid.", code="InvalidParameter", target="$skiptoken") from None


class ArmApi:
    def __init__(self, service: ComputeService, config: ServerConfig, versions: ApiVersionPolicy,
                 control: Callable[[Req], Response | Deferred] | None = None, billing: BillingService | None = None) -> None:
        self.svc = service
        self.billing = billing or BillingService()
        self.cfg = config
        self.versions = versions
        self.control = control

    # -- helpers -----------------------------------------------------------------------------
    def _retry_headers(self) -> dict[str, str]:
        d = self.cfg.poll_delay
        if d >= 1 and float(d).is_integer():
            return {"Retry-After": str(int(d))}
        return {"retry-after-ms": str(max(1, round(d * 1000)))}

    def _op_urls(self, req: Req, sub: str, location: str, op_id: str, version: str) -> tuple[str, str]:
        base = f"{req.base}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/operations/{op_id}"
        return f"{base}?api-version={version}", f"{base}?monitor=true&api-version={version}"

    def _lro_headers(self, req: Req, sub: str, location: str, op_id: str, *, location_header: bool) -> dict[str, str]:
        version = req.q("api-version") or COMPUTE_VERSIONS[-1]
        async_url, monitor_url = self._op_urls(req, sub, location, op_id, version)
        h = {"Azure-AsyncOperation": async_url, "azure-asyncnotification": "Enabled", **self._retry_headers()}
        if location_header:
            h["Location"] = monitor_url
        return h

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self, req: Req) -> Response | Deferred:
        self.svc.sync_clock()
        p, n, m = req.low, len(req.low), req.method
        if n >= 1 and p[0] == "azvm" and self.control is not None:
            return self.control(req)
        if n == 2 and p == ["metadata", "endpoints"]:
            return self.metadata(req)
        if n >= 1 and p[0] == "tenants" and n == 1:
            self.versions.check(req.q("api-version"), compute_type=None)
            return json_response({"value": [{"id": f"/tenants/{self.cfg.tenant_id}",
                                             "tenantId": self.cfg.tenant_id, "tenantCategory": "Home",
                                             "displayName": "azvm"}]})
        if n == 0 or p[0] != "subscriptions":
            raise self._no_route(req)
        if n == 1:
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=None)
            return json_response({"value": [self._subscription(self.cfg.subscription_id)]})
        sub = req.parts[1]
        if n == 2:
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=None)
            return json_response(self._subscription(sub))
        if p[2] == "resourcegroups":
            return self.groups(req, sub)
        if p[2] == "operationresults" and n == 4:
            self._need(m, "GET")
            return self.group_operation(req, sub, req.parts[3])
        if p[2] == "providers" and n >= 4:
            if p[3] == "microsoft.compute":
                return self.compute_sub(req, sub)
            if n == 5 and p[3] == "microsoft.costmanagement" and p[4] == "query":
                return self.cost_query(req, f"/subscriptions/{sub}")
            if n == 4:
                self._need(m, "GET")
                self.versions.check(req.q("api-version"), compute_type=None)
                raise ArmError(f"The resource namespace '{req.parts[3]}' is invalid.",
                               code="InvalidResourceNamespace")
        raise self._no_route(req)

    @staticmethod
    def _need(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ArmError(f"The requested resource does not support http method '{method}'.",
                           code="MethodNotAllowed")

    @staticmethod
    def _no_route(req: Req) -> ArmError:
        return ArmError(f"No HTTP resource was found that matches the request URI '/{'/'.join(req.parts)}'.",
                        code="NotFound")

    def _subscription(self, sub: str) -> dict[str, Any]:
        return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
                "subscriptionId": sub, "tenantId": self.cfg.tenant_id, "displayName": "azvm subscription",
                "state": "Enabled", "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                             "quotaId": "PayAsYouGo_2014-09-01",
                                                             "spendingLimit": "Off"}}

    def metadata(self, req: Req) -> Response:
        base = req.base + "/"
        return json_response({
            "galleryEndpoint": base, "graphEndpoint": base, "portalEndpoint": base,
            "graphAudience": base, "batch": base, "name": "azvm",
            "authentication": {"loginEndpoint": req.base, "audiences": [
                "https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common", "identityProvider": "AAD"},
            "media": base, "resourceManager": base, "sqlManagement": base, "microsoftGraphResourceId": base,
            "appInsightsResourceId": base, "appInsightsTelemetryChannelResourceId": base,
            "attestationResourceId": base, "synapseAnalyticsResourceId": base, "logAnalyticsResourceId": base,
            "ossrDbmsResourceId": base,
            "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.net", "acrLoginServer": "azurecr.io",
                         "sqlServerHostname": "database.windows.net", "keyVaultDns": "vault.azure.net",
                         "storage": "core.windows.net", "storageSyncEndpointSuffix": "afs.azure.net",
                         "mhsmDns": "managedhsm.azure.net", "mysqlServerEndpoint": "mysql.database.azure.com",
                         "postgresqlServerEndpoint": "postgres.database.azure.com",
                         "mariadbServerEndpoint": "mariadb.database.azure.com",
                         "synapseAnalytics": "dev.azuresynapse.net", "attestationEndpoint": "attest.azure.net"}})

    # -- resource groups ---------------------------------------------------------------------
    def groups(self, req: Req, sub: str) -> Response:
        n, m = len(req.low), req.method
        if n == 3:
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=None)
            now = self.svc.now()
            return json_response({"value": [render.group_body(g, now) for g in self.svc.list_groups(sub)]})
        rg = req.parts[3]
        if n == 4:
            self.versions.check(req.q("api-version"), compute_type=None)
            if m == "PUT":
                row, created = self.svc.create_or_update_group(sub, rg, req.json())
                return json_response(render.group_body(row, self.svc.now()), 201 if created else 200)
            if m == "GET":
                return json_response(render.group_body(self.svc.get_group(sub, rg), self.svc.now()))
            if m == "HEAD":
                try:
                    self.svc.get_group(sub, rg)
                except ArmError:
                    return empty_response(404)
                return empty_response(204)
            if m == "DELETE":
                op_id = self.svc.delete_group(sub, rg)
                url = f"{req.base}/subscriptions/{sub}/operationresults/{op_id}?api-version={req.q('api-version')}"
                return empty_response(202, {"Location": url, **self._retry_headers()})
            self._need(m, "PUT", "GET", "HEAD", "DELETE")
        if n >= 6 and req.low[4] == "providers" and req.low[5] == "microsoft.compute":
            return self.compute_rg(req, sub, rg)
        if n == 7 and req.low[4] == "providers" and req.low[5] == "microsoft.costmanagement" and req.low[6] == "query":
            self.svc.require_group(sub, rg)
            return self.cost_query(req, f"/subscriptions/{sub}/resourceGroups/{rg}")
        if n == 5 and req.low[4] == "resources":
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=None)
            self.svc.require_group(sub, rg)
            vms, _ = self.svc.list_vms(sub, rg=rg, limit=100000)
            return json_response({"value": [{"id": st.row.model["id"], "name": st.row.name,
                                             "type": "Microsoft.Compute/virtualMachines",
                                             "location": st.row.location} for st in vms]})
        raise self._no_route(req)

    def cost_query(self, req: Req, scope: str) -> Response:
        """A subset of the Cost Management Query API, so that azure-mgmt-costmanagement reads azvm's costs."""
        self._need(req.method, "POST")
        self.versions.check(req.q("api-version"), compute_type=None)
        tl = timeline_from_store(self.svc.store)
        return json_response(self.billing.query(tl, scope, req.json(), self.svc.now()))

    def group_operation(self, req: Req, sub: str, op_id: str) -> Response:
        found = self.svc.group_operation(op_id)
        if found is None:
            raise NotFound(f"The operation '{op_id}' could not be found.", code="NotFound")
        _g, done = found
        if done:
            return empty_response(200)
        return empty_response(202, {"Location": f"{req.base}/subscriptions/{sub}/operationresults/{op_id}"
                                                f"?api-version={req.q('api-version')}", **self._retry_headers()})

    # -- Microsoft.Compute, subscription scope -----------------------------------------------
    def compute_sub(self, req: Req, sub: str) -> Response:
        p, n, m = req.low, len(req.low), req.method
        if n == 4:
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=None)
            return json_response(self._provider(sub))
        if n == 5 and p[4] == "virtualmachines":
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=VM_TYPE_NAME)
            return self.list_page(req, sub, rg=None, location=None)
        if n >= 6 and p[4] == "locations":
            location = normalize_location(req.parts[5])
            if n == 7 and p[6] == "virtualmachines":
                self._need(m, "GET")
                self.versions.check(req.q("api-version"), compute_type="locations/virtualMachines",
                                    location=location)
                return self.list_page(req, sub, rg=None, location=location)
            if n == 7 and p[6] == "vmsizes":
                self._need(m, "GET")
                self.versions.check(req.q("api-version"), compute_type="locations/vmSizes", location=location)
                return json_response({"value": self._sizes()})
            if n == 8 and p[6] in ("operations", "operationresults"):
                self._need(m, "GET")
                self.versions.check(req.q("api-version"), compute_type="locations/operations", location=location)
                return self.operation(req, sub, location, req.parts[7])
        raise self._no_route(req)

    def _provider(self, sub: str) -> dict[str, Any]:
        locs = sorted(REGIONS)
        types = ["virtualMachines", "locations", "locations/operations", "locations/vmSizes",
                 "locations/virtualMachines", "operations"]
        return {"id": f"/subscriptions/{sub}/providers/Microsoft.Compute", "namespace": "Microsoft.Compute",
                "registrationState": "Registered", "registrationPolicy": "RegistrationRequired",
                "resourceTypes": [{"resourceType": t, "locations": locs,
                                   "apiVersions": list(reversed(COMPUTE_VERSIONS)),
                                   "defaultApiVersion": COMPUTE_VERSIONS[-1], "capabilities": "None"}
                                  for t in types]}

    @staticmethod
    def _sizes() -> list[dict[str, Any]]:
        return [{"name": SIZE_NAMES[k], "numberOfCores": v[0], "osDiskSizeInMB": 1047552,
                 "resourceDiskSizeInMB": v[3], "memoryInMB": v[1], "maxDataDiskCount": v[2]}
                for k, v in SIZES.items()]

    def operation(self, req: Req, sub: str, location: str, op_id: str) -> Response:
        view = self.svc.operation(op_id)
        if view is None:
            raise NotFound(f"The operation '{op_id}' could not be found.", code="NotFound")
        if req.flag("monitor"):
            if view.status.value == "InProgress":
                _a, monitor = self._op_urls(req, sub, location, op_id, req.q("api-version") or "")
                return empty_response(202, {"Location": monitor, **self._retry_headers()})
            return empty_response(200, {"content-length": "0"})
        headers = self._retry_headers() if view.status.value == "InProgress" else None
        return json_response(render.operation_body(view), 200, headers)

    def list_page(self, req: Req, sub: str, *, rg: str | None, location: str | None) -> Response:
        status_only = req.flag("statusOnly")
        expand = (req.q("$expand") or "").lower()
        if expand and expand != "instanceview":
            raise ArmError(f"The value '{req.q('$expand')}' of query parameter '$expand' is not allowed. Allowed"
                           " values are 'instanceView'.", code="InvalidParameter", target="$expand")
        tok = req.q("$skiptoken")
        top = req.q("$top")
        limit = None
        if top is not None:
            if not (top.isascii() and top.isdigit()) or not 1 <= int(top) <= 1000:
                raise ArmError("$top must be an integer from 1 to 1000.", code="InvalidParameter", target="$top")
            limit = int(top)
        vms, last = self.svc.list_vms(sub, rg=rg, location=location, after_key=_untoken(tok) if tok else None,
                                      limit=limit)
        body: dict[str, Any] = {"value": [render.vm_body(st, expand=expand == "instanceview", status_only=status_only)
                                          for st in vms]}
        if last is not None:
            q = [(k, v) for k, v in req.query.items() if k != "$skiptoken"]
            q.append(("$skiptoken", _token(last)))
            path = "/" + "/".join(req.parts)
            body["nextLink"] = f"{req.base}{path}?" + "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}"
                                                                 for k, v in q)
        return json_response(body)

    # -- Microsoft.Compute, resource group scope ---------------------------------------------
    def compute_rg(self, req: Req, sub: str, rg: str) -> Response:
        p, n, m = req.low, len(req.low), req.method
        if n < 7 or p[6] != "virtualmachines":
            raise self._no_route(req)
        if n == 7:
            self._need(m, "GET")
            self.versions.check(req.q("api-version"), compute_type=VM_TYPE_NAME)
            return self.list_page(req, sub, rg=rg, location=None)
        name = req.parts[7]
        self.versions.check(req.q("api-version"), compute_type=VM_TYPE_NAME)
        if n == 8:
            if m == "GET":
                expand = (req.q("$expand") or "").lower()
                if expand and expand not in ("instanceview", "userdata"):
                    raise ArmError(f"The value '{req.q('$expand')}' of query parameter '$expand' is not allowed."
                                   " Allowed values are 'instanceView', 'userData'.", code="InvalidParameter",
                                   target="$expand")
                st = self.svc.require_vm(sub, rg, name, skip_update=not expand)
                return json_response(render.vm_body(st, expand=expand == "instanceview"))
            if m == "PUT":
                st, op, created = self.svc.create_or_update(sub, rg, name, req.json())
                headers = self._lro_headers(req, sub, st.row.location, op.op_id, location_header=False)
                body = render.vm_body(st)
                headers["etag"] = body["etag"]  # as the real PUT answers (cli_vm_resize_put_200_2025.json)
                return json_response(body, 201 if created else 200, headers)
            if m == "PATCH":
                st, op = self.svc.update(sub, rg, name, req.json())
                return json_response(render.vm_body(st), 200, self._retry_headers())
            if m == "DELETE":
                force = req.flag("forceDeletion")
                if self.svc.get_state(sub, rg, name) is None:
                    self.svc.require_group(sub, rg)
                    return empty_response(204)
                op, location = self.svc.act(sub, rg, name, Op.FORCE_DELETE if force else Op.DELETE)
                return self._accepted(req, sub, op.op_id, location)
            self._need(m, "GET", "PUT", "PATCH", "DELETE")
        if n == 9:
            action = p[8]
            if action == "instanceview":
                self._need(m, "GET")
                st = self.svc.require_vm(sub, rg, name)
                return json_response(render.instance_view(st))
            if action == "vmsizes":
                self._need(m, "GET")
                self.svc.require_vm(sub, rg, name)
                return json_response({"value": self._sizes()})
            ops = {"start": Op.START, "restart": Op.RESTART, "redeploy": Op.REDEPLOY, "reapply": Op.REAPPLY}
            if action in ops or action in ("poweroff", "deallocate"):
                self._need(m, "POST")
                if action == "poweroff":
                    op_kind = Op.POWER_OFF_SKIP if req.flag("skipShutdown") else Op.POWER_OFF
                elif action == "deallocate":
                    op_kind = Op.HIBERNATE if req.flag("hibernate") else Op.DEALLOCATE
                else:
                    op_kind = ops[action]
                op, location = self.svc.act(sub, rg, name, op_kind)
                return self._accepted(req, sub, op.op_id, location)
        raise self._no_route(req)

    def _accepted(self, req: Req, sub: str, op_id: str, location: str) -> Response:
        return empty_response(202, {**self._lro_headers(req, sub, location, op_id, location_header=True),
                                    "content-length": "0"})


def _parse_query(qs: str) -> dict[str, str]:
    query: dict[str, str] = {}
    if not qs:
        return query
    if "%" in qs or "+" in qs:
        for k, v in parse_qsl(qs, keep_blank_values=True):
            query.setdefault(k.lower(), v)
        return query
    for part in qs.split("&"):
        if part:
            k, _, v = part.partition("=")
            query.setdefault(k.lower(), v)
    return query


class GroupCommit:
    """Answers no request before what it wrote is committed, and lets the writes of the requests
    that one turn of the event loop handles share a single commit (SqliteStore.group_commit)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batch: asyncio.Future[None] | None = None

    async def durable(self) -> None:
        if not self.store.pending():
            return
        if self.batch is None:
            loop = asyncio.get_running_loop()
            self.batch = loop.create_future()
            loop.call_soon(self._commit)
        await asyncio.shield(self.batch)

    def _commit(self) -> None:
        batch, self.batch = self.batch, None
        assert batch is not None
        try:
            self.store.commit()
        except Exception as e:  # nobody in this batch is acknowledged
            log.error("group commit failed: %r", e)
            batch.set_exception(e)
            batch.exception()  # retrieved: the waiters re-raise it
            return
        batch.set_result(None)


class ArmAsgi:
    """The ASGI application: parses just what ARM needs from the request, dispatches, answers.

    It speaks ASGI directly rather than through Starlette's router and request objects: every
    request goes to one dispatcher anyway, and the read path is the hot path.
    """

    def __init__(self, api: ArmApi) -> None:
        self.api = api
        self.group = GroupCommit(api.svc.store)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets: nothing to do
        method: str = scope["method"]
        host = content_type = ""
        content_length = -1
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit():
                content_length = int(value)
        try:
            body = b""
            if content_length > MAX_BODY:
                raise ArmError(f"The request content size exceeds the maximum of {MAX_BODY} bytes.",
                               code="RequestEntityTooLarge")
            if method in ("PUT", "PATCH", "POST"):
                chunks: list[bytes] = []
                size = 0
                more = True
                while more:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > MAX_BODY:
                        raise ArmError(f"The request content size exceeds the maximum of {MAX_BODY} bytes.",
                                       code="RequestEntityTooLarge")
                    chunks.append(chunk)
                    more = message.get("more_body", False)
                body = b"".join(chunks)
            path: str = scope["path"]
            parts = [s for s in path.split("/") if s]
            query = _parse_query(scope.get("query_string", b"").decode("latin-1"))
            if not host:
                server = scope.get("server") or ("localhost", 80)
                host = f"{server[0]}:{server[1]}"
            req = Req(method, parts, [s.lower() for s in parts], query, body, f"{scope.get('scheme', 'http')}://{host}",
                      content_type)
            with self.api.svc.store.request():
                resp = self.api.dispatch(req)
            if isinstance(resp, Deferred):  # long pure work (billing): off the event loop
                resp = await asyncio.to_thread(resp.work)
        except ArmError as e:
            resp = error_response(e)
        except Exception:  # never a traceback on the wire: log it, answer the ARM envelope
            log.error("unexpected error on %s %s\n%s", method, scope.get("path"), traceback.format_exc())
            resp = error_response(ArmError("The server encountered an internal error; it has been logged.",
                                           code="InternalServerError"))
        try:
            await self.group.durable()  # nothing is answered before what it wrote is committed
        except Exception:
            log.error("commit failed for %s %s\n%s", method, scope.get("path"), traceback.format_exc())
            resp = error_response(ArmError("The change could not be committed; it was not applied.",
                                           code="InternalServerError"))
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items()
                   if k != "content-length"]
        body_out = b"" if method == "HEAD" else resp.body
        headers.append((b"content-length", str(len(resp.body) if method != "HEAD" else 0).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": body_out})


def build_app(api: ArmApi) -> ArmAsgi:
    return ArmAsgi(api)


__all__ = ["ArmApi", "ArmAsgi", "ServerConfig", "build_app"]
