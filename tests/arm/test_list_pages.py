"""The VM lists through the official azure-mgmt-compute client, over pages, while VMs change: a VM's
JSON is kept once rendered (azvm.providers.compute.virtual_machines.Listed), so these check that a
list never shows what is no longer true — after an action, while an operation runs, after a reset
that replays the same seeded ids with a different VM, on the memory and the SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer, azvm_server


@pytest.fixture(params=["memory", "sqlite"])
def paged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AzvmServer]:
    """A server whose lists page every 2 VMs."""
    data_dir = str(tmp_path / "data") if request.param == "sqlite" else None
    with azvm_server(page_size=2, data_dir=data_dir) as server:
        yield server


def power(vm: Any) -> str | None:
    codes = [s.code for s in (vm.instance_view.statuses if vm.instance_view else [])]
    return next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), None)


def listing(azvm: AzvmServer, **kw: Any) -> dict[str, Any]:
    return {vm.name: vm for vm in azvm.compute_client().virtual_machines.list_all(**kw)}


def test_pages_follow_actions_and_running_operations(paged: AzvmServer) -> None:
    azvm = paged
    for name in ("vm1", "vm2", "vm3", "vm4", "vm5"):
        azvm.create_vm(name)
    first = listing(azvm, status_only="true")
    assert sorted(first) == ["vm1", "vm2", "vm3", "vm4", "vm5"]  # three pages of 2, 2 and 1
    assert {power(vm) for vm in first.values()} == {"running"}

    compute = azvm.compute_client()
    azvm.set_time_skipping(False)  # the operation runs until the clock is moved
    compute.virtual_machines.begin_deallocate("rg", "vm3", polling=False)
    during = listing(azvm, status_only="true")
    assert power(during["vm3"]) == "deallocating"
    assert during["vm3"].provisioning_state == "Updating"
    assert power(during["vm2"]) == "running"

    azvm.advance(600)
    azvm.set_time_skipping(True)
    after = listing(azvm, status_only="true")
    assert power(after["vm3"]) == "deallocated"
    assert after["vm3"].provisioning_state == "Succeeded"
    assert {n: power(vm) for n, vm in after.items() if n != "vm3"} == dict.fromkeys(["vm1", "vm2", "vm4", "vm5"],
                                                                                     "running")

    plain = listing(azvm)  # without statusOnly: no instance view, each VM's own body
    assert sorted(plain) == sorted(after) and all(vm.instance_view is None for vm in plain.values())
    compute.virtual_machines.begin_update("rg", "vm4", {"tags": {"team": "red"}}).result()
    assert listing(azvm)["vm4"].tags == {"team": "red"}
    assert listing(azvm, status_only="true")["vm4"].tags == {"team": "red"}

    compute.virtual_machines.begin_delete("rg", "vm1").result()
    assert sorted(listing(azvm, status_only="true")) == ["vm2", "vm3", "vm4", "vm5"]


def test_a_reset_replaying_the_same_ids_lists_the_new_world(paged: AzvmServer) -> None:
    azvm = paged
    azvm.create_vm("vm1", size="Standard_B2s")
    assert listing(azvm, status_only="true")["vm1"].hardware_profile.vm_size == "Standard_B2s"
    azvm.reset()  # the same seed: the same operation ids, at the same instants
    azvm.create_vm("vm1", size="Standard_D2s_v3")
    vm = listing(azvm, status_only="true")["vm1"]
    assert vm.hardware_profile.vm_size == "Standard_D2s_v3"
    assert power(vm) == "running"
