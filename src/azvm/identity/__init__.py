"""azvm's identity provider and the ARM edge's authentication (docs/identity.md).

The token service (OpenID discovery, the token endpoint, the signing keys, managed identity) runs
on the server's own HTTPS port; `--auth open|strict` decides what ARM requests need
(azvm.identity.auth). Principals and their role assignments come from `--principals FILE`
(azvm.identity.principals); role checks are azvm.identity.roles.
"""

from __future__ import annotations

from pathlib import Path

from ..arm.app import ArmApi
from .auth import OpenAuth, StrictAuth
from .endpoints import register
from .keys import load_or_create
from .principals import PrincipalsError, load_principals
from .service import MODES, OPEN, STRICT, Identity, IdentityError
from .tokens import Tokens


def install(api: ArmApi, *, mode: str, principals: str | None, key_dir: Path | None, tenant_id: str) -> Identity:
    """Register the identity provider's routes in `api`'s table and set its --auth check.

    `key_dir`: where the signing key is kept (None: in memory). Raises PrincipalsError for a bad file."""
    if mode not in MODES:
        raise ValueError(f"auth mode {mode!r}: expected one of {', '.join(MODES)}")
    if mode == STRICT and principals is None:
        raise PrincipalsError("--auth strict needs --principals FILE (who may sign in, with which roles)")
    declared = load_principals(principals, tenant_id) if principals is not None else None
    identity = Identity(mode, Tokens(lambda: load_or_create(key_dir)), tenant_id, declared if mode == STRICT else None)
    register(api.router, identity)
    api.auth = StrictAuth(identity) if mode == STRICT else OpenAuth()
    return identity


__all__ = ["MODES", "OPEN", "STRICT", "Identity", "IdentityError", "PrincipalsError", "install"]
