"""Microsoft.Network/networkSecurityGroups and networkSecurityGroups/securityRules.

Shapes from Azure/azure-rest-api-specs
`specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/networkSecurityGroup.json`
(NetworkSecurityGroupPropertiesFormat, SecurityRulePropertiesFormat) and its examples
(NetworkSecurityGroupCreateWithRule.json, NetworkSecurityGroupGet.json: the six
`defaultSecurityRules` that every group shows, with their priorities and descriptions).

Security rules are child resources; a group's PUT may carry them inline (`properties.securityRules`):
those create or update the children and the ones left out are deleted. Rules are checked as Azure
checks them: a priority from 100 to 4096 (`SecurityRuleInvalidPriority`), one rule per priority and
direction (`SecurityRuleConflict`), the enum fields (protocol, access, direction). A group used by a
NIC or a subnet cannot be deleted (`InUseNetworkSecurityGroupCannotBeDeleted`).
"""

from __future__ import annotations

from typing import Any

from ...domain.errors import ArmError, InvalidParameter
from ...domain.resource_id import ResourceId
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType
from .common import (
    KEEP,
    NSG,
    RULE,
    SUBNET,
    id_of,
    inline_children,
    inline_wanted,
    ref_key,
    render_children,
    sync_children,
)

PROTOCOLS = ("Tcp", "Udp", "Icmp", "Esp", "*", "Ah")
ACCESS = ("Allow", "Deny")
DIRECTIONS = ("Inbound", "Outbound")

# name, priority, direction, access, source prefix, destination prefix, description
# (NetworkSecurityGroupGet.json, 2024-05-01)
DEFAULT_RULES = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
)


def _required(props: dict[str, Any], key: str, allowed: tuple[str, ...], target: str, rule: str) -> str:
    value = props.get(key)
    for a in allowed:
        if isinstance(value, str) and value.lower() == a.lower():
            return a
    shown = "null" if value is None else str(value)[:60]
    raise InvalidParameter(f"Security rule {rule} has invalid {key[0].upper() + key[1:]} '{shown}'. Allowed values"
                           f" are {', '.join(allowed)}.", target=f"{target}.{key}")


def rule_props(rid: ResourceId, props: dict[str, Any], target: str) -> dict[str, Any]:
    out = {k: v for k, v in props.items() if k != "provisioningState"}
    out["protocol"] = _required(out, "protocol", PROTOCOLS, target, rid.name)
    out["access"] = _required(out, "access", ACCESS, target, rid.name)
    out["direction"] = _required(out, "direction", DIRECTIONS, target, rid.name)
    prio = out.get("priority")
    if isinstance(prio, bool) or not isinstance(prio, int) or not 100 <= prio <= 4096:
        raise ArmError(f"Security rule has invalid Priority. Value provided: {str(prio)[:20]} Allowed range"
                       " 100-4096.", code="SecurityRuleInvalidPriority", target=f"{target}.priority")
    for k in ("sourcePortRange", "destinationPortRange", "sourceAddressPrefix", "destinationAddressPrefix"):
        plural = k.replace("Range", "Ranges").replace("Prefix", "Prefixes")
        if out.get(k) is None and not out.get(plural):
            out[k] = "*"
    return out


def check_rules(rules: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, p in rules.items():
        key = (int(p["priority"]), str(p["direction"]))
        if key in seen:
            raise ArmError(f"Security rule {name} conflicts with rule {seen[key]}. Rules cannot have the same"
                           " Priority and Direction. To learn more, see aka.ms/nsgrules.",
                           code="SecurityRuleConflict", target="properties.priority")
        seen[key] = name


# -- networkSecurityGroups ---------------------------------------------------------------------------------
def normalize_nsg(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    inline = inline_children(props, "securityRules", old)
    for k in ("defaultSecurityRules", "networkInterfaces", "subnets", "flowLogs"):
        props.pop(k, None)
    props["resourceGuid"] = (old.body.get("properties", {}).get("resourceGuid") if old else None) or ctx.ids.uuid()
    if inline is None:
        return stored
    wanted = inline_wanted(inline, "securityRules", "Security rule", rid, rule_props)
    check_rules(wanted)
    sync_children(ctx, rid, "securityRules", wanted, ctx.children(old, RULE) if old is not None else [])
    return stored


def users(ctx: Resources, row: ResourceRow) -> tuple[list[str], list[str]]:
    """The NICs and the subnets that use a group."""
    nics = sorted({id_of(nic) for nic in ctx.referrers(row, "Microsoft.Network/networkInterfaces")
                   if ref_key(nic.body.get("properties", {}), "networkSecurityGroup") == row.key})
    subnets = [id_of(s) for s in ctx.referrers(row, SUBNET)
               if ref_key(s.body.get("properties", {}), "networkSecurityGroup") == row.key]
    return nics, subnets


def default_rule(nsg_id: str, etag: str, rule: tuple[str, int, str, str, str, str, str]) -> dict[str, Any]:
    name, prio, direction, access, src, dst, desc = rule
    return {"name": name, "id": f"{nsg_id}/defaultSecurityRules/{name}", "etag": etag,
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {"provisioningState": "Succeeded", "description": desc, "protocol": "*",
                           "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": src,
                           "destinationAddressPrefix": dst, "access": access, "priority": prio,
                           "direction": direction, "sourcePortRanges": [], "destinationPortRanges": [],
                           "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}


def render_nsg(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    out = ctx.base_body(row, now)
    p = out["properties"]
    p.pop(KEEP, None)
    p["securityRules"] = render_children(ctx, row, "securityRules", now)
    p["defaultSecurityRules"] = [default_rule(id_of(row), row.etag, r) for r in DEFAULT_RULES]
    nics, subnets = users(ctx, row)
    if nics:
        p["networkInterfaces"] = [{"id": n} for n in nics]
    if subnets:
        p["subnets"] = [{"id": s} for s in subnets]
    return out


def check_delete_nsg(ctx: Resources, row: ResourceRow) -> None:
    nics, subnets = users(ctx, row)
    if nics or subnets:
        raise ArmError(f"Network security group {id_of(row)} cannot be deleted because it is in use by the following"
                       f" resources: {', '.join(nics + subnets)}. In order to delete the Network security group,"
                       " remove the association with the resource(s). To learn how to do this, see"
                       " aka.ms/deletensg.", code="InUseNetworkSecurityGroupCannotBeDeleted")


def on_delete_nsg(ctx: Resources, row: ResourceRow) -> None:
    for r in ctx.children(row, RULE):
        ctx.delete(ResourceId.parse(id_of(r)), check=False)


# -- networkSecurityGroups/securityRules ----------------------------------------------------------------------
def normalize_rule(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    parent = rid.parent
    assert parent is not None
    nsg = ctx.get(parent)
    props = rule_props(rid, stored["properties"], "properties")
    siblings = {r.name: r.body.get("properties", {}) for r in ctx.children(nsg, RULE)
                if r.name.lower() != rid.name.lower()}
    check_rules({**siblings, rid.name: props})
    stored["properties"] = props
    return stored


NETWORK_SECURITY_GROUPS = ResourceType(NSG, "network", normalize_nsg, render=render_nsg,
                                       check_delete=check_delete_nsg, on_delete=on_delete_nsg)
SECURITY_RULES = ResourceType(RULE, "network", normalize_rule, location_from_parent=True)

__all__ = ["NETWORK_SECURITY_GROUPS", "SECURITY_RULES"]
