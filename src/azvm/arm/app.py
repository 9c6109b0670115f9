"""The ARM edge: the route table, api-version families, LRO headers, paging, the error envelope.

The edge knows no resource type. Resource providers (azvm.providers) register their routes in the
table (azvm.arm.routes); a request is matched there (404/405 from the table), its path parameters
validated by name, its api-version checked against the route's family, and only then handed to
the route's handler, which parses and delegates to the service.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

from ..domain.errors import ArmError
from ..service import callers
from ..service.faults import COMPUTE_POLICIES, VM_TYPE_LOWER, Faults, Target
from ..service.ports import Store
from ..service.throttling import (
    COMPUTE_LIMITS,
    Charge,
    Refusal,
    Throttler,
    arm_bucket,
    compute_policy,
    default_retry_after,
)
from ..wire import http_date
from . import render
from .http import MAX_BODY, Deferred, Req, Response, empty_response, error_response, json_response
from .routes import Params, Route, Router
from .versions import ApiVersionPolicy

log = logging.getLogger("azvm.arm")

TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass
class ServerConfig:
    poll_delay: float = 1.0  # seconds a client should wait between polls (Retry-After)
    tenant_id: str = TENANT_ID
    subscription_id: str = DEFAULT_SUBSCRIPTION


# authentication and authorization of a matched request (azvm.identity.auth): None lets it through
# (having set req.principal), a Response refuses it (401, 403)
Authorize = Callable[[Req, Route, Params], Response | None]


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _untoken(tok: str) -> str:
    try:
        return base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)).decode()
    except ValueError:
        raise ArmError(f"The skip token '{tok}' is invalid.", code="InvalidParameter", target="$skiptoken") from None


class ArmApi:
    """What every handler shares: the route table, the api-version policy, LRO headers, paging."""

    def __init__(self, store: Store, config: ServerConfig, versions: ApiVersionPolicy, router: Router,
                 before: Callable[[], None] | None = None, now: Callable[[], int] | None = None) -> None:
        self.store = store
        self.now = now  # the simulated clock, for the Date header (None: no Date header)
        self.cfg = config
        self.versions = versions
        self.router = router
        self.before = before  # run before each request (adopting a clock that another process moved)
        self.auth: Authorize | None = None  # None: no check at all (azvm.server sets the --auth mode's)
        # rate limits and throttling faults (azvm.server installs them): None while neither is set
        self.throttle: Throttling | None = None
        self.rate_headers: dict[str, str] | None = None  # the x-ms-ratelimit-* headers of the request at hand

    # -- long-running operations ------------------------------------------------------------------
    def retry_headers(self) -> dict[str, str]:
        d = self.cfg.poll_delay
        if d >= 1 and float(d).is_integer():
            return {"Retry-After": str(int(d))}
        return {"retry-after-ms": str(max(1, round(d * 1000)))}

    def operation_urls(self, req: Req, namespace: str, sub: str, location: str, op_id: str,
                       version: str, segment: str = "operations") -> tuple[str, str]:
        """(Azure-AsyncOperation, Location) URLs of an operation, as `namespace` spells them (managed
        disks use `DiskOperations`)."""
        base = f"{req.base}/subscriptions/{sub}/providers/{namespace}/locations/{location}/{segment}/{op_id}"
        return f"{base}?api-version={version}", f"{base}?monitor=true&api-version={version}"

    def lro_headers(self, req: Req, namespace: str, sub: str, location: str, op_id: str, *,
                    location_header: bool, segment: str = "operations") -> dict[str, str]:
        version = req.q("api-version") or ""
        async_url, monitor_url = self.operation_urls(req, namespace, sub, location, op_id, version, segment)
        h = {"Azure-AsyncOperation": async_url, "azure-asyncnotification": "Enabled", **self.retry_headers()}
        if location_header:
            h["Location"] = monitor_url
        return h

    def accepted(self, req: Req, namespace: str, sub: str, location: str, op_id: str,
                 segment: str = "operations") -> Response:
        """202 with no body, Azure-AsyncOperation and Location: how actions and deletes answer."""
        headers = self.lro_headers(req, namespace, sub, location, op_id, location_header=True, segment=segment)
        return empty_response(202, {**headers, "content-length": "0"})

    # -- paging ---------------------------------------------------------------------------------------
    @staticmethod
    def page_limit(req: Req, default: int | None = None) -> int | None:
        top = req.q("$top")
        if top is None:
            return default
        if not (top.isascii() and top.isdigit()) or not 1 <= int(top) <= 1000:
            raise ArmError("$top must be an integer from 1 to 1000.", code="InvalidParameter", target="$top")
        return int(top)

    @staticmethod
    def page_after(req: Req) -> str | None:
        tok = req.q("$skiptoken")
        return _untoken(tok) if tok else None

    @staticmethod
    def page(req: Req, value: list[Any], last_key: str | None) -> dict[str, Any]:
        """A list answer; with `last_key`, a nextLink that continues after it."""
        body: dict[str, Any] = {"value": value}
        if last_key is not None:
            body["nextLink"] = ArmApi.next_link(req, last_key)
        return body

    @staticmethod
    def next_link(req: Req, last_key: str) -> str:
        """The request again, continuing after `last_key` (a $skiptoken)."""
        q = [(k, v) for k, v in req.query.items() if k != "$skiptoken"]
        q.append(("$skiptoken", _token(last_key)))
        path = "/" + "/".join(req.parts)
        return f"{req.base}{path}?" + "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in q)

    # -- dispatch -------------------------------------------------------------------------------------
    def dispatch(self, req: Req) -> Response | Deferred:
        if self.before is not None:
            self.before()
        route, params = self.router.match(req)
        if route.action is not None and self.auth is not None:
            refusal = self.auth(req, route, params)
            if refusal is not None:
                return refusal
        if self.throttle is not None:  # the one check when neither rate limits nor throttling faults are set
            refusal = self.throttle.screen(self, req, route, params)
            if refusal is not None:
                return refusal
        if route.family is not None:
            self.versions.check(req.q("api-version"), family=route.family, type_name=route.type_name,
                                location=params.get("location", "global"))
        if req.method == "GET" or req.method == "HEAD":
            return route.handler(req, params)  # a read records no caller
        with callers.acting_as(lambda: caller_of(req)):
            return route.handler(req, params)


ZERO_GUID = "00000000-0000-0000-0000-000000000000"


class Throttling:
    """ARM's and Compute's throttling at the edge, after authentication (ARM throttles per principal)
    and before the resource provider: a throttling fault that fires, or an empty bucket of the rate
    limits (azvm.service.throttling), answers 429 with Retry-After; with rate limits on, every answer
    of a subscription's route says what remains (the x-ms-ratelimit-remaining-* headers)."""

    def __init__(self, throttler: Throttler, faults: Faults, now: Callable[[], int]) -> None:
        self.throttler = throttler
        self.faults = faults
        self.now = now
        self._charges: dict[int, tuple[str, str | None, str | None]] = {}  # by route: bucket, policy, parameter
        self._api: ArmApi | None = None

    def install(self, api: ArmApi) -> None:
        """Screen `api`'s requests whenever rate limits or a throttling fault are in force (and cost
        them nothing otherwise: the edge then sees no throttle at all)."""
        self._api = api
        self.faults.on_change.append(self._refresh)
        self._refresh()

    @property
    def on(self) -> bool:
        return self.throttler.on or bool(self.faults.throttle_rules)

    def _refresh(self) -> None:
        if self._api is not None:
            self._api.throttle = self if self.on else None

    def _charge(self, req: Req, route: Route, params: Params) -> Charge:
        known = self._charges.get(id(route))
        if known is None:
            policy, param = compute_policy(route.method, route.template.lower())
            known = self._charges[id(route)] = (arm_bucket(route.method), policy, param)
        bucket, policy, param = known
        resource = None
        if param == "vmName":
            resource = f"{params.get('resourceGroupName', '')}/{params[param]}".lower()
        elif param is not None:
            resource = params[param].lower()
        return Charge(bucket, policy, resource)

    @staticmethod
    def _target(req: Req, params: Params) -> Target:
        low = req.low
        rg = params.get("resourceGroupName")
        rtype = name = None
        if "providers" in low:
            i = low.index("providers")
            if i + 2 < len(low):
                rtype = f"{low[i + 1]}/{low[i + 2]}"
            name = low[i + 3] if i + 3 < len(low) else None
        sub = params["subscriptionId"].lower()
        key = f"/subscriptions/{sub}/resourcegroups/{rg.lower()}/providers/{rtype}/{name}" \
            if rg and rtype == VM_TYPE_LOWER and name else None  # a fault's `vm` names one VM
        return Target(sub, rg.lower() if rg else None, rtype, name, key)

    def screen(self, api: ArmApi, req: Req, route: Route, params: Params) -> Response | None:
        sub = params.get("subscriptionId")
        if sub is None:
            return None  # tenant-level requests: not counted here
        charge = self._charge(req, route, params)
        claims = getattr(req.principal, "claims", None) or {}
        actor = str(claims.get("oid") or ZERO_GUID)
        now = self.now()
        hit = self.faults.on_request(self._target(req, params), (charge.arm, *filter(None, [charge.policy])))
        if hit is not None:
            rule, bucket = hit
            retry = rule.retry_after if rule.retry_after is not None else default_retry_after(bucket)
            if bucket in COMPUTE_POLICIES:
                policy = COMPUTE_LIMITS[bucket]
                scope = "Resource" if policy.resource is not None and charge.resource is not None else \
                    "SubscriptionMaximum"
                limit = policy.resource if scope == "Resource" and policy.resource else policy.subscription
                refusal = Refusal(True, f"{bucket}{scope}", retry, limit.capacity)
                headers = {"x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/{bucket}{scope};0"}
            else:
                refusal = Refusal(False, bucket, retry, 0)
                headers = {f"x-ms-ratelimit-remaining-subscription-{bucket}": "0"}
            return render.throttled(refusal, sub, actor, now, headers)
        if not self.throttler.on:
            return None
        verdict = self.throttler.charge(now, sub.lower(), actor, charge)
        if verdict.refusal is not None:
            return render.throttled(verdict.refusal, sub, actor, now, verdict.headers)
        api.rate_headers = verdict.headers
        return None


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


