"""What every HTTP surface of azvm shares (the ARM edge, the control API): the request and response
values, JSON bodies with one nesting limit, and ARM errors to HTTP statuses in one table."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from .domain.errors import (
    ArmError,
    Conflict,
    MethodNotAllowed,
    NotFound,
    OperationNotAllowed,
    PreconditionFailed,
    ResourceGroupNotFound,
    RouteNotFound,
)

# ARM errors to HTTP statuses: by class first (the most specific class in an error's MRO), then
# by code for errors raised with a code of their own; 400 otherwise.
STATUS_BY_CLASS: Mapping[type[ArmError], int] = {
    NotFound: 404, ResourceGroupNotFound: 404, RouteNotFound: 404,
    OperationNotAllowed: 409, Conflict: 409,
    PreconditionFailed: 412, MethodNotAllowed: 405,
}
STATUS_BY_CODE: Mapping[str, int] = {
    "ResourceNotFound": 404, "ResourceGroupNotFound": 404, "NotFound": 404, "SubscriptionNotFound": 404,
    "OperationNotAllowed": 409, "Conflict": 409, "ResourceGroupBeingDeleted": 409,
    "InvalidResourceGroupLocation": 409, "PropertyChangeNotAllowed": 409, "PlatformImageNotFound": 404,
    "PreconditionFailed": 412, "MethodNotAllowed": 405, "UnsupportedMediaType": 415, "RequestEntityTooLarge": 413,
    "TooManyRequests": 429, "InternalServerError": 500, "ServiceUnavailable": 503,
    "DeploymentNotFound": 404, "DeploymentOperationNotFound": 404, "OperationNotFound": 404,
    "DeploymentActive": 409, "DeploymentCannotBeCanceled": 409,
}
MAX_BODY = 4 * 1024 * 1024  # ARM refuses request bodies over 4 MB


def status_for(err: ArmError) -> int:
    if err.code != type(err).code:  # raised with a code of its own: that code decides
        return STATUS_BY_CODE.get(err.code, 400)
    for cls in type(err).__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return STATUS_BY_CODE.get(err.code, 400)


JSON_TYPE = "application/json; charset=utf-8"


class Response(NamedTuple):
    """What a handler answers; the ASGI edge (azvm.arm.app) sends it."""

    status: int
    body: bytes
    headers: dict[str, str]


class Deferred(NamedTuple):
    """What a handler answers when its work is long and pure (a bill over read rows): the edge
    runs `work` in a worker thread, off the event loop, so that other requests keep being served.
    `work` must not touch the store: read what it needs before returning the Deferred."""

    work: Callable[[], Response]


# request ids: UUID-shaped, unique per process (a random prefix and a counter: no syscall per request)
_PREFIX = os.urandom(10).hex()
_COUNTER = itertools.count(1)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_second: tuple[int, bytes] = (-1, b"")  # (second, its HTTP-date): one format per simulated second


def http_date(us: int) -> bytes:
    """The Date header for simulated time `us` (RFC 9110 IMF-fixdate): a client that reads the server's
    time (to choose a window of the Activity Log, say) reads the simulated clock, not the wall's."""
    global _date_second
    sec = us // 1_000_000
    last = _date_second
    if last[0] != sec:
        t = time.gmtime(sec)  # what email.utils.formatdate(sec, usegmt=True) writes, at a fifth of its cost
        last = _date_second = (sec, f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}"
                                    f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT".encode("latin-1"))
    return last[1]


def request_id() -> str:
    n = next(_COUNTER)
    p = _PREFIX
    return f"{p[:8]}-{p[8:12]}-4{p[12:15]}-a{p[15:18]}-{n:012x}"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return raw_json_response(orjson.dumps(body), status, headers)


def raw_json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    h = {"content-type": JSON_TYPE, "x-ms-request-id": request_id(), "cache-control": "no-cache"}
    if headers:
        h.update(headers)
    return Response(status, body, h)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    h = {"x-ms-request-id": request_id(), "cache-control": "no-cache"}
    if headers:
        h.update(headers)
    return Response(status, b"", h)


def text_response(text: str, media_type: str) -> Response:
    return Response(200, text.encode(), {"content-type": media_type, "x-ms-request-id": request_id()})


def error_response(err: ArmError, headers: dict[str, str] | None = None) -> Response:
    h = {"x-ms-failure-cause": "gateway" if err.code in ("NotFound", "MissingApiVersionParameter") else "service"}
    if headers:
        h.update(headers)
    return json_response(err.body(), status_for(err), h)


@dataclass
class Req:
    method: str
    parts: list[str]  # path segments as sent (empty ones collapsed)
    low: list[str]  # the same, lower case
    query: dict[str, str]  # names lower case
    body: bytes
    base: str  # scheme://host[:port]
    content_type: str
    if_match: str | None = None
    if_none_match: str | None = None
    authorization: str | None = None  # the Authorization header as sent (azvm.identity reads it)
    principal: Any = None  # who is asking, once authenticated (azvm.identity.auth.Caller); None in open mode
    raw_headers: list[tuple[bytes, bytes]] | None = None  # all of them, as ASGI gives them (for `header`)

    def header(self, name: str) -> str | None:
        """A header that the edge does not parse for every request (the managed-identity endpoints')."""
        key = name.lower().encode("latin-1")
        for k, v in self.raw_headers or ():
            if k == key:
                return v.decode("latin-1")
        return None

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())

    def flag(self, name: str) -> bool:
        v = self.q(name)
        if v is None:
            return False
        if v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0", ""):
            return False
        raise ArmError(f"The value '{v}' of query parameter '{name}' is not a boolean.", code="InvalidParameter",
                       target=name)

    def json(self, *, required: bool = True) -> Any:
        if not self.body.strip():
            if required:
                raise ArmError("The request content was invalid and could not be deserialized: the body is"
                               " empty.", code="InvalidRequestContent")
            return None
        ct = self.content_type.split(";")[0].strip().lower()
        if ct and ct != "application/json" and not ct.endswith("+json") and ct != "text/json":
            raise ArmError(f"The content media type '{ct}' is not supported. Only 'application/json' is"
                           " supported.", code="UnsupportedMediaType")
        return parse_json(self.body)


# JSON nesting: one limit, checked when a body is parsed, well inside what the store's serialiser
# (orjson: 254 levels) and every renderer support. Real ARM bodies nest about 10 levels.
MAX_DEPTH = 64


def parse_json(body: bytes) -> Any:
    """Parse a request body: the ARM envelope for malformed JSON or nesting over MAX_DEPTH."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ArmError(f"The request content was invalid and could not be deserialized: {e}.",
                       code="InvalidRequestContent") from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            items: Any = v.values()
        elif isinstance(v, list):
            items = v
        else:
            continue
        if d > limit:
            raise ArmError(f"The request content was invalid and could not be deserialized: JSON nested deeper"
                           f" than {limit} levels.", code="InvalidRequestContent")
        stack.extend((c, d + 1) for c in items if isinstance(c, (dict, list)))
