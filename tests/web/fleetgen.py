"""A large fleet, made in-process through the service (what the ARM API would write, without 40,000
HTTP requests): for the 10,000-VM render test and benchmarks/bench_dashboard.py."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from azvm.domain.resource_id import ResourceId
from azvm.service.compute import ComputeService

SUB = "00000000-0000-0000-0000-000000000000"
NET_API = "2024-05-01"
PER_SUBNET = 250  # a /24 subnet's NICs, as a real deployment would spread them
SIZES = ("Standard_B2s", "Standard_D2s_v3", "Standard_B1s", "Standard_D4s_v5", "Standard_E2s_v5")


def _vm_body(nic: str, size: str) -> dict[str, Any]:
    return {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                              "sku": "server", "version": "latest"}},
        "osProfile": {"computerName": "vm", "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
        "networkProfile": {"networkInterfaces": [{"id": nic}]}}}


def populate(svc: ComputeService, n: int, *, groups: int = 10) -> list[str]:
    """`n` VMs over `groups` resource groups (fleet-0, ...), each on its own NIC, created at the clock's
    now, then a third deallocated and a fifth powered off; returns their ids. The NICs after the first
    of each group are copies of it with the next addresses (the NIC engine's own address search looks
    at every NIC of the subscription, which is what a bulk load can skip)."""
    ids = []
    per_group = -(-n // groups)
    for g in range(groups):
        rg = f"fleet-{g}"
        count = min(per_group, n - g * per_group)
        if count <= 0:
            break
        subnets = -(-count // PER_SUBNET)
        svc.groups.create_or_update(SUB, rg, {"location": "eastus"})
        net = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network"
        vnet = f"{net}/virtualNetworks/vnet"
        svc.resources.put(ResourceId.parse(vnet), {"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
            "subnets": [{"name": f"s{k}", "properties": {"addressPrefix": f"10.{k // 256}.{k % 256}.0/24"}}
                        for k in range(subnets)]}})
        template: dict[str, Any] | None = None
        for i in range(count):
            name = f"vm-{g}-{i:05d}"
            nic = f"{net}/networkInterfaces/{name}-nic"
            if template is None:
                template = svc.resources.put(ResourceId.parse(nic), {"location": "eastus", "properties": {
                    "ipConfigurations": [{"name": "ipconfig1", "properties": {
                        "subnet": {"id": f"{vnet}/subnets/s0"}}}]}})[0].body
            else:
                k = i // PER_SUBNET
                body = copy.deepcopy(template)
                body["id"], body["name"] = nic, f"{name}-nic"
                props = body["properties"]
                props["resourceGuid"] = svc.ids.uuid()
                ipc = props["ipConfigurations"][0]
                ipc["id"] = f"{nic}/ipConfigurations/ipconfig1"
                ipc["properties"]["subnet"] = {"id": f"{vnet}/subnets/s{k}"}
                ipc["properties"]["privateIPAddress"] = str(ipaddress.ip_address(f"10.{k // 256}.{k % 256}.4")
                                                            + i % PER_SUBNET)
                svc.resources.write(ResourceId.parse(nic), body, None)
            svc.create_or_update(SUB, rg, name, _vm_body(nic, SIZES[i % len(SIZES)]))
            ids.append(f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}")
    svc.time.move(advance_us=3600 * 1_000_000)
    for j, vm in enumerate(ids):
        parts = vm.split("/")
        rg, name = parts[4], parts[-1]
        if j % 3 == 1:
            svc.deallocate(SUB, rg, name)
        elif j % 5 == 2:
            svc.power_off(SUB, rg, name)
    svc.time.move(advance_us=3600 * 1_000_000)
    return ids
