"""`az vm create` and `az deployment group ...`, the real Azure CLI unchanged, against azvm: the CLI
builds an ARM template (VNet, NSG, public IP, NIC, VM) and deploys it through
Microsoft.Resources/deployments (../shared/reference/az-vm-create.md), so every VM here comes from a
template deployment — and is checked against what azvm holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer

from .conftest import Az, module_profile

NET_API = "2024-05-01"
PASSWORD = "P@ssw0rd1234!"


@pytest.fixture(scope="module")
def server(module_server: AzvmServer) -> AzvmServer:
    return module_server


@pytest.fixture(scope="module")
def cli(az: Path, server: AzvmServer, tmp_path_factory: pytest.TempPathFactory) -> Az:
    """One signed-in profile; HOME of its own (`--generate-ssh-keys` writes ~/.ssh there)."""
    cli = module_profile(az, server, tmp_path_factory, HOME=str(tmp_path_factory.mktemp("home")))
    cli.run("group", "create", "-n", "rg", "-l", "eastus")
    return cli


def net(server: AzvmServer, kind: str, name: str) -> Any:
    return server.arm("GET", f"/subscriptions/{server.subscription_id}/resourceGroups/rg/providers/Microsoft.Network/"
                             f"{kind}/{name}", api_version=NET_API)


def vm(server: AzvmServer, name: str) -> Any:
    return server.arm("GET", f"/subscriptions/{server.subscription_id}/resourceGroups/rg/providers/"
                             f"Microsoft.Compute/virtualMachines/{name}?$expand=instanceView")


def power(server: AzvmServer, name: str) -> list[str]:
    return [s["code"] for s in vm(server, name)["properties"]["instanceView"]["statuses"]]


def test_vm_create_from_an_alias_with_generated_ssh_keys_makes_the_default_network(cli: Az, server: AzvmServer) -> None:
    out = cli.json("vm", "create", "-g", "rg", "-n", "vm1", "--image", "Ubuntu2204", "--admin-username", "azureuser",
                   "--generate-ssh-keys")
    pip = net(server, "publicIPAddresses", "vm1PublicIP")
    nic = net(server, "networkInterfaces", "vm1VMNic")
    assert out["powerState"] == "VM running" and out["resourceGroup"] == "rg" and out["location"] == "eastus"
    assert out["publicIpAddress"] == pip["properties"]["ipAddress"] and pip["sku"]["name"] == "Standard"
    assert out["privateIpAddress"] == nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    assert out["macAddress"] == nic["properties"]["macAddress"]
    assert power(server, "vm1") == ["ProvisioningState/succeeded", "PowerState/running"]
    held = vm(server, "vm1")["properties"]
    key = (Path(cli.env["HOME"]) / ".ssh" / "id_rsa.pub").read_text().strip()
    assert held["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"].strip() == key
    assert held["storageProfile"]["imageReference"]["offer"] == "0001-com-ubuntu-server-jammy"
    assert held["storageProfile"]["osDisk"]["createOption"] == "FromImage"  # az sent "fromImage"
    rule = net(server, "networkSecurityGroups", "vm1NSG")["properties"]["securityRules"][0]
    assert rule["name"] == "default-allow-ssh" and rule["properties"]["destinationPortRange"] == "22"
    subnet = nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
    assert subnet.endswith("/virtualNetworks/vm1VNET/subnets/vm1Subnet")

    deployments = cli.json("deployment", "group", "list", "-g", "rg")
    assert len(deployments) == 1 and deployments[0]["name"].startswith("vm_deploy_")
    assert deployments[0]["properties"]["provisioningState"] == "Succeeded"
    ops = cli.json("deployment", "operation", "group", "list", "-g", "rg", "-n", deployments[0]["name"])
    made = {o["properties"]["targetResource"]["resourceName"]: o["properties"]["provisioningState"] for o in ops}
    assert made == dict.fromkeys(["vm1VNET", "vm1NSG", "vm1PublicIP", "vm1VMNic", "vm1"], "Succeeded")


def test_vm_create_from_a_urn_with_a_password_uses_the_existing_network(cli: Az, server: AzvmServer) -> None:
    out = cli.json("vm", "create", "-g", "rg", "-n", "vm2", "--image",
                   "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", "--admin-username", "azureuser",
                   "--admin-password", PASSWORD, "--public-ip-address", "")
    assert out["powerState"] == "VM running" and out["publicIpAddress"] == ""
    nic = net(server, "networkInterfaces", "vm2VMNic")
    subnet = nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
    assert subnet.endswith("/virtualNetworks/vm1VNET/subnets/vm1Subnet")  # the VNet already in the group
    held = vm(server, "vm2")["properties"]["osProfile"]
    assert "adminPassword" not in held  # a secret is never shown
    assert not held.get("linuxConfiguration", {}).get("disablePasswordAuthentication")  # password sign-in on
    name = next(d["name"] for d in cli.json("deployment", "group", "list", "-g", "rg")
                if any(r["id"].endswith("/vm2") for r in d["properties"].get("outputResources", [])))
    shown = cli.json("deployment", "group", "show", "-g", "rg", "-n", name)
    assert shown["properties"]["parameters"]["adminPassword"] == {"type": "SecureString"}  # never echoed


def test_vm_create_windows_opens_rdp(cli: Az, server: AzvmServer) -> None:
    out = cli.json("vm", "create", "-g", "rg", "-n", "win1", "--image", "Win2022Datacenter", "--admin-username",
                   "azureuser", "--admin-password", PASSWORD)
    assert out["powerState"] == "VM running"
    rule = net(server, "networkSecurityGroups", "win1NSG")["properties"]["securityRules"][0]
    assert rule["name"] == "rdp" and rule["properties"]["destinationPortRange"] == "3389"
    held = vm(server, "win1")["properties"]
    assert held["storageProfile"]["osDisk"]["osType"] == "Windows"
    assert held["storageProfile"]["imageReference"]["sku"] == "2022-datacenter-g2"


def test_deployment_group_create_from_a_template_file_with_comments(cli: Az, server: AzvmServer,
                                                                      tmp_path: Path) -> None:
    template = (Path(__file__).parents[1] / "deployments" / "vm_quickstart.json").read_text()
    jsonc = "// a quickstart-shaped VM template\n" + template.replace(
        '"contentVersion": "1.0.0.0",', '"contentVersion": "1.0.0.0", /* az sends this text as it is */')
    path = tmp_path / "vm.jsonc"
    path.write_text(jsonc)
    out = cli.json("deployment", "group", "create", "-g", "rg", "-n", "qs", "--template-file", str(path),
                   "--parameters", "vmName=qsvm", "adminUsername=azureuser", "adminPasswordOrKey=" + PASSWORD,
                   "authenticationType=password")
    assert out["properties"]["provisioningState"] == "Succeeded"
    fqdn = net(server, "publicIPAddresses", "qsvmPublicIP")["properties"]["dnsSettings"]["fqdn"]
    assert out["properties"]["outputs"]["sshCommand"]["value"] == f"ssh azureuser@{fqdn}"
    assert power(server, "qsvm") == ["ProvisioningState/succeeded", "PowerState/running"]
    shown = cli.json("deployment", "group", "show", "-g", "rg", "-n", "qs")
    assert shown["properties"]["outputs"] == out["properties"]["outputs"]
    ops = cli.json("deployment", "operation", "group", "list", "-g", "rg", "-n", "qs")
    assert len(ops) == 6 and {o["properties"]["provisioningState"] for o in ops} == {"Succeeded"}
    r = cli.run("deployment", "group", "show", "-g", "rg", "-n", "nowhere", expect=3)
    assert "DeploymentNotFound" in r.stderr


def test_a_failed_vm_create_exits_1_with_the_deployment_error(cli: Az, server: AzvmServer) -> None:
    server.inject_fault(kind="os-provisioning", code="OSProvisioningTimedOut")
    r = cli.run("vm", "create", "-g", "rg", "-n", "vmbad", "--image", "Ubuntu2204", "--admin-username", "azureuser",
                "--admin-password", PASSWORD, "--public-ip-address", "", "--nsg", "", expect=1)
    assert "DeploymentFailed" in r.stderr and "OSProvisioningTimedOut" in r.stderr
    # the documents: the VM is there, running and billed, though its provisioning failed
    assert power(server, "vmbad") == ["ProvisioningState/failed/OSProvisioningTimedOut", "PowerState/running"]
    listed = cli.json("vm", "list", "-g", "rg", "-d")
    assert {v["name"]: v["powerState"] for v in listed}["vmbad"] == "VM running"
    assert json.loads(cli.run("vm", "show", "-g", "rg", "-n", "vmbad", "--query", "provisioningState").stdout) \
        == "Failed"


def test_vm_create_count_makes_copies_through_a_copy_loop(cli: Az, server: AzvmServer) -> None:
    out = cli.json("vm", "create", "-g", "rg", "-n", "vmc", "--count", "2", "--image", "Ubuntu2204",
                   "--admin-username", "azureuser", "--admin-password", PASSWORD, "--nsg", "")
    assert sorted(v["id"].rsplit("/", 1)[1] for v in out) == ["vmc0", "vmc1"]
    assert {v["powerState"] for v in out} == {"VM running"}
    for n in ("vmc0", "vmc1"):
        assert power(server, n) == ["ProvisioningState/succeeded", "PowerState/running"]
        assert net(server, "publicIPAddresses", f"vmcPublicIP{n[-1]}")["properties"]["ipAddress"]


def test_vm_create_with_named_network_resources_probes_them_with_double_slashes(cli: Az, server: AzvmServer) -> None:
    """Named --nsg/--public-ip-address/--vnet-name make az probe each with `Microsoft.Network//type/name` and
    read the provider's api-versions (az-vm-create.md §2): 404s mean "create them", in the template."""
    out = cli.json("vm", "create", "-g", "rg", "-n", "named", "--image", "Ubuntu2204", "--admin-username", "azureuser",
                   "--admin-password", PASSWORD, "--nsg", "mynsg", "--public-ip-address", "mypip",
                   "--vnet-name", "myvnet", "--subnet", "mysubnet", "--location", "westeurope")
    assert out["powerState"] == "VM running" and out["location"] == "westeurope"
    assert out["publicIpAddress"] == net(server, "publicIPAddresses", "mypip")["properties"]["ipAddress"]
    nic = net(server, "networkInterfaces", "namedVMNic")["properties"]
    assert nic["networkSecurityGroup"]["id"].endswith("/networkSecurityGroups/mynsg")
    assert nic["ipConfigurations"][0]["properties"]["subnet"]["id"].endswith("/virtualNetworks/myvnet/subnets/mysubnet")