class _Batch(asyncio.Future[None]):
    """The commit a batch of requests waits for. Cancelling one waiting request does not cancel it:
    asyncio then marks that request's task alone to be cancelled once the batch is done (Task.cancel
    on a future that refuses), as `asyncio.shield` would, without a future of its own per waiter."""

    def cancel(self, msg: Any = None) -> bool:
        return False


class GroupCommit:
    """Answers no request before what it wrote is committed, and lets the writes of the requests
    that one turn of the event loop handles share a single commit (SqliteStore.group_commit)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batch: _Batch | None = None

    async def durable(self) -> None:
        if not self.store.pending():
            return
        if self.batch is None:
            loop = asyncio.get_running_loop()
            self.batch = _Batch(loop=loop)
            loop.call_soon(self._commit)
        await self.batch

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


class Screen(Protocol):
    """Checks a request from its headers before anything else (azvm.guard: own hosts and origins
    only); (status, code, message) to refuse it."""

    def check(self, method: str, path: str, hosts: list[bytes], origins: list[bytes], content_types: list[bytes],
              has_body: bool, local: str | None) -> tuple[int, str, str] | None: ...


class ArmAsgi:
    """The ASGI application: parses just what ARM needs from the request, dispatches, answers.

    It speaks ASGI directly rather than through Starlette's router and request objects: every
    request goes to one dispatcher anyway, and the read path is the hot path.
    """

    def __init__(self, api: ArmApi, screen: Screen | None = None) -> None:
        self.api = api
        self.group = GroupCommit(api.store)
        # called here, on the headers this edge reads anyway, rather than as an ASGI layer of its own
        self.screen = screen

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets: nothing to do
        method: str = scope["method"]
        headers: list[tuple[bytes, bytes]] | None = None
        hosts: list[bytes] = []
        origins: list[bytes] = []
        content_types: list[bytes] = []
        if_match = if_none_match = authorization = None
        content_length = -1
        has_body = False
        for name, value in scope["headers"]:
            if name == b"host":
                hosts.append(value)
            elif name == b"content-type":
                content_types.append(value)
            elif name == b"content-length":
                if value.isdigit():
                    content_length = int(value)
                has_body = has_body or bool(value.strip(b" \t0"))
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"origin":
                origins.append(value)
            elif name == b"if-match":
                if_match = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        if self.screen is not None:
            server = scope.get("server")
            refused = self.screen.check(method, scope["path"], hosts, origins, content_types, has_body,
                                        str(server[0]) if server else None)
            if refused is not None:
                await _send_refusal(send, *refused)
                return
        host = hosts[-1].decode("latin-1") if hosts else ""
        content_type = content_types[-1].decode("latin-1") if content_types else ""
        rate: dict[str, str] | None = None  # the rate-limit headers the request earned
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
                      content_type, if_match, if_none_match, authorization, raw_headers=scope["headers"])
            with self.api.store.request():
                try:
                    resp = self.api.dispatch(req)
                finally:
                    rate = self.api.rate_headers
                    if rate is not None:
                        self.api.rate_headers = None
                if not isinstance(resp, Deferred):
                    # encoded inside the request's transaction: an answer that cannot be sent
                    # rolls back what the request wrote (no write without a well-formed answer)
                    headers = _encode_headers(resp)
            if isinstance(resp, Deferred):  # long pure work (billing): off the event loop
                resp = await asyncio.to_thread(resp.work)
                headers = _encode_headers(resp)
        except ArmError as e:
            resp, headers = error_response(e, _retry_after(e)), None
        except Exception:  # never a traceback on the wire: log it, answer the ARM envelope
            log.error("unexpected error on %s %s\n%s", method, scope.get("path"), traceback.format_exc())
            resp, headers = error_response(ArmError("The server encountered an internal error; it has been logged.",
                                                    code="InternalServerError")), None
        if headers is None:
            headers = _encode_headers(resp)
        if rate:  # on every answer, errors included (rate limits on)
            headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rate.items()]
        try:
            await self.group.durable()  # nothing is answered before what it wrote is committed
        except ArmError as e:  # the store refused the batch (a database that went away): retryable
            resp = error_response(e, _retry_after(e))
            headers = _encode_headers(resp)
        except Exception:
            log.error("commit failed for %s %s\n%s", method, scope.get("path"), traceback.format_exc())
            resp = error_response(ArmError("The change could not be committed; it was not applied.",
                                           code="InternalServerError"))
            headers = _encode_headers(resp)
        body_out = b"" if method == "HEAD" else resp.body
        headers.append((b"content-length", str(len(resp.body) if method != "HEAD" else 0).encode()))
        if self.api.now is not None:
            headers.append((b"date", http_date(self.api.now())))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": body_out})


async def _send_refusal(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, code: str,
                        message: str) -> None:
    answer = json_response({"error": {"code": code, "message": message}}, status, {"x-ms-failure-cause": "gateway"})
    await send({"type": "http.response.start", "status": status,
                "headers": [*_encode_headers(answer), (b"content-length", str(len(answer.body)).encode())]})
    await send({"type": "http.response.body", "body": answer.body})


def caller_of(req: Req) -> str | None:
    """Who made a request: the verified principal's claims (--auth strict), else what its bearer token says."""
    claims = getattr(req.principal, "claims", None)
    if isinstance(claims, dict):
        return callers.from_claims(claims)
    return callers.from_bearer(req.authorization)


def _retry_after(e: ArmError) -> dict[str, str] | None:
    """Retry-After for an error that says when to retry (a store briefly unavailable: 503)."""
    after = getattr(e, "retry_after", None)
    return {"Retry-After": str(after)} if after is not None else None


def _encode_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items() if k != "content-length"]


def build_app(api: ArmApi, screen: Screen | None = None) -> ArmAsgi:
    return ArmAsgi(api, screen)


__all__ = ["ArmApi", "ArmAsgi", "Authorize", "ServerConfig", "Throttling", "build_app"]
