"""Microsoft.Network/publicIPAddresses.

Shapes from Azure/azure-rest-api-specs
`specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/publicIpAddress.json`
(PublicIPAddressPropertiesFormat, PublicIPAddressSku) and its examples (PublicIpAddressCreateDefaults.json,
PublicIpAddressCreateDns.json, PublicIpAddressGet.json).

- `sku.name` Basic or Standard (tier Regional or Global). A body without `sku` gets Basic, the
  spec's historical default: the engine does not hand the api-version to a type, so azvm cannot
  default to Standard for the newest api-versions as Azure does since Basic's retirement; send
  `sku` explicitly (every current client does).
- `publicIPAllocationMethod`: Standard is Static only (a Dynamic Standard address is refused);
  Basic defaults to Dynamic. `publicIPAddressVersion` IPv4 (default) or IPv6,
  `idleTimeoutInMinutes` 4 (default) to 30.
- Addresses are deterministic, never random: IPv4 from 198.18.0.0/15 (RFC 2544's benchmarking
  range, never routed on the Internet), IPv6 from 2001:db8::/32 (documentation), at a stable hash of
  the resource id, probing past addresses already held in the subscription. A Static address is
  shown always; a Dynamic one only while the VM of the NIC that uses it exists and is not
  deallocated (or deallocating), and the same address is given again when it starts, as the
  documents describe the release and re-assignment of Dynamic addresses.
- `ipConfiguration` names the NIC IP configuration that uses the address; such an address cannot be
  deleted (`PublicIPAddressCannotBeDeleted`, Azure's code and wording as quoted in
  hashicorp/terraform-provider-azurerm#2566).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ...domain.errors import ArmError, InvalidParameter
from ...domain.resource_id import ResourceId
from ...service.ports import ResourceRow
from ...service.resources import Resources, ResourceType
from ...service.validation import _str
from .common import PIP, choice, id_of, ip_configurations, obj, ref_key, stable_hash

V4_POOL = ipaddress.IPv4Network("198.18.0.0/15")
V6_POOL = ipaddress.IPv6Network("2001:db8::/32")
RELEASED = ("deallocated", "deallocating")  # power states in which a Dynamic address is released


def allocate(ctx: Resources, rid: ResourceId, version: str) -> str:
    pool: ipaddress.IPv4Network | ipaddress.IPv6Network = V4_POOL if version == "IPv4" else V6_POOL
    used = {str(r.body.get("properties", {}).get("ipAddress")) for r in ctx.iter_type(rid.subscription, PIP)
            if r.key != rid.key}
    start = stable_hash(rid.key) % pool.num_addresses
    for i in range(pool.num_addresses):
        offset = (start + i) % pool.num_addresses
        if version == "IPv4" and offset % 256 in (0, 255):  # no .0 or .255: they look like networks
            continue
        addr = str(pool.network_address + offset)
        if addr not in used:
            return addr
    raise ArmError("No public IP address is left in azvm's pool.", code="PublicIPAddressPoolExhausted")


def normalize(ctx: Resources, rid: ResourceId, stored: dict[str, Any], old: ResourceRow | None) -> dict[str, Any]:
    props = stored["properties"]
    sku = obj(stored.get("sku"), "sku")
    name = choice(sku.get("name"), "sku.name", ("Basic", "Standard"), "Basic")
    stored["sku"] = {"name": name, "tier": choice(sku.get("tier"), "sku.tier", ("Regional", "Global"), "Regional")}
    method = choice(props.get("publicIPAllocationMethod"), "properties.publicIPAllocationMethod",
                    ("Static", "Dynamic"), "Static" if name == "Standard" else "Dynamic")
    if name == "Standard" and method == "Dynamic":
        raise ArmError(f"Standard sku publicIp {rid} must be Static.",
                       code="StandardSkuPublicIPAddressesMustBeStatic",
                       target="properties.publicIPAllocationMethod")
    version = choice(props.get("publicIPAddressVersion"), "properties.publicIPAddressVersion", ("IPv4", "IPv6"),
                     "IPv4")
    idle = props.get("idleTimeoutInMinutes", 4)
    if isinstance(idle, bool) or not isinstance(idle, int) or not 4 <= idle <= 30:
        raise InvalidParameter(f"The idle timeout value {str(idle)[:20]} of public IP address {rid} is not valid:"
                               " it must be from 4 to 30 minutes.", target="properties.idleTimeoutInMinutes")
    for k in ("ipConfiguration", "provisioningState", "resourceGuid", "ipAddress"):
        props.pop(k, None)
    oldp = old.body.get("properties", {}) if old is not None else {}
    same = old is not None and oldp.get("publicIPAddressVersion") == version and oldp.get("ipAddress")
    props.update({"publicIPAllocationMethod": method, "publicIPAddressVersion": version,
                  "idleTimeoutInMinutes": idle,
                  "ipAddress": oldp["ipAddress"] if same else allocate(ctx, rid, version),
                  "resourceGuid": oldp.get("resourceGuid") or ctx.ids.uuid()})
    dns = obj(props.get("dnsSettings"), "properties.dnsSettings")
    if dns:
        label = _str(dns.get("domainNameLabel"), "properties.dnsSettings.domainNameLabel")
        if label:
            location = stored.get("location") or (old.location if old else "")
            props["dnsSettings"] = {**dns, "domainNameLabel": label,
                                    "fqdn": f"{label.lower()}.{location}.cloudapp.azure.com"}
    return stored


def user(ctx: Resources, row: ResourceRow) -> tuple[ResourceRow, str] | None:
    """The NIC, and its IP configuration, that use this address."""
    for nic, ipc_id, p in ip_configurations(ctx, row):
        if ref_key(p, "publicIPAddress") == row.key:
            return nic, ipc_id
    return None


def render(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    out = ctx.base_body(row, now)
    p = out["properties"]
    used = user(ctx, row)
    if used is not None:
        p["ipConfiguration"] = {"id": used[1]}
    if p.get("publicIPAllocationMethod") == "Dynamic":
        vm = used[0].body.get("properties", {}).get("virtualMachine") if used is not None else None
        power = ctx.vm_power(str(vm["id"])) if isinstance(vm, dict) and "id" in vm else None
        if power is None or power in RELEASED:
            p.pop("ipAddress", None)
    p.setdefault("ipTags", [])
    return out


def check_delete(ctx: Resources, row: ResourceRow) -> None:
    used = user(ctx, row)
    if used is not None:
        raise ArmError(f"Public IP address {id_of(row)} can not be deleted since it is still allocated to resource"
                       f" {used[1]}. In order to delete the public IP, disassociate/detach the Public IP address"
                       " from the resource.  To learn how to do this, see aka.ms/deletepublicip.",
                       code="PublicIPAddressCannotBeDeleted")


PUBLIC_IP_ADDRESSES = ResourceType(PIP, "network", normalize, render=render, check_delete=check_delete)

__all__ = ["PUBLIC_IP_ADDRESSES"]
