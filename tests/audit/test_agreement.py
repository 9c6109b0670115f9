"""The audit's numbers against azvm's own meter: what the audit says leaving each VM as it is costs a
month (730 hours) is what the meter bills over the next 730 hours of simulated time, VM by VM and
item by item (compute, disks, public IPs), through the control API's `/azvm/billing`, its what-if,
and the Cost Management Query API (azure-mgmt-costmanagement, unmodified), under each rule set."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.audit.conftest import SUB, Audit, audit
from tests.conftest import http_client

from azvm.clock import US, iso, parse_iso
from azvm.testing import AzvmServer

MONTH_S = 730 * 3600
NET_API = "2024-05-01"


def basic_dynamic_ip(azvm: AzvmServer, vm: str, rg: str = "rg") -> str:
    """Give the VM's NIC a Basic Dynamic public IP (billed only while it holds an address)."""
    net = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network"
    pip = f"{net}/publicIPAddresses/{vm}-basic"
    azvm.arm("PUT", pip, {"location": "eastus", "sku": {"name": "Basic"},
                          "properties": {"publicIPAllocationMethod": "Dynamic"}}, api_version=NET_API)
    nic = f"{net}/networkInterfaces/{vm}-nic"
    body = azvm.arm("GET", nic, api_version=NET_API)
    body["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] = {"id": pip}
    azvm.arm("PUT", nic, {"location": body["location"], "properties": {
        "ipConfigurations": body["properties"]["ipConfigurations"]}}, api_version=NET_API)
    return pip


def fleet(azvm: AzvmServer) -> None:
    """A VM in each situation the audit tells apart, with disks and addresses of each kind."""
    azvm.create_vm("run1", public_ip=True)
    azvm.create_vm("stop1", data_disks=1)
    azvm.create_vm("win1", image="windows", size="Standard_D2s_v3")
    azvm.create_vm("dyn1", size="Standard_D2s_v3")
    basic_dynamic_ip(azvm, "dyn1")
    azvm.create_vm("dealloc1", public_ip=True, data_disks=2)
    azvm.create_vm("guest1", size="Standard_B1s")
    compute = azvm.compute_client()
    for name in ("stop1", "win1", "dyn1"):
        compute.virtual_machines.begin_power_off("rg", name).result()
    compute.virtual_machines.begin_deallocate("rg", "dealloc1").result()
    azvm.guest_shutdown(compute.virtual_machines.get("rg", "guest1").id)
    azvm.advance(120)  # every operation over


def control(azvm: AzvmServer, path: str, **params: str) -> Any:
    with http_client(azvm) as c:
        r = c.get(f"/azvm/{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json()


def next_month(azvm: AzvmServer) -> dict[str, str]:
    """The 730 hours from the next whole second of the simulated clock, which is moved past them."""
    start = math.ceil(parse_iso(azvm.now()) / US) * US
    azvm.advance((start + MONTH_S * US - parse_iso(azvm.now())) / US + 1)
    return {"from": iso(start), "to": iso(start + MONTH_S * US)}


def metered(bill: dict[str, Any], a: Audit, name: str) -> dict[str, Decimal]:
    """What the meter billed a VM's items over the window: {resource id (lower case): amount}."""
    ids = {i["id"].lower() for i in a.vm(name)["items"]}
    out: dict[str, Decimal] = {}
    for line in bill["lines"]:
        rid = line["resourceId"].lower()
        if rid in ids:
            out[rid] = out.get(rid, Decimal(0)) + Decimal(line["amount"])
    return {k: v for k, v in out.items() if v}


def audited(a: Audit, name: str) -> dict[str, Decimal]:
    """The audit's monthly amount of each billed item of a VM, zero amounts left out (as the meter leaves them)."""
    return {i["id"].lower(): i["monthly"] for i in a.vm(name)["items"] if i["billed"] and i["monthly"]}


@pytest.mark.parametrize("rules", ["docs-2021", "docs-2018", "azure-2023"])
def test_each_vms_monthly_cost_is_what_the_meter_bills_over_the_next_730_hours(
        azvm_now: AzvmServer, tmp_path: Path, rules: str) -> None:
    fleet(azvm_now)
    a = audit(azvm_now, tmp_path, "--rules", rules)
    assert a.report["rules"] == rules and a.report["totals"]["unpriced"] == 0
    window = next_month(azvm_now)
    bill = control(azvm_now, "billing", **window, rules=rules, groupBy="vm")
    for name in ("run1", "stop1", "win1", "dyn1", "dealloc1", "guest1"):
        assert metered(bill, a, name) == audited(a, name), name
        assert sum(metered(bill, a, name).values()) == a.vm(name)["monthly"], name
    assert Decimal(bill["totalExact"]) == a.report["totals"]["monthly"]
    stopped_billed = rules != "docs-2018"
    assert a.vm("stop1")["computeBilled"] is stopped_billed
    assert a.vm("stop1")["category"] == ("stopped-billed" if stopped_billed else "stopped")
    assert a.vm("dealloc1")["compute"] == 0 and a.vm("dealloc1")["monthly"] > 0  # its disks and address


def test_the_saving_is_what_the_meters_what_if_says_and_what_deallocation_then_removes(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    before = audit(azvm_now, tmp_path)
    assert before.names(category="stopped-billed") == ["dyn1", "guest1", "stop1", "win1"]
    window = next_month(azvm_now)
    what_if = control(azvm_now, "billing/what-if", **window)
    saving = {v["vmId"].rsplit("/", 1)[1]: Decimal(v["saving"]) for v in what_if["vms"]}
    for name in ("stop1", "win1", "guest1"):  # the meter's what-if counts compute: these have no Basic Dynamic IP
        assert before.vm(name)["savingIfDeallocated"] == saving[name] == before.vm(name)["compute"]
    # dyn1's Basic Dynamic address is released with its VM: the audit counts it in the saving
    dyn = before.vm("dyn1")
    ip = [i for i in dyn["items"] if i["kind"] == "publicip"]
    assert [i["meter"] for i in ip] == ["Basic IPv4 Dynamic Public IP"]
    assert dyn["savingIfDeallocated"] == saving["dyn1"] + ip[0]["monthly"]
    assert before.report["totals"]["waste"] == sum(before.vm(n)["savingIfDeallocated"] for n in saving)

    fixed = audit(azvm_now, tmp_path, "--fix", "--yes")
    assert fixed.code == 0 and fixed.report["totals"]["saved"] == before.report["totals"]["waste"]
    window = next_month(azvm_now)
    bill = control(azvm_now, "billing", **window, groupBy="vm")
    for name in ("stop1", "win1", "dyn1", "guest1"):
        after = sum(metered(bill, before, name).values())
        assert after == before.vm(name)["monthly"] - before.vm(name)["savingIfDeallocated"], name
    again = audit(azvm_now, tmp_path)
    assert again.code == 0 and again.report["totals"]["waste"] == 0
    assert again.report["totals"]["monthly"] == Decimal(bill["totalExact"])


def test_the_cost_management_query_api_agrees_resource_by_resource(azvm_now: AzvmServer, tmp_path: Path) -> None:
    from azure.mgmt.costmanagement import CostManagementClient
    from azure.mgmt.costmanagement.models import (
        QueryAggregation,
        QueryDataset,
        QueryDefinition,
        QueryGrouping,
        QueryTimePeriod,
    )

    fleet(azvm_now)
    a = audit(azvm_now, tmp_path)
    window = next_month(azvm_now)
    client = CostManagementClient(azvm_now.credential(), **azvm_now.client_kwargs())
    result = client.query.usage(f"/subscriptions/{SUB}", QueryDefinition(
        type="ActualCost", timeframe="Custom",
        time_period=QueryTimePeriod(from_property=parse_iso_dt(window["from"]), to=parse_iso_dt(window["to"])),
        dataset=QueryDataset(granularity="None", aggregation={"totalCost": QueryAggregation(name="Cost",
                                                                                            function="Sum")},
                             grouping=[QueryGrouping(type="Dimension", name="ResourceId")])))
    columns = [c.name for c in result.columns]
    costs = {str(r[columns.index("ResourceId")]).lower(): Decimal(str(r[columns.index("Cost")])) for r in result.rows}
    expected: dict[str, Decimal] = {}
    for vm in a.report["vms"]:
        for item in vm["items"]:
            if item["billed"] and item["monthly"]:
                expected[item["id"].lower()] = item["monthly"]
    # Cost Management's numbers are JSON numbers (floats on the SDK's side): equal to the cent
    assert set(costs) == set(expected)
    for rid, amount in expected.items():
        assert abs(costs[rid] - amount) < Decimal("0.000001"), rid


def parse_iso_dt(text: str) -> Any:
    from azvm.clock import to_datetime

    return to_datetime(parse_iso(text))
