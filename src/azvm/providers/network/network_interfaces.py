"""Microsoft.Network/networkInterfaces.

Shapes from Azure/azure-rest-api-specs
`specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json`
(NetworkInterfacePropertiesFormat, NetworkInterfaceIPConfigurationPropertiesFormat) and its examples
(NetworkInterfaceCreate.json, NetworkInterfaceGet.json); what clients read of it from
shared/CLIENTS.md (`dnsSettings` present even when empty, `ipConfigurations[].properties.subnet`).

- Each IP configuration names a subnet that must exist in the NIC's region, and may name a public
  IP address (which must exist and not be used by another IP configuration) and the NIC a network
  security group (which must exist): a missing one is Azure's `InvalidResourceReference`.
- Private addresses are deterministic: Dynamic takes the lowest free address of the subnet after the
  five that Azure reserves (the network address, the next three, and the last), and keeps it on later
  PUTs; Static takes the given one, which must lie in the subnet (`PrivateIPAddressNotInSubnet`),
  outside the reserved ones (`PrivateIPAddressInReservedRange`) and be free
  (`PrivateIPAddressIsAllocated`, wording as quoted in daniel-rhoades/acs-engine-terraform#10).
- `virtualMachine` is read-only to users: the VM service writes it when a VM takes the NIC and
  removes it when the VM is gone; a user's PUT keeps it. A NIC whose VM still exists cannot be deleted
  (`NicInUse`, wording as quoted in hashicorp/terraform-provider-azurerm#8105). `macAddress` shows once
  the NIC is attached.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ...domain.errors import ArmError, InvalidParameter
from ...domain.resource_id import ResourceId
from ...service.neighbours import nic_vm
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType
from .common import (
    NIC,
    NSG,
    PIP,
    SUBNET,
    child_name,
    choice,
    id_of,
    ip_configurations,
    items,
    obj,
    ref,
    ref_key,
    resolve,
    stable_hash,
)
from .virtual_networks import subnet_prefixes

READ_ONLY = ("provisioningState", "resourceGuid", "macAddress", "virtualMachine", "primary", "hostedWorkloads",
             "tapConfigurations", "privateEndpoint", "privateLinkService", "dscpConfiguration",
             "vnetEncryptionSupported")
READ_ONLY_IPC = ("provisioningState", "privateIPAddressPrefixLength")


class PrivateAddressError(ArmError):
    pass


def _address(value: Any, target: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidParameter(f"The private IP address '{str(value)[:60]}' is not a valid IP address.",
                               target=target) from None


def _reserved(net: ipaddress.IPv4Network | ipaddress.IPv6Network, n: int) -> bool:
    """Azure's five reserved addresses of a subnet: the first four and the last."""
    return n < 4 or n == net.num_addresses - 1


def taken(ctx: Resources, rid: ResourceId, subnet: ResourceRow) -> set[str]:
    """The private addresses held in a subnet by other NICs."""
    return {str(p.get("privateIPAddress")) for nic, _ipc, p in ip_configurations(ctx, subnet)
            if nic.key != rid.key and ref_key(p, "subnet") == subnet.key}


