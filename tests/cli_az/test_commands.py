"""The Azure CLI's everyday commands (azure-cli 2.91.0, unchanged) against one azvm server and one
signed-in profile: resource groups, VM reads and power commands, sizes and SKUs, the image catalog,
extensions, disks and networks. Each command's output and exit code are checked against what azvm
holds, and every VM command against the power state azvm shows after it. Each test works in a
resource group of its own, so that the tests share the server (one sign-in for the module: az takes
1-2 s a command) and not their state.

What az sends for each command: ../shared/reference/az-vm-create.md section 6 and az-cli.md.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from azvm.service import catalog
from azvm.testing import AzvmServer

from .conftest import Az, module_profile

NET_API = "2024-05-01"
DISK_API = "2025-01-02"
# az waits 30 s between two polls of an operation unless the answer says sooner (Retry-After): a
# command above this bound waited for such a poll. A bound on the protocol, far from any machine's speed.
NO_30S_POLL = 20.0


@pytest.fixture(scope="module")
def server(module_server: AzvmServer) -> AzvmServer:
    return module_server


@pytest.fixture(scope="module")
def cli(az: Path, server: AzvmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Az]:
    signed = module_profile(az, server, tmp_path_factory)
    yield signed
    slow = [(" ".join(r.args[1:4]), round(t, 1)) for r, t in zip(signed.ran, signed.took, strict=True)
            if t > NO_30S_POLL]
    assert not slow, f"commands that waited for a 30-second poll: {slow}"


# -- helpers ---------------------------------------------------------------------------------------
def rg_path(server: AzvmServer, rg: str) -> str:
    return f"/subscriptions/{server.subscription_id}/resourceGroups/{rg}"


def power(server: AzvmServer, rg: str, name: str) -> str:
    """The VM's power state as azvm shows it (its instanceView)."""
    view = server.arm("GET", f"{rg_path(server, rg)}/providers/Microsoft.Compute/virtualMachines/{name}/instanceView")
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


def held_list(server: AzvmServer, path: str, api_version: str = "2024-11-01") -> list[dict[str, Any]]:
    return list(server.arm("GET", path, api_version=api_version)["value"])


def table(text: str) -> list[dict[str, str]]:
    """The rows of az's `-o table` output, by column header (columns are cut where the dashes are)."""
    lines = text.splitlines()
    dashes = next(i for i, line in enumerate(lines) if line.startswith("---"))
    spans, start = [], 0
    for part in lines[dashes].split("  "):
        spans.append((start, start + len(part)))
        start += len(part) + 2
    header = [lines[dashes - 1][a:b].strip() for a, b in spans]
    return [{h: line[a:b].strip() for h, (a, b) in zip(header, spans, strict=True)}
            for line in lines[dashes + 1:] if line.strip()]


def missing(cli: Az, *args: str, code: str) -> str:
    """Runs a command on something that does not exist: exit code 3, as against Azure, naming `code`."""
    r = cli.run(*args, expect=3)
    assert f"({code})" in r.stderr, r.stderr
    return r.stderr


# -- resource groups -------------------------------------------------------------------------------
def test_group_create_list_show_delete(cli: Az, server: AzvmServer) -> None:
    made = cli.json("group", "create", "-n", "rg-groups", "-l", "westeurope", "--tags", "team=a")
    assert made["id"] == rg_path(server, "rg-groups") and made["properties"]["provisioningState"] == "Succeeded"
    again = cli.json("group", "create", "-n", "rg-groups", "-l", "westeurope", "--tags", "team=b")  # replaces
    assert again["tags"] == {"team": "b"}
    held = server.arm("GET", f"/subscriptions/{server.subscription_id}/resourcegroups/rg-groups")
    assert held["location"] == "westeurope" and held["tags"] == {"team": "b"}

    listed = {g["name"]: g for g in cli.json("group", "list")}
    assert listed["rg-groups"]["location"] == "westeurope"
    assert set(listed) == {g["name"] for g in held_list(server, f"/subscriptions/{server.subscription_id}"
                                                                "/resourcegroups")}
    rows = table(cli.run("group", "list", "-o", "table").stdout)
    assert {"Name": "rg-groups", "Location": "westeurope", "Status": "Succeeded"} in rows
    assert cli.json("group", "show", "-n", "rg-groups")["tags"] == {"team": "b"}

    server.create_vm("vm-in-group", resource_group="rg-groups", location="westeurope", public_ip=True)
    cli.run("group", "delete", "-n", "rg-groups", "--yes")  # takes its VM, disks and network with it
    assert cli.json("group", "exists", "-n", "rg-groups") is False
    assert "rg-groups" not in {g["name"] for g in cli.json("group", "list")}
    missing(cli, "group", "show", "-n", "rg-groups", code="ResourceGroupNotFound")
    missing(cli, "group", "delete", "-n", "rg-groups", "--yes", code="ResourceGroupNotFound")
    missing(cli, "vm", "list", "-g", "rg-groups", code="ResourceGroupNotFound")


