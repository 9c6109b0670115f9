"""The principals file of `--auth strict` (`--principals FILE`): who may sign in, how, and with which
role assignments.

    {"principals": [
      {"clientId": "ci-app", "secret": "s3cret",
       "roleAssignments": [{"role": "Contributor", "scope": "/subscriptions/<sub>/resourceGroups/ci"}]},
      {"clientId": "cert-app", "certificate": "app.pem",            # or "thumbprint": "<SHA-1 or SHA-256 hex>"
       "roleAssignments": [{"role": "Reader", "scope": "/subscriptions/<sub>"}]},
      {"clientId": "vm-identity", "managedIdentity": true,
       "roleAssignments": [{"actions": ["Microsoft.Compute/virtualMachines/*"], "notActions": [],
                            "scope": "/subscriptions/<sub>"}]},
      {"clientId": "ops", "secret": "...", "admin": true}            # may use the control API (/azvm/...)
    ]}

Optional per principal: `tenantId` (default: azvm's tenant; a principal of another tenant gets
tokens that ARM refuses with InvalidAuthenticationTokenTenant), `objectId` (default: a UUID derived
from the client id), `displayName`. A certificate path is read relative to the file. The first
managed identity without a `clientId` asked for is the system-assigned one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .roles import BUILT_IN_ROLES, Assignment, Role, normalize_scope

# object ids of principals that the file does not give one: stable, derived from the client id
_OID_NAMESPACE = uuid.UUID("6f1a1f7e-5b8c-4a53-9f0e-9a1d7c2b4e10")


class PrincipalsError(ValueError):
    """The principals file is missing or malformed (a user's error: one line, exit 2)."""


def object_id_for(client_id: str) -> str:
    return str(uuid.uuid5(_OID_NAMESPACE, client_id.lower()))


@dataclass(frozen=True)
class Certificate:
    """A client certificate as declared: its thumbprints (hex, upper case) and, from a PEM, its public key."""

    sha1: str | None
    sha256: str | None
    public_pem: bytes | None = None


@dataclass(frozen=True)
class Principal:
    client_id: str
    object_id: str
    tenant_id: str
    display_name: str
    secret: str | None = None
    certificate: Certificate | None = None
    managed_identity: bool = False
    admin: bool = False
    assignments: tuple[Assignment, ...] = ()

    def subscriptions(self) -> list[str]:
        """The subscriptions this principal has an assignment in (in the order of the file)."""
        out: list[str] = []
        for a in self.assignments:
            if a.subscription and a.subscription not in out:
                out.append(a.subscription)
        return out


@dataclass(frozen=True)
class Principals:
    by_client: dict[str, Principal]  # by client id, lower case

    def get(self, client_id: str) -> Principal | None:
        return self.by_client.get(client_id.lower())

    def managed_identity(self, client_id: str | None = None, object_id: str | None = None) -> Principal | None:
        for p in self.by_client.values():
            if p.managed_identity and (client_id is None or p.client_id.lower() == client_id.lower()) and (
                    object_id is None or p.object_id.lower() == object_id.lower()):
                return p
        return None

    def by_object(self, object_id: str) -> Principal | None:
        for p in self.by_client.values():
            if p.object_id.lower() == object_id.lower():
                return p
        return None


def load_principals(path: str | Path, default_tenant: str) -> Principals:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise PrincipalsError(f"{str(p)!r}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise PrincipalsError(f"{str(p)!r}: not JSON ({e})") from None
    return parse_principals(raw, default_tenant, base=p.parent)


def parse_principals(raw: Any, default_tenant: str, base: Path = Path(".")) -> Principals:
    items = raw.get("principals") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise PrincipalsError('expected {"principals": [...]} or a list of principals')
    out: dict[str, Principal] = {}
    for i, item in enumerate(items):
        where = f"principals[{i}]"
        if not isinstance(item, dict):
            raise PrincipalsError(f"{where}: expected an object")
        principal = _principal(item, where, default_tenant, base)
        if principal.client_id.lower() in out:
            raise PrincipalsError(f"{where}: clientId {principal.client_id!r} is declared twice")
        out[principal.client_id.lower()] = principal
    return Principals(out)


_KEYS = {"clientId", "objectId", "tenantId", "displayName", "secret", "certificate", "thumbprint",
         "managedIdentity", "admin", "roleAssignments"}


def _principal(item: dict[str, Any], where: str, default_tenant: str, base: Path) -> Principal:
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise PrincipalsError(f"{where}: unknown field {unknown[0]!r} (expected {', '.join(sorted(_KEYS))})")
    client_id = _text(item, "clientId", where, required=True)
    assert client_id is not None
    secret = _text(item, "secret", where)
    managed = item.get("managedIdentity", False)
    admin = item.get("admin", False)
    if not isinstance(managed, bool) or not isinstance(admin, bool):
        raise PrincipalsError(f"{where}: managedIdentity and admin are true or false")
    cert = _certificate(item, where, base)
    if not (secret or cert or managed):
        raise PrincipalsError(f"{where}: give a secret, a certificate (or thumbprint), or managedIdentity: true")
    assignments = item.get("roleAssignments", [])
    if not isinstance(assignments, list):
        raise PrincipalsError(f"{where}.roleAssignments: expected a list")
    return Principal(client_id=client_id, object_id=_text(item, "objectId", where) or object_id_for(client_id),
                     tenant_id=(_text(item, "tenantId", where) or default_tenant).lower(),
                     display_name=_text(item, "displayName", where) or client_id, secret=secret, certificate=cert,
                     managed_identity=managed, admin=admin,
                     assignments=tuple(_assignment(a, f"{where}.roleAssignments[{j}]")
                                       for j, a in enumerate(assignments)))


def _text(item: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    v = item.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise PrincipalsError(f"{where}.{key}: expected a non-empty string")
    return v.strip()


def _certificate(item: dict[str, Any], where: str, base: Path) -> Certificate | None:
    pem_path = _text(item, "certificate", where)
    thumb = _text(item, "thumbprint", where)
    if pem_path:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        path = base / pem_path
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except OSError as e:
            raise PrincipalsError(f"{where}.certificate: {str(path)!r}: {e.strerror or e}") from None
        except ValueError:
            raise PrincipalsError(f"{where}.certificate: {str(path)!r}: not a PEM certificate") from None
        public = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        return Certificate(cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 (x5t is SHA-1)
                           cert.fingerprint(hashes.SHA256()).hex().upper(), public)
    if thumb:
        t = thumb.replace(":", "").upper()
        if len(t) not in (40, 64) or any(c not in "0123456789ABCDEF" for c in t):
            raise PrincipalsError(f"{where}.thumbprint: expected a SHA-1 (40) or SHA-256 (64) hex thumbprint")
        return Certificate(t if len(t) == 40 else None, t if len(t) == 64 else None)
    return None


def _assignment(a: Any, where: str) -> Assignment:
    if not isinstance(a, dict):
        raise PrincipalsError(f"{where}: expected an object")
    scope = a.get("scope")
    if not isinstance(scope, str) or not scope.lower().startswith("/subscriptions/"):
        raise PrincipalsError(f"{where}.scope: expected a scope starting /subscriptions/<id>")
    if "role" in a:
        role = BUILT_IN_ROLES.get(str(a["role"]).lower())
        if role is None:
            raise PrincipalsError(f"{where}.role: {a['role']!r}: expected Owner, Contributor or Reader (or a"
                                  " custom list: actions, notActions)")
    else:
        actions, not_actions = a.get("actions"), a.get("notActions", [])
        if not (isinstance(actions, list) and actions and all(isinstance(x, str) and x for x in actions)
                and isinstance(not_actions, list) and all(isinstance(x, str) and x for x in not_actions)):
            raise PrincipalsError(f"{where}: expected a role, or actions (a non-empty list of strings) and"
                                  " notActions")
        digest = hashlib.sha256(json.dumps([actions, not_actions]).encode()).hexdigest()[:8]
        role = Role(f"custom-{digest}", tuple(actions), tuple(not_actions))
    return Assignment(role, normalize_scope(scope))


__all__ = ["Certificate", "Principal", "Principals", "PrincipalsError", "load_principals", "object_id_for",
           "parse_principals"]
