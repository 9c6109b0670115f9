"""Billing covers the VM's neighbourhood: managed disks from creation to deletion and public IPs by
SKU, whatever the VM's state, through a real server and the official clients.

Expected amounts are hand-computed from the sample sheet (src/azvm/data/prices-sample.json, eastus):
B2s Linux 0.0416/h; S4 LRS Disk 1.536/month, S15 LRS Disk 11.328/month, P6 LRS Disk 10.21/month
(a month is 730 h = 2,628,000 s); Standard IPv4 Static Public IP 0.005/h, Basic IPv4 Dynamic Public
IP 0.004/h. The emulator's clock starts at 2026-01-01T00:00:00Z and moves in whole seconds here.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

from tests.conftest import SUB, http_client

from azvm.clock import parse_iso
from azvm.testing import AzvmServer, StaticTokenCredential

T0 = "2026-01-01T00:00:00Z"
MONTH = 730 * 3600
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VM_ID = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
IP_ID = f"{RG}/providers/Microsoft.Network/publicIPAddresses/vm1-ip"
S4, S15, P6 = Fraction("1.536"), Fraction("11.328"), Fraction("10.21")
STANDARD_IP, BASIC_DYNAMIC_IP, B2S = Fraction("0.005"), Fraction("0.004"), Fraction("0.0416")
S4_LABEL = "Standard HDD Managed Disks / S4 LRS Disk / eastus"
STANDARD_IP_LABEL = "IP Addresses / Standard IPv4 Static Public IP / eastus"


def control(azvm: AzvmServer, path: str, status: int = 200, **params: str) -> Any:
    with http_client(verify=azvm.ssl_context() or False) as c:
        r = c.get(f"{azvm.endpoint}/azvm/{path}", params=params)
        assert r.status_code == status, r.text
        return r.json() if "json" in r.headers["content-type"] else r.text


def seconds(azvm: AzvmServer) -> int:
    """The simulated now, in whole seconds since T0."""
    us = parse_iso(azvm.now()) - parse_iso(T0)
    assert us % 1_000_000 == 0
    return us // 1_000_000


def close(a: Fraction, b: Fraction) -> bool:
    """Amounts travel as 50-digit decimals."""
    return abs(a - b) < Fraction(1, 10**40)


def amount(lines: list[dict[str, Any]], **match: str) -> Fraction:
    return sum((Fraction(ln["amount"]) for ln in lines if all(ln[k] == v for k, v in match.items())), Fraction(0))


def test_standard_ip_and_disks_are_billed_while_the_vm_is_deallocated(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1", public_ip=True, data_disks=2)
    azvm.compute_client().virtual_machines.begin_deallocate("rg", "vm1").result()
    azvm.advance(7200)
    n = seconds(azvm)
    by_meter = control(azvm, "billing", groupBy="meter", **{"from": T0})
    assert by_meter["truncatedAtNow"] is False and by_meter["complete"] is True
    lines = by_meter["lines"]
    # every second since T0, deallocated or not: the IP and three S4 disks (OS 30 GB, two data 32 GB)
    assert close(amount(lines, group=STANDARD_IP_LABEL), STANDARD_IP * n / 3600)
    assert close(amount(lines, group=S4_LABEL), 3 * S4 * n / MONTH)
    by_state = control(azvm, "billing", groupBy="state", **{"from": T0})["lines"]
    assert {ln["group"] for ln in by_state if ln["kind"] != "vm"} == {"any"}
    assert not any(ln["group"] == "deallocated" and ln["billedSeconds"] for ln in by_state)
    # by resource: the IP under its own id, meter and unit as the Retail Prices item says
    by_vm = control(azvm, "billing", **{"from": T0})["lines"]
    ip = [ln for ln in by_vm if ln["kind"] == "publicip"]
    assert [(ln["resourceId"], ln["group"], ln["billedSeconds"], ln["unitOfMeasure"], ln["unitPrice"])
            for ln in ip] == [(IP_ID, IP_ID, n, "1 Hour", "0.005")]


def test_no_double_billing_of_the_vms_own_disks(azvm: AzvmServer) -> None:
    vm = azvm.create_vm("vm1", data_disks=1)
    azvm.advance(3600)
    n = seconds(azvm)
    disk_ids = {vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].lower(),
                vm["properties"]["storageProfile"]["dataDisks"][0]["managedDisk"]["id"].lower()}
    lines = control(azvm, "billing", **{"from": T0})["lines"]
    disks = [ln for ln in lines if ln["kind"] == "disk"]
    assert sorted(ln["resourceId"].lower() for ln in disks) == sorted(disk_ids)  # each once
    assert all(ln["billedSeconds"] == n for ln in disks)
    ex = control(azvm, "billing/explain", id=VM_ID, **{"from": T0})
    assert ex["disks"] == []  # the VM's disks are billed as Disk resources, not again under the VM
    total = Fraction(control(azvm, "billing", **{"from": T0})["totalExact"])
    assert close(total, amount(lines, kind="vm") + 2 * S4 * n / MONTH)


def new_disk(azvm: AzvmServer, name: str, sku: str, size_gb: int) -> tuple[Any, int]:
    """A VM vm1, then an empty disk made beside it; the disk and its creation second."""
    azvm.create_vm("vm1")
    created = seconds(azvm)
    disk = azvm.compute_client().disks.begin_create_or_update("rg", name, {
        "location": "eastus", "sku": {"name": sku},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size_gb}}).result()
    return disk, created


def test_a_detached_disk_is_billed_after_the_vm_and_until_its_own_deletion(azvm: AzvmServer) -> None:
    disk, created = new_disk(azvm, "data1", "Premium_LRS", 64)
    cc = azvm.compute_client()
    azvm.advance(600)
    cc.virtual_machines.begin_create_or_update("rg", "vm1", {"location": "eastus", "properties": {"storageProfile": {
        "dataDisks": [{"lun": 0, "createOption": "Attach", "deleteOption": "Detach",
                       "managedDisk": {"id": disk.id}}]}}}).result()
    cc.virtual_machines.begin_delete("rg", "vm1").result()
    vm_gone = seconds(azvm)
    assert cc.disks.get("rg", "data1").disk_state == "Unattached"
    azvm.advance(3600)
    mid = control(azvm, "billing/explain", id=disk.id, **{"from": T0})
    assert [(r["meter"], r["seconds"], r["unitPrice"]) for r in mid["resources"]] == [
        ("P6 LRS Disk", seconds(azvm) - created, "10.21")]
    cc.disks.begin_delete("rg", "data1").result()
    deleted = seconds(azvm)
    azvm.advance(3600)
    ex = control(azvm, "billing/explain", id=disk.id, **{"from": T0})
    assert [(r["kind"], r["seconds"]) for r in ex["resources"]] == [("disk", deleted - created)]
    assert deleted - created > vm_gone - created + 3600 - 1
    assert close(Fraction(ex["totalExact"]), P6 * (deleted - created) / MONTH)
    # the OS disk (deleteOption Delete) stopped with the VM
    lines = control(azvm, "billing", **{"from": T0})["lines"]
    os_disk = [ln for ln in lines if ln["kind"] == "disk" and "_OsDisk_" in ln["resourceId"]]
    assert [ln["billedSeconds"] for ln in os_disk] == [vm_gone]
    assert close(amount(lines, resourceId=disk.id), P6 * (deleted - created) / MONTH)


def test_explain_of_an_unknown_resource_is_404(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    err = control(azvm, "billing/explain", 404, id=f"{RG}/providers/Microsoft.Compute/disks/nope")
    assert err["error"]["code"] == "ResourceNotFound"


def test_a_basic_dynamic_ip_is_not_billed_while_its_vm_is_deallocated(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    nc, cc = azvm.network_client(), azvm.compute_client()
    pip = nc.public_ip_addresses.begin_create_or_update("rg", "dyn", {
        "location": "eastus", "sku": {"name": "Basic"},
        "properties": {"publicIPAllocationMethod": "Dynamic"}}).result()
    ipc = nc.network_interfaces.get("rg", "vm1-nic").ip_configurations[0]
    nc.network_interfaces.begin_create_or_update("rg", "vm1-nic", {"location": "eastus", "properties": {
        "ipConfigurations": [{"name": ipc.name, "properties": {
            "subnet": {"id": ipc.subnet.id}, "publicIPAddress": {"id": pip.id}}}]}}).result()
    attached = seconds(azvm)
    azvm.advance(3600)
    assert nc.public_ip_addresses.get("rg", "dyn").ip_address
    cc.virtual_machines.begin_deallocate("rg", "vm1").result()
    assert not nc.public_ip_addresses.get("rg", "dyn").ip_address
    azvm.advance(7200)
    cc.virtual_machines.begin_start("rg", "vm1").result()
    started = seconds(azvm)
    azvm.advance(1800)
    ex = control(azvm, "billing/explain", id=pip.id, **{"from": T0})
    spans = [(r["meter"], parse_iso(r["start"]) // 10**6 - parse_iso(T0) // 10**6, r["seconds"])
             for r in ex["resources"]]
    # billed from the NIC's taking it until the deallocation begins, then again from the start
    assert len(spans) == 2 and {s[0] for s in spans} == {"Basic IPv4 Dynamic Public IP"}
    (_, a0, n0), (_, a1, n1) = spans
    assert a0 == attached and a0 + n0 < started - 7200 + 1 and a1 <= started and a1 + n1 == seconds(azvm)
    assert n0 >= 3600 and n1 >= 1800
    assert close(Fraction(ex["totalExact"]), BASIC_DYNAMIC_IP * (n0 + n1) / 3600)


def test_a_grown_disk_changes_tier(azvm: AzvmServer) -> None:
    disk, created = new_disk(azvm, "big", "Standard_LRS", 32)
    cc = azvm.compute_client()
    azvm.advance(3600)
    grown = seconds(azvm)
    cc.disks.begin_update("rg", "big", {"properties": {"diskSizeGB": 256}}).result()
    azvm.advance(3600)
    now = seconds(azvm)
    ex = control(azvm, "billing/explain", id=disk.id, **{"from": T0})
    assert [(r["meter"], r["sizeGB"], r["seconds"]) for r in ex["resources"]] == [
        ("S4 LRS Disk", 32, grown - created), ("S15 LRS Disk", 256, now - grown)]
    assert close(Fraction(ex["totalExact"]), (S4 * (grown - created) + S15 * (now - grown)) / MONTH)
    lines = control(azvm, "billing", groupBy="meter", **{"from": T0})["lines"]
    s15 = amount(lines, group="Standard HDD Managed Disks / S15 LRS Disk / eastus")
    assert close(s15, S15 * (now - grown) / MONTH)


def test_cost_details_and_cost_management_list_the_new_meters(azvm: AzvmServer) -> None:
    from azure.mgmt.costmanagement import CostManagementClient
    from azure.mgmt.costmanagement.models import QueryAggregation, QueryDataset, QueryDefinition, QueryGrouping

    azvm.create_vm("vm1", public_ip=True, data_disks=1)
    azvm.advance(3600)
    n = seconds(azvm)
    text = control(azvm, "billing/cost-details", **{"from": T0})
    rows = list(csv.DictReader(io.StringIO(text)))
    ip = [r for r in rows if r["ResourceId"] == IP_ID]
    assert [(r["MeterCategory"], r["MeterSubCategory"], r["MeterName"], r["UnitOfMeasure"], r["ConsumedService"])
            for r in ip] == [("Virtual Network", "IP Addresses", "Standard IPv4 Static Public IP", "1 Hour",
                              "Microsoft.Network")]
    assert abs(Fraction(ip[0]["Quantity"]) - Fraction(n, 3600)) < Fraction(1, 10**10)  # 10 places in CSV
    disks = [r for r in rows if "/providers/Microsoft.Compute/disks/" in r["ResourceId"]]
    assert len(disks) == 2 and {(r["MeterCategory"], r["MeterName"]) for r in disks} == {("Storage", "S4 LRS Disk")}

    client = CostManagementClient(StaticTokenCredential(), **azvm.client_kwargs())  # type: ignore[arg-type]

    def query(dimension: str) -> dict[str, Any]:
        result = client.query.usage(f"/subscriptions/{SUB}", QueryDefinition(
            type="ActualCost", timeframe="MonthToDate",
            dataset=QueryDataset(aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                                 grouping=[QueryGrouping(type="Dimension", name=dimension)])))
        assert result is not None
        cols = [c.name for c in result.columns]
        return {row[cols.index(dimension)]: row[0] for row in result.rows}

    by_type = query("ResourceType")
    assert set(by_type) == {"microsoft.compute/virtualmachines", "microsoft.compute/disks",
                            "microsoft.network/publicipaddresses"}
    assert by_type["microsoft.network/publicipaddresses"] == float(STANDARD_IP * n / 3600)
    by_id = query("ResourceId")
    assert by_id[IP_ID.lower()] == float(STANDARD_IP * n / 3600)
    assert query("MeterCategory").keys() == {"Virtual Machines", "Storage", "Virtual Network"}
