"""How the audit reads a subscription: power states by the documents' recipe with the path that
answered each (faults make the list miss them), since when each VM is in its state (the Activity
Log, checked against the meter's own intervals), and throttling met with back-off that waits what
`Retry-After` says, within the budgets the service announces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.audit.conftest import audit, wall_now_iso
from tests.conftest import http_client

from azvm.clock import US, parse_iso
from azvm.testing import AzvmServer, azvm_server


def fleet(azvm: AzvmServer) -> dict[str, str]:
    for name in ("vma", "vmb", "vmc", "vmd"):
        azvm.create_vm(name)
    compute = azvm.compute_client()
    compute.virtual_machines.begin_power_off("rg", "vmb").result()
    compute.virtual_machines.begin_deallocate("rg", "vmc").result()
    azvm.guest_shutdown(compute.virtual_machines.get("rg", "vmd").id)
    azvm.advance(60)
    return {vm.name: vm.id for vm in compute.virtual_machines.list_all()}


def test_every_power_state_comes_from_the_list_when_nothing_goes_wrong(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    a = audit(azvm_now, tmp_path)
    assert {v["name"]: (v["powerState"], v["powerStateSource"]) for v in a.report["vms"]} == {
        "vma": ("PowerState/running", "list"), "vmb": ("PowerState/stopped", "list"),
        "vmc": ("PowerState/deallocated", "list"), "vmd": ("PowerState/stopped", "list")}


def test_missing_power_states_are_read_again_then_from_resource_graph(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="power-missing", name="vmb", count=1)
    azvm_now.inject_fault(kind="power-missing", name="vm[cd]", probability=1)
    a = audit(azvm_now, tmp_path)
    assert (a.vm("vma")["powerState"], a.vm("vma")["powerStateSource"]) == ("PowerState/running", "list")
    assert (a.vm("vmb")["powerState"], a.vm("vmb")["powerStateSource"]) == ("PowerState/stopped", "list retry 1")
    assert (a.vm("vmc")["powerState"], a.vm("vmc")["powerStateSource"]) == ("PowerState/deallocated", "resource graph")
    assert (a.vm("vmd")["powerState"], a.vm("vmd")["powerStateSource"]) == ("PowerState/stopped", "resource graph")
    # a VM whose state came from the graph is priced and fixed like any other
    assert a.names(category="stopped-billed") == ["vmb", "vmd"]
    assert a.report["totals"]["waste"] == a.vm("vmb")["savingIfDeallocated"] * 2 > 0


def test_with_no_retries_a_missing_power_state_goes_straight_to_resource_graph(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="power-missing", name="vmb", count=1)
    assert audit(azvm_now, tmp_path, "--retries", "0").vm("vmb")["powerStateSource"] == "resource graph"


def test_an_unknown_power_state_is_billed_under_every_built_in_rule_set_and_said_so(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="power-unknown", name="vma", probability=1)
    vma = audit(azvm_now, tmp_path).vm("vma")
    assert (vma["powerState"], vma["billingState"], vma["category"]) == ("PowerState/unknown", "unknown", "unknown")
    assert vma["computeBilled"] is True and vma["savingIfDeallocated"] == 0


def test_since_is_when_the_meter_starts_the_state_and_unknown_when_no_api_call_explains_it(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    ids = fleet(azvm_now)
    a = audit(azvm_now, tmp_path)
    with http_client(azvm_now) as c:
        for name, state in (("vmb", "stopped"), ("vmc", "deallocated"), ("vma", "running")):
            ex = c.get("/azvm/billing/explain", params={"id": ids[name]}).json()
            last = [i for i in ex["intervals"] if i["state"] == state][-1]
            # the meter's interval of the state starts when the operation that set it ended
            assert a.vm(name)["since"] == iso_second(last["start"]), name
    # vmd was shut down from inside its guest: no API call, no Activity Log event to tell when
    assert a.vm("vmd")["since"] == "unknown"


def test_since_is_unknown_when_the_last_operation_does_not_explain_the_state(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    azvm_now.create_vm("vm1")
    compute = azvm_now.compute_client()
    compute.virtual_machines.begin_power_off("rg", "vm1").result()
    compute.virtual_machines.begin_start("rg", "vm1").result()
    azvm_now.guest_shutdown(compute.virtual_machines.get("rg", "vm1").id)  # stopped again, not by powerOff
    azvm_now.advance(60)
    assert audit(azvm_now, tmp_path).vm("vm1")["since"] == "unknown"


def iso_second(text: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(parse_iso(text) // US, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_throttled_read_is_retried_after_the_retry_after_it_was_given(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="throttle", bucket="HighCostGet", retryAfterSeconds=1, count=2)
    a = audit(azvm_now, tmp_path)
    assert a.code == 3 and len(a.report["vms"]) == 4
    requests = a.report["requests"]
    assert requests["throttled"] == 2 and requests["retries"] == 2
    assert requests["retryAfterWaitedSeconds"] == 2  # as Retry-After said, not a back-off of its own
    assert [f["remaining"] for f in azvm_now.faults()] == [0]


def test_an_exhausted_retry_budget_makes_the_subscription_unreadable_not_the_audit_fail(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="throttle", bucket="HighCostGet", retryAfterSeconds=0, probability=1)
    a = audit(azvm_now, tmp_path, "--max-retries", "2")
    assert a.code == 4 and a.report["vms"] == []
    (sub,) = a.report["subscriptions"]
    assert sub["error"]["code"].startswith("OperationNotAllowed (429)")
    assert a.report["requests"]["throttled"] == 3  # the VM list's first try and its 2 retries


@pytest.fixture(scope="module")
def limited() -> Iterator[AzvmServer]:
    with azvm_server(start_time=wall_now_iso(), rate_limits="azure") as server:
        yield server


def test_the_audit_reads_the_budgets_the_service_announces(limited: AzvmServer, tmp_path: Path) -> None:
    limited.reset(start_time=wall_now_iso())
    fleet(limited)
    a = audit(limited, tmp_path, "--fix", "--yes")
    assert a.code == 0 and [r["name"] for r in a.report["fix"]["results"] if r["ok"]] == ["vmb", "vmd"]
    low = a.report["requests"]["lowestRemaining"]
    # ARM's per-subscription budgets and Compute's policies, as their headers announced them
    assert 0 < low["subscription-reads"] < 250 and 0 < low["subscription-writes"] < 200
    assert low["Microsoft.Compute/HighCostGetSubscriptionMaximum"] < 900
    assert low["Microsoft.Compute/DeleteVMResource"] < 12
    assert a.report["requests"]["throttled"] == 0
