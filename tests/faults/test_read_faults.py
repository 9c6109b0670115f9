"""Faults on what a read shows: the power state missing from a statusOnly list, `PowerState/unknown`
(and Resource Health then Unknown). The history and the bill are untouched: the VM is as it was."""

from __future__ import annotations

from typing import Any

from azure.mgmt.resourcehealth import ResourceHealthMgmtClient

from azvm.testing import AzvmServer
from tests.faults.conftest import codes, explain, make_vms, vm_id


def power_codes(compute: Any) -> dict[str, list[str]]:
    """list_all(statusOnly=true): each VM's instance view status codes."""
    return {vm.name: [s.code for s in vm.instance_view.statuses]
            for vm in compute.virtual_machines.list_all(status_only="true")}


RUNNING = ["ProvisioningState/succeeded", "PowerState/running"]


def test_the_power_state_goes_missing_from_a_status_only_list(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1", "vm2", "vm3")
    azvm.inject_fault(kind="power-missing", name="vm[23]", count=3)
    first = power_codes(compute)
    assert first == {"vm1": RUNNING, "vm2": ["ProvisioningState/succeeded"], "vm3": ["ProvisioningState/succeeded"]}
    second = power_codes(compute)  # one VM entry left to strip: vm2's
    assert second == {"vm1": RUNNING, "vm2": ["ProvisioningState/succeeded"], "vm3": RUNNING}
    assert power_codes(compute) == {"vm1": RUNNING, "vm2": RUNNING, "vm3": RUNNING}
    # other reads never lose it: the VM itself and a list without statusOnly
    azvm.inject_fault(kind="power-missing", count=100)
    assert codes(compute, "vm2") == RUNNING
    assert all(vm.instance_view is None for vm in compute.virtual_machines.list_all())
    assert azvm.faults()[1]["remaining"] == 100


def test_retrying_a_list_recovers_a_missing_power_state(azvm: AzvmServer, compute: Any) -> None:
    """The documents' advice: retry the list. With a probability, each VM entry loses its power state
    by a seeded draw; a VM missing it on one call has it on a later one."""
    names = [f"vm{i}" for i in range(6)]
    make_vms(azvm, compute, *names)
    azvm.inject_fault(kind="power-missing", probability=0.5, seed=3)
    missing: set[str] = set()
    known: dict[str, str] = {}
    for _ in range(10):
        for name, got in power_codes(compute).items():
            if len(got) == 1:
                missing.add(name)
            else:
                known[name] = got[1]
        if len(known) == len(names):
            break
    assert missing and known == dict.fromkeys(names, "PowerState/running")


def test_power_unknown_reads_and_resource_health_says_unknown(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1", "vm2")
    health = ResourceHealthMgmtClient(azvm.credential(), azvm.subscription_id, **azvm.client_kwargs())
    rule = azvm.inject_fault(kind="power-unknown", name="vm1", count=2)
    assert codes(compute, "vm1") == ["ProvisioningState/succeeded", "PowerState/unknown"]
    status = health.availability_statuses.get_by_resource(vm_id("vm1"))
    assert status.properties.availability_state == "Unknown"
    assert status.properties.summary == "We are currently unable to determine the health of this virtual machine"
    assert codes(compute, "vm1") == RUNNING  # two reads: spent
    assert health.availability_statuses.get_by_resource(vm_id("vm1")).properties.availability_state == "Available"
    assert codes(compute, "vm2") == RUNNING
    assert azvm.faults()[0] == {**rule, "remaining": 0, "fired": 2}
    # the history says Running throughout, and so does the bill
    azvm.advance(600)
    assert [i["state"] for i in explain(azvm, "vm1")["intervals"] if i["billed"]][-1] == "running"
    with azvm.fault(kind="power-unknown", name="vm*", count=10):
        listed = {vm.name: [s.code for s in vm.instance_view.statuses]
                  for vm in compute.virtual_machines.list_all(status_only="true")}
        assert listed == dict.fromkeys(["vm1", "vm2"], ["ProvisioningState/succeeded", "PowerState/unknown"])
        states = {s.id.split("/")[8]: s.properties.availability_state
                  for s in health.availability_statuses.list_by_subscription_id()}
        assert states == {"vm1": "Unknown", "vm2": "Unknown"}
    assert azvm.faults() == [{**rule, "remaining": 0, "fired": 2}]