# -- VM reads --------------------------------------------------------------------------------------
def test_vm_list_show_and_instance_view(cli: Az, server: AzvmServer) -> None:
    linux = server.create_vm("web1", resource_group="rg-reads", public_ip=True)
    windows = server.create_vm("win1", resource_group="rg-reads", image="windows", size="Standard_D2s_v5",
                               public_ip=True)
    net = f"{rg_path(server, 'rg-reads')}/providers/Microsoft.Network"
    with_dns = {"location": "eastus", "sku": {"name": "Standard"}, "properties": {
        "publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": "web1-azvm"}}}
    server.arm("PUT", f"{net}/publicIPAddresses/web1-ip", with_dns, api_version=NET_API)
    ips = {p["name"]: p["properties"]["ipAddress"] for p in held_list(server, f"{net}/publicIPAddresses", NET_API)}
    nics = {n["name"]: n["properties"] for n in held_list(server, f"{net}/networkInterfaces", NET_API)}

    rows = table(cli.run("vm", "list", "-d", "-g", "rg-reads", "-o", "table").stdout)
    assert [(r["Name"], r["ResourceGroup"], r["PowerState"], r["PublicIps"], r["Fqdns"], r["Location"])
            for r in rows] == [
        ("web1", "rg-reads", "VM running", ips["web1-ip"], "web1-azvm.eastus.cloudapp.azure.com", "eastus"),
        ("win1", "rg-reads", "VM running", ips["win1-ip"], "", "eastus")]
    assert all(ip.count(".") == 3 for ip in ips.values())

    listed = cli.json("vm", "list", "-d", "-g", "rg-reads")
    assert [v["id"] for v in listed] == [linux["id"], windows["id"]]
    for vm in listed:
        nic = nics[f"{vm['name']}-nic"]
        assert vm["privateIps"] == nic["ipConfigurations"][0]["properties"]["privateIPAddress"]
        assert vm["macAddresses"] == nic["macAddress"] and vm["publicIps"] == ips[f"{vm['name']}-ip"]
    assert {v["id"] for v in cli.json("vm", "list")} >= {linux["id"], windows["id"]}  # the subscription's

    shown = cli.json("vm", "show", "-d", "-g", "rg-reads", "-n", "win1")
    assert shown["powerState"] == "VM running" and shown["publicIps"] == ips["win1-ip"]
    assert shown["hardwareProfile"] == {"vmSize": "Standard_D2s_v5"}
    assert shown["storageProfile"]["osDisk"]["osType"] == "Windows"
    assert shown["storageProfile"]["imageReference"]["exactVersion"] == \
        windows["properties"]["storageProfile"]["imageReference"]["exactVersion"]

    view = cli.json("vm", "get-instance-view", "-g", "rg-reads", "-n", "web1")
    held = server.arm("GET", f"{linux['id']}/instanceView")
    assert view["id"] == linux["id"] and view["instanceView"]["statuses"] == held["statuses"]
    assert [d["name"] for d in view["instanceView"]["disks"]] == [d["name"] for d in held["disks"]]
    assert view["instanceView"]["statuses"][-1]["code"] == "PowerState/running"

    for args in (("vm", "show", "-d"), ("vm", "show"), ("vm", "get-instance-view")):
        assert "nowhere" in missing(cli, *args, "-g", "rg-reads", "-n", "nowhere", code="ResourceNotFound")
    missing(cli, "vm", "list", "-d", "-g", "rg-nowhere", code="ResourceGroupNotFound")


