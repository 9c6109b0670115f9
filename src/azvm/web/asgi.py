"""The dashboard's ASGI layer: the page at `/`, its assets and reads under `/ui/`, the live event stream.

Every other path goes to the inner application (the ARM edge), untouched. The page acts through
that same ARM API (and the control API for what Azure has no API for: the clock, faults, a guest
shutdown), as any client does; this layer only adds what the ARM edge cannot do, one complete
response per request being its rule: a stream of server-sent events, and the fleet's rows with
their costs.

- `GET /`: the page; `GET /ui/static/...`: its scripts, styles and the vendored charting library,
  from inside the package (no build step, nothing fetched from the network).
- `GET /ui/config`: what the page needs before anything else (the auth mode); no token needed.
- `GET /ui/api/fleet`: every VM with its states, billed or not, cost so far (JSON).
- `GET /ui/api/timeline?id=<VM id>`: a VM's states over time, for its timeline chart.
- `GET /ui/events`: server-sent events: a `snapshot` of the fleet (the first one of a big fleet
  without its costs, `"priced": false`, a patch adding them right after), then a `patch` whenever VMs
  change (only the rows that changed, and the ids of those gone) or the clock moves; rows are sent
  as `columns` (the field names, once) and `rows` (the values); a comment every 15 s keeps it open.

Security is the ARM edge's: every request here is screened by the edge's own screen (azvm.guard:
the server's own hosts and origins only), and the reads and the stream are authorized by asking
the control API (`GET /azvm/clock`) with the request's own credentials, so they need exactly what
the control API needs (nothing with `--auth open`; an admin principal's token with `--auth strict`).
That request also brings the world up to date (another worker's clock, template deployments due),
as any request does, before the dashboard reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson

from ..arm.app import ArmAsgi
from ..domain.errors import ArmError
from ..service.billing import BillingService
from ..service.compute import ComputeService
from ..wire import error_response, http_date, json_response, request_id
from . import fleet

log = logging.getLogger("azvm.web")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                 ".md": "text/plain; charset=utf-8", ".json": "application/json"}
# the page runs only its own scripts and talks only to its own server
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                                 b" connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
                                 b" frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
HEARTBEAT_SECONDS = 15.0  # a comment on an idle event stream
TICK_SECONDS = 1.0  # how often a running clock is pushed (a manual clock: when something changes)
IDLE_SECONDS = 5.0  # how often the fleet is looked at when nothing signalled a change (other workers)
MIN_GAP_SECONDS = 0.2  # the least time between two refreshes: a burst of requests makes one patch
PRICE_LATER = 1000  # a first snapshot of more VMs than this is sent before its costs (a bill), then them
QUEUE_LIMIT = 32  # events a slow reader may fall behind by before it gets a fresh snapshot instead


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """The page and its static files by URL path, read once from the package."""
    root = resources.files(__package__ or "azvm.web")
    out: dict[str, Asset] = {}

    def add(url: str, node: Any) -> None:
        name = str(node.name)
        suffix = name[name.rfind("."):] if "." in name else ""
        body = node.read_bytes()
        out[url] = Asset(body, CONTENT_TYPES.get(suffix, "application/octet-stream"),
                         '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def walk(node: Any, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda n: str(n.name)):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif not str(child.name).endswith((".py", ".pyc")):
                add(f"{prefix}{child.name}", child)

    index = root.joinpath("index.html")
    if index.is_file():
        add("/", index)
    static = root.joinpath("static")
    if static.is_dir():
        walk(static, "/ui/static/")
    return out


@dataclass
class Subscriber:
    """One open event stream: the credentials it was opened with and what waits to be sent."""

    scope: Scope  # the request that opened it (its headers are its credentials)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    fresh: bool = True  # wants a whole snapshot next, not a patch

    def offer(self, message: bytes) -> None:
        if self.queue.qsize() >= QUEUE_LIMIT:  # too far behind: drop what waits, send it all again
            while not self.queue.empty():
                self.queue.get_nowait()
            self.fresh = True
            return
        self.queue.put_nowait(message)


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Dashboard:
    """The dashboard over the ARM edge (`app`): see the module's docstring."""

    def __init__(self, app: ArmAsgi, service: ComputeService, billing: BillingService) -> None:
        self.app = app
        self.service = service
        self.billing = billing
        self.assets = load_assets()
        self._subscribers: list[Subscriber] = []
        self._changed: asyncio.Event | None = None  # made on the server's event loop
        self._ticker: asyncio.Task[None] | None = None
        self._rows: dict[str, fleet.Row] = {}  # what the listeners were last sent
        self._clock: dict[str, Any] | None = None
        self._priced = True
        self._auth_mode: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and not path.startswith("/ui/"):
            if self._changed is not None:  # anything may have changed: a write, a clock moved by time skipping
                self._changed.set()
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        refusal = self._screen(scope, headers)
        if refusal is not None:
            await _send(send, refusal, now_us=self.service.now())
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _send(send, _error(405, "MethodNotAllowed", f"The dashboard's '{path[:200]}' answers GET only."),
                        now_us=self.service.now())
            return
        try:
            if path == "/ui/events" and method == "GET":
                await self._stream(scope, receive, send)
                return
            if path == "/ui/events":  # HEAD: what a GET would start with, no stream
                _, refusal = await self._authorize(scope)
                answer = refusal or (200, b"", [(b"content-type", b"text/event-stream; charset=utf-8"),
                                                (b"cache-control", b"no-cache")])
            elif path.startswith("/ui/api/") or path == "/ui/config":
                answer = await self._api(scope, path)
            else:
                answer = self._asset(path, headers)
        except ArmError as e:
            r = error_response(e)
            answer = (r.status, r.body, [(k.encode(), v.encode()) for k, v in r.headers.items()])
        except Exception:
            log.error("unexpected error on GET %s\n%s", path, traceback.format_exc())
            answer = _error(500, "InternalServerError", "The server encountered an internal error; it has been logged.")
        await _send(send, answer, head=method == "HEAD", now_us=self.service.now())

    # -- screening and authorization --------------------------------------------------------------
    def _screen(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> Answer | None:
        screen = self.app.screen
        if screen is None:
            return None
        hosts = [v for k, v in headers if k == b"host"]
        origins = [v for k, v in headers if k == b"origin"]
        server = scope.get("server")
        refused = screen.check(scope["method"], scope["path"], hosts, origins, [], False,
                               str(server[0]) if server else None)
        return None if refused is None else _error(*refused)

    async def _control_clock(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        """`GET /azvm/clock` through the inner application with these credentials: (status, body)."""
        kept = [(k, v) for k, v in headers if k in (b"host", b"authorization", b"origin", b"user-agent")]
        inner = {"type": "http", "asgi": scope.get("asgi", {"version": "3.0"}), "http_version": "1.1",
                 "method": "GET", "scheme": scope.get("scheme", "http"), "path": "/azvm/clock",
                 "raw_path": b"/azvm/clock", "query_string": b"", "root_path": "", "headers": kept,
                 "server": scope.get("server"), "client": scope.get("client")}
        status = 500
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(inner, receive, send)
        return status, b"".join(chunks)

    async def _authorize(self, scope: Scope) -> tuple[dict[str, Any] | None, Answer | None]:
        """(the clock, None) when these credentials may read what the control API shows; (None, the
        refusal, as the control API answered it) otherwise."""
        status, body = await self._control_clock(scope, scope["headers"])
        if status == 200:
            return orjson.loads(body), None
        return None, (status, body, [(b"content-type", b"application/json; charset=utf-8")])

    # -- the reads ---------------------------------------------------------------------------------
    async def _api(self, scope: Scope, path: str) -> Answer:
        if path == "/ui/config":
            return _json(await self._config(scope))
        clock, refusal = await self._authorize(scope)
        if refusal is not None:
            return refusal
        assert clock is not None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if path == "/ui/api/fleet":
            rows = await self._compute()
            return _json({**self._header(clock), "value": list(rows.values())})
        if path == "/ui/api/timeline":
            ids = query.get("id") or [""]
            if not ids[0]:
                raise ArmError("Query parameter 'id' (a VM resource id) is required.", code="InvalidParameter",
                               target="id")
            return _json(fleet.timeline(self.service, ids[0]))
        raise ArmError(f"No dashboard resource at '{path[:200]}'.", code="NotFound")

    async def _config(self, scope: Scope) -> dict[str, Any]:
        """The auth mode, as the control API tells it: a request without a token is let through
        (--auth open) or refused (--auth strict)."""
        if self._auth_mode is None:
            anonymous = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            status, _ = await self._control_clock(scope, anonymous)
            self._auth_mode = "open" if status == 200 else "strict"
        return {"auth": self._auth_mode, "ruleSet": self.billing.rules.name,
                "currency": self.billing.prices.currency}

    def _header(self, clock: dict[str, Any], priced: bool = True) -> dict[str, Any]:
        return {"clock": clock, "ruleSet": self.billing.rules.name, "currency": self.billing.prices.currency,
                "priced": priced}

    def _read(self) -> fleet.FleetInput:
        """The fleet now, as the store holds it (on the event loop)."""
        with self.service.store.request():
            return fleet.read(self.service, self.billing)

    async def _compute(self) -> dict[str, fleet.Row]:
        """The fleet's rows now: read on the event loop, computed in a worker thread."""
        return await asyncio.to_thread(self._read().compute)

    def _asset(self, path: str, headers: list[tuple[bytes, bytes]]) -> Answer:
        asset = self.assets.get("/" if path in ("/", "/index.html") else path)
        if asset is None:
            return _error(404, "NotFound", f"No dashboard file at '{path[:200]}'.")
        common = [(b"etag", asset.etag.encode()), (b"cache-control", b"no-cache"), *SECURITY_HEADERS]
        if any(k == b"if-none-match" and asset.etag.encode() in v for k, v in headers):
            return 304, b"", common
        return 200, asset.body, [(b"content-type", asset.content_type.encode()), *common]

    # -- the event stream --------------------------------------------------------------------------
    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        clock, refusal = await self._authorize(scope)
        if refusal is not None:
            await _send(send, refusal, now_us=self.service.now())
            return
        sub = Subscriber(scope)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-ms-request-id", request_id().encode()),
            (b"x-accel-buffering", b"no"), *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b": azvm dashboard events\n\n", "more_body": True})
        self._subscribe(sub)
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, gone}, timeout=HEARTBEAT_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                if gone in done:
                    break
                message = getter.result() if getter in done else b": keep-alive\n\n"
                if message is None:
                    break
                await send({"type": "http.response.body", "body": message, "more_body": True})
        finally:
            gone.cancel()
            self._unsubscribe(sub)
            try:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # the client has gone: nothing to finish
                pass

    def _subscribe(self, sub: Subscriber) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        self._subscribers.append(sub)
        if self._rows and self._clock is not None:  # what the others have now; the refresh it asks for follows
            sub.fresh = False
            sub.offer(sse("snapshot", {**self._header(self._clock, self._priced), **_columns(self._rows.values())}))
        self._changed.set()  # it wants a snapshot, or what changed since
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick())

    def _unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
        if not self._subscribers and self._changed is not None:
            self._changed.set()  # the ticker sees nobody is left and ends

    async def _tick(self) -> None:
        """While anyone listens: wait for a change (a request passed through, the clock running,
        or IDLE_SECONDS), refresh the fleet once for every listener, send each what it lacks."""
        changed = self._changed
        assert changed is not None
        last_now: int | None = None
        running = False
        try:
            while self._subscribers:
                try:
                    await asyncio.wait_for(changed.wait(), TICK_SECONDS if running else IDLE_SECONDS)
                except TimeoutError:
                    pass
                signalled = changed.is_set()
                changed.clear()
                if not self._subscribers:
                    break
                clock = await self._reader_clock()
                if clock is None:
                    continue
                running = not clock.get("manual") and float(clock.get("speed") or 0) > 0
                now = int(clock["nowMicroseconds"])
                fresh = [s for s in self._subscribers if s.fresh]
                if not signalled and now == last_now and not fresh:
                    continue
                last_now = now
                loop = asyncio.get_running_loop()
                began = loop.time()
                data = self._read()
                if fresh and not self._rows and len(data.states) > PRICE_LATER:  # states first, costs right after
                    self._broadcast(clock, await asyncio.to_thread(data.compute, costs=False), priced=False)
                self._broadcast(clock, await asyncio.to_thread(data.compute))
                # a big fleet is refreshed less often, so that the server spends most of its time serving
                await asyncio.sleep(max(MIN_GAP_SECONDS, 2 * (loop.time() - began)))
        except Exception:
            log.error("the dashboard's event stream failed\n%s", traceback.format_exc())
            for sub in list(self._subscribers):
                sub.queue.put_nowait(None)
        finally:
            self._rows, self._clock = {}, None

    async def _reader_clock(self) -> dict[str, Any] | None:
        """The clock, read with the credentials of a listener (each listener's are checked anew
        before it is sent anything: a stream whose token has expired is told so and closed)."""
        for sub in list(self._subscribers):
            status, body = await self._control_clock(sub.scope, sub.scope["headers"])
            if status == 200:
                return dict(orjson.loads(body))
            sub.queue.put_nowait(b"event: unauthorized\ndata: " + body + b"\n\n")
            sub.queue.put_nowait(None)
            self._unsubscribe(sub)
        return None

    def _broadcast(self, clock: dict[str, Any], rows: dict[str, fleet.Row], *, priced: bool = True) -> None:
        """Send each listener what it lacks: the whole fleet to a new one, what changed to the others.
        `priced` False: the costs are still being computed (each row's `cost` is null until a patch)."""
        old = self._rows
        changed = [r for k, r in rows.items() if old.get(k) != r]
        removed = [r["id"] for k, r in old.items() if k not in rows]
        self._rows, self._clock, self._priced = rows, clock, priced
        header = self._header(clock, priced)
        patch: bytes | None = None
        snapshot: bytes | None = None
        for sub in self._subscribers:
            if sub.fresh:
                if snapshot is None:
                    snapshot = sse("snapshot", {**header, **_columns(rows.values())})
                sub.fresh = False
                sub.offer(snapshot)
            else:
                if patch is None:
                    patch = sse("patch", {**header, **_columns(changed), "removed": removed})
                sub.offer(patch)


Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


