"""The meter over the emulator's own history: through the control API, the Cost Management Query
API (read by azure-mgmt-costmanagement, unmodified) and `azvm bill` as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SUB, http_client, make_network, vm_body

from azvm.testing import AzvmServer, StaticTokenCredential, azvm_server

T0 = "2026-01-01T00:00:00Z"
WINDOW = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


def scenario(azvm: AzvmServer) -> list[tuple[str, str]]:
    """create at T0; powerOff at +1 h; deallocate at +2 h; delete at +3 h (Standard_D2s_v3, eastus, Linux).
    Returns the power states the API showed, with their times."""
    rc, cc = azvm.resource_client(), azvm.compute_client()
    rc.resource_groups.create_or_update("rg", {"location": "eastus"})
    azvm.set_time_skipping(False)
    seen: list[tuple[str, str]] = []

    def look() -> None:
        iv = cc.virtual_machines.instance_view("rg", "vm1")
        seen.append((azvm.now(), iv.statuses[1].code))

    make_network(azvm, "vm1")
    body = vm_body()  # the OS disk goes with the VM (Azure's default, Detach, would keep it, and its bill)
    body["properties"]["storageProfile"]["osDisk"] = {"deleteOption": "Delete"}
    cc.virtual_machines.begin_create_or_update("rg", "vm1", body, polling=False)
    for step, action in [(3600, cc.virtual_machines.begin_power_off), (3600, cc.virtual_machines.begin_deallocate),
                         (3600, cc.virtual_machines.begin_delete)]:
        for _ in range(6):
            look()
            azvm.advance(step / 6)
        action("rg", "vm1", polling=False)
    azvm.advance(3600)
    return seen


def control(azvm: AzvmServer, path: str, **params: str) -> Any:
    with http_client(verify=azvm.ssl_context() or False) as c:
        r = c.get(f"{azvm.endpoint}/azvm/{path}", params=params)
        assert r.status_code == 200, r.text
        return r.json() if "json" in r.headers["content-type"] else r.text


def vm_amount(bill: dict[str, Any]) -> Fraction:
    return sum((Fraction(ln["amount"]) for ln in bill["lines"] if ln["kind"] == "vm"), Fraction(0))


# Hand-computed, 0.096 USD/h (Standard_D2s_v3 Linux, eastus, a real Retail Prices item):
# creating 0-12 s not billed; running 12-3600 s (OS provisioning included) = 3588 s; stopping 11 s;
# stopped 3611-7200 s = 3589 s; deallocating/deallocated not billed; deleted at 10800.5 s.
PRICE = Fraction("0.096")
EXPECTED = {
    "docs-2021": (3588 + 11 + 3589) * PRICE / 3600,  # 0.19168
    "azure-2023": (3588 + 11 + 3589) * PRICE / 3600,  # starting is not part of a create
    "docs-2018": (3588 + 11) * PRICE / 3600,  # stopped not billed: 0.0959733...
}
CLOSE = Fraction(1, 10**40)  # amounts travel as 50-digit decimals


def test_bill_by_rule_set_matches_the_hand_computation(azvm: AzvmServer) -> None:
    scenario(azvm)
    assert EXPECTED["docs-2021"] == Fraction("0.19168")
    for rules, expected in EXPECTED.items():
        bill = control(azvm, "billing", **WINDOW, rules=rules, groupBy="state")
        got = vm_amount(bill)
        assert abs(got - expected) < CLOSE, (rules, got, expected)
        states = {ln["group"]: ln["billedSeconds"] for ln in bill["lines"] if ln["kind"] == "vm"}
        assert states.get("running") == 3588 and states.get("creating", 0) == 0
        assert states.get("deallocated", 0) == 0 and states.get("deallocating", 0) == 0
    disks = [ln for ln in control(azvm, "billing", **WINDOW)["lines"] if ln["kind"] == "disk"]
    # the OS disk, from creation to deletion at 10800.5 s: a second is metered to what exists at its
    # first instant, so the started second 10800 counts whole
    assert [d["billedSeconds"] for d in disks] == [10801]


def test_explain_and_what_if(azvm: AzvmServer) -> None:
    scenario(azvm)
    ex = control(azvm, "billing/explain", id=VM_ID, **WINDOW)
    billed = [(i["state"], i["seconds"]) for i in ex["intervals"] if i["billed"]]
    # OS provisioning in progress (30 s) and complete (2 s), then Succeeded: all Running, all billed
    assert billed == [("running", 30), ("running", 2), ("running", 3556), ("stopping", 11), ("stopped", 3589)]
    assert all(i["rule"].startswith("docs-2021: ") for i in ex["intervals"])
    wi = control(azvm, "billing/what-if", **WINDOW)
    assert [(v["vmId"], v["billedStoppedSeconds"]) for v in wi["vms"]] == [(VM_ID, 3589)]
    assert abs(Fraction(wi["totalSavingExact"]) - 3589 * PRICE / 3600) < CLOSE


def test_billing_agrees_with_the_states_the_api_showed(azvm: AzvmServer) -> None:
    seen = scenario(azvm)
    ex = control(azvm, "billing/explain", id=VM_ID, **WINDOW)
    from azvm.clock import parse_iso

    for at, code in seen:
        t = parse_iso(at)
        inside = [i for i in ex["intervals"] if parse_iso(i["start"]) <= t < parse_iso(i["end"])]
        assert len(inside) == 1, at
        state = inside[0]["state"]
        assert code == f"PowerState/{'starting' if state == 'creating' else state}", (at, code, state)


def test_cost_management_client_reads_azvm_costs(azvm: AzvmServer) -> None:
    from azure.mgmt.costmanagement import CostManagementClient
    from azure.mgmt.costmanagement.models import (
        QueryAggregation,
        QueryDataset,
        QueryDefinition,
        QueryGrouping,
        QueryTimePeriod,
    )

    scenario(azvm)
    client = CostManagementClient(StaticTokenCredential(), **azvm.client_kwargs())  # type: ignore[arg-type]
    from azvm.clock import parse_iso, to_datetime

    period = QueryTimePeriod(from_property=to_datetime(parse_iso(WINDOW["from"])),
                             to=to_datetime(parse_iso(WINDOW["to"])))

    def query(scope: str, granularity: str, dimension: str) -> Any:
        return client.query.usage(scope, QueryDefinition(
            type="ActualCost", timeframe="Custom", time_period=period,
            dataset=QueryDataset(granularity=granularity,
                                 aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")},
                                 grouping=[QueryGrouping(type="Dimension", name=dimension)])))

    result = query(f"/subscriptions/{SUB}", "None", "ResourceId")
    assert result is not None
    cols = [c.name for c in result.columns]
    assert cols[:2] == ["Cost", "UsageQuantity"] and "ResourceId" in cols and cols[-1] == "Currency"
    by_id = {row[cols.index("ResourceId")]: row for row in result.rows}
    vm_row = by_id[VM_ID.lower()]
    assert vm_row[0] == pytest.approx(0.19168) and vm_row[-1] == "USD"
    assert any("/disks/" in k for k in by_id)
    daily = query(f"/subscriptions/{SUB}/resourceGroups/rg", "Daily", "MeterSubCategory")
    assert daily is not None
    dcols = [c.name for c in daily.columns]
    assert "UsageDate" in dcols and {r[dcols.index("UsageDate")] for r in daily.rows} == {20260101}
    assert sum(r[0] for r in daily.rows) == pytest.approx(sum(r[0] for r in result.rows))


def test_bill_is_identical_after_a_restart(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"data_dir": str(tmp_path / "d"), "cert_dir": str(tmp_path / "c")}
    with azvm_server(**kw) as first:
        scenario(first)
        before = control(first, "billing", **WINDOW, groupBy="day")
        csv_before = control(first, "billing/cost-details", **WINDOW)
    with azvm_server(**kw) as second:
        assert control(second, "billing", **WINDOW, groupBy="day") == before
        assert control(second, "billing/cost-details", **WINDOW) == csv_before


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "azvm", "bill", *args], capture_output=True, text=True, timeout=120)


def test_azvm_bill_cli(tmp_path: Path) -> None:
    data = tmp_path / "d"
    with azvm_server(data_dir=str(data), cert_dir=str(tmp_path / "c")) as s:
        scenario(s)
    table = run_cli("--data-dir", str(data), "--from", WINDOW["from"], "--to", WINDOW["to"])
    assert table.returncode == 0, table.stderr
    # 0.19168 for the VM plus the OS disk's share of a month: 0.20 rounded once, at the end
    assert "0.20 USD" in table.stdout and "rg/vm1" in table.stdout and "0.19 " in table.stdout
    js = run_cli("--data-dir", str(data), "--from", WINDOW["from"], "--to", WINDOW["to"], "--format", "json",
                 "--rules", "docs-2018")
    assert abs(vm_amount(json.loads(js.stdout)) - EXPECTED["docs-2018"]) < CLOSE
    csv = run_cli("--data-dir", str(data), "--from", WINDOW["from"], "--to", WINDOW["to"], "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert header[:3] == ["Date", "ResourceId", "ResourceGroup"] and "CostInBillingCurrency" in header
    ex = run_cli("--data-dir", str(data), "--from", WINDOW["from"], "--to", WINDOW["to"], "--explain", VM_ID)
    assert ex.returncode == 0 and "stopped" in ex.stdout and "docs-2021" in ex.stdout
    wi = run_cli("--data-dir", str(data), "--from", WINDOW["from"], "--to", WINDOW["to"], "--what-if")
    assert wi.returncode == 0 and "Stopped" in wi.stdout


def test_azvm_bill_imported_history_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "h.csv"
    good.write_text("vm_id,size,region,os,time,power_state\n"
                    f"{VM_ID},Standard_D2s_v3,eastus,Linux,2026-01-01T00:00:00Z,PowerState/running\n"
                    f"{VM_ID},Standard_D2s_v3,eastus,Linux,2026-01-01T02:00:00Z,VM deallocated\n")
    r = run_cli("--history", str(good), "--to", "2026-01-01T05:00:00Z", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert vm_amount(json.loads(r.stdout)) == Fraction("0.192")  # 2 h running at 0.096
    bad = tmp_path / "bad.csv"
    bad.write_text("vm_id,size,region,os,time,power_state\n"
                   f"{VM_ID},Standard_D2s_v3,eastus,Linux,yesterday,running\n"
                   f"{VM_ID},Standard_D2s_v3,eastus,Linux,2026-01-01T02:00:00Z,flying\n")
    r = run_cli("--history", str(bad))
    assert r.returncode == 2
    assert "line 2" in r.stderr and "time" in r.stderr and "line 3" in r.stderr and "power_state" in r.stderr
    missing = run_cli("--data-dir", str(tmp_path / "nothing"))
    assert missing.returncode != 0 and "no store" in missing.stderr
