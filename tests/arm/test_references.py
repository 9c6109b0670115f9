"""What a VM references must exist, as on Azure, with azvm's default strictness: a missing network
interface is a 400 InvalidResourceReference, a missing OS disk to attach a 404, a NIC that another VM
uses a 400 NicInUse; a refused VM writes nothing. The body is validated before its references are
looked up (azvm's order: name and body, then the operation's state, then references)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.arm.test_http_surface import assert_arm_error
from tests.conftest import SUB, disk_id, http_client, make_network, nic_id, vm_body

from azvm.testing import AzvmServer

P = {"api-version": "2024-11-01"}
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VMS = f"{RG}/providers/Microsoft.Compute/virtualMachines"
DISKS = f"{RG}/providers/Microsoft.Compute/disks"
NET = {"api-version": "2024-05-01"}


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(base_url=azvm.endpoint, verify=azvm.ssl_context() or False, timeout=30) as client:
        assert client.put(RG, params=P, json={"location": "eastus"}).status_code == 201
        yield client


def disk_names(http: httpx.Client) -> list[str]:
    return [d["name"] for d in http.get(DISKS, params={"api-version": "2023-04-02"}).json()["value"]]


def test_a_vm_whose_nic_is_missing_is_refused_and_writes_nothing(http: httpx.Client) -> None:
    make_network(http, "other")  # a network, but no vm1-nic
    err = assert_arm_error(http.put(f"{VMS}/vm1", params=P, json=vm_body("vm1")), 400, "InvalidResourceReference",
                           "networkProfile.networkInterfaces")
    assert nic_id("vm1") in err["message"]
    assert_arm_error(http.get(f"{VMS}/vm1", params=P), 404, "ResourceNotFound")
    assert disk_names(http) == []  # no OS disk was made from the image
    assert "virtualMachine" not in http.get(nic_id("other"), params=NET).json()["properties"]


def test_a_vm_attaching_a_missing_os_disk_is_a_404(http: httpx.Client) -> None:
    make_network(http, "vm1")  # its NIC, but not its disk
    err = assert_arm_error(http.put(f"{VMS}/vm1", params=P, json=vm_body("vm1", image=False)), 404,
                           "ResourceNotFound", "managedDisk.id")
    assert "Microsoft.Compute/disks/vm1-osdisk" in err["message"]
    assert_arm_error(http.get(f"{VMS}/vm1", params=P), 404, "ResourceNotFound")
    assert disk_names(http) == []
    assert "virtualMachine" not in http.get(nic_id("vm1"), params=NET).json()["properties"]


def test_a_vm_attaching_an_existing_os_disk_takes_it_and_its_nic(http: httpx.Client) -> None:
    make_network(http, "vm1", attach=True)
    assert http.put(f"{VMS}/vm1", params=P, json=vm_body("vm1", image=False)).status_code == 201
    disk = http.get(disk_id("vm1"), params={"api-version": "2023-04-02"}).json()
    assert disk["managedBy"] == f"{VMS}/vm1" and disk_names(http) == ["vm1-osdisk"]
    assert http.get(nic_id("vm1"), params=NET).json()["properties"]["virtualMachine"] == {"id": f"{VMS}/vm1"}


def test_a_second_vm_on_a_used_nic_is_refused_with_nic_in_use(http: httpx.Client) -> None:
    make_network(http, "vm1")
    assert http.put(f"{VMS}/vm1", params=P, json=vm_body("vm1")).status_code == 201
    err = assert_arm_error(http.put(f"{VMS}/vm2", params=P, json=vm_body("vm1")), 400, "NicInUse",
                           "networkProfile.networkInterfaces")
    assert f"{VMS}/vm1" in err["message"]
    assert_arm_error(http.get(f"{VMS}/vm2", params=P), 404, "ResourceNotFound")
    assert http.get(nic_id("vm1"), params=NET).json()["properties"]["virtualMachine"] == {"id": f"{VMS}/vm1"}


def test_the_body_is_validated_before_its_references(http: httpx.Client) -> None:
    bad = vm_body("vm1", size="Standard_Nope_v9")  # and vm1-nic does not exist
    assert_arm_error(http.put(f"{VMS}/vm1", params=P, json=bad), 400, "InvalidParameter", "vmSize")
    bad = vm_body("vm1", image=False)
    bad["properties"]["osProfile"] = {"computerName": "vm", "adminUsername": "azure"}
    assert_arm_error(http.put(f"{VMS}/vm1", params=P, json=bad), 400, "InvalidParameter", "osProfile")
    assert_arm_error(http.get(f"{VMS}/vm1", params=P), 404, "ResourceNotFound")