def assign(ctx: Resources, rid: ResourceId, ipc_id: str, subnet: ResourceRow, method: str, wanted: Any,
           previous: str | None, used: set[str], target: str) -> str:
    nets = [n for n in subnet_prefixes(subnet) if n.version == 4] or subnet_prefixes(subnet)
    if method == "Static":
        addr = _address(wanted, f"{target}.privateIPAddress")
        net = next((n for n in nets if addr in n), None)
        if net is None:
            raise PrivateAddressError(
                f"IP configuration {ipc_id} is referencing a private IP address {addr} which does not belong to"
                f" address prefix {', '.join(map(str, nets))} of subnet {id_of(subnet)}.",
                code="PrivateIPAddressNotInSubnet", target=f"{target}.privateIPAddress")
        if _reserved(net, int(addr) - int(net.network_address)):
            raise PrivateAddressError(f"Private static IP address {addr} falls within reserved IP range of subnet"
                                      f" prefix {net}.", code="PrivateIPAddressInReservedRange",
                                      target=f"{target}.privateIPAddress")
        if str(addr) in used:
            holder = next((id_of(nic) for nic, _i, p in ip_configurations(ctx, subnet)
                           if nic.key != rid.key and p.get("privateIPAddress") == str(addr)
                           and ref_key(p, "subnet") == subnet.key), str(rid))
            raise PrivateAddressError(f"IP configuration {ipc_id} is using the private IP address {addr} which is"
                                      f" already allocated to resource {holder}.", code="PrivateIPAddressIsAllocated",
                                      target=f"{target}.privateIPAddress")
        return str(addr)
    if previous is not None and previous not in used:
        return previous
    for net in nets:
        for n in range(4, min(net.num_addresses - 1, 4 + len(used) + 1)):
            a = str(net.network_address + n)
            if a not in used:
                return a
    raise PrivateAddressError(f"Subnet {subnet.name} with address prefix {', '.join(map(str, nets))} does not have"
                              " enough capacity for 1 IP addresses.", code="SubnetIsFull", target=target)


