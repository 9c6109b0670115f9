"""Whole templates: what az vm create sends (az-vm-create.md §4.1, §4.3) and the shapes of the quickstarts
vm-simple-linux and vm-simple-windows (arm-templates.md §6): planned ids, waves, bodies and outputs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from azvm.templates import TemplateError, prepare, unique_string

from .support import RG_ID, FakeArm, fixture, ids, no_reference, scope, waves

NET = f"{RG_ID}/providers/Microsoft.Network"
COMPUTE = f"{RG_ID}/providers/Microsoft.Compute"


def test_az_vm_create_default_template() -> None:
    prepared = prepare(fixture("az_vm_create.json"), {}, scope())
    assert ids(prepared) == [f"{NET}/virtualNetworks/vm1VNET", f"{NET}/networkSecurityGroups/vm1NSG",
                             f"{NET}/publicIPAddresses/vm1PublicIP", f"{NET}/networkInterfaces/vm1VMNic",
                             f"{COMPUTE}/virtualMachines/vm1"]
    # short dependsOn entries with another casing ("publicIpAddresses") resolve to the template's resources
    nic = prepared.resources[3]
    assert nic.depends_on == (f"{NET}/virtualNetworks/vm1VNET", f"{NET}/networkSecurityGroups/vm1NSG",
                              f"{NET}/publicIPAddresses/vm1PublicIP")
    assert waves(prepared) == [["vm1VNET", "vm1NSG", "vm1PublicIP"], ["vm1VMNic"], ["vm1"]]
    assert prepared.parameters == {}
    assert prepared.outputs(no_reference) == {}
    vm = prepared.evaluate(prepared.resources[4], no_reference)
    assert set(vm) == {"location", "tags", "properties"}
    assert vm["properties"]["storageProfile"]["osDisk"] == {"createOption": "fromImage", "name": None,
                                                           "caching": "ReadWrite",
                                                           "managedDisk": {"storageAccountType": None}}
    pip = prepared.evaluate(prepared.resources[2], no_reference)
    assert pip == {"location": "eastus", "tags": {}, "properties": {"publicIPAllocationMethod": "Static"},
                   "sku": {"name": "Standard"}}
    assert (prepared.resources[2].type, prepared.resources[2].api_version) == \
        ("Microsoft.Network/publicIPAddresses", "2022-01-01")
    assert prepared.resources[2].where == "resources[2]"


def password_variant() -> dict[str, Any]:
    t = fixture("az_vm_create.json")
    t["parameters"] = {"adminPassword": {"type": "securestring",
                                         "metadata": {"description": "Secure adminPassword"}}}
    profile = t["resources"][4]["properties"]["osProfile"]
    del profile["linuxConfiguration"]
    profile["adminPassword"] = "[parameters('adminPassword')]"
    return t


def test_az_vm_create_password_variant_keeps_the_password_out_of_the_echo() -> None:
    prepared = prepare(password_variant(), {"adminPassword": {"value": "P@ssw0rd1234!"}}, scope())
    assert prepared.parameters == {"adminPassword": {"type": "SecureString"}}
    vm = prepared.evaluate(prepared.resources[4], no_reference)
    assert vm["properties"]["osProfile"] == {"computerName": "vm1", "adminUsername": "azureuser",
                                             "adminPassword": "P@ssw0rd1234!"}


def test_az_vm_create_password_variant_without_the_password() -> None:
    with pytest.raises(TemplateError) as caught:
        prepare(password_variant(), {}, scope())
    assert caught.value.code == "InvalidTemplate"
    assert caught.value.message == (
        "Deployment template validation failed: 'The value for the template parameter 'adminPassword' is not "
        "provided. Please see https://aka.ms/arm-create-parameter-file for usage details.'.")
    assert caught.value.target == "parameters.adminPassword"


def count_variant(n: int) -> dict[str, Any]:
    """az vm create -n vmc --count n (az-vm-create.md §4.3)."""
    t = fixture("az_vm_create.json")
    t["$schema"] = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    vnet, nsg, pip, nic, vm = t["resources"]
    vnet["name"], nsg["name"] = "vmcVNET", "vmcNSG"
    vnet["properties"]["subnets"][0]["name"] = "vmcSubnet"
    pip.update(name="[concat('vmcPublicIP', copyIndex())]",
               copy={"name": "publicipcopy", "mode": "parallel", "count": n})
    nic.update(name="[concat('vmcVMNic', copyIndex())]", copy={"name": "niccopy", "mode": "parallel", "count": n},
               dependsOn=["Microsoft.Network/virtualNetworks/vmcVNET", "Microsoft.Network/networkSecurityGroups/vmcNSG"]
               + [f"Microsoft.Network/publicIpAddresses/vmcPublicIP{i}" for i in range(n)])
    config = nic["properties"]["ipConfigurations"][0]
    config["name"] = "[concat('ipconfigvmc', copyIndex())]"
    config["properties"]["subnet"]["id"] = f"{NET}/virtualNetworks/vmcVNET/subnets/vmcSubnet"
    config["properties"]["publicIPAddress"]["id"] = f"[concat('{NET}/publicIPAddresses/vmcPublicIP', copyIndex())]"
    nic["properties"]["networkSecurityGroup"]["id"] = f"{NET}/networkSecurityGroups/vmcNSG"
    vm.update(name="[concat('vmc', copyIndex())]", copy={"name": "vmcopy", "mode": "parallel", "count": n},
              dependsOn=[f"Microsoft.Network/networkInterfaces/vmcVMNic{i}" for i in range(n)])
    vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = \
        f"[concat('{NET}/networkInterfaces/vmcVMNic', copyIndex())]"
    vm["properties"]["osProfile"]["computerName"] = "[concat('vmc', copyIndex())]"
    return t


def test_az_vm_create_count_2_expands_the_copy_loops() -> None:
    prepared = prepare(count_variant(2), {}, scope())
    assert [r.name for r in prepared.resources] == ["vmcVNET", "vmcNSG", "vmcPublicIP0", "vmcPublicIP1",
                                                    "vmcVMNic0", "vmcVMNic1", "vmc0", "vmc1"]
    assert waves(prepared) == [["vmcVNET", "vmcNSG", "vmcPublicIP0", "vmcPublicIP1"], ["vmcVMNic0", "vmcVMNic1"],
                               ["vmc0", "vmc1"]]
    vmc1 = prepared.resources[7]
    assert vmc1.where == "resources[4] (copy 'vmcopy' index 1)"
    assert vmc1.id == f"{COMPUTE}/virtualMachines/vmc1"
    assert vmc1.depends_on == (f"{NET}/networkInterfaces/vmcVMNic0", f"{NET}/networkInterfaces/vmcVMNic1")
    body = prepared.evaluate(vmc1, no_reference)
    assert body["properties"]["osProfile"]["computerName"] == "vmc1"
    assert body["properties"]["networkProfile"]["networkInterfaces"][0]["id"] == f"{NET}/networkInterfaces/vmcVMNic1"
    nic0 = prepared.evaluate(prepared.resources[4], no_reference)
    config = nic0["properties"]["ipConfigurations"][0]
    assert config["name"] == "ipconfigvmc0"
    assert config["properties"]["publicIPAddress"]["id"] == f"{NET}/publicIPAddresses/vmcPublicIP0"


def test_az_vm_create_assign_identity_orders_the_role_assignment_after_its_vm() -> None:
    """--assign-identity --scope <rg> emits the role assignment before the VM it depends on (§4.3)."""
    t = fixture("az_vm_create.json")
    vm_id = f"{COMPUTE}/virtualMachines/vm1"
    t["resources"][4]["identity"] = {"type": "SystemAssigned"}
    t["resources"].insert(4, {
        "name": "8a6b5a3e-0d47-4c4f-bb42-4a4ca5b3a6f1", "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2015-07-01", "dependsOn": ["Microsoft.Compute/virtualMachines/vm1"],
        "properties": {"roleDefinitionId": "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/r",
                       "principalId": f"[reference('{vm_id}', '2019-07-01', 'Full').identity.principalId]",
                       "scope": RG_ID}})
    prepared = prepare(t, {}, scope())
    assert waves(prepared) == [["vm1VNET", "vm1NSG", "vm1PublicIP"], ["vm1VMNic"], ["vm1"],
                               ["8a6b5a3e-0d47-4c4f-bb42-4a4ca5b3a6f1"]]
    arm = FakeArm({vm_id: {"identity": {"principalId": "11111111-2222-3333-4444-555555555555"}, "properties": {}}})
    body = prepared.evaluate(prepared.resources[4], arm)
    assert body["properties"]["principalId"] == "11111111-2222-3333-4444-555555555555"
    assert prepared.evaluate(prepared.resources[5], arm)["identity"] == {"type": "SystemAssigned"}


def test_a_role_assignment_on_a_resource_uses_the_extension_form() -> None:
    t = fixture("az_vm_create.json")
    t["resources"].append({
        "name": "vm1/Microsoft.Authorization/guid1", "type": "Microsoft.Compute/virtualMachines/providers/"
        "roleAssignments", "apiVersion": "2015-07-01", "dependsOn": ["Microsoft.Compute/virtualMachines/vm1"],
        "properties": {"roleDefinitionId": "r", "principalId": "p"}})
    prepared = prepare(t, {}, scope())
    assert prepared.resources[5].id == \
        f"{COMPUTE}/virtualMachines/vm1/providers/Microsoft.Authorization/roleAssignments/guid1"
    assert prepared.resources[5].depends_on == (f"{COMPUTE}/virtualMachines/vm1",)


LINUX_PARAMS = {"adminUsername": {"value": "azureuser"}, "adminPasswordOrKey": {"value": "Sup3rSecretPassw0rd!"}}


def test_vm_simple_linux_plan() -> None:
    prepared = prepare(fixture("vm_simple_linux.json"), LINUX_PARAMS, scope())
    assert ids(prepared) == [
        f"{NET}/networkInterfaces/simpleLinuxVMNetInt", f"{NET}/networkSecurityGroups/SecGroupNet",
        f"{NET}/virtualNetworks/vNet", f"{NET}/virtualNetworks/vNet/subnets/Subnet",
        f"{NET}/publicIPAddresses/simpleLinuxVMPublicIP", f"{COMPUTE}/virtualMachines/simpleLinuxVM",
        f"{COMPUTE}/virtualMachines/simpleLinuxVM/extensions/GuestAttestation"]
    assert waves(prepared) == [["SecGroupNet", "vNet", "simpleLinuxVMPublicIP"], ["vNet/Subnet"],
                               ["simpleLinuxVMNetInt"], ["simpleLinuxVM"], ["simpleLinuxVM/GuestAttestation"]]
    assert prepared.resources[3].type == "Microsoft.Network/virtualNetworks/subnets"
    # parameter defaults that are expressions over other parameters, in any order
    dns = f"simplelinuxvm-{unique_string(RG_ID)}"
    assert prepared.parameters["dnsLabelPrefix"] == {"type": "String", "value": dns}
    assert prepared.parameters["location"] == {"type": "String", "value": "eastus"}
    assert prepared.parameters["adminPasswordOrKey"] == {"type": "SecureString"}


def test_vm_simple_linux_bodies_with_password_authentication() -> None:
    prepared = prepare(fixture("vm_simple_linux.json"), LINUX_PARAMS, scope())
    vm = prepared.evaluate(prepared.resources[5], no_reference)
    assert vm["properties"]["storageProfile"]["imageReference"] == {
        "publisher": "Canonical", "offer": "0001-com-ubuntu-server-focal", "sku": "20_04-lts-gen2", "version": "latest"}
    assert vm["properties"]["osProfile"]["linuxConfiguration"] is None
    assert vm["properties"]["osProfile"]["adminPassword"] == "Sup3rSecretPassw0rd!"
    assert vm["properties"]["securityProfile"] == {"uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                                                   "securityType": "TrustedLaunch"}
    nic = prepared.evaluate(prepared.resources[0], no_reference)
    assert nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] == \
        f"{NET}/virtualNetworks/vNet/subnets/Subnet"
    ext = prepared.evaluate(prepared.resources[6], no_reference)
    assert ext["properties"]["settings"]["AttestationConfig"]["MaaSettings"]["maaEndpoint"] == ""
    subnet = prepared.evaluate(prepared.resources[3], no_reference)
    assert subnet == {"properties": {"addressPrefix": "10.1.0.0/24", "privateEndpointNetworkPolicies": "Enabled",
                                     "privateLinkServiceNetworkPolicies": "Enabled"}}


def test_vm_simple_linux_with_an_ssh_key_and_standard_security() -> None:
    params = dict(LINUX_PARAMS, authenticationType={"value": "sshPublicKey"}, securityType={"value": "Standard"},
                  adminPasswordOrKey={"value": "ssh-rsa AAAA key"}, ubuntuOSVersion={"value": "Ubuntu-2204"})
    prepared = prepare(fixture("vm_simple_linux.json"), params, scope())
    # the attestation extension's condition is false: it is not planned
    assert [r.name for r in prepared.resources][-1] == "simpleLinuxVM"
    vm = prepared.evaluate(prepared.resources[5], no_reference)
    assert vm["properties"]["osProfile"]["linuxConfiguration"] == {
        "disablePasswordAuthentication": True,
        "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-rsa AAAA key"}]}}
    assert vm["properties"]["securityProfile"] is None
    assert vm["properties"]["storageProfile"]["imageReference"]["offer"] == "0001-com-ubuntu-server-jammy"


def test_vm_simple_linux_outputs_read_the_public_ip() -> None:
    prepared = prepare(fixture("vm_simple_linux.json"), LINUX_PARAMS, scope())
    pip = f"{NET}/publicIPAddresses/simpleLinuxVMPublicIP"
    arm = FakeArm({pip: {"properties": {"dnsSettings": {"fqdn": "simplelinuxvm-x.eastus.cloudapp.azure.com"}}}})
    assert prepared.outputs(arm) == {
        "adminUsername": {"type": "String", "value": "azureuser"},
        "hostname": {"type": "String", "value": "simplelinuxvm-x.eastus.cloudapp.azure.com"},
        "sshCommand": {"type": "String", "value": "ssh azureuser@simplelinuxvm-x.eastus.cloudapp.azure.com"}}
    assert arm.calls[0] == (pip, "2021-05-01", False)


def test_vm_simple_linux_refuses_a_version_outside_the_allowed_values() -> None:
    with pytest.raises(TemplateError) as caught:
        prepare(fixture("vm_simple_linux.json"), dict(LINUX_PARAMS, ubuntuOSVersion={"value": "Ubuntu-1604"}),
                scope())
    assert caught.value.message == (
        "Deployment template validation failed: 'The provided value 'Ubuntu-1604' for the template parameter "
        "'ubuntuOSVersion' is not valid. The parameter value is not part of the allowed value(s): "
        "'Ubuntu-1804,Ubuntu-2004,Ubuntu-2204'.'.")


WINDOWS_PARAMS = {"adminUsername": {"value": "azureuser"}, "adminPassword": {"value": "P@ssw0rd1234!"}}


def test_vm_simple_windows_plan_and_bodies() -> None:
    prepared = prepare(fixture("vm_simple_windows.json"), WINDOWS_PARAMS, scope())
    storage = f"bootdiags{unique_string(RG_ID)}"
    storage_id = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/{storage}"
    assert [r.name for r in prepared.resources] == [storage, "myPublicIP", "default-NSG", "MyVNET", "myVMNic",
                                                    "simple-vm", "simple-vm/GuestAttestation"]
    assert waves(prepared) == [[storage, "myPublicIP", "default-NSG"], ["MyVNET"], ["myVMNic"], ["simple-vm"],
                               ["simple-vm/GuestAttestation"]]
    assert prepared.parameters["dnsLabelPrefix"]["value"] == \
        f"simple-vm-{unique_string(RG_ID, 'simple-vm')}"
    assert prepared.evaluate(prepared.resources[0], no_reference) == {
        "location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "Storage"}
    vnet = prepared.evaluate(prepared.resources[3], no_reference)
    assert vnet["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]["id"] == \
        f"{NET}/networkSecurityGroups/default-NSG"
    arm = FakeArm({storage_id: {"properties": {"primaryEndpoints": {"blob": f"https://{storage}.blob.core.windows.net/"}}}})
    vm = prepared.evaluate(prepared.resources[5], arm)
    assert vm["properties"]["diagnosticsProfile"]["bootDiagnostics"]["storageUri"] == \
        f"https://{storage}.blob.core.windows.net/"
    assert vm["properties"]["storageProfile"]["dataDisks"] == [{"diskSizeGB": 1023, "lun": 0, "createOption": "Empty"}]
    assert arm.calls == [(storage_id, "2022-05-01", False)]


def test_vm_simple_windows_password_too_short() -> None:
    with pytest.raises(TemplateError) as caught:
        prepare(fixture("vm_simple_windows.json"), dict(WINDOWS_PARAMS, adminPassword={"value": "short"}), scope())
    assert "Length of the value should be greater than or equal to '12'" in caught.value.message
    assert "short" not in caught.value.message
    assert caught.value.target == "parameters.adminPassword"


def test_a_reference_by_name_is_an_implicit_dependency() -> None:
    t = fixture("vm_simple_windows.json")
    vm = t["resources"][5]
    vm["dependsOn"] = ["[resourceId('Microsoft.Network/networkInterfaces', variables('nicName'))]"]
    vm["properties"]["diagnosticsProfile"]["bootDiagnostics"]["storageUri"] = \
        "[reference(variables('storageAccountName')).primaryEndpoints.blob]"
    prepared = prepare(t, WINDOWS_PARAMS, scope())
    storage = f"bootdiags{unique_string(RG_ID)}"
    assert f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/{storage}" in prepared.resources[5].depends_on
    arm = FakeArm({f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/{storage}":
                   {"properties": {"primaryEndpoints": {"blob": "https://b/"}}}})
    assert prepared.evaluate(prepared.resources[5], arm)["properties"]["diagnosticsProfile"]["bootDiagnostics"][
        "storageUri"] == "https://b/"


def test_the_prepared_template_is_not_changed_by_evaluation() -> None:
    t = fixture("vm_simple_linux.json")
    before = copy.deepcopy(t)
    prepared = prepare(t, LINUX_PARAMS, scope())
    for r in prepared.resources:
        prepared.evaluate(r, FakeArm({}))
    assert t == before
