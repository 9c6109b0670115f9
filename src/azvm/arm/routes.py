"""The route table: routes are data (method, path template, handler, api-version family).

A template is a path such as
``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{name}``
(the spelling of azure-rest-api-specs). Literal segments match case-insensitively, ``{param}``
matches one segment, and a last ``{param*}`` matches the rest of the path. Routes compile once
into a segment trie; a request walks it, literals before parameters, so the most specific route
wins. A path that no route matches is a 404 and a path matched for another method a 405, both
from the table. Every parameter is validated by its name before any handler runs (a subscription
id is a GUID, a resource group name follows Azure's rules, a location is a known region, every
other name is free of control and reserved characters): no handler ever sees, stores or echoes
an unchecked path segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..domain.errors import ArmError, MethodNotAllowed, RouteNotFound
from ..service.validation import check_group_name, printable
from .http import Deferred, Req, Response

Params = dict[str, str]
RouteHandler = Callable[[Req, Params], Response | Deferred]
# a provider's route, as data: (method, path template, handler, api-version family, type named in errors)
RouteRow = tuple[str, str, RouteHandler, str | None, str | None]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# characters ARM refuses in any resource name (resource-name-rules: "<>%&:\\?/" and control characters)
_RESERVED = re.compile(r"[<>%&:\\?/\x00-\x1f\x7f-\x9f#*]")
MAX_NAME = 260
MATCH_CACHE = 8192  # paths remembered with their route and checked parameters


def no_route(req: Req) -> RouteNotFound:
    return RouteNotFound(f"No HTTP resource was found that matches the request URI '/{'/'.join(req.parts)}'.")


def check_subscription_id(value: str) -> None:
    if not _GUID.fullmatch(value):
        raise ArmError(f"The provided subscription identifier '{printable(value)}' is malformed or invalid.",
                       code="InvalidSubscriptionId", target="subscriptionId")


def check_resource_name(value: str, target: str = "name") -> None:
    if len(value) > MAX_NAME or _RESERVED.search(value) or not value.isprintable():
        raise ArmError(f"The resource name '{printable(value)}' is invalid: it must be at most {MAX_NAME}"
                       " printable characters, none of them '<>%&:\\?/#*'.", code="InvalidResourceName",
                       target=target)


# How each path parameter is checked, by its name (names as in azure-rest-api-specs).
CHECKS: dict[str, Callable[[str], None]] = {
    "subscriptionId": check_subscription_id,
    "resourceGroupName": check_group_name,
}


# the action of the emulator's own control API (/azvm/...): in strict mode only an admin may perform it
CONTROL_ACTION = "azvm/control"
# the segments of ARM's own paths, spelled as in Azure's action names
_RESOURCES_SPELLING = {"resourcegroups": "resourceGroups", "operationresults": "operationresults"}
# actions whose name does not follow from the path (Azure's operations list names them)
_ACTION_NAMES = {"Microsoft.CostManagement/query/action": "Microsoft.CostManagement/query/read"}


def action_for(method: str, template: str) -> str | None:
    """The Azure RBAC action that a request on this route performs, from its method and template:
    `{Namespace}/{type}[/{child}...]/read|write|delete`, `.../{action}/action` for a POST to a
    literal last segment (`Microsoft.Compute/virtualMachines/start/action`), and for ARM's own paths
    `Microsoft.Resources/subscriptions/resourceGroups/...`. None for routes outside ARM's
    authorization (the cloud metadata); CONTROL_ACTION for the control API."""
    segs = [s for s in template.split("/") if s]
    if not segs or segs[0].lower() == "metadata":
        return None
    if segs[0].lower() == "azvm":
        return CONTROL_ACTION
    literals = [s for s in segs if not s.startswith("{")]
    low = [s.lower() for s in segs]
    namespace = "Microsoft.Resources"
    if "providers" in low:
        i = len(low) - 1 - low[::-1].index("providers")
        if i + 1 < len(segs) and not segs[i + 1].startswith("{"):
            namespace = segs[i + 1]
            literals = [s for s in segs[i + 2:] if not s.startswith("{")]
        else:  # /subscriptions/{s}/providers[/{namespace}]: the provider registrations
            literals = ["subscriptions", "providers"]
    else:
        literals = [_RESOURCES_SPELLING.get(s.lower(), s) for s in literals]
    if method == "POST" and not segs[-1].startswith("{"):
        action = "/".join([namespace, *literals, "action"])
        return _ACTION_NAMES.get(action, action)
    verb = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "action")
    return "/".join([namespace, *literals, verb])


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: RouteHandler
    family: str | None  # api-version family ("compute", "network", "arm", ...); None: not checked here
    type_name: str | None = None  # the resource type named in api-version errors, e.g. "virtualMachines"
    segments: tuple[str, ...] = field(default=(), compare=False)
    # the RBAC action a request performs (action_for); None: no authentication (metadata, identity)
    action: str | None = field(default=None, compare=False)


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    rest: tuple[str, dict[str, Route]] | None = None
    routes: dict[str, Route] = field(default_factory=dict)  # by method


class Router:
    def __init__(self, location_check: Callable[[str], str] | None = None) -> None:
        self.root = _Node()
        self.table: list[Route] = []
        self.location_check = location_check
        self._matched: dict[tuple[str, ...], tuple[Route, Params]] = {}

    def add(self, method: str, template: str, handler: RouteHandler, *, family: str | None,
            type_name: str | None = None, public: bool = False) -> Route:
        """`public`: a route that needs no token (the identity provider's own endpoints)."""
        self._matched.clear()
        segs = tuple(s for s in template.split("/") if s)
        method = method.upper()
        route = Route(method, template, handler, family, type_name, segs,
                      None if public else action_for(method, template))
        node = self.root
        for i, s in enumerate(segs):
            if s.startswith("{") and s.endswith("*}"):
                if i != len(segs) - 1:
                    raise ValueError(f"{template}: a rest parameter must come last")
                if node.rest is None:
                    node.rest = (s[1:-2], {})
                elif node.rest[0] != s[1:-2]:
                    raise ValueError(f"{template}: rest parameter named differently from a sibling route's")
                if route.method in node.rest[1]:
                    raise ValueError(f"duplicate route {method} {template}")
                node.rest[1][route.method] = route
                self.table.append(route)
                return route
            if s.startswith("{") and s.endswith("}"):
                name = s[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(f"{template}: parameter {{{name}}} where a sibling route has"
                                     f" {{{node.param[0]}}}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(s.lower(), _Node())
        if route.method in node.routes:
            raise ValueError(f"duplicate route {method} {template}")
        node.routes[route.method] = route
        self.table.append(route)
        return route

    def include(self, routes: Iterable[RouteRow]) -> None:
        for method, template, handler, family, type_name in routes:
            self.add(method, template, handler, family=family, type_name=type_name)

    # -- matching --------------------------------------------------------------------------------
    def match(self, req: Req) -> tuple[Route, Params]:
        """The route and its validated parameters. Paths that matched once are remembered (clients
        poll and list the same resources over and over), so the walk and the checks run once each."""
        key = (req.method, *req.parts)
        hit = self._matched.get(key)
        if hit is not None:
            return hit[0], dict(hit[1])
        route, out = self._match(req)
        if len(self._matched) >= MATCH_CACHE:
            self._matched.clear()
        self._matched[key] = (route, out)
        return route, dict(out)

    def _match(self, req: Req) -> tuple[Route, Params]:
        params: list[tuple[str, str]] = []
        methods = self._walk(self.root, req, 0, params)
        if methods is None:
            raise no_route(req)
        route = methods.get(req.method)
        if route is None:
            raise MethodNotAllowed(f"The requested resource does not support http method '{req.method}'.")
        out = dict(params)
        self._check(out)
        return route, out

    def _walk(self, node: _Node, req: Req, i: int, params: list[tuple[str, str]]) -> dict[str, Route] | None:
        low = req.low
        if i == len(low):
            if node.routes:
                return node.routes
            return None
        nxt = node.literals.get(low[i])
        if nxt is not None:
            found = self._walk(nxt, req, i + 1, params)
            if found is not None:
                return found
        if node.param is not None:
            params.append((node.param[0], req.parts[i]))
            found = self._walk(node.param[1], req, i + 1, params)
            if found is not None:
                return found
            params.pop()
        if node.rest is not None:
            params.append((node.rest[0], "/".join(req.parts[i:])))
            return node.rest[1]
        return None

    def _check(self, params: Params) -> None:
        for name, value in params.items():
            check = CHECKS.get(name)
            if check is not None:
                check(value)
            elif name == "location" and self.location_check is not None:
                params[name] = self.location_check(value)
            elif name not in ("path", "rest"):
                check_resource_name(value, name)


__all__ = ["CHECKS", "CONTROL_ACTION", "MethodNotAllowed", "Params", "Route", "RouteHandler", "RouteRow", "Router",
           "action_for", "check_group_name", "check_resource_name", "check_subscription_id", "no_route"]