def normalize(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    oldp = old.body.get("properties", {}) if old is not None else {}
    location = str(stored.get("location"))
    for k in READ_ONLY:
        props.pop(k, None)
    if "virtualMachine" in oldp:
        props["virtualMachine"] = oldp["virtualMachine"]
    if "primary" in oldp:
        props["primary"] = oldp["primary"]
    props["resourceGuid"] = oldp.get("resourceGuid") or ctx.ids.uuid()
    nsg = ref(props.get("networkSecurityGroup"), "properties.networkSecurityGroup")
    if nsg is not None:
        resolve(ctx, nsg, NSG, str(rid), "properties.networkSecurityGroup.id", location)
        props["networkSecurityGroup"] = {"id": str(nsg)}
    dns = obj(props.get("dnsSettings"), "properties.dnsSettings")
    servers = dns.get("dnsServers") or []
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise InvalidParameter("The value of 'properties.dnsSettings.dnsServers' must be a list of addresses.",
                               target="properties.dnsSettings.dnsServers")
    props["dnsSettings"] = {k: v for k, v in dns.items() if k not in ("appliedDnsServers", "internalFqdn")}
    props["dnsSettings"]["dnsServers"] = servers
    configs = items(props.get("ipConfigurations"), "properties.ipConfigurations")
    if not configs:
        raise InvalidParameter(f"Network interface {rid} must have one or more IP configurations.",
                               target="properties.ipConfigurations")
    previous = {c["name"].lower(): c.get("properties", {}) for c in oldp.get("ipConfigurations", [])}
    out: list[dict[str, Any]] = []
    used_by_subnet: dict[str, set[str]] = {}
    pips: set[str] = set()
    primaries = [bool(obj(c.get("properties"), "properties").get("primary")) for c in configs]
    if sum(primaries) > 1:
        raise InvalidParameter(f"Network interface {rid} has more than one primary IP configuration.",
                               target="properties.ipConfigurations")
    for i, c in enumerate(configs):
        target = f"properties.ipConfigurations[{i}]"
        name = child_name(c, target)
        if name.lower() in (o["name"].lower() for o in out):
            raise InvalidParameter(f"IP configuration '{name}' appears more than once in network interface {rid}.",
                                   target=target)
        ipc_id = f"{rid}/ipConfigurations/{name}"
        p = {k: v for k, v in obj(c.get("properties"), f"{target}.properties").items() if k not in READ_ONLY_IPC}
        sub_id = ref(p.get("subnet"), f"{target}.properties.subnet")
        if sub_id is None:
            raise InvalidParameter(f"IP configuration {ipc_id} must reference a subnet.",
                                   target=f"{target}.properties.subnet")
        # a subnet carries its virtual network's location: one in another region is no reference
        subnet = resolve(ctx, sub_id, SUBNET, str(rid), f"{target}.properties.subnet.id", location)
        method = choice(p.get("privateIPAllocationMethod"), f"{target}.properties.privateIPAllocationMethod",
                        ("Dynamic", "Static"), "Dynamic")
        if subnet.key not in used_by_subnet:
            used_by_subnet[subnet.key] = taken(ctx, rid, subnet)
        used = used_by_subnet[subnet.key]
        prev = previous.get(name.lower(), {})
        keep = prev.get("privateIPAddress") if ref_key(prev, "subnet") == subnet.key else None
        addr = assign(ctx, rid, ipc_id, subnet, method, p.get("privateIPAddress"), keep, used,
                      f"{target}.properties")
        used.add(addr)
        p.update({"subnet": {"id": id_of(subnet)}, "privateIPAllocationMethod": method, "privateIPAddress": addr,
                  "privateIPAddressVersion": "IPv4" if ":" not in addr else "IPv6",
                  "primary": primaries[i] or (not any(primaries) and i == 0)})
        pip_id = ref(p.get("publicIPAddress"), f"{target}.properties.publicIPAddress")
        if pip_id is not None:
            pip = resolve(ctx, pip_id, PIP, str(rid), f"{target}.properties.publicIPAddress.id", location)
            holder = next((ipc for nic, ipc, q in ip_configurations(ctx, pip)
                           if nic.key != rid.key and ref_key(q, "publicIPAddress") == pip.key), None)
            if holder is None and pip.key in pips:
                holder = next(f"{rid}/ipConfigurations/{o['name']}" for o in out
                              if ref_key(o["properties"], "publicIPAddress") == pip.key)
            if holder is not None:
                raise ArmError(f"IP configuration {ipc_id} is referencing public IP address {id_of(pip)} that is"
                               f" already allocated to resource {holder}.", code="PublicIPAddressInUse",
                               target=f"{target}.properties.publicIPAddress.id")
            pips.add(pip.key)
            p["publicIPAddress"] = {"id": id_of(pip)}
        out.append({"name": name, "properties": p})
    props["ipConfigurations"] = out
    return stored


def mac_address(key: str) -> str:
    """A stable MAC address in Microsoft's 00-0D-3A block, from the NIC's id."""
    h = stable_hash(key)
    return "00-0D-3A-" + "-".join(f"{(h >> s) & 0xFF:02X}" for s in (16, 8, 0))


def render(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    out = ctx.base_body(row, now)
    p = out["properties"]
    nic_id = id_of(row)
    p["ipConfigurations"] = [
        {"name": c["name"], "id": f"{nic_id}/ipConfigurations/{c['name']}", "etag": row.etag,
         "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
         "properties": {"provisioningState": out["properties"]["provisioningState"], **c["properties"]}}
        for c in p.get("ipConfigurations", [])]
    dns = p.setdefault("dnsSettings", {})
    dns.setdefault("dnsServers", [])
    dns["appliedDnsServers"] = list(dns["dnsServers"])
    p.setdefault("enableAcceleratedNetworking", False)
    p.setdefault("enableIPForwarding", False)
    p.setdefault("hostedWorkloads", [])
    p.setdefault("tapConfigurations", [])
    p.setdefault("nicType", "Standard")
    if isinstance(p.get("virtualMachine"), dict):
        p["macAddress"] = mac_address(row.key)
        p.setdefault("primary", True)
    return out


def check_delete(ctx: Resources, row: ResourceRow) -> None:
    vm = nic_vm(ctx, row)
    if vm is not None:
        raise ArmError(f"Network Interface {id_of(row)} is used by existing resource {vm}. In order to delete the"
                       " network interface, it must be dissociated from the resource. To learn more, see"
                       " aka.ms/deletenic.", code="NicInUse")


NETWORK_INTERFACES = ResourceType(NIC, "network", normalize, render=render, check_delete=check_delete)

__all__ = ["NETWORK_INTERFACES", "mac_address"]