# -- VM commands, each followed by the power state azvm shows ---------------------------------------
def test_vm_power_commands_resize_redeploy_delete(cli: Az, server: AzvmServer) -> None:
    vm = server.create_vm("app1", resource_group="rg-power", public_ip=True)
    vm_args = ("-g", "rg-power", "-n", "app1")

    stopped = cli.run("vm", "stop", *vm_args)
    assert "It will continue to be billed. To deallocate a VM, run: az vm deallocate." in stopped.stderr
    assert power(server, "rg-power", "app1") == "PowerState/stopped"
    assert cli.json("vm", "show", "-d", *vm_args)["powerState"] == "VM stopped"

    cli.run("vm", "deallocate", *vm_args)
    assert power(server, "rg-power", "app1") == "PowerState/deallocated"
    row = next(r for r in table(cli.run("vm", "list", "-d", "-g", "rg-power", "-o", "table").stdout))
    assert row["PowerState"] == "VM deallocated"

    cli.run("vm", "start", *vm_args)
    assert power(server, "rg-power", "app1") == "PowerState/running"

    restarted = cli.json("vm", "restart", *vm_args)  # prints the operation's status
    assert restarted["status"] == "Succeeded" and restarted["endTime"] > restarted["startTime"]
    assert power(server, "rg-power", "app1") == "PowerState/running"

    cli.run("vm", "redeploy", *vm_args)
    assert power(server, "rg-power", "app1") == "PowerState/running"

    resized = cli.json("vm", "resize", *vm_args, "--size", "Standard_D4s_v5")
    assert resized["hardwareProfile"] == {"vmSize": "Standard_D4s_v5"}
    assert server.arm("GET", vm["id"])["properties"]["hardwareProfile"]["vmSize"] == "Standard_D4s_v5"
    assert power(server, "rg-power", "app1") == "PowerState/running"
    r = cli.run("vm", "resize", *vm_args, "--size", "Standard_Q99", expect=1)
    assert "(InvalidParameter)" in r.stderr and "Standard_Q99" in r.stderr
    assert server.arm("GET", vm["id"])["properties"]["hardwareProfile"]["vmSize"] == "Standard_D4s_v5"

    for command in ("start", "stop", "deallocate", "restart", "redeploy"):
        missing(cli, "vm", command, "-g", "rg-power", "-n", "nowhere", code="ResourceNotFound")

    disks = [d["name"] for d in cli.json("disk", "list", "-g", "rg-power")]
    assert disks == [vm["properties"]["storageProfile"]["osDisk"]["name"]]
    cli.run("vm", "delete", *vm_args, "--yes")
    assert cli.json("vm", "list", "-g", "rg-power") == []
    missing(cli, "vm", "show", *vm_args, code="ResourceNotFound")
    assert cli.json("disk", "list", "-g", "rg-power") == []  # deleteOption Delete: the OS disk went with it
    assert cli.json("network", "nic", "list", "-g", "rg-power") == []  # and so did the NIC


# -- sizes and SKUs --------------------------------------------------------------------------------
def test_list_sizes_and_skus(cli: Az, server: AzvmServer) -> None:
    sub = f"/subscriptions/{server.subscription_id}"
    sizes = cli.json("vm", "list-sizes", "-l", "eastus")
    assert sizes == held_list(server, f"{sub}/providers/Microsoft.Compute/locations/eastus/vmSizes")
    b2s = next(s for s in sizes if s["name"] == "Standard_B2s")
    assert (b2s["numberOfCores"], b2s["memoryInMB"]) == (2, 4096)

    # az asks for every SKU and filters by region and size itself (list_sku_info, custom.list_skus)
    skus = cli.json("vm", "list-skus", "-l", "westeurope", "--size", "Standard_D2s")
    assert sorted(s["name"] for s in skus) == ["Standard_D2s_v3", "Standard_D2s_v4", "Standard_D2s_v5"]
    held = {s["name"]: s for s in held_list(server, f"{sub}/providers/Microsoft.Compute/skus?$filter=location%20eq%20"
                                                    "'westeurope'", "2021-07-01")}
    for s in skus:
        assert s == held[s["name"]] and s["locations"] == ["westeurope"]
        caps = {c["name"]: c["value"] for c in s["capabilities"]}
        assert (caps["vCPUs"], caps["MemoryGB"], caps["PremiumIO"]) == ("2", "8", "True")
    rows = table(cli.run("vm", "list-skus", "-l", "eastus", "--size", "Standard_B2s", "--zone", "-o", "table").stdout)
    assert {(r["ResourceType"], r["Locations"], r["Name"], r["Zones"], r["Restrictions"]) for r in rows} == {
        ("virtualMachines", "eastus", "Standard_B2s", "1,2,3", "None"),
        ("virtualMachines", "eastus", "Standard_B2s_v2", "1,2,3", "None")}
    # westus has no availability zones: its SKUs name none, and --zone leaves them out
    rows = table(cli.run("vm", "list-skus", "-l", "westus", "--size", "Standard_B2s", "-o", "table").stdout)
    assert {(r["Name"], r["Zones"]) for r in rows} == {("Standard_B2s", ""), ("Standard_B2s_v2", "")}
    assert cli.json("vm", "list-skus", "-l", "westus", "--size", "Standard_B2s", "--zone") == []
    disks = cli.json("vm", "list-skus", "-l", "eastus", "--resource-type", "disks")
    assert {d["name"] for d in disks} >= {"Standard_LRS", "Premium_LRS", "StandardSSD_LRS"}
    assert {d["resourceType"] for d in disks} == {"disks"}


