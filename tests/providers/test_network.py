"""Microsoft.Network through the official azure-mgmt-network client against a real server: virtual
networks and subnets, network security groups and rules, public IP addresses, network interfaces,
the references between them and Azure's refusals (each with its code, and nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient

from azvm import testing as azvm_testing
from azvm.testing import AzvmServer
from tests.conftest import http_client

SUB = azvm_testing.DEFAULT_SUBSCRIPTION
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
NET = f"{RG}/providers/Microsoft.Network"


@pytest.fixture
def net(azvm: AzvmServer) -> NetworkManagementClient:
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    return NetworkManagementClient(azvm_testing.StaticTokenCredential(), azvm.subscription_id,
                                   **azvm.client_kwargs())


def refused(call: Any, code: str) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as e:
        r = call()
        if hasattr(r, "result"):
            r.result()
    assert e.value.error is not None and e.value.error.code == code, e.value.message
    assert e.value.status_code == 400
    return e.value


def subnet_body(address_prefix: str) -> dict[str, Any]:
    return {"properties": {"addressPrefix": address_prefix}}


def vnet(net: NetworkManagementClient, name: str = "vn", subnets: list[tuple[str, str]] | None = None,
         space: str = "10.0.0.0/16") -> Any:
    subs = [{"name": n, "properties": {"addressPrefix": p}} for n, p in (subnets or [("default", "10.0.0.0/24")])]
    return net.virtual_networks.begin_create_or_update("rg", name, {
        "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [space]}, "subnets": subs}}).result()


def nic(net: NetworkManagementClient, name: str = "nic", subnet: str = "default", **ipc: Any) -> Any:
    props: dict[str, Any] = {"subnet": {"id": f"{NET}/virtualNetworks/vn/subnets/{subnet}"}, **ipc}
    return net.network_interfaces.begin_create_or_update("rg", name, {
        "location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": props}]}}
    ).result()


def pip(net: NetworkManagementClient, name: str = "pip", sku: str = "Standard", **props: Any) -> Any:
    return net.public_ip_addresses.begin_create_or_update("rg", name, {
        "location": "eastus", "sku": {"name": sku}, "properties": props}).result()


# -- virtual networks and subnets ------------------------------------------------------------------------
def test_virtual_network_lifecycle(net: NetworkManagementClient) -> None:
    v = vnet(net, subnets=[("a", "10.0.0.0/24"), ("b", "10.0.1.0/24")])
    assert v.provisioning_state == "Succeeded" and v.etag.startswith('W/"')
    assert [s.name for s in v.subnets] == ["a", "b"]
    assert v.subnets[0].id == f"{NET}/virtualNetworks/vn/subnets/a"
    assert net.virtual_networks.get("rg", "vn").address_space.address_prefixes == ["10.0.0.0/16"]
    assert [x.name for x in net.virtual_networks.list("rg")] == ["vn"]
    assert [x.name for x in net.virtual_networks.list_all()] == ["vn"]
    tagged = net.virtual_networks.update_tags("rg", "vn", {"tags": {"env": "test"}})
    assert tagged.tags == {"env": "test"} and [s.name for s in tagged.subnets] == ["a", "b"]
    # subnets as children
    s = net.subnets.begin_create_or_update("rg", "vn", "c", subnet_body("10.0.2.0/24")).result()
    assert s.name == "c" and s.address_prefix == "10.0.2.0/24"
    assert [x.name for x in net.subnets.list("rg", "vn")] == ["a", "b", "c"]
    assert [x.name for x in net.virtual_networks.get("rg", "vn").subnets] == ["a", "b", "c"]
    net.subnets.begin_delete("rg", "vn", "c").result()
    with pytest.raises(ResourceNotFoundError):
        net.subnets.get("rg", "vn", "c")
    # a PUT without a subnet deletes it; a PUT with a changed subnet updates the child
    vnet(net, subnets=[("a", "10.0.5.0/24")])
    assert [(x.name, x.address_prefix) for x in net.subnets.list("rg", "vn")] == [("a", "10.0.5.0/24")]
    net.virtual_networks.begin_delete("rg", "vn").result()
    with pytest.raises(ResourceNotFoundError):
        net.virtual_networks.get("rg", "vn")
    with pytest.raises(ResourceNotFoundError):
        net.subnets.get("rg", "vn", "a")


@pytest.mark.parametrize(("space", "subnets", "code"), [
    ("10.0.0.0/16", [("a", "10.1.0.0/24")], "NetcfgSubnetRangeOutsideVnet"),
    ("10.0.0.0/16", [("a", "10.0.0.0/24"), ("b", "10.0.0.128/25")], "NetcfgSubnetRangesOverlap"),
    ("10.0.0.0/16", [("a", "10.0.0.0/33")], "InvalidAddressPrefixFormat"),
    ("10.0.0.0/16", [("a", "10.0.0.1/24")], "InvalidAddressPrefixFormat"),
    ("10.0.0/16", [("a", "10.0.0.0/24")], "InvalidAddressPrefixFormat"),
])
def test_subnet_prefixes_checked(net: NetworkManagementClient, space: str, subnets: list[tuple[str, str]],
                                 code: str) -> None:
    refused(lambda: vnet(net, subnets=subnets, space=space), code)
    assert list(net.virtual_networks.list("rg")) == []
    vnet(net)
    refused(lambda: net.subnets.begin_create_or_update("rg", "vn", "x", subnet_body("10.0.0.0/25")),
            "NetcfgSubnetRangesOverlap")
    refused(lambda: net.subnets.begin_create_or_update("rg", "vn", "x", subnet_body("10.9.0.0/24")),
            "NetcfgSubnetRangeOutsideVnet")
    assert [s.name for s in net.subnets.list("rg", "vn")] == ["default"]


def test_subnet_in_use_cannot_be_deleted(net: NetworkManagementClient) -> None:
    vnet(net)
    n = nic(net)
    ipc = n.ip_configurations[0].id
    assert net.subnets.get("rg", "vn", "default").ip_configurations[0].id == ipc
    e = refused(lambda: net.subnets.begin_delete("rg", "vn", "default"), "InUseSubnetCannotBeDeleted")
    assert e.error is not None
    assert e.error.message.startswith(f"Subnet default is in use by {ipc} and cannot be deleted. In order to delete"
                                      " the subnet, delete all the resources within the subnet.")
    refused(lambda: vnet(net, subnets=[("other", "10.0.9.0/24")]), "InUseSubnetCannotBeDeleted")
    refused(lambda: net.virtual_networks.begin_delete("rg", "vn"), "InUseSubnetCannotBeDeleted")
    assert [s.name for s in net.subnets.list("rg", "vn")] == ["default"]
    net.network_interfaces.begin_delete("rg", "nic").result()
    net.subnets.begin_delete("rg", "vn", "default").result()


# -- network security groups --------------------------------------------------------------------------------
def test_network_security_group_lifecycle(net: NetworkManagementClient) -> None:
    rule = {"name": "ssh", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                                          "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                                          "access": "Allow", "priority": 1000, "direction": "Inbound"}}
    g = net.network_security_groups.begin_create_or_update("rg", "nsg", {
        "location": "eastus", "properties": {"securityRules": [rule]}}).result()
    assert [r.name for r in g.security_rules] == ["ssh"]
    assert [r.name for r in g.default_security_rules] == [
        "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound", "AllowVnetOutBound",
        "AllowInternetOutBound", "DenyAllOutBound"]
    assert g.default_security_rules[2].priority == 65500 and g.default_security_rules[2].access == "Deny"
    r = net.security_rules.begin_create_or_update("rg", "nsg", "rdp", {"properties": {
        "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "3389", "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*", "access": "Allow", "priority": 1010, "direction": "Inbound"}}).result()
    assert r.priority == 1010
    assert [x.name for x in net.security_rules.list("rg", "nsg")] == ["rdp", "ssh"]
    assert [x.name for x in net.network_security_groups.get("rg", "nsg").security_rules] == ["rdp", "ssh"]
    refused(lambda: net.security_rules.begin_create_or_update("rg", "nsg", "dup", {"properties": {
        "protocol": "Tcp", "access": "Allow", "priority": 1000, "direction": "Inbound"}}), "SecurityRuleConflict")
    refused(lambda: net.security_rules.begin_create_or_update("rg", "nsg", "bad", {"properties": {
        "protocol": "Tcp", "access": "Allow", "priority": 5000, "direction": "Inbound"}}),
        "SecurityRuleInvalidPriority")
    assert [x.name for x in net.security_rules.list("rg", "nsg")] == ["rdp", "ssh"]
    assert net.network_security_groups.update_tags("rg", "nsg", {"tags": {"a": "b"}}).tags == {"a": "b"}
    assert len(net.network_security_groups.get("rg", "nsg").security_rules) == 2
    assert [x.name for x in net.network_security_groups.list("rg")] == ["nsg"]
    assert [x.name for x in net.network_security_groups.list_all()] == ["nsg"]
    net.security_rules.begin_delete("rg", "nsg", "rdp").result()
    net.network_security_groups.begin_delete("rg", "nsg").result()
    with pytest.raises(ResourceNotFoundError):
        net.security_rules.get("rg", "nsg", "ssh")


def test_network_security_group_in_use(net: NetworkManagementClient) -> None:
    vnet(net)
    g = net.network_security_groups.begin_create_or_update("rg", "nsg", {"location": "eastus"}).result()
    n = net.network_interfaces.begin_create_or_update("rg", "nic", {"location": "eastus", "properties": {
        "networkSecurityGroup": {"id": g.id}, "ipConfigurations": [{"name": "ip", "properties": {
            "subnet": {"id": f"{NET}/virtualNetworks/vn/subnets/default"}}}]}}).result()
    assert n.network_security_group.id == g.id
    assert [x.id for x in net.network_security_groups.get("rg", "nsg").network_interfaces] == [n.id]
    refused(lambda: net.network_security_groups.begin_delete("rg", "nsg"), "InUseNetworkSecurityGroupCannotBeDeleted")
    assert net.network_security_groups.get("rg", "nsg").name == "nsg"


# -- public IP addresses --------------------------------------------------------------------------------------
def test_public_ip_lifecycle(net: NetworkManagementClient) -> None:
    p = pip(net)
    assert (p.sku.name, p.public_ip_allocation_method, p.public_ip_address_version, p.idle_timeout_in_minutes) == (
        "Standard", "Static", "IPv4", 4)
    assert p.ip_address is not None and p.ip_address.startswith("198.1")
    again = pip(net)
    assert again.ip_address == p.ip_address  # kept on a replacing PUT
    basic = pip(net, "basic", sku="Basic")
    assert basic.public_ip_allocation_method == "Dynamic" and basic.ip_address is None  # nothing uses it
    assert pip(net, "basic-static", sku="Basic", publicIPAllocationMethod="Static").ip_address is not None
    assert sorted(x.name for x in net.public_ip_addresses.list("rg")) == ["basic", "basic-static", "pip"]
    assert len(list(net.public_ip_addresses.list_all())) == 3
    assert net.public_ip_addresses.update_tags("rg", "pip", {"tags": {"k": "v"}}).tags == {"k": "v"}
    assert net.public_ip_addresses.get("rg", "pip").ip_address == p.ip_address
    refused(lambda: pip(net, "std-dyn", publicIPAllocationMethod="Dynamic"), "StandardSkuPublicIPAddressesMustBeStatic")
    refused(lambda: pip(net, "idle", idleTimeoutInMinutes=31), "InvalidParameter")
    net.public_ip_addresses.begin_delete("rg", "pip").result()
    with pytest.raises(ResourceNotFoundError):
        net.public_ip_addresses.get("rg", "pip")


def test_public_addresses_are_deterministic(azvm: AzvmServer, net: NetworkManagementClient) -> None:
    first = [pip(net, f"p{i}").ip_address for i in range(3)]
    assert len(set(first)) == 3
    azvm.reset()
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    assert [pip(net, f"p{i}").ip_address for i in range(3)] == first


# -- network interfaces -------------------------------------------------------------------------------------------
def test_network_interface_lifecycle(net: NetworkManagementClient) -> None:
    vnet(net)
    p = pip(net)
    n = nic(net, publicIPAddress={"id": p.id})
    c = n.ip_configurations[0]
    assert c.id == f"{NET}/networkInterfaces/nic/ipConfigurations/ipconfig1"
    assert (c.private_ip_address, c.private_ip_allocation_method, c.primary) == ("10.0.0.4", "Dynamic", True)
    assert c.subnet.id == f"{NET}/virtualNetworks/vn/subnets/default"
    assert c.public_ip_address.id == p.id
    assert n.dns_settings.dns_servers == [] and n.dns_settings.applied_dns_servers == []
    assert n.virtual_machine is None and n.mac_address is None
    assert net.public_ip_addresses.get("rg", "pip").ip_configuration.id == c.id
    assert nic(net, publicIPAddress={"id": p.id}).ip_configurations[0].private_ip_address == "10.0.0.4"  # kept
    assert [x.name for x in net.network_interfaces.list("rg")] == ["nic"]
    assert [x.name for x in net.network_interfaces.list_all()] == ["nic"]
    tagged = net.network_interfaces.update_tags("rg", "nic", {"tags": {"t": "1"}})
    assert tagged.tags == {"t": "1"} and tagged.ip_configurations[0].private_ip_address == "10.0.0.4"
    refused(lambda: net.public_ip_addresses.begin_delete("rg", "pip"), "PublicIPAddressCannotBeDeleted")
    net.network_interfaces.begin_delete("rg", "nic").result()
    with pytest.raises(ResourceNotFoundError):
        net.network_interfaces.get("rg", "nic")
    assert net.public_ip_addresses.get("rg", "pip").ip_configuration is None
    net.public_ip_addresses.begin_delete("rg", "pip").result()


def test_private_addresses_are_deterministic(net: NetworkManagementClient) -> None:
    vnet(net, subnets=[("default", "10.0.0.0/29")])  # 8 addresses: .4, .5, .6 usable
    assert [nic(net, f"n{i}").ip_configurations[0].private_ip_address for i in range(3)] == [
        "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    refused(lambda: nic(net, "n3"), "SubnetIsFull")
    net.network_interfaces.begin_delete("rg", "n1").result()
    assert nic(net, "n4").ip_configurations[0].private_ip_address == "10.0.0.5"


@pytest.mark.parametrize(("address", "code"), [
    ("10.0.1.10", "PrivateIPAddressNotInSubnet"),
    ("10.0.0.3", "PrivateIPAddressInReservedRange"),
    ("10.0.0.255", "PrivateIPAddressInReservedRange"),
    ("10.0.0.4", "PrivateIPAddressIsAllocated"),
    ("not-an-ip", "InvalidParameter"),
])
def test_static_private_address_checked(net: NetworkManagementClient, address: str, code: str) -> None:
    vnet(net)
    nic(net, "first")
    refused(lambda: nic(net, "n", privateIPAllocationMethod="Static", privateIPAddress=address), code)
    assert [x.name for x in net.network_interfaces.list("rg")] == ["first"]
    ok = nic(net, "n", privateIPAllocationMethod="Static", privateIPAddress="10.0.0.200")
    assert ok.ip_configurations[0].private_ip_address == "10.0.0.200"
    assert ok.ip_configurations[0].private_ip_allocation_method == "Static"


def test_references_checked(net: NetworkManagementClient) -> None:
    vnet(net)
    e = refused(lambda: nic(net, subnet="missing"), "InvalidResourceReference")
    assert e.error is not None and e.error.message.startswith(
        f"Resource {NET}/virtualNetworks/vn/subnets/missing referenced by resource {NET}/networkInterfaces/nic was"
        " not found.")
    refused(lambda: nic(net, publicIPAddress={"id": f"{NET}/publicIPAddresses/none"}), "InvalidResourceReference")
    p = pip(net)
    nic(net, "one", publicIPAddress={"id": p.id})
    refused(lambda: nic(net, "two", publicIPAddress={"id": p.id}), "PublicIPAddressInUse")
    refused(lambda: net.subnets.begin_create_or_update("rg", "vn", "x", {"properties": {
        "addressPrefix": "10.0.3.0/24", "networkSecurityGroup": {"id": f"{NET}/networkSecurityGroups/none"}}}),
        "InvalidResourceReference")
    assert [x.name for x in net.network_interfaces.list("rg")] == ["one"]
    assert [s.name for s in net.subnets.list("rg", "vn")] == ["default"]


VM_ID = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"


def create_vm(azvm: AzvmServer, nic_id: str) -> Any:
    return azvm.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", {
        "location": "eastus",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"}},
            "osProfile": {"computerName": "vm1", "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
            "networkProfile": {"networkInterfaces": [{"id": nic_id}]}}}).result()


def test_dynamic_public_ip_follows_its_vm(azvm: AzvmServer, net: NetworkManagementClient) -> None:
    vnet(net)
    p = pip(net, "dyn", sku="Basic")
    n = nic(net, publicIPAddress={"id": p.id})
    assert net.public_ip_addresses.get("rg", "dyn").ip_address is None  # no VM yet
    create_vm(azvm, n.id)
    got = net.network_interfaces.get("rg", "nic")
    assert got.virtual_machine.id.lower() == VM_ID.lower()
    assert got.mac_address is not None and got.mac_address.startswith("00-0D-3A-") and got.primary
    address = net.public_ip_addresses.get("rg", "dyn").ip_address
    assert address is not None
    compute = azvm.compute_client()
    e = refused(lambda: net.network_interfaces.begin_delete("rg", "nic"), "NicInUse")
    assert e.error is not None and e.error.message.startswith(
        f"Network Interface {n.id} is used by existing resource")
    compute.virtual_machines.begin_power_off("rg", "vm1").result()
    assert net.public_ip_addresses.get("rg", "dyn").ip_address == address  # stopped: kept
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    assert net.public_ip_addresses.get("rg", "dyn").ip_address is None  # released
    compute.virtual_machines.begin_start("rg", "vm1").result()
    assert net.public_ip_addresses.get("rg", "dyn").ip_address == address  # given again
    # a user's PUT keeps the link to the VM
    assert nic(net, publicIPAddress={"id": p.id}).virtual_machine.id.lower() == VM_ID.lower()


# -- raw HTTP: bad bodies are 400s, never 500s ---------------------------------------------------------------------
@pytest.mark.parametrize(("path", "body"), [
    ("virtualNetworks/v", {"location": "eastus", "properties": {"addressSpace": "x"}}),
    ("virtualNetworks/v", {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": [1]}}}),
    ("virtualNetworks/v", {"location": "eastus", "properties": {"subnets": [{"properties": {}}]}}),
    ("virtualNetworks/v", {"location": "eastus", "properties": {"subnets": "x"}}),
    ("virtualNetworks/v", {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                                                "subnets": [{"name": "s", "properties": {}}]}}),
    ("virtualNetworks/v", {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                                                "subnets": [{"name": "s"}, {"name": "S"}]}}),
    ("networkSecurityGroups/g", {"location": "eastus", "properties": {"securityRules": [{"name": "r"}]}}),
    ("networkSecurityGroups/g", {"location": "eastus", "properties": {"securityRules": [
        {"name": "r", "properties": {"protocol": "Tcp", "access": "Allow", "direction": "Up", "priority": 100}}]}}),
    ("networkSecurityGroups/g", {"location": "eastus", "properties": {"securityRules": [
        {"name": "r", "properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound",
                                     "priority": "high"}}]}}),
    ("publicIPAddresses/p", {"location": "eastus", "sku": {"name": "Premium"}}),
    ("publicIPAddresses/p", {"location": "eastus", "sku": "Basic"}),
    ("publicIPAddresses/p", {"location": "eastus", "properties": {"publicIPAddressVersion": "IPv5"}}),
    ("publicIPAddresses/p", {"location": "eastus", "properties": {"idleTimeoutInMinutes": True}}),
    ("networkInterfaces/n", {"location": "eastus"}),
    ("networkInterfaces/n", {"location": "eastus", "properties": {"ipConfigurations": [{"name": "a"}]}}),
    ("networkInterfaces/n", {"location": "eastus", "properties": {"ipConfigurations": [
        {"name": "a", "properties": {"subnet": {"id": "not-an-id"}}}]}}),
    ("networkInterfaces/n", {"location": "eastus", "properties": {"ipConfigurations": [
        {"name": "a", "properties": {"subnet": "x"}}]}}),
    ("networkInterfaces/n", {"location": "eastus", "properties": {"dnsSettings": {"dnsServers": "x"},
                                                                  "ipConfigurations": [{"name": "a"}]}}),
])
def test_bad_bodies_are_refused(azvm: AzvmServer, net: NetworkManagementClient, path: str,
                                body: dict[str, Any]) -> None:
    with http_client(base_url=azvm.endpoint, verify=azvm.ssl_context() or False,
                      headers={"authorization": "Bearer x"}) as http:
        r = http.put(f"{NET}/{path}", params={"api-version": "2024-05-01"}, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"]
        assert http.get(f"{NET}/{path}", params={"api-version": "2024-05-01"}).status_code == 404
