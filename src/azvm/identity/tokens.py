"""Access tokens: JWTs signed by azvm (RS256, PyJWT), and their verification.

Lifetimes are about real clients' token caches, so they run on the wall clock (read through
azvm.clock, the only reader of wall time), not on the simulated clock: moving the simulated clock
does not expire tokens. An access token lives ACCESS_TOKEN_SECONDS, a refresh token
REFRESH_TOKEN_SECONDS.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clock import US, now_wall_us
from .keys import SigningKey

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 24 * 3600
REFRESH_AUDIENCE = "urn:azvm:refresh-token"  # never an ARM audience: a refresh token is no access token
CLOCK_SKEW_SECONDS = 300  # as ARM allows


class TokenError(Exception):
    """A token ARM refuses: `code` is ARM's (InvalidAuthenticationToken, ExpiredAuthenticationToken)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Subject:
    """Whom a token is about."""

    client_id: str
    object_id: str
    tenant_id: str
    managed_identity: bool = False


def now_seconds() -> int:
    return now_wall_us() // US


def issuer(base: str, tenant_id: str) -> str:
    return f"{base}/{tenant_id}/v2.0"


_ISSUER = re.compile(r"https?://[^/]+/([0-9a-fA-F-]{36}|adfs)/v2\.0")


class Tokens:
    """Issues and verifies azvm's tokens. The signing key is loaded (or made) when first needed, and
    PyJWT imported then too: a server that is never asked for a token starts without either."""

    def __init__(self, key: SigningKey | Callable[[], SigningKey]) -> None:
        self._key = key
        self._cache: dict[str, dict[str, Any]] = {}  # verified tokens' claims (bounded)

    @property
    def key(self) -> SigningKey:
        if not isinstance(self._key, SigningKey):
            self._key = self._key()
        return self._key

    def issue(self, subject: Subject, audience: str, base: str, *, now: int | None = None,
              lifetime: int = ACCESS_TOKEN_SECONDS) -> tuple[str, int]:
        """(token, expiry in epoch seconds) of an access token for `audience`."""
        iat = now_seconds() if now is None else now
        exp = iat + lifetime
        claims: dict[str, Any] = {
            "aud": audience, "iss": issuer(base, subject.tenant_id), "iat": iat, "nbf": iat, "exp": exp,
            "tid": subject.tenant_id, "oid": subject.object_id, "sub": subject.object_id,
            "appid": subject.client_id, "azp": subject.client_id, "appidacr": "1" if not subject.managed_identity
            else "2", "idtyp": "app", "ver": "1.0", "uti": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{subject.object_id}"
                                                                           f"/{audience}/{iat}")),
        }
        if subject.managed_identity:
            claims["xms_mirid"] = f"/azvm/managedIdentities/{subject.client_id}"
        import jwt

        token = jwt.encode(claims, self.key.private, algorithm="RS256", headers={"kid": self.key.kid, "typ": "JWT"})
        return token, exp

    def issue_refresh(self, subject: Subject, base: str) -> str:
        token, _ = self.issue(subject, REFRESH_AUDIENCE, base, lifetime=REFRESH_TOKEN_SECONDS)
        return token

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token that azvm signed and that has not expired; TokenError otherwise."""
        claims = self._cache.get(token)
        if claims is None:
            import jwt

            try:
                claims = jwt.decode(token, self.key.public, algorithms=["RS256"],
                                    options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                             "verify_iat": False, "require": ["exp", "nbf", "iss", "aud", "tid",
                                                                              "oid", "appid"]})
            except jwt.InvalidSignatureError:
                raise TokenError("InvalidAuthenticationToken", "The access token is invalid: its signature is not"
                                 " azvm's.") from None
            except jwt.PyJWTError:
                raise TokenError("InvalidAuthenticationToken", "The access token is invalid.") from None
            m = _ISSUER.fullmatch(str(claims["iss"]))
            if m is None or (m.group(1) != "adfs" and m.group(1).lower() != str(claims["tid"]).lower()):
                raise TokenError("InvalidAuthenticationToken", "The access token is invalid: its issuer is not azvm.")
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[token] = claims
        now = now_seconds()
        exp, nbf = claims["exp"], claims["nbf"]
        if not isinstance(exp, int) or not isinstance(nbf, int):
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
        if exp + CLOCK_SKEW_SECONDS < now:
            raise TokenError("ExpiredAuthenticationToken", f"The access token expiry UTC time '{_utc(exp)}' is"
                             f" earlier than current UTC time '{_utc(now)}'.")
        if nbf - CLOCK_SKEW_SECONDS > now:
            raise TokenError("InvalidAuthenticationToken", f"The access token is not valid before '{_utc(nbf)}'.")
        return claims


def _utc(seconds: int) -> str:
    from ..clock import to_datetime

    return to_datetime(seconds * US).strftime("%m/%d/%Y %I:%M:%S %p")


__all__ = ["ACCESS_TOKEN_SECONDS", "REFRESH_AUDIENCE", "REFRESH_TOKEN_SECONDS", "Subject", "TokenError", "Tokens",
           "issuer", "now_seconds"]