# -- the image catalog -----------------------------------------------------------------------------
def urns(images: list[dict[str, Any]]) -> list[str]:
    return [f"{i['publisher']}:{i['offer']}:{i['sku']}:{i['version']}" for i in images]


def test_image_list_offers_and_show(cli: Az, server: AzvmServer) -> None:
    aliases = cli.json("vm", "image", "list")  # the alias table, without a request to ARM
    by_alias = {i["urnAlias"]: i["urn"] for i in aliases}
    assert by_alias["Ubuntu2204"] == "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
    assert by_alias["Win2022Datacenter"] == "MicrosoftWindowsServer:WindowsServer:2022-datacenter-g2:latest"
    assert [i["urnAlias"] for i in cli.json("vm", "image", "list", "-p", "canonical")] == ["Ubuntu2204"]

    # --all walks publishers, offers, SKUs and versions on azvm; -p/-f/-s are substrings, az filters them
    jammy = cli.json("vm", "image", "list", "--all", "-l", "eastus", "-p", "Canonical", "-f", "jammy",
                     "-s", "22_04-lts-gen2")
    img = catalog.image("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2")
    assert img is not None
    assert urns(jammy) == [f"Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:{v}" for v in img.versions]
    assert {(i["architecture"], json.dumps(i["imageDeprecationStatus"])) for i in jammy} == {
        ("x64", '{"imageState": "Active"}')}
    arm = cli.json("vm", "image", "list", "--all", "-l", "eastus", "-p", "Canonical", "-s", "arm64",
                   "--architecture", "Arm64")
    assert {i["sku"] for i in arm} == {"server-arm64"} and len(arm) == 3
    windows = cli.json("vm", "image", "list", "--all", "-l", "eastus", "-f", "WindowsServer", "-s", "2022-datacenter")
    assert {i["sku"] for i in windows} == {i.sku for i in catalog.IMAGES if i.sku.startswith("2022-datacenter")}
    r = cli.run("vm", "image", "list", "--all", "-l", "eastus", "-f", "debian-12", "-o", "json")
    assert "WARNING" not in r.stderr  # no publisher (of extensions only) answers its offers with an error
    assert {i["sku"] for i in json.loads(r.stdout)} == {"12", "12-gen2"}

    offers = cli.json("vm", "image", "list-offers", "-l", "eastus", "-p", "Canonical")
    assert [o["name"] for o in offers] == catalog.offers("Canonical")
    skus = cli.json("vm", "image", "list-skus", "-l", "eastus", "-p", "Canonical", "-f", "0001-com-ubuntu-server-jammy")
    assert [s["name"] for s in skus] == ["22_04-lts", "22_04-lts-gen2"]

    shown = cli.json("vm", "image", "show", "-l", "eastus", "--urn",
                     "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest")
    assert shown["name"] == img.latest and shown["hyperVGeneration"] == "V2"
    assert shown["osDiskImage"]["operatingSystem"] == "Linux" and shown["architecture"] == "x64"
    version = cli.json("vm", "image", "show", "-l", "eastus", "--urn",
                       f"Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:{img.versions[0]}")
    assert version["name"] == img.versions[0]
    missing(cli, "vm", "image", "show", "-l", "eastus", "--urn", "Canonical:no-such-offer:1:latest",
            code="NotFound")


