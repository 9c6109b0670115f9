"""Microsoft.Compute around the VM, through the official azure-mgmt-compute client: managed disks,
extensions, the image catalog, resource SKUs, availability sets, and PUT merges on a VM."""

from __future__ import annotations

import copy
import ssl
import urllib.error
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from azvm.testing import AzvmServer
from tests.conftest import http_client

SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
DISKS = f"{RG}/providers/Microsoft.Compute/disks"
VMS = f"{RG}/providers/Microsoft.Compute/virtualMachines"
NICS = f"{RG}/providers/Microsoft.Network/networkInterfaces"
UBUNTU = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}


@pytest.fixture
def compute(azvm: AzvmServer) -> Any:
    return azvm.compute_client()


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    verify = ssl.create_default_context(cafile=str(azvm.cert)) if azvm.cert else False
    with http_client(base_url=azvm.endpoint, verify=verify) as c:
        yield c


def nic(azvm: AzvmServer, name: str) -> str:
    """A NIC in subnet rg-vnet/default (made with the group and the network if needed)."""
    azvm.arm("PUT", RG, {"location": "eastus"})
    azvm.arm("PUT", f"{RG}/providers/Microsoft.Network/virtualNetworks/rg-vnet", {
        "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                             "subnets": [{"name": "default",
                                                          "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
        api_version="2024-05-01")
    rid = f"{NICS}/{name}"
    azvm.arm("PUT", rid, {"location": "eastus", "properties": {"ipConfigurations": [{"name": "c", "properties": {
        "subnet": {"id": f"{RG}/providers/Microsoft.Network/virtualNetworks/rg-vnet/subnets/default"}}}]}},
        api_version="2024-05-01")
    return rid


def vm_body(nic_id: str, **props: Any) -> dict[str, Any]:
    storage = props.pop("storage", {"imageReference": UBUNTU})
    return {"location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"}, "storageProfile": storage,
        "osProfile": {"computerName": "vm", "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]}, **props}}


# -- managed disks -------------------------------------------------------------------------------------
def test_a_vm_makes_its_disks_and_deallocation_reserves_them(azvm: AzvmServer, compute: Any) -> None:
    vm = azvm.create_vm("vm1", data_disks=2)
    os_name = vm["properties"]["storageProfile"]["osDisk"]["name"]
    disk = compute.disks.get("rg", os_name)
    assert disk.managed_by == vm["id"] and disk.disk_state == "Attached"
    assert disk.os_type == "Linux" and disk.creation_data.create_option == "FromImage"
    assert disk.disk_size_gb == 30 and disk.disk_size_bytes == 30 * 1024 ** 3 and disk.unique_id
    assert disk.sku.name == "Standard_LRS"
    names = sorted(d.name for d in compute.disks.list_by_resource_group("rg"))
    assert len(names) == 3 and os_name in names
    data = [d for d in compute.disks.list_by_resource_group("rg") if d.name != os_name]
    assert all(d.disk_size_gb == 32 and d.creation_data.create_option == "Empty" for d in data)
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    assert compute.disks.get("rg", os_name).disk_state == "Reserved"
    compute.virtual_machines.begin_start("rg", "vm1").result()
    assert compute.disks.get("rg", os_name).disk_state == "Attached"


def test_an_attached_disk_cannot_be_deleted(azvm: AzvmServer, compute: Any) -> None:
    vm = azvm.create_vm("vm1")
    os_name = vm["properties"]["storageProfile"]["osDisk"]["name"]
    with pytest.raises(ResourceExistsError) as e:
        compute.disks.begin_delete("rg", os_name).result()
    assert e.value.error.code == "OperationNotAllowed"
    assert e.value.error.message == f"Disk {os_name} is attached to VM {vm['id']}."


def test_disks_create_attach_detach_and_grow(azvm: AzvmServer, compute: Any) -> None:
    azvm.create_vm("vm1")
    d = compute.disks.begin_create_or_update("rg", "data1", {
        "location": "eastus", "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 64}}).result()
    assert d.disk_state == "Unattached" and d.managed_by is None and d.sku.tier == "Premium" and d.tier == "P6"
    vm = compute.virtual_machines.get("rg", "vm1")
    vm.storage_profile.data_disks = [{"lun": 0, "createOption": "Attach", "managedDisk": {"id": d.id}}]
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
    assert vm.storage_profile.data_disks[0].name == "data1"
    assert vm.storage_profile.data_disks[0].disk_size_gb == 64
    assert compute.disks.get("rg", "data1").managed_by == vm.id
    # attached to vm1, so another VM cannot take it
    azvm.create_vm("vm2")
    other = compute.virtual_machines.get("rg", "vm2")
    other.storage_profile.data_disks = [{"lun": 0, "createOption": "Attach", "managedDisk": {"id": d.id}}]
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm2", other).result()
    assert e.value.error.code == "ConflictingUserInput"
    # detach by updating the VM: the disk stays, unattached
    compute.virtual_machines.begin_update("rg", "vm1", {"properties": {"storageProfile": {"dataDisks": []}}}).result()
    d2 = compute.disks.get("rg", "data1")
    assert d2.disk_state == "Unattached" and d2.managed_by is None
    grown = compute.disks.begin_update("rg", "data1", {"properties": {"diskSizeGB": 128}, "tags": {"a": "b"}}).result()
    assert grown.disk_size_gb == 128 and grown.tags == {"a": "b"}
    with pytest.raises(HttpResponseError):
        compute.disks.begin_update("rg", "data1", {"properties": {"diskSizeGB": 16}}).result()
    compute.disks.begin_delete("rg", "data1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get("rg", "data1")


def test_attaching_a_missing_disk_is_refused(azvm: AzvmServer, compute: Any) -> None:
    azvm.create_vm("vm1")
    vm = compute.virtual_machines.get("rg", "vm1")
    vm.storage_profile.data_disks = [{"lun": 0, "createOption": "Attach", "managedDisk": {"id": f"{DISKS}/nope"}}]
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.begin_create_or_update("rg", "vm1", vm).result()
    assert compute.virtual_machines.get("rg", "vm1").storage_profile.data_disks == []


def test_delete_options_are_honoured_when_the_vm_is_gone(azvm: AzvmServer, compute: Any) -> None:
    nic_id = nic(azvm, "keepnic")
    body = vm_body(nic_id, storage={"imageReference": UBUNTU,
                                    "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"},
                                    "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 8},
                                                  {"lun": 1, "createOption": "Empty", "diskSizeGB": 8,
                                                   "deleteOption": "Delete"}]})
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm9", body).result()
    disks = {d.lun: d.name for d in vm.storage_profile.data_disks}
    assert vm.storage_profile.os_disk.delete_option == "Delete"
    assert vm.storage_profile.data_disks[0].delete_option == "Detach"
    assert azvm.arm("GET", nic_id, api_version="2024-05-01")["properties"]["virtualMachine"]["id"] == vm.id
    azvm.set_time_skipping(False)
    compute.virtual_machines.begin_delete("rg", "vm9", polling=False)
    azvm.advance(1)  # still being deleted: everything is still attached
    assert compute.disks.get("rg", disks[0]).managed_by == vm.id
    assert compute.disks.get("rg", vm.storage_profile.os_disk.name).managed_by == vm.id
    azvm.advance(120)
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg", "vm9")
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get("rg", vm.storage_profile.os_disk.name)
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get("rg", disks[1])
    kept = compute.disks.get("rg", disks[0])
    assert kept.disk_state == "Unattached" and kept.managed_by is None
    assert "virtualMachine" not in azvm.arm("GET", nic_id, api_version="2024-05-01")["properties"]


def test_nic_delete_option_delete_deletes_the_nic(azvm: AzvmServer, compute: Any) -> None:
    vm = azvm.create_vm("vm1")  # the helper asks for deleteOption Delete on its NIC and OS disk
    nic_id = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
    compute.virtual_machines.begin_delete("rg", "vm1").result()
    azvm.advance(60)
    with pytest.raises(urllib.error.HTTPError) as e:
        azvm.arm("GET", nic_id, api_version="2024-05-01")
    e.value.close()
    assert e.value.code == 404


def test_a_missing_or_used_nic_is_refused(azvm: AzvmServer, compute: Any) -> None:
    vm1 = azvm.create_vm("vm1")
    used = vm1["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm2", vm_body(f"{NICS}/ghost")).result()
    assert e.value.error.code == "InvalidResourceReference" and "was not found" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm2", vm_body(used)).result()
    assert e.value.error.code == "NicInUse"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg", "vm2")


def test_old_tools_delete_the_os_disk_by_name_with_2017_03_30(azvm: AzvmServer, http: httpx.Client) -> None:
    vm = azvm.create_vm("vm1")
    os_name = vm["properties"]["storageProfile"]["osDisk"]["name"]
    azvm.arm("DELETE", f"{VMS}/vm1")
    azvm.advance(60)
    r = http.get(f"{DISKS}/{os_name}", params={"api-version": "2017-03-30"})
    assert r.status_code == 404  # the helper's VM deleted it (deleteOption Delete)
    body = vm_body(nic(azvm, "n2"))
    created = azvm.arm("PUT", f"{VMS}/vm2", body)
    name = created["properties"]["storageProfile"]["osDisk"]["name"]
    azvm.arm("DELETE", f"{VMS}/vm2")
    azvm.advance(60)
    r = http.get(f"{DISKS}/{name}", params={"api-version": "2017-03-30"})
    assert r.status_code == 200 and r.json()["properties"]["diskState"] == "Unattached"
    r = http.delete(f"{DISKS}/{name}", params={"api-version": "2017-03-30"})
    assert r.status_code in (200, 202)
    assert http.get(f"{DISKS}/{name}", params={"api-version": "2017-03-30"}).status_code == 404


@pytest.mark.parametrize("body", [
    {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}}},
    {"location": "eastus", "properties": {"creationData": {"createOption": "Bogus"}, "diskSizeGB": 4}},
    {"location": "eastus", "sku": {"name": "Gold"}, "properties": {"creationData": {"createOption": "Empty"},
                                                                  "diskSizeGB": 4}},
    {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": "big"}},
    {"location": "eastus", "properties": []},
    [],
])
def test_bad_disk_bodies_are_400_and_write_nothing(azvm: AzvmServer, http: httpx.Client, body: Any) -> None:
    azvm.arm("PUT", RG, {"location": "eastus"})
    r = http.put(f"{DISKS}/bad", params={"api-version": "2024-03-02"}, json=body)
    assert r.status_code == 400, r.text
    assert http.get(f"{DISKS}/bad", params={"api-version": "2024-03-02"}).status_code == 404


# -- extensions ----------------------------------------------------------------------------------------
EXT = {"location": "eastus", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                            "typeHandlerVersion": "2.1", "autoUpgradeMinorVersion": True,
                                            "settings": {"commandToExecute": "echo hi"},
                                            "protectedSettings": {"secret": "s3cret"}}}


def test_an_extension_added_later_installs_over_simulated_time(azvm: AzvmServer, compute: Any) -> None:
    azvm.create_vm("vm1")
    azvm.set_time_skipping(False)
    poller = compute.virtual_machine_extensions.begin_create_or_update("rg", "vm1", "script", EXT, polling=False)
    first = poller.result()
    assert first.provisioning_state == "Creating"
    assert compute.virtual_machines.get("rg", "vm1").provisioning_state == "Updating"
    azvm.advance(5)
    assert compute.virtual_machine_extensions.get("rg", "vm1", "script").provisioning_state == "Creating"
    azvm.advance(10)
    ext = compute.virtual_machine_extensions.get("rg", "vm1", "script", expand="instanceView")
    assert ext.provisioning_state == "Succeeded" and ext.settings == {"commandToExecute": "echo hi"}
    assert ext.protected_settings is None and ext.instance_view.type == "Microsoft.Azure.Extensions.CustomScript"
    assert ext.instance_view.statuses[0].code == "ProvisioningState/succeeded"
    vm = compute.virtual_machines.get("rg", "vm1", expand="instanceView")
    assert vm.provisioning_state == "Succeeded"
    assert [r.name for r in vm.resources] == ["script"]
    assert [e.name for e in vm.instance_view.extensions] == ["script"]
    assert "s3cret" not in str(compute.virtual_machine_extensions.list("rg", "vm1").as_dict())
    azvm.set_time_skipping(True)
    updated = compute.virtual_machine_extensions.begin_update("rg", "vm1", "script", {
        "properties": {"settings": {"commandToExecute": "echo bye"}}}).result()
    assert updated.settings == {"commandToExecute": "echo bye"} and updated.provisioning_state == "Succeeded"
    compute.virtual_machine_extensions.begin_delete("rg", "vm1", "script").result()
    assert compute.virtual_machine_extensions.list("rg", "vm1").value == []
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machine_extensions.get("rg", "vm1", "script")


def test_extensions_given_at_create_prolong_os_provisioning(azvm: AzvmServer, http: httpx.Client) -> None:
    azvm.set_time_skipping(False)

    def complete_seconds(vm: str, exts: list[dict[str, Any]]) -> int:
        body = vm_body(nic(azvm, f"{vm}-nic"))
        body["resources"] = exts
        r = http.put(f"{VMS}/{vm}", params={"api-version": "2024-11-01"}, json=body)
        assert r.status_code == 201, r.text
        for t in range(200):
            iv = http.get(f"{VMS}/{vm}/instanceView", params={"api-version": "2024-11-01"}).json()
            if iv["statuses"][0]["code"] == "ProvisioningState/succeeded":
                return t
            if iv["statuses"][0]["code"].endswith("OSProvisioningComplete") and exts:
                ext = http.get(f"{VMS}/{vm}/extensions/e0", params={"api-version": "2024-11-01"}).json()
                assert ext["properties"]["provisioningState"] == "Creating"
            azvm.advance(1)
        raise AssertionError("never succeeded")

    plain = complete_seconds("a", [])
    two = complete_seconds("b", [{"name": f"e{i}", **EXT} for i in range(2)])
    assert two - plain >= 19  # 10 s per extension (azure profile)


def test_extensions_need_a_running_vm(azvm: AzvmServer, compute: Any) -> None:
    azvm.create_vm("vm1")
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    with pytest.raises(ResourceExistsError) as e:
        compute.virtual_machine_extensions.begin_create_or_update("rg", "vm1", "x", EXT).result()
    assert e.value.error.message == "Cannot modify extensions in the VM when the VM is not running."


@pytest.mark.parametrize("props", [None, {"type": "CustomScript", "typeHandlerVersion": "2.1"},
                                   {**EXT["properties"], "autoUpgradeMinorVersion": "yes"},
                                   {**EXT["properties"], "publisher": 3}])
def test_bad_extension_bodies_are_400(azvm: AzvmServer, http: httpx.Client, props: Any) -> None:
    azvm.create_vm("vm1")
    r = http.put(f"{VMS}/vm1/extensions/x", params={"api-version": "2024-11-01"},
                 json={"location": "eastus", "properties": props})
    assert r.status_code == 400, r.text
    assert http.get(f"{VMS}/vm1/extensions/x", params={"api-version": "2024-11-01"}).status_code == 404


# -- images --------------------------------------------------------------------------------------------
def test_the_image_catalog(compute: Any) -> None:
    images = compute.virtual_machine_images
    pubs = {p.name for p in images.list_publishers("eastus")}
    assert {"Canonical", "Debian", "RedHat", "MicrosoftWindowsServer", "SUSE", "OpenLogic"} <= pubs
    offers = {o.name for o in images.list_offers("eastus", "Canonical")}
    assert {"ubuntu-24_04-lts", "0001-com-ubuntu-server-jammy", "UbuntuServer"} <= offers
    skus = {s.name for s in images.list_skus("eastus", "Canonical", "0001-com-ubuntu-server-jammy")}
    assert skus >= {"22_04-lts", "22_04-lts-gen2"}
    versions = [v.name for v in images.list("eastus", "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter")]
    assert versions and versions == sorted(versions)
    img = images.get("eastus", "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter", versions[-1])
    assert img.os_disk_image.operating_system == "Windows" and img.name == versions[-1]
    top = images.list("eastus", "Debian", "debian-12", "12", top=1, orderby="name desc")
    assert [v.name for v in top] == [max((v.name for v in images.list("eastus", "Debian", "debian-12", "12")),
                                         key=lambda s: tuple(int(x) for x in s.split(".")))]
    with pytest.raises(ResourceNotFoundError):
        images.get("eastus", "Canonical", "ubuntu-24_04-lts", "server", "1.2.3")


def test_latest_is_resolved_and_unknown_images_refused(azvm: AzvmServer, compute: Any) -> None:
    vm = azvm.create_vm("vm1")
    ref = vm["properties"]["storageProfile"]["imageReference"]
    newest = compute.virtual_machine_images.list("eastus", "Canonical", "ubuntu-24_04-lts", "server")[-1].name
    assert ref["version"] == "latest" and ref["exactVersion"] == newest
    body = vm_body(nic(azvm, "n"), storage={"imageReference": {**UBUNTU, "sku": "nope"}})
    with pytest.raises(ResourceNotFoundError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm2", body).result()
    assert e.value.error.code == "PlatformImageNotFound"
    assert "'Canonical:ubuntu-24_04-lts:nope:latest' is not available" in e.value.error.message


# -- resource SKUs and availability sets -------------------------------------------------------------------
def test_resource_skus(compute: Any) -> None:
    skus = list(compute.resource_skus.list(filter="location eq 'westeurope'"))
    b2s = next(s for s in skus if s.name == "Standard_B2s")
    caps = {c.name: c.value for c in b2s.capabilities}
    assert caps["vCPUs"] == "2" and caps["MemoryGB"] == "4" and caps["MaxDataDiskCount"] == "4"
    assert b2s.locations == ["westeurope"] and b2s.resource_type == "virtualMachines"
    assert {s.name for s in skus if s.resource_type == "disks"} >= {"Standard_LRS", "Premium_LRS"}
    assert all(s.locations == ["westeurope"] for s in skus)


def test_availability_sets(azvm: AzvmServer, compute: Any) -> None:
    azvm.arm("PUT", RG, {"location": "eastus"})
    av = compute.availability_sets.create_or_update("rg", "as1", {
        "location": "eastus", "sku": {"name": "Aligned"}, "properties": {"platformFaultDomainCount": 2}})
    assert av.platform_update_domain_count == 5 and av.platform_fault_domain_count == 2 and av.sku.name == "Aligned"
    body = vm_body(nic(azvm, "n"), availabilitySet={"id": av.id})
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", body).result()
    got = compute.availability_sets.get("rg", "as1")
    assert [v.id.lower() for v in got.virtual_machines] == [vm.id.lower()]
    with pytest.raises(HttpResponseError):
        compute.availability_sets.delete("rg", "as1")
    assert [a.name for a in compute.availability_sets.list("rg")] == ["as1"]
    with pytest.raises(HttpResponseError):
        compute.availability_sets.create_or_update("rg", "as2", {"location": "eastus",
                                                                 "properties": {"platformFaultDomainCount": 9}})


# -- PUT on an existing VM -------------------------------------------------------------------------------
def test_a_put_with_only_location_and_tags_updates_the_tags(azvm: AzvmServer, compute: Any) -> None:
    vm = azvm.create_vm("vm1")
    after = compute.virtual_machines.begin_create_or_update("rg", "vm1", {"location": "eastus",
                                                                         "tags": {"env": "test"}}).result()
    assert after.tags == {"env": "test"} and after.hardware_profile.vm_size == "Standard_B2s"
    assert after.storage_profile.os_disk.name == vm["properties"]["storageProfile"]["osDisk"]["name"]


@pytest.mark.parametrize("power", ["running", "stopped", "deallocated"])
def test_a_reput_of_what_was_read_changes_nothing(azvm: AzvmServer, http: httpx.Client, power: str) -> None:
    azvm.create_vm("vm1", data_disks=1)
    compute = azvm.compute_client()
    if power == "stopped":
        compute.virtual_machines.begin_power_off("rg", "vm1").result()
    elif power == "deallocated":
        compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    url, p = f"{VMS}/vm1", {"api-version": "2024-11-01"}
    before = http.get(url, params=p).json()
    body = copy.deepcopy({k: v for k, v in before.items() if k not in ("etag",)})
    body["properties"]["storageProfile"]["osDisk"]["vhd"] = {}
    body["properties"]["userData"] = "Tm9uZQ=="
    body["properties"]["capacityReservation"] = {}
    r = http.put(url, params=p, json=body)
    assert r.status_code == 200, r.text
    azvm.advance(30)
    after = http.get(url, params=p).json()
    before["properties"].pop("provisioningState")
    after["properties"].pop("provisioningState")
    before.pop("etag")
    after.pop("etag")
    assert after == before
    iv = http.get(url + "/instanceView", params=p).json()
    assert iv["statuses"][1]["code"] == f"PowerState/{power}"


@pytest.mark.parametrize("nics", ["nic", [{"id": 3}], [["x"]], {"id": "x"}])
def test_an_update_is_validated_as_a_create(azvm: AzvmServer, http: httpx.Client, nics: Any) -> None:
    azvm.create_vm("vm1")
    url, p = f"{VMS}/vm1", {"api-version": "2024-11-01"}
    before = http.get(url, params=p).json()
    for method in ("PUT", "PATCH"):
        body: dict[str, Any] = {"properties": {"networkProfile": {"networkInterfaces": nics}}}
        if method == "PUT":
            body["location"] = "eastus"
        r = http.request(method, url, params=p, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "InvalidParameter"
    assert http.get(url, params=p).json()["etag"] == before["etag"]
