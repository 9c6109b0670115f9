"""Microsoft.Network/virtualNetworks and virtualNetworks/subnets.

Shapes from Azure/azure-rest-api-specs
`specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/virtualNetwork.json`
(VirtualNetworkPropertiesFormat, SubnetPropertiesFormat) and its examples
(VirtualNetworkCreateSubnet.json, SubnetCreate.json, VirtualNetworkGet.json).

Subnets are child resources; a virtual network's PUT may also carry them inline
(`properties.subnets`): those create or update the child resources, and the subnets it leaves out
are deleted, unless in use (`InUseSubnetCannotBeDeleted`, as Azure refuses it). A GET of a network
shows its subnets from the child resources; a subnet shows the NIC IP configurations in it.
A PATCH of tags keeps the subnets. Prefixes are checked as Azure checks them: CIDR notation
(`InvalidAddressPrefixFormat`), inside the network's address space (`NetcfgSubnetRangeOutsideVnet`,
the code Azure answers today for what older responses called `NetcfgInvalidSubnet`), no overlap
between subnets (`NetcfgSubnetRangesOverlap`).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Any

from ...domain.errors import ArmError
from ...domain.resource_id import ResourceId
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType
from .common import (
    KEEP,
    NSG,
    SUBNET,
    InUseSubnetCannotBeDeleted,
    Network,
    id_of,
    inline_children,
    inline_wanted,
    ip_configurations,
    obj,
    prefix,
    ref,
    ref_key,
    render_children,
    resolve,
    sync_children,
)

READ_ONLY_SUBNET = ("provisioningState", "ipConfigurations", "ipConfigurationProfiles", "purpose",
                    "privateEndpoints", "resourceNavigationLinks", "serviceAssociationLinks")


def _prefixes(props: dict[str, Any], owner: str, target: str) -> list[Network]:
    out: list[Network] = []
    if props.get("addressPrefix") is not None:
        out.append(prefix(props["addressPrefix"], owner, f"{target}.addressPrefix"))
    many = props.get("addressPrefixes")
    if many is not None:
        if not isinstance(many, list):
            raise ArmError(f"The value of '{target}.addressPrefixes' must be a list.", code="InvalidParameter",
                           target=f"{target}.addressPrefixes")
        out += [prefix(p, owner, f"{target}.addressPrefixes[{i}]") for i, p in enumerate(many)]
    return out


def address_space(props: dict[str, Any], vnet_id: str) -> list[Network]:
    space = obj(props.get("addressSpace"), "properties.addressSpace")
    return _prefixes({"addressPrefixes": space.get("addressPrefixes", [])}, vnet_id, "properties.addressSpace")


def subnet_props(ctx: Resources, rid: ResourceId, props: dict[str, Any], target: str) -> dict[str, Any]:
    """A subnet's stored properties: validated references, no read-only fields."""
    out = {k: v for k, v in props.items() if k not in READ_ONLY_SUBNET}
    nsg = ref(out.get("networkSecurityGroup"), f"{target}.networkSecurityGroup")
    if nsg is not None:
        resolve(ctx, nsg, NSG, str(rid), f"{target}.networkSecurityGroup.id")
    if not _prefixes(out, str(rid), target):
        raise ArmError(f"Subnet '{rid.name}' is not valid in virtual network '{rid.names[0]}'.",
                       code="NetcfgInvalidSubnet", target=f"{target}.addressPrefix")
    return out


def _inside(net: Network, space: Network) -> bool:
    """Whether `net` lies in `space` (of the same IP version)."""
    if isinstance(net, IPv4Network) and isinstance(space, IPv4Network):
        return net.subnet_of(space)
    if isinstance(net, IPv6Network) and isinstance(space, IPv6Network):
        return net.subnet_of(space)
    return False


def check_layout(vnet: ResourceId, space: list[Network], subnets: dict[str, dict[str, Any]]) -> None:
    """Every subnet inside the address space, none overlapping another."""
    seen: list[tuple[str, Network]] = []
    for name, props in subnets.items():
        nets = _prefixes(props, str(vnet.child("subnets", name)), "properties")
        for net in nets:
            if not any(_inside(net, s) for s in space):
                raise ArmError(f"Subnet '{name}' is not valid because its IP address range is outside the IP"
                               f" address range of virtual network '{vnet.name}'.",
                               code="NetcfgSubnetRangeOutsideVnet", target="properties.addressPrefix")
            for other, onet in seen:
                if other != name and net.version == onet.version and net.overlaps(onet):
                    raise ArmError(f"Subnet '{name}' is not valid because its IP address range overlaps with that"
                                   f" of an existing subnet in virtual network '{vnet.name}'.",
                                   code="NetcfgSubnetRangesOverlap", target="properties.addressPrefix")
        seen += [(name, n) for n in nets]


