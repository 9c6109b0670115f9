"""What the Microsoft.Network types share: references between resources, address prefixes, the
errors Azure answers for them, and the inline children of a parent (subnets, security rules).

Error codes and wording as Azure answers them, taken from responses quoted in public issue threads
(read 2026-12 through the search tool): `InvalidResourceReference` (hashicorp/terraform-provider-azurerm
issues), `InvalidAddressPrefixFormat` (Azure/azure-service-operator#997), `NetcfgSubnetRangesOverlap`
and `NetcfgSubnetRangeOutsideVnet` (MicrosoftDocs/azure-docs#123869), `NetcfgInvalidSubnet`
(microsoft/AzureTRE#2111), `InUseSubnetCannotBeDeleted` (microsoft/nav-arm-templates#161).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...domain.errors import ArmError, InvalidParameter
from ...domain.resource_id import ResourceId
from ...service.ports import ResourceRow
from ...service.resources import Resources
from ...service.validation import _obj

NS = "Microsoft.Network"
VNET = f"{NS}/virtualNetworks"
SUBNET = f"{NS}/virtualNetworks/subnets"
NSG = f"{NS}/networkSecurityGroups"
RULE = f"{NS}/networkSecurityGroups/securityRules"
NIC = f"{NS}/networkInterfaces"
PIP = f"{NS}/publicIPAddresses"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
obj = _obj  # an object field of a body ({} when absent)


class InvalidResourceReference(ArmError):
    code = "InvalidResourceReference"


class InvalidAddressPrefixFormat(ArmError):
    code = "InvalidAddressPrefixFormat"


class InUseSubnetCannotBeDeleted(ArmError):
    code = "InUseSubnetCannotBeDeleted"


# -- body fields -------------------------------------------------------------------------------------
def items(value: Any, target: str) -> list[dict[str, Any]]:
    """A list of objects ([] when absent)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParameter(f"The value of '{target}' must be a list of objects.", target=target)
    return value


def choice(value: Any, target: str, allowed: tuple[str, ...], default: str) -> str:
    """One of Azure's enum strings, matched case-insensitively and shown as Azure spells it."""
    if value is None:
        return default
    for a in allowed:
        if isinstance(value, str) and value.lower() == a.lower():
            return a
    shown = str(value)[:60]
    raise InvalidParameter(f"The value '{shown}' of '{target}' is not valid. Allowed values are"
                           f" {', '.join(allowed)}.", target=target)


def child_name(item: dict[str, Any], target: str) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not name or len(name) > 80 or "/" in name:
        raise InvalidParameter(f"The value of '{target}.name' must be a name of 1 to 80 characters.",
                               target=f"{target}.name")
    return name


# -- references --------------------------------------------------------------------------------------
def ref(value: Any, target: str) -> ResourceId | None:
    """The id of a `{"id": ...}` reference, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        raise InvalidParameter(f"The value of '{target}' must be an object with an 'id'.", target=target)
    return ResourceId.parse(value["id"], target=f"{target}.id")


def resolve(ctx: Resources, rid: ResourceId, type_: str, referrer: str, target: str,
            location: str | None = None) -> ResourceRow:
    """The live resource a reference names, or Azure's InvalidResourceReference."""
    row = ctx.find(rid)
    if row is None or row.type.lower() != type_.lower() or (location is not None and row.location
                                                            and row.location != location):
        raise missing_reference(rid, referrer, target)
    return row


def missing_reference(rid: ResourceId, referrer: str, target: str) -> InvalidResourceReference:
    return InvalidResourceReference(
        f"Resource {rid} referenced by resource {referrer} was not found. Please make sure that the"
        " referenced resource exists, and that both resources are in the same region.", target=target)


def id_of(row: ResourceRow) -> str:
    return str(row.body.get("id") or row.key)


# -- addresses ---------------------------------------------------------------------------------------
def prefix(value: Any, owner: str, target: str) -> Network:
    """A CIDR prefix, exactly a network address (10.0.0.0/24)."""
    try:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(value)
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        shown = str(value)[:60]
        raise InvalidAddressPrefixFormat(
            f"Address prefix {shown} of resource {owner} is not formatted correctly. It should follow CIDR"
            " notation, for example 10.0.0.0/24.", target=target) from None


def stable_hash(*parts: str) -> int:
    """A hash of the given strings that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def ip_configurations(ctx: Resources, target: ResourceRow) -> Iterator[tuple[ResourceRow, str, dict[str, Any]]]:
    """The IP configurations of the live NICs that refer to `target` (a subnet, a public IP):
    (NIC, ipconfig id, its stored properties). A lookup in the reference index, not a scan."""
    for nic in ctx.referrers(target, NIC):
        for ipc in nic.body.get("properties", {}).get("ipConfigurations", []):
            yield nic, f"{id_of(nic)}/ipConfigurations/{ipc['name']}", ipc.get("properties", {})


def ref_key(props: dict[str, Any], field: str) -> str | None:
    """The lower-case id of a stored reference field, or None."""
    v = props.get(field)
    return str(v["id"]).lower() if isinstance(v, dict) and isinstance(v.get("id"), str) else None


# -- inline children -----------------------------------------------------------------------------------
def sync_children(ctx: Resources, parent: ResourceId, child_type: str, wanted: dict[str, dict[str, Any]],
                  existing: Iterable[ResourceRow]) -> None:
    """Write the inline children of a parent (already validated) and delete the ones left out."""
    spec = ctx.spec(f"{parent.type}/{child_type}")
    assert spec is not None
    olds = {r.name.lower(): r for r in existing}
    for name, props in wanted.items():
        old = olds.pop(name.lower(), None)
        rid = parent.child(child_type, old.name if old is not None else name)
        model = {"id": str(rid) if old is None else old.body.get("id", str(rid)),
                 "name": rid.name, "type": spec.type, "properties": props}
        if old is None or old.body != model:
            ctx.write(rid, model, old)
    for old in olds.values():
        ctx.delete(ResourceId.parse(id_of(old)), check=False)


def render_children(ctx: Resources, row: ResourceRow, child_type: str, now: int) -> list[dict[str, Any]]:
    return [ctx.render(c, now) for c in ctx.children(row, f"{row.type}/{child_type}")]


def inline_wanted(inline: list[dict[str, Any]], key: str, what: str, parent: ResourceId,
                  props_of: Callable[[ResourceId, dict[str, Any], str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The inline children of a PUT body by name, their properties checked by `props_of`."""
    wanted: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(inline):
        target = f"properties.{key}[{i}]"
        name = child_name(item, target)
        if name.lower() in (w.lower() for w in wanted):
            raise ArmError(f"{what} '{name}' appears more than once in {parent.name}.", code="InvalidRequestFormat",
                           target=target)
        wanted[name] = props_of(parent.child(key, name),
                                obj(item.get("properties"), f"{target}.properties", required=True),
                                f"{target}.properties")
    return wanted


KEEP = "azvm.childrenKept"  # in a stored parent: a PATCH (which merges the stored model) keeps its children


def inline_children(props: dict[str, Any], key: str, old: ResourceRow | None) -> list[dict[str, Any]] | None:
    """The inline children of a PUT body (a PUT without them has none), or None to keep them (a PATCH)."""
    kept = props.pop(KEEP, False)
    value = props.pop(key, None)
    props[KEEP] = True
    if value is None and kept and old is not None:
        return None
    return items(value, f"properties.{key}")

__all__ = ["InUseSubnetCannotBeDeleted", "InvalidAddressPrefixFormat", "InvalidResourceReference"]
