"""Faults that shape an operation's plan, as a client of the official SDK sees them, with states,
history and bill in agreement (docs/faults.md)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from azvm.testing import AzvmServer
from tests.conftest import make_network, vm_body
from tests.faults.conftest import codes, explain, history, make_vms, restart_outcomes, seconds

OS_CODES = {
    "OSProvisioningTimedOut": "OS Provisioning for VM 'vm1' did not finish in the allotted time.",
    "OSProvisioningClientError": "OS provisioning for VM 'vm1' failed. Error details: This installation of Windows",
    "OSProvisioningInternalError": "OS Provisioning failed for VM 'vm1' due to an internal error.",
    "InternalOperationError": "Operation abandoned due to internal error. Please try again later.",
}


@pytest.mark.parametrize("code", sorted(OS_CODES))
def test_os_provisioning_fails_and_the_vm_stays_running_and_billed(azvm: AzvmServer, compute: Any,
                                                                   code: str) -> None:
    make_network(azvm, "vm1")
    rule = azvm.inject_fault(kind="os-provisioning", code=code)
    assert rule["message"].startswith(OS_CODES[code].replace("'vm1'", "'{vm}'"))
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body("vm1")).result()
    assert e.value.error.code == code and e.value.error.message.startswith(OS_CODES[code])
    first, power = compute.virtual_machines.instance_view("rg", "vm1").statuses
    assert first.code == f"ProvisioningState/failed/{code}" and first.level == "Error"
    assert first.display_status == "Provisioning failed" and first.message.startswith(OS_CODES[code])
    assert power.code == "PowerState/running"
    assert compute.virtual_machines.get("rg", "vm1").provisioning_state == "Failed"
    azvm.advance(3600)
    billed = [(i["state"], i["billed"]) for i in explain(azvm, "vm1")["intervals"]]
    assert billed[-1] == ("running", True)  # deployed, running and billed, as the documents say
    assert azvm.faults()[0]["remaining"] == 0 and azvm.faults()[0]["fired"] == 1
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()  # the VM can still be managed
    assert codes(compute, "vm1") == ["ProvisioningState/succeeded", "PowerState/deallocated"]


def test_a_fault_is_scoped_by_name_pattern_group_and_subscription(azvm: AzvmServer, compute: Any) -> None:
    azvm.resource_client().resource_groups.create_or_update("other", {"location": "eastus"})
    make_network(azvm, "web-1", "web-2", "db-1")
    make_network(azvm, "web-3", rg="other")
    azvm.inject_fault(kind="os-provisioning", name="WEB-*", resourceGroup="rg", count=5)
    azvm.inject_fault(kind="os-provisioning", subscription="11111111-1111-1111-1111-111111111111", count=5)
    azvm.inject_fault(kind="os-provisioning", resourceType="Microsoft.Compute/virtualMachines", name="nothing?",
                      count=5)
    outcome = {}
    for rg, name in [("rg", "web-1"), ("rg", "web-2"), ("rg", "db-1"), ("other", "web-3")]:
        poller = compute.virtual_machines.begin_create_or_update(rg, name, vm_body(name, rg=rg))
        try:
            poller.result()
            outcome[name] = "Succeeded"
        except HttpResponseError as e:
            outcome[name] = e.error.code
    assert outcome == {"web-1": "OSProvisioningTimedOut", "web-2": "OSProvisioningTimedOut", "db-1": "Succeeded",
                       "web-3": "Succeeded"}
    assert [f["remaining"] for f in azvm.faults()] == [3, 5, 5]


def test_a_failed_start_leaves_the_vm_deallocated_and_unbilled(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1")
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    azvm.inject_fault(kind="operation", op="start", code="AllocationFailed",
                      message="Allocation failed. Please try reducing the VM size or number of VMs, retry later,"
                              " or try deploying to a different Availability Set or different Azure location.")
    poller = compute.virtual_machines.begin_start("rg", "vm1")
    with pytest.raises(HttpResponseError) as e:
        poller.result()
    assert e.value.error.code == "AllocationFailed"
    assert poller.status() == "Failed"
    first, power = compute.virtual_machines.instance_view("rg", "vm1").statuses
    assert first.code == "ProvisioningState/failed/AllocationFailed" and power.code == "PowerState/deallocated"
    azvm.advance(3600)
    last = explain(azvm, "vm1")["intervals"][-1]
    assert last["state"] == "deallocated" and last["billed"] is False and last["seconds"] >= 3600
    compute.virtual_machines.begin_start("rg", "vm1").result()  # count 1: the next start succeeds
    assert codes(compute, "vm1") == ["ProvisioningState/succeeded", "PowerState/running"]


def test_a_count_spends_on_accepted_operations_only(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1")
    azvm.inject_fault(kind="operation", op="restart", count=2)
    results = []
    for _ in range(3):
        try:
            compute.virtual_machines.begin_restart("rg", "vm1").result()
            results.append("Succeeded")
        except HttpResponseError as e:
            results.append(e.error.code)
    assert results == ["InternalOperationError", "InternalOperationError", "Succeeded"]
    assert [(f["remaining"], f["fired"]) for f in azvm.faults()] == [(0, 2)]


def test_a_slow_operation_lasts_longer_than_its_profile(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1", "vm2")
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    azvm.inject_fault(kind="slow", op="deallocate", name="vm2", factor=3, addSeconds=10)
    azvm.set_time_skipping(False)
    poller = compute.virtual_machines.begin_deallocate("rg", "vm2")
    normal = seconds(history(azvm, "vm1")[-1])
    azvm.advance(normal + 1)
    assert poller.status() == "InProgress"
    assert codes(compute, "vm2") == ["ProvisioningState/updating", "PowerState/deallocating"]
    azvm.set_time_skipping(True)
    poller.result()
    assert seconds(history(azvm, "vm2")[-1]) == pytest.approx(normal * 3 + 10, abs=0.01)
    assert codes(compute, "vm2") == ["ProvisioningState/succeeded", "PowerState/deallocated"]


def test_an_operation_preempted_by_the_platform_is_canceled(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1")
    azvm.inject_fault(kind="preempted", op="deallocate")
    poller = compute.virtual_machines.begin_deallocate("rg", "vm1")
    with pytest.raises(HttpResponseError) as e:
        poller.result()
    assert e.value.error.code == "OperationPreempted"
    assert poller.status() == "Canceled"
    assert codes(compute, "vm1") == ["ProvisioningState/succeeded", "PowerState/running"]
    azvm.advance(600)
    assert explain(azvm, "vm1")["intervals"][-1]["state"] == "running"  # nothing stopped: still billed


def test_a_probability_is_deterministic_for_a_seed(azvm: AzvmServer, compute: Any) -> None:
    runs = []
    for seed in (7, 7, 8):
        azvm.reset()
        azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
        make_vms(azvm, compute, "vm1")
        azvm.inject_fault(kind="operation", op="restart", probability=0.5, seed=seed)
        runs.append(restart_outcomes(compute, 16))
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert 2 <= runs[0].count("InternalOperationError") <= 14
    rule = azvm.faults()[0]
    assert rule["draws"] == 16 and rule["fired"] == runs[2].count("InternalOperationError")
    assert rule["remaining"] is None  # a probability alone has no count
