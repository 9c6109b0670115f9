"""Who asked: the caller of the request being served, for what it records (an operation's caller,
shown by the Activity Log as Azure shows it: the `upn` of a user, else the application id of a
service principal or managed identity; graph-health-activity.md section C).

The ARM edge says how to find the caller of each request (`acting_as`); it is worked out only when
something records it (a write), not on every read. Scheduled work (a deployment's next resource)
acts as the caller of the request that started it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

_resolver: ContextVar[Callable[[], str | None] | None] = ContextVar("azvm_caller", default=None)

# the claims that name a caller, in Azure's order of preference
NAME_CLAIMS = ("upn", "unique_name", "email", "preferred_username", "appid", "azp", "oid", "sub")


def current() -> str | None:
    """The caller of the request being served, or None (none known, or no token)."""
    resolve = _resolver.get()
    return resolve() if resolve is not None else None


@contextmanager
def acting_as(resolve: Callable[[], str | None]) -> Iterator[None]:
    """Serve what follows as the caller `resolve()` names (worked out once, on first use)."""
    memo: list[str | None] = []

    def once() -> str | None:
        if not memo:
            memo.append(resolve())
        return memo[0]

    token = _resolver.set(once)
    try:
        yield
    finally:
        _resolver.reset(token)


def from_claims(claims: Mapping[str, Any]) -> str | None:
    for name in NAME_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value[:256]
    return None


def from_bearer(authorization: str | None) -> str | None:
    """The caller a bearer token names, read without checking it (open mode takes any token; what
    is recorded is what the token says). None for no token or one that is not a JWT."""
    if not authorization or not authorization[:7].lower() == "bearer ":
        return None
    token = authorization[7:].strip()
    if token.count(".") != 2:  # not a JWT (a JWS in compact form has three parts)
        return None
    return _named_by(token)


@lru_cache(maxsize=1024)
def _named_by(token: str) -> str | None:
    """A client sends the same token until it expires (an hour): decoded once, not on every write."""
    import jwt  # PyJWT, imported by the first write that records a caller

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return from_claims(claims) if isinstance(claims, dict) else None


__all__ = ["acting_as", "current", "from_bearer", "from_claims"]
