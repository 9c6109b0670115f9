"""Who may do what on the ARM surface: the check that azvm.arm.app.ArmApi.dispatch runs on every
matched route whose `action` is not None (azvm.arm.routes.action_for), before the handler.

- `--auth open` (the default): any bearer token is accepted, but a request with no Authorization
  header is refused 401 AuthenticationFailed, as on Azure. The control API (/azvm/...) needs none.
  One header lookup per request.
- `--auth strict`: only unexpired tokens that azvm signed, for an ARM audience, of a declared
  principal, whose role assignments permit the route's action over the request's scope (403
  AuthorizationFailed otherwise). `GET /subscriptions` lists only the subscriptions the principal
  has an assignment in. The control API needs a principal declared with `"admin": true`.

Every refusal is logged on `azvm.auth` with the principal and the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..arm.http import Req, Response, json_response
from ..arm.routes import CONTROL_ACTION, Params, Route
from .principals import Principal
from .roles import permitted
from .service import ARM_AUDIENCES, Identity, arm_audience, log
from .tokens import TokenError

MISSING = "Authentication failed. The 'Authorization' header is missing."
# operation status reads, at subscription scope (their URLs are what a write answered with): any
# principal with an assignment in the subscription may poll them
_STATUS_READS = ("/operations/read", "/operationresults/read", "/diskoperations/read")
BAD_FORMAT = "Authentication failed. The 'Authorization' header is provided in an invalid format."


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request (req.principal)."""

    principal: Principal
    claims: dict[str, Any]


def _refuse(req: Req, status: int, code: str, message: str, who: str, reason: str,
            tenant: str | None = None, level: int = logging.WARNING) -> Response:
    log.log(level, "refused %s /%s: principal %s: %s", req.method, "/".join(req.parts), who, reason)
    headers = {}
    if status == 401:
        authority = f"{req.base}/{tenant}" if tenant else req.base
        headers["WWW-Authenticate"] = (f'Bearer authorization_uri="{authority}", error="invalid_token",'
                                       f' error_description="{code}"')
    return json_response({"error": {"code": code, "message": message}}, status, headers)


class OpenAuth:
    """`--auth open`: a token must be there; any will do."""

    def __call__(self, req: Req, route: Route, params: Params) -> Response | None:
        if req.authorization is not None or route.action == CONTROL_ACTION:
            return None
        return _refuse(req, 401, "AuthenticationFailed", MISSING, "(none)", "no Authorization header",
                       level=logging.INFO)


class StrictAuth:
    """`--auth strict`: azvm's own tokens, declared principals, their role assignments."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def __call__(self, req: Req, route: Route, params: Params) -> Response | None:
        tenant = self.identity.tenant_id
        header = req.authorization
        if header is None:
            return _refuse(req, 401, "AuthenticationFailed", MISSING, "(none)", "no Authorization header", tenant)
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refuse(req, 401, "AuthenticationFailed", BAD_FORMAT, "(none)", "not a bearer token", tenant)
        try:
            claims = self.identity.tokens.verify(token.strip())
        except TokenError as e:
            return _refuse(req, 401, e.code, e.message, "(unknown)", e.message, tenant)
        who = f"{claims['appid']} (object id {claims['oid']})"
        aud = str(claims["aud"])
        if not arm_audience(aud, req.base):
            allowed = ",".join(f"'{a}/','{a}'" for a in (*ARM_AUDIENCES, req.base))
            return _refuse(req, 401, "InvalidAuthenticationTokenAudience", f"The access token has been obtained for"
                           f" wrong audience or resource '{aud}'. It should exactly match with one of the allowed"
                           f" audiences {allowed}.", who, f"audience {aud}", tenant)
        principal = self.identity.principal_of(claims)
        if principal is None:
            return _refuse(req, 401, "InvalidAuthenticationToken", "The access token is invalid: its principal is"
                           " not declared in azvm's principals file.", who, "principal not declared", tenant)
        tid = str(claims["tid"]).lower()
        if tid != tenant.lower() and ("subscriptionId" in params or route.action == CONTROL_ACTION):
            iss = str(claims["iss"])
            return _refuse(req, 401, "InvalidAuthenticationTokenTenant", f"The access token is from the wrong issuer"
                           f" '{iss}'. It must match the tenant '{req.base}/{tenant}/v2.0' associated with this"
                           f" subscription. Please use the authority (URL) '{req.base}/{tenant}' to get the token.",
                           who, f"token of tenant {tid}", tenant)
        req.principal = Caller(principal, claims)
        action = route.action
        assert action is not None
        if action == CONTROL_ACTION:
            if principal.admin:
                return None
            return self._forbidden(req, principal, action, "/azvm", who)
        if "subscriptionId" not in params:  # GET /subscriptions, /tenants: the handler lists what it may see
            return None
        scope = "/" + "/".join(req.parts[:-1] if action.endswith("/action") else req.parts)
        if permitted(principal.assignments, action, scope):
            return None
        if action.lower().endswith(_STATUS_READS) and params["subscriptionId"].lower() in (
                s.lower() for s in principal.subscriptions()):
            return None  # the status of an operation (its id unguessable) is read by whoever started it
        return self._forbidden(req, principal, action, scope, who)

    @staticmethod
    def _forbidden(req: Req, principal: Principal, action: str, scope: str, who: str) -> Response:
        oid = principal.object_id
        return _refuse(req, 403, "AuthorizationFailed", f"The client '{oid}' with object id '{oid}' does not have"
                       f" authorization to perform action '{action}' over scope '{scope}' or the scope is invalid."
                       " If access was recently granted, please refresh your credentials.", who,
                       f"no assignment permits {action} over {scope}")


__all__ = ["BAD_FORMAT", "MISSING", "Caller", "OpenAuth", "StrictAuth"]
