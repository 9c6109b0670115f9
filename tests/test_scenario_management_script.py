"""What a typical management script does, through the official SDK clients, end to end: a resource
group, a virtual network with a subnet, a network security group, a Dynamic public IP, a NIC, a
Windows VM with two empty data disks and an extension; an update, power off, start, deallocate
(the Dynamic IP released), start again (given again), delete with deleteOption, group delete; and
what it all cost, by meter."""

from __future__ import annotations

from decimal import Context, Decimal, localcontext
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from azvm.testing import AzvmServer
from tests.conftest import http_client

HOUR = 3600


def test_a_management_script_from_network_to_bill(azvm: AzvmServer) -> None:
    rm, net, compute = azvm.resource_client(), azvm.network_client(), azvm.compute_client()
    rm.resource_groups.create_or_update("app", {"location": "westeurope"})

    vnet = net.virtual_networks.begin_create_or_update("app", "vnet", {
        "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.10.0.0/16"]}}}).result()
    subnet = net.subnets.begin_create_or_update("app", "vnet", "web", {
        "properties": {"addressPrefix": "10.10.1.0/24"}}).result()
    assert subnet.id.startswith(vnet.id) and net.virtual_networks.get("app", "vnet").subnets[0].name == "web"
    nsg = net.network_security_groups.begin_create_or_update("app", "web-nsg", {
        "location": "westeurope", "properties": {"securityRules": [{"name": "rdp", "properties": {
            "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "3389", "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*", "access": "Allow", "priority": 300, "direction": "Inbound"}}]}}).result()
    pip = net.public_ip_addresses.begin_create_or_update("app", "web-ip", {
        "location": "westeurope", "sku": {"name": "Basic"},
        "properties": {"publicIPAllocationMethod": "Dynamic"}}).result()
    nic = net.network_interfaces.begin_create_or_update("app", "web-nic", {
        "location": "westeurope", "properties": {
            "networkSecurityGroup": {"id": nsg.id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {
                "subnet": {"id": subnet.id}, "publicIPAddress": {"id": pip.id}}}]}}).result()
    assert nic.ip_configurations[0].private_ip_address == "10.10.1.4"
    assert net.public_ip_addresses.get("app", "web-ip").ip_address is None  # Dynamic: no VM yet

    vm = compute.virtual_machines.begin_create_or_update("app", "web", {
        "location": "westeurope", "tags": {"team": "web"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                   "sku": "2022-datacenter-azure-edition", "version": "latest"},
                "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                           "managedDisk": {"storageAccountType": "Premium_LRS"}},
                "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 64, "deleteOption": "Delete"},
                              {"lun": 1, "createOption": "Empty", "diskSizeGB": 128, "deleteOption": "Detach"}]},
            "osProfile": {"computerName": "web", "adminUsername": "azureuser", "adminPassword": "Passw0rd!Passw0rd!"},
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}}).result()
    assert vm.storage_profile.os_disk.os_type == "Windows"
    assert vm.storage_profile.image_reference.exact_version  # "latest" resolved from the catalog
    disks = {d.name: d for d in compute.disks.list_by_resource_group("app")}
    assert len(disks) == 3 and {d.disk_state for d in disks.values()} == {"Attached"}
    assert net.network_interfaces.get("app", "web-nic").virtual_machine.id.lower() == vm.id.lower()
    address = net.public_ip_addresses.get("app", "web-ip").ip_address
    assert address

    ext = compute.virtual_machine_extensions.begin_create_or_update("app", "web", "antimalware", {
        "location": "westeurope", "properties": {
            "publisher": "Microsoft.Azure.Security", "type": "IaaSAntimalware", "typeHandlerVersion": "1.3",
            "autoUpgradeMinorVersion": True, "settings": {"AntimalwareEnabled": True}}}).result()
    assert ext.provisioning_state == "Succeeded"
    assert [e.name for e in compute.virtual_machine_extensions.list("app", "web").value] == ["antimalware"]

    updated = compute.virtual_machines.begin_update("app", "web", {"tags": {"team": "web", "env": "prod"}}).result()
    assert updated.tags == {"team": "web", "env": "prod"}

    def power() -> str:
        return str(compute.virtual_machines.instance_view("app", "web").statuses[1].code)

    azvm.advance(HOUR)
    compute.virtual_machines.begin_power_off("app", "web").result()
    assert power() == "PowerState/stopped"
    assert net.public_ip_addresses.get("app", "web-ip").ip_address == address  # still allocated
    azvm.advance(HOUR)
    compute.virtual_machines.begin_start("app", "web").result()
    azvm.advance(HOUR)
    compute.virtual_machines.begin_deallocate("app", "web").result()
    assert power() == "PowerState/deallocated"
    assert net.public_ip_addresses.get("app", "web-ip").ip_address is None  # released with the VM
    assert {d.disk_state for d in compute.disks.list_by_resource_group("app")} == {"Reserved"}
    azvm.advance(HOUR)
    compute.virtual_machines.begin_start("app", "web").result()
    assert net.public_ip_addresses.get("app", "web-ip").ip_address == address  # given again
    azvm.advance(HOUR)

    compute.virtual_machines.begin_delete("app", "web").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("app", "web")
    left = {d.name: d for d in compute.disks.list_by_resource_group("app")}
    assert len(left) == 1 and next(iter(left.values())).disk_size_gb == 128  # the Detach one stays
    assert next(iter(left.values())).disk_state == "Unattached" and not next(iter(left.values())).managed_by
    assert net.network_interfaces.get("app", "web-nic").virtual_machine is None
    azvm.advance(HOUR)

    bill = _billing(azvm, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "groupBy": "meter"})
    meters = {line["group"]: line for line in bill["lines"]}
    assert any("D2s v3" in m for m in meters), meters  # the VM's compute meter (Windows)
    assert any("Dynamic Public IP" in m for m in meters), meters
    assert any(m.startswith(("P", "E", "S")) and "Disk" in m for m in meters), meters
    assert bill["truncatedAtNow"] is True  # the day is not over: billed up to now only
    by_vm = _billing(azvm, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "groupBy": "vm"})
    amounts = {line["resourceId"].lower(): Decimal(line["amount"]) for line in by_vm["lines"]}
    detached = next(k for k in amounts if k.endswith("/disks/" + next(iter(left)).lower()))
    seconds = {line["resourceId"].lower(): line["billedSeconds"] for line in by_vm["lines"]}
    assert amounts[detached] > 0 and seconds[detached] == max(seconds.values())  # billed after its VM is gone
    with localcontext(Context(prec=80)):  # every line of the bill is a resource's; they add up to the total
        assert abs(sum(amounts.values()) - Decimal(by_vm["totalExact"])) < Decimal("1e-40")

    r = rm.resource_groups.begin_delete("app")
    r.result()
    assert not rm.resource_groups.check_existence("app")
    assert list(rm.resources.list(filter="resourceType eq 'Microsoft.Compute/disks'")) == []


def _billing(azvm: AzvmServer, params: dict[str, str]) -> Any:
    with http_client(base_url=azvm.endpoint, verify=azvm.ssl_context() or False) as c:
        r = c.get("/azvm/billing", params=params)
        assert r.status_code == 200, r.text
        return r.json()