def test_every_alias_names_an_image_of_the_catalog() -> None:
    doc = json.loads(resources.files("azvm.data").joinpath("aliases.json").read_text("utf-8"))
    aliases = {a: v for by_os in doc["outputs"]["aliases"]["value"].values() for a, v in by_os.items()}
    assert len(aliases) == 16  # azure-cli 2.91.0's table
    for alias, v in aliases.items():
        img = catalog.image(v["publisher"], v["offer"], v["sku"])
        assert img is not None, alias
        assert ("Arm64" if "arm64" in img.sku.lower() else "x64") == v["architecture"]
    assert aliases["Ubuntu2204"]["offer"] == "0001-com-ubuntu-server-jammy"
    assert aliases["Win2022Datacenter"]["sku"] == "2022-datacenter-g2"


def test_the_alias_document_comes_from_azvm(cli: Az, server: AzvmServer) -> None:
    """With `--endpoint-vm-image-alias-doc` pointing at azvm, az reads the aliases from azvm: no warning
    that it fell back on the copy built into it."""
    r = cli.run("vm", "image", "list", "-o", "json")
    assert "alias doc" not in r.stderr and "endpoint_vm_image_alias_doc" not in r.stderr, r.stderr
    doc = json.loads(resources.files("azvm.data").joinpath("aliases.json").read_text("utf-8"))
    served = {a for by_os in doc["outputs"]["aliases"]["value"].values() for a in by_os}
    assert {i["urnAlias"] for i in json.loads(r.stdout)} == served


# -- extensions ------------------------------------------------------------------------------------
def test_vm_extension_set_list_delete(cli: Az, server: AzvmServer) -> None:
    vm = server.create_vm("ext1", resource_group="rg-ext")
    vm_args = ("-g", "rg-ext", "--vm-name", "ext1")
    # without --version az finds the newest version in azvm's extension catalog and sends its major.minor
    made = cli.json("vm", "extension", "set", *vm_args, "-n", "CustomScript", "--publisher",
                    "Microsoft.Azure.Extensions", "--settings", '{"commandToExecute": "echo hello"}',
                    "--protected-settings", '{"fileUris": []}')
    handler = catalog.extension("Microsoft.Azure.Extensions", "CustomScript")
    assert handler is not None
    assert made["typeHandlerVersion"] == ".".join(handler.latest.split(".")[:2]) == "2.1"
    assert made["provisioningState"] == "Succeeded" and made["settings"] == {"commandToExecute": "echo hello"}
    assert "protectedSettings" not in made
    held = server.arm("GET", f"{vm['id']}/extensions/CustomScript")
    assert held["properties"]["publisher"] == "Microsoft.Azure.Extensions"
    assert held["properties"]["typeHandlerVersion"] == "2.1"

    cli.run("vm", "extension", "set", *vm_args, "-n", "CustomScript", "--publisher", "Microsoft.Azure.Extensions",
            "--version", "2.0", "--settings", '{"commandToExecute": "echo again"}')
    listed = cli.json("vm", "extension", "list", *vm_args)
    assert [(e["name"], e["typeHandlerVersion"], e["settings"]) for e in listed] == [
        ("CustomScript", "2.0", {"commandToExecute": "echo again"})]
    assert [e["name"] for e in held_list(server, f"{vm['id']}/extensions")] == ["CustomScript"]
    assert power(server, "rg-ext", "ext1") == "PowerState/running"

    r = cli.run("vm", "extension", "set", *vm_args, "-n", "NoSuchHandler", "--publisher",
                "Microsoft.Azure.Extensions", expect=1)
    assert 'Failed to find the latest version for the extension "NoSuchHandler"' in r.stderr
    stderr = missing(cli, "vm", "extension", "set", *vm_args, "-n", "CustomScript", "--publisher",
                     "Microsoft.Azure.Extensions", "--version", "3.0", code="ArtifactNotFound")
    assert "type handler version '3.0' could not be found in the extension repository" in stderr
    # az sends major.minor only; a full build number is refused as Compute refuses it
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.arm("PUT", f"{vm['id']}/extensions/pinned", {"location": "eastus", "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1.10"}})
    assert refused.value.code == 400 and json.load(refused.value)["error"] == {
        "code": "InvalidParameter", "message": "The value of parameter typeHandlerVersion is invalid.",
        "target": "typeHandlerVersion"}

    cli.run("vm", "extension", "delete", *vm_args, "-n", "CustomScript")
    assert cli.json("vm", "extension", "list", *vm_args) == []
    assert held_list(server, f"{vm['id']}/extensions") == []
    missing(cli, "vm", "extension", "show", *vm_args, "-n", "CustomScript", code="ResourceNotFound")
    missing(cli, "vm", "extension", "list", "-g", "rg-ext", "--vm-name", "nowhere", code="ResourceNotFound")

    images = cli.json("vm", "extension", "image", "list", "-l", "eastus", "-p", "Microsoft.Azure.Extensions",
                      "-n", "CustomScript", "--latest")
    assert [(i["name"], i["version"]) for i in images] == [("CustomScript", handler.latest)]


