"""The identity provider's decisions, apart from HTTP: who a client is, and what token it gets."""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from .principals import Principal, Principals, object_id_for
from .tokens import Subject, Tokens

log = logging.getLogger("azvm.auth")

OPEN, STRICT = "open", "strict"
MODES = (OPEN, STRICT)
# the audiences ARM accepts besides azvm's own base URL (CLIENTS.md: tools ask for <resourceManager>/.default)
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
OPEN_MANAGED_IDENTITY = "azvm-managed-identity"  # the system-assigned identity's client id in open mode


def is_guid(text: str) -> bool:
    return _GUID.fullmatch(text) is not None


def arm_audience(audience: str, base: str) -> bool:
    """Whether ARM accepts a token for `audience` on a request that reached `base`."""
    a = audience.rstrip("/").lower()
    return a in ARM_AUDIENCES or a == base.rstrip("/").lower()


class IdentityError(Exception):
    """A sign-in refused, in OAuth's words: `error` (invalid_client, ...), an AADSTS number, a status."""

    def __init__(self, error: str, aadsts: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error, self.aadsts, self.message, self.status = error, aadsts, message, status


@dataclass
class Identity:
    """The token service of one server: its mode, signing key (through `tokens`), principals."""

    mode: str
    tokens: Tokens
    tenant_id: str  # azvm's home tenant: every subscription belongs to it
    principals: Principals | None = None  # strict mode only

    @property
    def strict(self) -> bool:
        return self.mode == STRICT

    # -- who is signing in ------------------------------------------------------------------------
    def client(self, client_id: str, tenant: str) -> Principal | None:
        """The declared principal of `client_id` (strict), None in open mode; IdentityError when unknown."""
        if not self.strict:
            return None
        assert self.principals is not None
        p = self.principals.get(client_id)
        if p is None or p.managed_identity or (is_guid(tenant) and p.tenant_id != tenant.lower()):
            raise IdentityError("unauthorized_client", 700016, f"Application with identifier '{client_id}' was not"
                                f" found in the directory '{tenant}'. This can happen if the application has not"
                                " been installed by the administrator of the tenant or consented to by any user in"
                                " the tenant. You may have sent your authentication request to the wrong tenant.")
        return p

    def check_secret(self, principal: Principal | None, client_id: str, secret: str) -> None:
        if principal is None:
            return
        if principal.secret is None or not hmac.compare_digest(principal.secret.encode(), secret.encode()):
            raise IdentityError("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being"
                                " sent in the request is the client secret value, not the client secret ID, for a"
                                f" secret added to app '{client_id}'.", 401)

    def subject(self, principal: Principal | None, client_id: str, tenant: str) -> Subject:
        if principal is not None:
            return Subject(principal.client_id, principal.object_id, principal.tenant_id, principal.managed_identity)
        tid = tenant.lower() if is_guid(tenant) else self.tenant_id
        return Subject(client_id, object_id_for(client_id), tid)

    def managed_identity(self, client_id: str | None, object_id: str | None) -> Subject | None:
        """The managed identity asked for (None: the system-assigned one); None when strict mode has none."""
        if not self.strict:
            cid = client_id or OPEN_MANAGED_IDENTITY
            return Subject(cid, object_id or object_id_for(cid), self.tenant_id, managed_identity=True)
        assert self.principals is not None
        p = self.principals.managed_identity(client_id, object_id)
        if p is None:
            return None
        return Subject(p.client_id, p.object_id, p.tenant_id, managed_identity=True)

    def audience_for(self, resource: str, base: str) -> str:
        """The `aud` of a token for `resource`; IdentityError in strict mode for a resource ARM would refuse."""
        if self.strict and not arm_audience(resource, base):
            raise IdentityError("invalid_resource", 500011, f"The resource principal named {resource} was not"
                                " found in the tenant. azvm issues tokens for Azure Resource Manager only"
                                f" ({', '.join(ARM_AUDIENCES)}, or {base}).")
        return resource

    def principal_of(self, claims: dict[str, Any]) -> Principal | None:
        if self.principals is None:
            return None
        p = self.principals.get(str(claims["appid"]))
        return p if p is not None and p.object_id.lower() == str(claims["oid"]).lower() else None


__all__ = ["ARM_AUDIENCES", "MODES", "OPEN", "STRICT", "Identity", "IdentityError", "arm_audience", "is_guid"]
