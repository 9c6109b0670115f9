"""Resource ids: the one place they are parsed and printed.

An ARM resource id names a subscription, optionally a resource group, and a chain of
(type, name) pairs under one provider namespace:

    /subscriptions/{s}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{child type}/{name}...]

ARM compares ids case-insensitively (`key`), and prints them as the client spelled them at
creation (`__str__`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArmError


class InvalidResourceId(ArmError):
    code = "InvalidResourceId"


def _invalid(text: str, target: str) -> InvalidResourceId:
    return InvalidResourceId(f"Resource id '{text}' is invalid. A resource id looks like '/subscriptions/"
                             "{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
                             "{resourceProviderNamespace}/{resourceType}/{resourceName}'.", target=target)


@dataclass(frozen=True, slots=True)
class ResourceId:
    subscription: str
    resource_group: str | None
    namespace: str  # e.g. "Microsoft.Network"; "" for a subscription or a group
    types: tuple[str, ...]  # e.g. ("virtualNetworks", "subnets")
    names: tuple[str, ...]  # one name per type

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def group(cls, sub: str, rg: str) -> ResourceId:
        return cls(sub, rg, "", (), ())

    @classmethod
    def of(cls, sub: str, rg: str | None, namespace: str, *pairs: str) -> ResourceId:
        """ResourceId.of(s, rg, "Microsoft.Network", "virtualNetworks", "vn", "subnets", "default")."""
        if len(pairs) % 2:
            raise ValueError("types and names come in pairs")
        return cls(sub, rg, namespace, tuple(pairs[0::2]), tuple(pairs[1::2]))

    @classmethod
    def parse(cls, text: str, *, target: str = "id") -> ResourceId:
        """Parse an id; raises InvalidResourceId (400) on anything that is not one."""
        if not isinstance(text, str):
            raise InvalidResourceId(f"The value of '{target}' must be a resource id string.", target=target)
        parts = [p for p in text.split("/") if p]
        if not text.startswith("/") or len(parts) < 2 or parts[0].lower() != "subscriptions":
            raise _invalid(text, target)
        sub, rest = parts[1], parts[2:]
        rg: str | None = None
        if len(rest) >= 2 and rest[0].lower() == "resourcegroups":
            rg, rest = rest[1], rest[2:]
        if not rest:
            return cls(sub, rg, "", (), ())
        if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2:
            raise _invalid(text, target)
        ns, pairs = rest[1], rest[2:]
        return cls(sub, rg, ns, tuple(pairs[0::2]), tuple(pairs[1::2]))

    @classmethod
    def try_parse(cls, text: str) -> ResourceId | None:
        """An id from data that may hold anything (an imported history): None if it is not one."""
        try:
            return cls.parse(text)
        except InvalidResourceId:
            return None

    # -- views -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.names[-1] if self.names else (self.resource_group or self.subscription)

    @property
    def type(self) -> str:
        """The full type, e.g. "Microsoft.Network/virtualNetworks/subnets"."""
        if not self.types:
            return "Microsoft.Resources/resourceGroups" if self.resource_group else "Microsoft.Resources/subscriptions"
        return "/".join((self.namespace, *self.types))

    @property
    def parent(self) -> ResourceId | None:
        """The parent resource of a child (a subnet's virtual network), else None."""
        if len(self.types) < 2:
            return None
        return ResourceId(self.subscription, self.resource_group, self.namespace, self.types[:-1], self.names[:-1])

    @property
    def group_id(self) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, "", (), ())

    def child(self, type_: str, name: str) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, self.namespace, (*self.types, type_),
                          (*self.names, name))

    def __str__(self) -> str:
        out = f"/subscriptions/{self.subscription}"
        if self.resource_group is not None:
            out += f"/resourceGroups/{self.resource_group}"
        if self.types:
            out += f"/providers/{self.namespace}"
            for t, n in zip(self.types, self.names, strict=True):
                out += f"/{t}/{n}"
        return out

    @property
    def key(self) -> str:
        """The id as ARM compares it: lower case."""
        return str(self).lower()

    def same(self, other: ResourceId | str) -> bool:
        return self.key == (other.key if isinstance(other, ResourceId) else other.lower())


def references(body: dict[str, object]) -> set[str]:
    """The (lower-case) ids a stored model refers to: every `{"id": "/subscriptions/..."}` object
    under its `properties` (a NIC's subnet, public IP and security group, a VM's NICs, ...). Used to
    index who refers to what, so that "which NICs are in this subnet" is a lookup, not a scan."""
    out: set[str] = set()
    stack: list[object] = [body.get("properties")]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref = v.get("id")
            if isinstance(ref, str) and ref[:15].lower() == "/subscriptions/":
                out.add(ref.lower())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return out


__all__ = ["InvalidResourceId", "ResourceId", "references"]