# -- disks and networks ----------------------------------------------------------------------------
def test_disk_and_network_lists(cli: Az, server: AzvmServer) -> None:
    one = server.create_vm("db1", resource_group="rg-lists", public_ip=True, data_disks=1)
    server.create_vm("db2", resource_group="rg-lists")
    rg = rg_path(server, "rg-lists")
    net = f"{rg}/providers/Microsoft.Network"

    disks = cli.json("disk", "list", "-g", "rg-lists")
    held = held_list(server, f"{rg}/providers/Microsoft.Compute/disks", DISK_API)
    assert [(d["name"], d["diskSizeGB"], d["managedBy"], d["diskState"]) for d in disks] == [
        (d["name"], d["properties"]["diskSizeGB"], d["managedBy"], "Attached") for d in held]
    assert len(disks) == 3 and sum(d["managedBy"] == one["id"] for d in disks) == 2
    missing(cli, "disk", "list", "-g", "rg-nowhere", code="ResourceGroupNotFound")

    vnets = cli.json("network", "vnet", "list", "-g", "rg-lists")
    assert [(v["name"], v["addressSpace"]["addressPrefixes"], [s["name"] for s in v["subnets"]]) for v in vnets] == [
        ("rg-lists-vnet", ["10.0.0.0/16"], ["default"])]
    assert vnets[0]["id"] == held_list(server, f"{net}/virtualNetworks", NET_API)[0]["id"]
    everywhere = {v["id"] for v in cli.json("network", "vnet", "list")}
    assert vnets[0]["id"] in everywhere
    rows = table(cli.run("network", "vnet", "list", "-g", "rg-lists", "-o", "table").stdout)
    assert [(r["Name"], r["NumSubnets"], r["Prefixes"]) for r in rows] == [("rg-lists-vnet", "1", "10.0.0.0/16")]

    nics = cli.json("network", "nic", "list", "-g", "rg-lists")
    held_nics = held_list(server, f"{net}/networkInterfaces", NET_API)
    assert [(n["name"], n["macAddress"], n["virtualMachine"]["id"]) for n in nics] == [
        (n["name"], n["properties"]["macAddress"], n["properties"]["virtualMachine"]["id"]) for n in held_nics]
    assert [n["name"] for n in nics] == ["db1-nic", "db2-nic"]

    pips = cli.json("network", "public-ip", "list", "-g", "rg-lists")
    held_pips = held_list(server, f"{net}/publicIPAddresses", NET_API)
    assert [(p["name"], p["ipAddress"], p["sku"]["name"], p["publicIPAllocationMethod"]) for p in pips] == [
        (p["name"], p["properties"]["ipAddress"], "Standard", "Static") for p in held_pips]
    assert pips[0]["ipConfiguration"]["id"].startswith(f"{net}/networkInterfaces/db1-nic/")
    rows = table(cli.run("network", "public-ip", "list", "-g", "rg-lists", "-o", "table").stdout)
    assert [(r["Name"], r["Address"]) for r in rows] == [("db1-ip", held_pips[0]["properties"]["ipAddress"])]
    for kind in ("vnet", "nic", "public-ip"):
        missing(cli, "network", kind, "list", "-g", "rg-nowhere", code="ResourceGroupNotFound")


def test_image_list_all_without_a_location(cli: Az) -> None:
    """Without `-l`, az takes westus (or the first region) from the subscription's locations."""
    jammy = cli.json("vm", "image", "list", "--all", "-p", "Canonical", "-f", "jammy", "-s", "22_04-lts-gen2")
    assert len(jammy) == 3 and {i["sku"] for i in jammy} == {"22_04-lts-gen2"}
