"""The pytest fixture's one-line helpers make what a management script makes, through the real API."""

from __future__ import annotations

from azvm.testing import AzvmServer


def test_create_vm_makes_the_group_network_nic_and_vm(azvm: AzvmServer) -> None:
    vm = azvm.create_vm("web", resource_group="app", public_ip=True, data_disks=2, tags={"env": "test"})
    assert vm["properties"]["provisioningState"] == "Succeeded" and vm["tags"] == {"env": "test"}
    network, compute = azvm.network_client(), azvm.compute_client()
    nic = network.network_interfaces.get("app", "web-nic")
    assert nic.virtual_machine.id.lower() == vm["id"].lower()
    assert nic.ip_configurations[0].private_ip_address.startswith("10.0.0.")
    ip = network.public_ip_addresses.get("app", "web-ip")
    assert ip.ip_address and ip.sku.name == "Standard"
    view = compute.virtual_machines.instance_view("app", "web")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    disks = {d.name: d for d in compute.disks.list_by_resource_group("app")}
    assert len(disks) == 3 and all(d.managed_by.lower() == vm["id"].lower() for d in disks.values())


def test_create_vm_reuses_the_network_and_knows_windows(azvm: AzvmServer) -> None:
    azvm.create_vm("a")
    vm = azvm.create_vm("b", image="windows")
    assert vm["properties"]["storageProfile"]["osDisk"]["osType"] == "Windows"
    network = azvm.network_client()
    assert [v.name for v in network.virtual_networks.list("rg")] == ["rg-vnet"]
    addresses = sorted(n.ip_configurations[0].private_ip_address for n in network.network_interfaces.list("rg"))
    assert addresses == ["10.0.0.4", "10.0.0.5"]  # the first free after Azure's reserved addresses
