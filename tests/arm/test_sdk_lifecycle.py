"""The official Azure SDK, unmodified, drives every VM operation against azvm over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from tests.conftest import SUB, make_network, vm_body

from azvm.testing import AzvmServer


def codes(compute: Any, name: str = "vm1", rg: str = "rg") -> list[str]:
    return [s.code for s in compute.virtual_machines.instance_view(rg, name).statuses]


@pytest.fixture
def clients(azvm: AzvmServer) -> tuple[Any, Any]:
    resource, compute = azvm.resource_client(), azvm.compute_client()
    resource.resource_groups.create_or_update("rg", {"location": "eastus"})
    return resource, compute


def test_create_from_image_shows_every_provisioning_state(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")
    azvm.set_time_skipping(False)
    poller = compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body(), polling=False)
    vm = poller.result()
    assert vm.provisioning_state == "Creating"
    seen = [codes(compute)]
    for _ in range(60):
        azvm.advance(1)
        c = codes(compute)
        if c != seen[-1]:
            seen.append(c)
    assert seen == [
        ["ProvisioningState/creating", "PowerState/starting"],
        ["ProvisioningState/creating/OSProvisioningInprogress", "PowerState/running"],
        ["ProvisioningState/creating/OSProvisioningComplete", "PowerState/running"],
        ["ProvisioningState/succeeded", "PowerState/running"],
    ]
    iv = compute.virtual_machines.instance_view("rg", "vm1")
    assert iv.statuses[0].display_status == "Provisioning succeeded" and iv.statuses[0].time is not None
    assert iv.statuses[1].display_status == "VM running" and iv.statuses[1].time is None
    assert iv.statuses[1].level == "Info"


def test_create_from_specialized_disk_has_no_os_provisioning(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1", attach=True)
    azvm.set_time_skipping(False)
    compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body(image=False), polling=False)
    seen = [codes(compute)]
    for _ in range(30):
        azvm.advance(1)
        if codes(compute) != seen[-1]:
            seen.append(codes(compute))
    assert seen == [["ProvisioningState/creating", "PowerState/starting"],
                    ["ProvisioningState/succeeded", "PowerState/running"]]


def test_every_operation_runs_to_completion_with_result(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")
    vms = compute.virtual_machines
    vm = vms.begin_create_or_update("rg", "vm1", vm_body(hibernation=True)).result()
    assert vm.provisioning_state == "Succeeded" and vm.properties.vm_id
    steps: list[tuple[Any, list[str]]] = [
        (lambda: vms.begin_power_off("rg", "vm1"), ["PowerState/stopped"]),
        (lambda: vms.begin_start("rg", "vm1"), ["PowerState/running"]),
        (lambda: vms.begin_power_off("rg", "vm1", skip_shutdown=True), ["PowerState/stopped"]),
        (lambda: vms.begin_deallocate("rg", "vm1"), ["PowerState/deallocated"]),
        (lambda: vms.begin_start("rg", "vm1"), ["PowerState/running"]),
        (lambda: vms.begin_restart("rg", "vm1"), ["PowerState/running"]),
        (lambda: vms.begin_redeploy("rg", "vm1"), ["PowerState/running"]),
        (lambda: vms.begin_reapply("rg", "vm1"), ["PowerState/running"]),
        (lambda: vms.begin_deallocate("rg", "vm1", hibernate=True),
         ["PowerState/deallocated", "HibernationState/Hibernated"]),
        (lambda: vms.begin_start("rg", "vm1"), ["PowerState/running"]),
    ]
    for begin, expected in steps:
        begin().result()
        assert codes(compute) == ["ProvisioningState/succeeded", *expected]
    updated = vms.begin_update("rg", "vm1", {"tags": {"env": "test"}}).result()
    assert updated.tags == {"env": "test"} and updated.provisioning_state == "Succeeded"
    resized = vms.begin_create_or_update("rg", "vm1", {
        "location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_D4s_v3"}}}).result()
    assert resized.properties.hardware_profile.vm_size == "Standard_D4s_v3"
    vms.begin_delete("rg", "vm1", force_deletion=True).result()
    with pytest.raises(ResourceNotFoundError) as e:
        vms.get("rg", "vm1")
    assert e.value.error.code == "ResourceNotFound"


def test_hibernated_instance_view_has_three_statuses(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")
    compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body(hibernation=True)).result()
    compute.virtual_machines.begin_deallocate("rg", "vm1", hibernate=True).result()
    iv = compute.virtual_machines.instance_view("rg", "vm1")
    assert [(s.code, s.display_status) for s in iv.statuses[1:]] == [
        ("PowerState/deallocated", "VM deallocated"), ("HibernationState/Hibernated", "VM hibernated")]


def test_list_all_status_only_and_expand(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm0", "vm1", "vm2")
    for i in range(3):
        compute.virtual_machines.begin_create_or_update("rg", f"vm{i}", vm_body(f"vm{i}")).result()
    compute.virtual_machines.begin_power_off("rg", "vm1").result()
    listed = {v.name: [s.code for s in v.properties.instance_view.statuses]
              for v in compute.virtual_machines.list_all(status_only="true")}
    assert listed == {"vm0": ["ProvisioningState/succeeded", "PowerState/running"],
                      "vm1": ["ProvisioningState/succeeded", "PowerState/stopped"],
                      "vm2": ["ProvisioningState/succeeded", "PowerState/running"]}
    vm = compute.virtual_machines.get("rg", "vm1", expand="instanceView")
    assert vm.properties.instance_view.statuses[1].code == "PowerState/stopped"
    assert [v.name for v in compute.virtual_machines.list_by_location("eastus")] == ["vm0", "vm1", "vm2"]
    assert list(compute.virtual_machines.list_by_location("westeurope")) == []


def test_paging_follows_next_link(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    azvm.emulator.service.settings.page_size = 4
    try:
        names = [f"vm{i:02d}" for i in range(10)]
        make_network(azvm, *names)
        for name in names:
            compute.virtual_machines.begin_create_or_update("rg", name, vm_body(name), polling=False)
        pages = list(compute.virtual_machines.list("rg").by_page())
        assert [len(list(p)) for p in pages] == [4, 4, 2]
        assert sorted(v.name for v in compute.virtual_machines.list_all()) == [f"vm{i:02d}" for i in range(10)]
    finally:
        azvm.emulator.service.settings.page_size = 100


def test_preemption_cancels_the_older_operation(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    vms = compute.virtual_machines
    make_network(azvm, "vm1")
    vms.begin_create_or_update("rg", "vm1", vm_body()).result()
    azvm.set_time_skipping(False)
    older = vms.begin_power_off("rg", "vm1")  # its poller waits: the clock stands still
    token = older.continuation_token()
    azvm.advance(2)
    assert codes(compute)[1] == "PowerState/stopping"
    vms.begin_deallocate("rg", "vm1", polling=False)
    assert codes(compute) == ["ProvisioningState/updating", "PowerState/deallocating"]
    with pytest.raises(HttpResponseError) as e:
        older.result()
    assert "OperationPreempted" in str(e.value)
    with pytest.raises(HttpResponseError) as e:  # resumed elsewhere from its token: the same answer
        vms.begin_power_off("rg", "vm1", continuation_token=token).result()
    assert "OperationPreempted" in str(e.value)


def test_conflicts_answer_409_with_azures_wording(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    vms = compute.virtual_machines
    make_network(azvm, "vm1")
    vms.begin_create_or_update("rg", "vm1", vm_body()).result()
    vms.begin_deallocate("rg", "vm1").result()
    with pytest.raises(ResourceExistsError) as e:
        vms.begin_power_off("rg", "vm1")
    assert e.value.status_code == 409 and e.value.error.code == "OperationNotAllowed"
    assert e.value.error.message == ("Operation 'powerOff' is not allowed on VM 'vm1' since the VM is either"
                                     " deallocated or marked to be deallocated.")
    azvm.set_time_skipping(False)
    vms.begin_delete("rg", "vm1", polling=False)
    with pytest.raises(ResourceExistsError) as e:
        vms.begin_start("rg", "vm1")
    assert e.value.error.message.startswith("Operation 'start' is not allowed on VM 'vm1' since the VM is marked"
                                            " for deletion.")


def test_not_found_errors(clients: tuple[Any, Any]) -> None:
    resource, compute = clients
    with pytest.raises(ResourceNotFoundError) as e:
        compute.virtual_machines.get("rg", "nope")
    assert e.value.error.code == "ResourceNotFound"
    assert "Microsoft.Compute/virtualMachines/nope" in e.value.error.message
    with pytest.raises(ResourceNotFoundError) as e:
        compute.virtual_machines.get("missing-rg", "nope")
    assert e.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.begin_start("rg", "nope")
    assert resource.resource_groups.check_existence("missing-rg") is False


def test_resource_group_delete_deletes_its_vms(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    resource, compute = clients
    make_network(azvm, "vm1")
    compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
    resource.resource_groups.begin_delete("rg").result()
    assert resource.resource_groups.check_existence("rg") is False
    assert list(compute.virtual_machines.list_all()) == []
    assert [g.name for g in resource.resource_groups.list()] == []


def test_guest_shutdown_leaves_the_vm_stopped(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")
    vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
    azvm.guest_shutdown(vm.id)
    azvm.advance(30)
    assert codes(compute) == ["ProvisioningState/succeeded", "PowerState/stopped"]


def test_os_provisioning_fault_leaves_vm_failed_but_running(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")
    azvm.inject_fault(kind="os-provisioning")
    with pytest.raises(HttpResponseError) as e:
        compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
    assert "OSProvisioningTimedOut" in str(e.value)
    iv = compute.virtual_machines.instance_view("rg", "vm1")
    assert iv.statuses[0].code == "ProvisioningState/failed/OSProvisioningTimedOut"
    assert iv.statuses[0].level == "Error" and iv.statuses[0].display_status == "Provisioning failed"
    assert iv.statuses[0].message and iv.statuses[1].code == "PowerState/running"
    assert compute.virtual_machines.get("rg", "vm1").provisioning_state == "Failed"


def test_validation_errors_carry_a_target(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    make_network(azvm, "vm1")  # only the bodies are at fault
    cases = [
        ("bad_name!", vm_body(), "name"),
        ("vm1", vm_body(size="Standard_Nope"), "vmSize"),
        ("vm1", {"location": "eastus", "properties": {"hardwareProfile": {"vmSize": "Standard_B1s"}}},
         "storageProfile"),
        ("vm1", {**vm_body(), "location": "mars"}, "location"),
    ]
    for name, body, target in cases:
        with pytest.raises(HttpResponseError) as e:
            compute.virtual_machines.begin_create_or_update("rg", name, body)
        assert e.value.status_code == 400, (name, target)
        assert e.value.error.target == target
    assert list(compute.virtual_machines.list("rg")) == []  # nothing half-written


def test_subscription_and_vm_sizes(azvm: AzvmServer, clients: tuple[Any, Any]) -> None:
    _, compute = clients
    sizes = {s.name: s for s in compute.virtual_machine_sizes.list("eastus")}
    assert sizes["Standard_D2s_v3"].number_of_cores == 2 and sizes["Standard_D2s_v3"].memory_in_mb == 8192
    make_network(azvm, "vm1")
    compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
    assert any(s.name == "Standard_B1s" for s in compute.virtual_machines.list_available_sizes("rg", "vm1"))


def test_subscriptions_and_provider(azvm: AzvmServer) -> None:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from azvm.testing import StaticTokenCredential

    client = SubscriptionClient(StaticTokenCredential(), **azvm.client_kwargs())  # type: ignore[arg-type]
    assert [s.subscription_id for s in client.subscriptions.list()] == [SUB]
    assert [t.tenant_id for t in client.tenants.list()] == ["00000000-0000-0000-0000-000000000001"]
    provider = azvm.resource_client().providers.get("Microsoft.Compute")
    assert provider.registration_state == "Registered"
    vm_type = next(t for t in provider.resource_types if t.resource_type == "virtualMachines")
    assert "2026-04-01" in vm_type.api_versions and "2020-12-01" in vm_type.api_versions
