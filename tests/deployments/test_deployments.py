"""ARM template deployments through the official client (azure-mgmt-resource-deployments) against a
real azvm server: a template shaped like the common VM quickstarts, copy loops, a failing resource,
a cancellation midway, validation, complete mode and subscription scope — with the deployment's
states and each resource's states observed over simulated time."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deployments import DeploymentsMgmtClient

from azvm.clock import parse_iso
from azvm.testing import AzvmServer

HERE = Path(__file__).parent
QUICKSTART = json.loads((HERE / "vm_quickstart.json").read_text())
KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 azureuser@example"
PARAMS = {"adminUsername": {"value": "azureuser"}, "adminPasswordOrKey": {"value": KEY}}
NET = "2024-05-01"


def client(azvm: AzvmServer) -> Any:
    return azvm._client(DeploymentsMgmtClient)


def group(azvm: AzvmServer, name: str = "rg", location: str = "eastus") -> str:
    azvm.arm("PUT", f"/subscriptions/{azvm.subscription_id}/resourcegroups/{name}", {"location": location})
    return f"/subscriptions/{azvm.subscription_id}/resourceGroups/{name}"


def body(template: dict[str, Any], parameters: dict[str, Any] | None = None, mode: str = "Incremental") -> Any:
    return {"properties": {"template": template, "parameters": parameters or {}, "mode": mode}}


def power(azvm: AzvmServer, rg: str, name: str) -> tuple[str, str]:
    view = azvm.compute_client().virtual_machines.instance_view(rg, name)
    codes = [s.code for s in view.statuses]
    return codes[0], next(c for c in codes if c.startswith("PowerState/"))


def test_a_quickstart_shaped_template_goes_through_its_states_over_simulated_time(azvm: AzvmServer) -> None:
    rg = group(azvm)
    azvm.set_time_skipping(False)
    c = client(azvm)
    t0 = parse_iso(azvm.now())
    c.deployments.begin_create_or_update("rg", "qs", body(QUICKSTART, PARAMS), polling=False)
    d = c.deployments.get("rg", "qs")
    assert d.properties.provisioning_state == "Accepted"
    assert d.properties.parameters["adminPasswordOrKey"] == {"type": "SecureString"}  # never echoed
    assert d.properties.parameters["adminUsername"] == {"type": "String", "value": "azureuser"}
    assert d.properties.parameters["vmName"] == {"type": "String", "value": "quickVM"}
    with pytest.raises(HttpResponseError):  # nothing deployed yet
        azvm.network_client().network_security_groups.get("rg", "SecGroupNet")

    azvm.advance(1)  # the first wave: NSG, public IP, VNet; then the subnet, the NIC and the VM at once
    d = c.deployments.get("rg", "qs")
    assert d.properties.provisioning_state == "Running"
    nic = azvm.network_client().network_interfaces.get("rg", "quickVMNetInt")
    subnet = f"{rg}/providers/Microsoft.Network/virtualNetworks/vNet/subnets/Subnet"
    assert nic.ip_configurations[0].subnet.id.lower() == subnet.lower()
    assert power(azvm, "rg", "quickVM") == ("ProvisioningState/creating", "PowerState/starting")

    azvm.advance(600)
    d = c.deployments.get("rg", "qs")
    assert d.properties.provisioning_state == "Succeeded"
    fqdn = azvm.network_client().public_ip_addresses.get("rg", "quickVMPublicIP").dns_settings.fqdn
    assert fqdn.startswith("quickvm-") and fqdn.endswith(".eastus.cloudapp.azure.com")
    assert d.properties.outputs == {"adminUsername": {"type": "String", "value": "azureuser"},
                                    "hostname": {"type": "String", "value": fqdn},
                                    "sshCommand": {"type": "String", "value": f"ssh azureuser@{fqdn}"}}
    assert {r.id.rsplit("/", 1)[1] for r in d.properties.output_resources} == {
        "quickVMNetInt", "SecGroupNet", "vNet", "Subnet", "quickVMPublicIP", "quickVM"}
    assert power(azvm, "rg", "quickVM") == ("ProvisioningState/succeeded", "PowerState/running")
    vm = azvm.compute_client().virtual_machines.get("rg", "quickVM")
    assert vm.os_profile.linux_configuration.ssh.public_keys[0].key_data == KEY

    ops = {o.properties.target_resource.resource_name: o.properties for o in c.deployment_operations.list("rg", "qs")}
    assert set(ops) == {"quickVMNetInt", "SecGroupNet", "vNet", "vNet/Subnet", "quickVMPublicIP", "quickVM"}
    assert all(o.provisioning_state == "Succeeded" and o.provisioning_operation == "Create" for o in ops.values())
    # an asynchronous create ends with its operation's final 200
    assert ops["quickVM"].status_code == "OK" and {o.status_code for o in ops.values()} <= {"OK", "Created"}
    vm_op, nic_op = ops["quickVM"], ops["quickVMNetInt"]
    assert vm_op.timestamp >= nic_op.timestamp and vm_op.duration != "PT0S"
    created = parse_iso(vm_op.timestamp.isoformat().replace("+00:00", "Z")) - t0
    assert created > 1_000_000  # the VM ended after its Creating phases, not at once

    # the VM is an ordinary one: it stops and is billed like any other
    azvm.set_time_skipping(True)
    azvm.compute_client().virtual_machines.begin_deallocate("rg", "quickVM").result()
    assert power(azvm, "rg", "quickVM")[1] == "PowerState/deallocated"
    bill = azvm.control("GET", "billing?from=2026-01-01T00:00:00Z")
    vm_lines = [ln for ln in bill["lines"] if ln.get("resourceId", "").lower().endswith("/virtualmachines/quickvm")]
    assert vm_lines and sum(float(ln["amount"]) for ln in vm_lines) > 0


def test_the_client_waits_for_the_deployment_with_its_poller(azvm: AzvmServer) -> None:
    group(azvm)
    c = client(azvm)
    done = c.deployments.begin_create_or_update("rg", "qs", body(QUICKSTART, PARAMS)).result()
    assert done.properties.provisioning_state == "Succeeded" and done.properties.mode == "Incremental"
    assert done.properties.outputs["adminUsername"]["value"] == "azureuser"
    assert c.deployments.check_existence("rg", "qs") is True
    assert [d.name for d in c.deployments.list_by_resource_group("rg")] == ["qs"]
    assert [d.name for d in c.deployments.list_by_resource_group("rg", filter="provisioningState eq 'Failed'")] == []
    assert c.deployments.export_template("rg", "qs").template == QUICKSTART
    c.deployments.begin_delete("rg", "qs").result()
    assert c.deployments.check_existence("rg", "qs") is False
    assert power(azvm, "rg", "quickVM")[1] == "PowerState/running"  # deleting the deployment keeps what it made


COPY_TEMPLATE: dict[str, Any] = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"count": {"type": "int", "defaultValue": 3, "minValue": 1, "maxValue": 5}},
    "variables": {"vnetId": "[resourceId('Microsoft.Network/virtualNetworks', 'fleet-vnet')]"},
    "resources": [
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2015-06-15", "name": "fleet-vnet",
         "location": "[resourceGroup().location]",
         "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
        {"type": "Microsoft.Network/networkInterfaces", "apiVersion": "2015-06-15",
         "name": "[concat('fleet', copyIndex(), '-nic')]", "location": "[resourceGroup().location]",
         "copy": {"name": "niccopy", "count": "[parameters('count')]", "mode": "parallel"},
         "dependsOn": ["[variables('vnetId')]"],
         "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
             "privateIPAllocationMethod": "Dynamic",
             "subnet": {"id": "[concat(variables('vnetId'), '/subnets/default')]"}}}]}},
        {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-11-01",
         "name": "[concat('fleet', copyIndex())]",
         "location": "[resourceGroup().location]",
         "copy": {"name": "vmcopy", "count": "[parameters('count')]"},
         "dependsOn": ["[resourceId('Microsoft.Network/networkInterfaces', concat('fleet', copyIndex(), '-nic'))]"],
         "properties": {
             "hardwareProfile": {"vmSize": "Standard_B2s"},
             "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                                   "sku": "22_04-lts-gen2", "version": "latest"},
                                "osDisk": {"createOption": "fromImage", "managedDisk": {"storageAccountType": None}}},
             "osProfile": {"computerName": "[concat('fleet', copyIndex())]", "adminUsername": "azureuser",
                           "adminPassword": "Passw0rd!Passw0rd!"},
             "networkProfile": {"networkInterfaces": [
                 {"id": "[resourceId('Microsoft.Network/networkInterfaces', concat('fleet', copyIndex(), '-nic'))]",
                  "properties": {"deleteOption": None}}]}}}],
    "outputs": {"names": {"type": "array",
                          "copy": {"count": "[parameters('count')]", "input": "[concat('fleet', copyIndex())]"}}},
}


def test_a_copy_loop_makes_several_vms_together(azvm: AzvmServer) -> None:
    group(azvm)
    c = client(azvm)
    done = c.deployments.begin_create_or_update("rg", "fleet", body(COPY_TEMPLATE, {"count": {"value": 4}})).result()
    assert done.properties.provisioning_state == "Succeeded"
    assert done.properties.outputs["names"]["value"] == ["fleet0", "fleet1", "fleet2", "fleet3"]
    vms = sorted(v.name for v in azvm.compute_client().virtual_machines.list("rg"))
    assert vms == ["fleet0", "fleet1", "fleet2", "fleet3"]
    assert all(power(azvm, "rg", n)[1] == "PowerState/running" for n in vms)
    ops = [o.properties for o in c.deployment_operations.list("rg", "fleet")]
    vm_starts = {o.timestamp - _duration(o.duration) for o in ops
                 if o.target_resource.resource_type.endswith("virtualMachines")}
    assert len(vm_starts) == 1  # the copies started together (parallel), after their NICs


def _duration(iso: str) -> Any:
    from datetime import timedelta
    return timedelta(seconds=float(iso.removeprefix("PT").removesuffix("S")))


def test_a_parameter_outside_its_range_fails_validation(azvm: AzvmServer) -> None:
    group(azvm)
    with pytest.raises(HttpResponseError) as e:
        client(azvm).deployments.begin_create_or_update("rg", "fleet", body(COPY_TEMPLATE, {"count": {"value": 9}}))
    assert e.value.status_code == 400 and e.value.error.code == "InvalidTemplateDeployment"
    assert "'count'" in e.value.error.details[0].message  # the inner error names the parameter


def test_a_failing_resource_fails_the_deployment_with_its_details(azvm: AzvmServer) -> None:
    group(azvm)
    azvm.inject_fault(kind="os-provisioning", code="OSProvisioningTimedOut")
    c = client(azvm)
    with pytest.raises(HttpResponseError) as e:
        c.deployments.begin_create_or_update("rg", "qs", body(QUICKSTART, PARAMS)).result()
    assert e.value.error.code == "DeploymentFailed"
    d = c.deployments.get("rg", "qs")
    assert d.properties.provisioning_state == "Failed" and d.properties.error.code == "DeploymentFailed"
    detail = d.properties.error.details[0]
    assert detail.code == "ResourceDeploymentFailure" and detail.target.endswith("/virtualMachines/quickVM")
    assert detail.details[0].code == "OSProvisioningTimedOut"
    ops = {o.properties.target_resource.resource_name: o.properties for o in c.deployment_operations.list("rg", "qs")}
    assert ops["quickVM"].provisioning_state == "Failed" and ops["quickVMNetInt"].provisioning_state == "Succeeded"
    assert ops["quickVM"].status_message["error"]["code"] == "ResourceDeploymentFailure"
    # the documents: the VM stays deployed and running (and billed) although its provisioning failed
    assert power(azvm, "rg", "quickVM") == ("ProvisioningState/failed/OSProvisioningTimedOut", "PowerState/running")


def test_a_resource_its_provider_refuses_fails_at_once_and_stops_its_dependents(azvm: AzvmServer) -> None:
    group(azvm)
    bad = copy.deepcopy(COPY_TEMPLATE)
    bad["resources"][1]["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = \
        "[concat(variables('vnetId'), '/subnets/nowhere')]"
    c = client(azvm)
    with pytest.raises(HttpResponseError):
        c.deployments.begin_create_or_update("rg", "bad", body(bad, {"count": {"value": 1}})).result()
    d = c.deployments.get("rg", "bad")
    assert d.properties.provisioning_state == "Failed"
    nic_error = d.properties.error.details[0]
    assert nic_error.code not in ("ResourceDeploymentFailure", "DeploymentFailed")  # the provider's own code
    names = {o.properties.target_resource.resource_name for o in c.deployment_operations.list("rg", "bad")}
    assert names == {"fleet-vnet", "fleet0-nic"}  # the VM never started
    assert list(azvm.compute_client().virtual_machines.list("rg")) == []


def _single_vm(name: str, nic: str, after: str | None = None) -> dict[str, Any]:
    vm = copy.deepcopy(COPY_TEMPLATE["resources"][2])
    del vm["copy"]
    vm["name"] = name
    vm["properties"]["osProfile"]["computerName"] = name
    nic_id = f"[resourceId('Microsoft.Network/networkInterfaces', '{nic}')]"
    vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = nic_id
    vm["dependsOn"] = [nic_id] + ([f"[resourceId('Microsoft.Compute/virtualMachines', '{after}')]"] if after else [])
    return vm


def test_a_deployment_cancelled_midway_leaves_what_ran_and_starts_nothing_more(azvm: AzvmServer) -> None:
    group(azvm)
    chain = copy.deepcopy(COPY_TEMPLATE)
    chain["resources"][2:] = [_single_vm("first", "fleet0-nic"), _single_vm("second", "fleet1-nic", after="first")]
    chain["outputs"] = {}
    azvm.set_time_skipping(False)
    c = client(azvm)
    c.deployments.begin_create_or_update("rg", "chain", body(chain, {"count": {"value": 2}}), polling=False)
    azvm.advance(1)
    assert c.deployments.get("rg", "chain").properties.provisioning_state == "Running"
    assert power(azvm, "rg", "first")[0] == "ProvisioningState/creating"
    c.deployments.cancel("rg", "chain")
    assert c.deployments.get("rg", "chain").properties.provisioning_state == "Canceled"
    with pytest.raises(HttpResponseError) as e:
        c.deployments.cancel("rg", "chain")
    assert e.value.status_code == 409
    azvm.advance(600)
    assert power(azvm, "rg", "first") == ("ProvisioningState/succeeded", "PowerState/running")  # it went on
    assert [v.name for v in azvm.compute_client().virtual_machines.list("rg")] == ["first"]
    assert c.deployments.get("rg", "chain").properties.provisioning_state == "Canceled"
    ops = {o.properties.target_resource.resource_name: o.properties.provisioning_state
           for o in c.deployment_operations.list("rg", "chain")}
    assert ops == {"fleet-vnet": "Succeeded", "fleet0-nic": "Succeeded", "fleet1-nic": "Succeeded",
                   "first": "Succeeded"}


def test_validate_answers_without_deploying(azvm: AzvmServer) -> None:
    group(azvm)
    c = client(azvm)
    ok = c.deployments.begin_validate("rg", "qs", body(QUICKSTART, PARAMS)).result()
    assert ok.properties.provisioning_state == "Succeeded"
    assert len(ok.properties.validated_resources) == 6
    assert c.deployments.check_existence("rg", "qs") is False
    broken = copy.deepcopy(QUICKSTART)
    broken["resources"][1]["name"] = "[listSecrets('x', '2020-01-01')]"
    with pytest.raises(HttpResponseError) as e:
        c.deployments.begin_validate("rg", "qs", body(broken, PARAMS)).result()
    assert e.value.status_code == 400 and e.value.error.code == "InvalidTemplateDeployment"
    assert "listSecrets" in str(e.value) and "resources[1]" in str(e.value)
    missing = {"adminUsername": {"value": "azureuser"}}
    with pytest.raises(HttpResponseError) as e:
        c.deployments.begin_validate("rg", "qs", body(QUICKSTART, missing)).result()
    assert "adminPasswordOrKey" in str(e.value)


def test_complete_mode_deletes_what_the_template_does_not_name(azvm: AzvmServer) -> None:
    rg = group(azvm)
    azvm.arm("PUT", f"{rg}/providers/Microsoft.Network/publicIPAddresses/stray", {"location": "eastus"},
             api_version=NET)
    template = {"$schema": COPY_TEMPLATE["$schema"], "contentVersion": "1.0.0.0",
                "resources": [COPY_TEMPLATE["resources"][0]]}
    c = client(azvm)
    c.deployments.begin_create_or_update("rg", "incr", body(template)).result()
    assert [p.name for p in azvm.network_client().public_ip_addresses.list("rg")] == ["stray"]
    c.deployments.begin_create_or_update("rg", "full", body(template, mode="Complete")).result()
    assert list(azvm.network_client().public_ip_addresses.list("rg")) == []
    assert [v.name for v in azvm.network_client().virtual_networks.list("rg")] == ["fleet-vnet"]
    ops = {o.properties.target_resource.resource_name: o.properties.provisioning_operation
           for o in c.deployment_operations.list("rg", "full")}
    assert ops == {"fleet-vnet": "Create", "stray": "Delete"}


FIRST_LOCATION = "[reference(concat(subscription().id, '/resourceGroups/team-a'), '2022-09-01', 'Full').location]"


def test_a_subscription_scope_deployment_creates_resource_groups(azvm: AzvmServer) -> None:
    template = {"$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {"names": {"type": "array", "defaultValue": ["team-a", "team-b"]}},
                "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01",
                               "name": "[parameters('names')[copyIndex()]]", "location": "westeurope",
                               "tags": {"made": "template"},
                               "copy": {"name": "groups", "count": "[length(parameters('names'))]"}}],
                "outputs": {"first": {"type": "string", "value": FIRST_LOCATION}}}
    c = client(azvm)
    done = c.deployments.begin_create_or_update_at_subscription_scope(
        "groups", {"location": "westeurope", **body(template)}).result()
    assert done.properties.provisioning_state == "Succeeded"
    sub = azvm.subscription_id
    assert done.properties.outputs["first"]["value"] == "westeurope"
    groups = {g["name"]: g for g in azvm.arm("GET", f"/subscriptions/{sub}/resourcegroups")["value"]}
    assert groups["team-b"]["location"] == "westeurope" and groups["team-b"]["tags"] == {"made": "template"}
    with pytest.raises(HttpResponseError) as e:  # a subscription-scope deployment needs a location
        c.deployments.begin_create_or_update_at_subscription_scope("nowhere", body(template))
    assert e.value.status_code == 400
