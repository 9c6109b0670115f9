"""The identity provider's HTTP endpoints, on the server's own HTTPS port:

- OpenID discovery: `GET /{tenant}/v2.0/.well-known/openid-configuration`, `GET /adfs/.well-known/openid-configuration`
- the token endpoint: `POST /{tenant}/oauth2/v2.0/token` (and `/adfs/oauth2/token`): client credentials with a
  secret or a certificate's assertion, and refresh tokens
- the signing keys: `GET /{tenant}/discovery/v2.0/keys` (the discovery document's `jwks_uri`), and MSAL's
  instance discovery (`GET /common/discovery/instance`), for clients whose login host is azvm through its proxy
- managed identity: App Service's `GET /msi/token` (header X-IDENTITY-HEADER) and IMDS's
  `GET /metadata/identity/oauth2/token` (header `Metadata: true`)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..arm.http import Req, Response, json_response, request_id
from ..arm.routes import Params, Router
from ..clock import iso, now_wall_us
from .principals import Principal
from .service import Identity, IdentityError, is_guid
from .tokens import REFRESH_AUDIENCE, Subject, TokenError, now_seconds

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class IdentityEndpoints:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.discovery),
            ("GET", "/{tenant}/.well-known/openid-configuration", self.discovery),
            ("GET", "/adfs/.well-known/openid-configuration", self.discovery_adfs),
            ("POST", "/{tenant}/oauth2/v2.0/token", self.token),
            ("POST", "/{tenant}/oauth2/token", self.token),
            ("POST", "/adfs/oauth2/token", self.token_adfs),
            ("GET", "/{tenant}/discovery/v2.0/keys", self.keys),
            ("GET", "/{tenant}/discovery/instance", self.instance_discovery),
            ("GET", "/{tenant}/discovery/keys", self.keys),
            ("GET", "/msi/token", self.app_service_token),
            ("GET", "/metadata/identity/oauth2/token", self.imds_token),
        ]

    # -- discovery ----------------------------------------------------------------------------------
    def _tenant_id(self, tenant: str) -> str:
        return tenant.lower() if is_guid(tenant) else self.identity.tenant_id

    def discovery(self, req: Req, p: Params) -> Response:
        return json_response(self._discovery(req.base, p["tenant"], self._tenant_id(p["tenant"])))

    def discovery_adfs(self, req: Req, p: Params) -> Response:
        doc = self._discovery(req.base, "adfs", "adfs")
        doc["token_endpoint"] = f"{req.base}/adfs/oauth2/token"
        doc["issuer"] = f"{req.base}/adfs"
        return json_response(doc)

    @staticmethod
    def _discovery(base: str, tenant: str, tid: str) -> dict[str, Any]:
        auth = f"{base}/{tenant}"
        return {
            "token_endpoint": f"{auth}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "jwks_uri": f"{auth}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "grant_types_supported": ["client_credentials", "refresh_token"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{auth}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{auth}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{auth}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid"],
            "tenant_region_scope": None,
            "cloud_instance_name": "azvm",
        }

    def instance_discovery(self, req: Req, p: Params) -> Response:
        """MSAL's instance discovery (what it asks login.microsoftonline.com about an authority it does not
        know): the authority's own discovery document, and no aliases."""
        from urllib.parse import urlsplit

        endpoint = req.q("authorization_endpoint") or f"{req.base}/common/oauth2/v2.0/authorize"
        parts = urlsplit(endpoint)
        tenant = next((s for s in parts.path.split("/") if s), "common")
        host = parts.netloc or req.base.split("://", 1)[-1]
        return json_response({
            "tenant_discovery_endpoint": f"{parts.scheme or 'https'}://{host}/{tenant}/v2.0/.well-known/"
                                         "openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})

    def keys(self, req: Req, p: Params) -> Response:
        return json_response({"keys": [self.identity.tokens.key.jwk()]})

    # -- the token endpoint -------------------------------------------------------------------------
    def token(self, req: Req, p: Params) -> Response:
        return self._token(req, p["tenant"])

    def token_adfs(self, req: Req, p: Params) -> Response:
        return self._token(req, "adfs")

    def _token(self, req: Req, tenant: str) -> Response:
        try:
            form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
            grant = form.get("grant_type", "")
            if grant == "client_credentials":
                return self._client_credentials(req, tenant, form)
            if grant == "refresh_token":
                return self._refresh(req, tenant, form)
            raise IdentityError("unsupported_grant_type", 70003, f"The app requested an unsupported grant type"
                                f" '{grant[:100]}'. azvm grants client_credentials and refresh_token.")
        except IdentityError as e:
            self.identity_log(req, tenant, e)
            return oauth_error(e)

    @staticmethod
    def identity_log(req: Req, tenant: str, e: IdentityError) -> None:
        from .service import log

        log.warning("sign-in refused: tenant %s: %s AADSTS%d: %s", tenant, e.error, e.aadsts, e.message)

    def _client_credentials(self, req: Req, tenant: str, form: dict[str, str]) -> Response:
        client_id = form.get("client_id", "")
        if not client_id:
            raise IdentityError("invalid_request", 900144, "The request body must contain the following parameter:"
                                " 'client_id'.")
        principal = self.identity.client(client_id, tenant)
        if form.get("client_assertion_type") == ASSERTION_TYPE and form.get("client_assertion"):
            self._check_assertion(principal, client_id, form["client_assertion"])
        elif "client_secret" in form:
            self.identity.check_secret(principal, client_id, form["client_secret"])
        else:
            raise IdentityError("invalid_client", 7000218, "The request body must contain the following parameter:"
                                " 'client_assertion' or 'client_secret'.", 401)
        subject = self.identity.subject(principal, client_id, tenant)
        return self._grant(req, subject, form)

    def _grant(self, req: Req, subject: Subject, form: dict[str, str]) -> Response:
        scopes = (form.get("scope") or "").split()
        resource = form.get("resource")  # the v1 endpoint's form
        if resource is None:
            defaults = [s for s in scopes if s.endswith("/.default")]
            if not defaults:
                raise IdentityError("invalid_scope", 1002012, f"The provided value for scope {' '.join(scopes)[:200]}"
                                    " is not valid. Client credential flows must have a scope value with /.default"
                                    " suffixed to the resource identifier (application ID URI).")
            resource = defaults[0][: -len("/.default")]
        audience = self.identity.audience_for(resource, req.base)
        token, exp = self.identity.tokens.issue(subject, audience, req.base)
        expires_in = exp - now_seconds()
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
                                "access_token": token}
        if "offline_access" in scopes:
            body["refresh_token"] = self.identity.tokens.issue_refresh(subject, req.base)
        return json_response(body)

    def _check_assertion(self, principal: Principal | None, client_id: str, assertion: str) -> None:
        """A client assertion (a JWT signed with the client's certificate): in strict mode its signature
        must verify with the declared certificate; in open mode only its shape is checked."""
        import jwt  # loaded when first needed (a server that issues no token starts without it)

        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise IdentityError("invalid_client", 50027, "Invalid JWT token. The client assertion is not a JWT.",
                                401) from None
        if str(claims.get("sub", "")).lower() != client_id.lower() or str(claims.get("iss", "")).lower() != \
                client_id.lower():
            raise IdentityError("invalid_client", 700021, "Client assertion application identifier doesn't match"
                                " 'client_id' parameter.", 401)
        if principal is None:
            return
        declared = principal.certificate
        if declared is None:
            raise IdentityError("invalid_client", 700027, f"The certificate with identifier used to sign the client"
                                f" assertion is not registered on application '{client_id}'.", 401)
        public = _assertion_key(header, declared)
        try:
            jwt.decode(assertion, public, algorithms=["RS256", "PS256", "ES256"],
                       options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError:
            raise IdentityError("invalid_client", 700027, "Client assertion failed signature validation.",
                                401) from None
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool) or exp < now_seconds() - 300:
            raise IdentityError("invalid_client", 700024, "Client assertion is not within its valid time range.",
                                401)

    def _refresh(self, req: Req, tenant: str, form: dict[str, str]) -> Response:
        try:
            claims = self.identity.tokens.verify(form.get("refresh_token", ""))
        except TokenError:
            claims = None
        client_id = form.get("client_id", "")
        if claims is None or claims.get("aud") != REFRESH_AUDIENCE or (
                client_id and client_id.lower() != str(claims["appid"]).lower()):
            raise IdentityError("invalid_grant", 9002313, "Invalid request. The refresh token is malformed,"
                                " expired, or was not issued by azvm to this client.")
        principal = None
        if self.identity.strict:
            principal = self.identity.principal_of(claims)
            if principal is None:
                raise IdentityError("invalid_grant", 700016, "The principal of the refresh token is no longer"
                                    " declared.")
        subject = (self.identity.subject(principal, str(claims["appid"]), tenant) if principal is not None
                   else Subject(str(claims["appid"]), str(claims["oid"]), str(claims["tid"])))
        return self._grant(req, subject, form)

    # -- managed identity ---------------------------------------------------------------------------
    def app_service_token(self, req: Req, p: Params) -> Response:
        if not req.header("x-identity-header"):
            return json_response({"statusCode": 400, "message": "The X-IDENTITY-HEADER header is missing."}, 400)
        return self._managed(req, lambda token, exp, resource, client_id: {
            "access_token": token, "expires_on": str(exp), "resource": resource, "token_type": "Bearer",
            "client_id": client_id}, object_param="object_id")

    def imds_token(self, req: Req, p: Params) -> Response:
        if (req.header("metadata") or "").lower() != "true":
            return json_response({"error": "invalid_request", "error_description": "Required metadata header not"
                                  " specified"}, 400)

        def body(token: str, exp: int, resource: str, client_id: str) -> dict[str, Any]:
            now = now_seconds()
            return {"access_token": token, "client_id": client_id, "expires_in": str(exp - now),
                    "expires_on": str(exp), "ext_expires_in": str(exp - now), "not_before": str(now),
                    "resource": resource, "token_type": "Bearer"}
        return self._managed(req, body, object_param="object_id")

    def _managed(self, req: Req, shape: Any, *, object_param: str) -> Response:
        resource = req.q("resource")
        if not resource:
            return json_response({"error": "invalid_request", "error_description": "Required query variable"
                                  " 'resource' is missing"}, 400)
        subject = self.identity.managed_identity(req.q("client_id") or req.q("clientid"), req.q(object_param))
        if subject is None:
            self.identity_log(req, "managed identity", IdentityError("invalid_request", 0, "identity not found"))
            return json_response({"error": "invalid_request", "error_description": "Identity not found"}, 400)
        try:
            audience = self.identity.audience_for(resource, req.base)
        except IdentityError as e:
            return json_response({"error": e.error, "error_description": e.message}, 400)
        token, exp = self.identity.tokens.issue(subject, audience, req.base)
        return json_response(shape(token, exp, resource, subject.client_id))


def _assertion_key(header: dict[str, Any], declared: Any) -> Any:
    """The public key that must have signed an assertion: the declared certificate's, or the leaf of its
    x5c chain when that leaf is the declared certificate (a thumbprint declared without the PEM)."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def matches(sha1: bytes | None, sha256: bytes | None) -> bool:
        return bool((declared.sha1 and sha1 and sha1.hex().upper() == declared.sha1)
                    or (declared.sha256 and sha256 and sha256.hex().upper() == declared.sha256))

    def unb64(v: Any) -> bytes | None:
        if not isinstance(v, str):
            return None
        try:
            return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
        except ValueError:
            return None

    if not matches(unb64(header.get("x5t")), unb64(header.get("x5t#S256"))) and "x5c" not in header:
        raise IdentityError("invalid_client", 700027, "The certificate that signed the client assertion is not the"
                            " one declared for this application.", 401)
    if declared.public_pem is not None:
        return serialization.load_pem_public_key(declared.public_pem)
    chain = header.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        try:
            der = base64.b64decode(chain[0])
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            cert = None
        if cert is not None and matches(hashlib.sha1(der).digest(), hashlib.sha256(der).digest()):  # noqa: S324
            return cert.public_key()
    raise IdentityError("invalid_client", 700027, "The application's certificate is declared by thumbprint only:"
                        " send the certificate chain (x5c) with the assertion, or declare the certificate's PEM.", 401)


def oauth_error(e: IdentityError) -> Response:
    trace = request_id()
    stamp = iso(now_wall_us())[:19] + "Z"
    return json_response({"error": e.error, "error_description": f"AADSTS{e.aadsts}: {e.message}\r\nTrace ID: {trace}"
                          f"\r\nCorrelation ID: {trace}\r\nTimestamp: {stamp}", "error_codes": [e.aadsts],
                          "timestamp": stamp, "trace_id": trace, "correlation_id": trace}, e.status)


def register(router: Router, identity: Identity) -> None:
    """Add the identity provider's routes to the table (public: they need no token)."""
    for method, template, handler in IdentityEndpoints(identity).routes():
        router.add(method, template, handler, family=None, public=True)


__all__ = ["IdentityEndpoints", "oauth_error", "register"]