def subnet_prefixes(subnet: ResourceRow) -> list[Network]:
    return _prefixes(subnet.body.get("properties", {}), id_of(subnet), "properties")


def subnet_users(ctx: Resources, subnet: ResourceRow) -> list[str]:
    """The NIC IP configurations in a subnet."""
    return [ipc_id for _nic, ipc_id, p in ip_configurations(ctx, subnet) if ref_key(p, "subnet") == subnet.key]


def refuse_in_use(ctx: Resources, subnet: ResourceRow) -> None:
    users = subnet_users(ctx, subnet)
    if users:
        raise InUseSubnetCannotBeDeleted(
            f"Subnet {subnet.name} is in use by {users[0]} and cannot be deleted. In order to delete the"
            " subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.")


# -- virtualNetworks ---------------------------------------------------------------------------------------
def normalize_vnet(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    inline = inline_children(props, "subnets", old)
    space = address_space(props, str(rid))
    props["addressSpace"] = {**obj(props.get("addressSpace"), "properties.addressSpace"),
                             "addressPrefixes": [str(n) for n in space]}
    props["resourceGuid"] = (old.body.get("properties", {}).get("resourceGuid") if old else None) or ctx.ids.uuid()
    existing = ctx.children(old, SUBNET) if old is not None else []
    if inline is None:  # a PATCH: the subnets stay, and must still fit
        check_layout(rid, space, {r.name: r.body.get("properties", {}) for r in existing})
        return stored
    wanted = inline_wanted(inline, "subnets", "Subnet", rid, lambda r, p, t: subnet_props(ctx, r, p, t))
    check_layout(rid, space, wanted)
    names = {w.lower() for w in wanted}
    for r in existing:
        if r.name.lower() not in names:
            refuse_in_use(ctx, r)
    sync_children(ctx, rid, "subnets", wanted, existing)
    return stored


def render_vnet(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    out = ctx.base_body(row, now)
    p = out["properties"]
    p.pop(KEEP, None)
    p["subnets"] = render_children(ctx, row, "subnets", now)
    p.setdefault("virtualNetworkPeerings", [])
    p.setdefault("enableDdosProtection", False)
    return out


def check_delete_vnet(ctx: Resources, row: ResourceRow) -> None:
    for s in ctx.children(row, SUBNET):
        refuse_in_use(ctx, s)


def on_delete_vnet(ctx: Resources, row: ResourceRow) -> None:
    for s in ctx.children(row, SUBNET):
        ctx.delete(ResourceId.parse(id_of(s)), check=False)


# -- virtualNetworks/subnets ---------------------------------------------------------------------------------
def normalize_subnet(ctx: Resources, rid: ResourceId, stored: dict[str, Any],
                     old: ResourceRow | None) -> dict[str, Any]:
    parent = rid.parent
    assert parent is not None
    vnet = ctx.get(parent)
    props = subnet_props(ctx, rid, stored["properties"], "properties")
    siblings = {r.name: r.body.get("properties", {}) for r in ctx.children(vnet, SUBNET)
                if r.name.lower() != rid.name.lower()}
    space = address_space(vnet.body.get("properties", {}), id_of(vnet))
    check_layout(parent, space, {**siblings, rid.name: props})
    stored["properties"] = props
    return stored


def render_subnet(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    out = ctx.base_body(row, now)
    p = out["properties"]
    users = subnet_users(ctx, row)
    if users:
        p["ipConfigurations"] = [{"id": u} for u in users]
    p.setdefault("delegations", [])
    p.setdefault("privateEndpointNetworkPolicies", "Disabled")
    p.setdefault("privateLinkServiceNetworkPolicies", "Enabled")
    return out


VIRTUAL_NETWORKS = ResourceType("Microsoft.Network/virtualNetworks", "network", normalize_vnet, render=render_vnet,
                                check_delete=check_delete_vnet, on_delete=on_delete_vnet)
SUBNETS = ResourceType(SUBNET, "network", normalize_subnet, render=render_subnet, check_delete=refuse_in_use,
                       location_from_parent=True)

__all__ = ["SUBNETS", "VIRTUAL_NETWORKS", "subnet_prefixes"]