def _columns(rows: Iterable[fleet.Row]) -> dict[str, Any]:
    """Rows as the event stream sends them: the field names once, then each row's values in that order
    (half the bytes of 10,000 objects)."""
    return {"columns": list(fleet.COLUMNS), "rows": [[r[c] for c in fleet.COLUMNS] for r in rows]}


def _json(body: Any, status: int = 200) -> Answer:
    r = json_response(body, status)
    return r.status, r.body, [(k.encode(), v.encode()) for k, v in r.headers.items()]


def _error(status: int, code: str, message: str) -> Answer:
    return _json({"error": {"code": code, "message": message}}, status)


async def _send(send: Send, answer: Answer, *, head: bool = False, now_us: int | None = None) -> None:
    status, body, headers = answer
    names = {k for k, _ in headers}
    date = [] if now_us is None else [(b"date", http_date(now_us))]
    extra = [] if b"content-security-policy" in names else [(b"x-content-type-options", b"nosniff")]
    if b"x-ms-request-id" not in names:  # every answer of azvm carries one, as every answer of ARM does
        extra.append((b"x-ms-request-id", request_id().encode()))
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, *extra, *date, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def mount(app: ArmAsgi, service: ComputeService, billing: BillingService) -> Dashboard:
    """The dashboard over `app` (the ARM edge): serves `/` and `/ui/...`, passes everything else on."""
    return Dashboard(app, service, billing)


__all__ = ["Dashboard", "mount"]
