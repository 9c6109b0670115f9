"""Hazards found in review: each pinned by a test through the real interfaces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import START, SUB, http_client, make_network, vm_body

from azvm.clock import Clock
from azvm.domain.errors import ArmError, OperationNotAllowed
from azvm.domain.usage import usage_rows
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, Settings
from azvm.store import SqliteStore
from azvm.testing import AzvmServer, azvm_server

API = {"api-version": "2026-04-01"}


def vm_url(azvm: AzvmServer, name: str = "vm1") -> str:
    return f"{azvm.endpoint}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"


def test_a_request_that_fails_after_writing_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with azvm_server(data_dir=str(tmp_path / "d"), cert_dir=str(tmp_path / "c")) as azvm:
        azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
        make_network(azvm, "vm1")
        from azvm.arm import render

        def broken(*a: Any, **k: Any) -> Any:
            raise RuntimeError("rendering failed after the write")

        monkeypatch.setattr(render, "vm_body", broken)
        with http_client(verify=azvm.ssl_context() or False) as c:
            r = c.put(vm_url(azvm), params=API, json=vm_body())
            assert r.status_code == 500 and r.json()["error"]["code"] == "InternalServerError"
            monkeypatch.undo()
            assert c.get(vm_url(azvm), params=API).status_code == 404  # the create did not happen
            assert c.put(vm_url(azvm), params=API, json=vm_body()).status_code == 201
        assert azvm.emulator.store.usage_rows()[0][2] == "creating"


def test_an_invalid_os_disk_size_is_a_400_and_billing_still_works(azvm: AzvmServer) -> None:
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(azvm, "vm1")
    body = vm_body()
    body["properties"]["storageProfile"]["osDisk"] = {"diskSizeGB": "big"}
    with http_client(verify=azvm.ssl_context() or False) as c:
        r = c.put(vm_url(azvm), params=API, json=body)
        assert r.status_code == 400 and r.json()["error"]["target"] == "storageProfile.osDisk.diskSizeGB"
        assert c.put(vm_url(azvm), params=API, json=vm_body()).status_code == 201
        assert c.get(f"{azvm.endpoint}/azvm/billing").status_code == 200


def two_services(path: Path) -> tuple[ComputeService, ComputeService]:
    a = ComputeService(SqliteStore(path), Clock.manual(START, skip=False), IdSource(None), Settings())
    b = ComputeService(SqliteStore(path), Clock.manual(START, skip=False), IdSource(None), Settings())
    return a, b


def test_a_reset_by_another_process_does_not_corrupt_the_billing_projection(tmp_path: Path) -> None:
    a, b = two_services(tmp_path / "s.sqlite3")
    a.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    a.create_or_update(SUB, "rg", "vm1", vm_body())  # a caches vm1's stream and facts ids
    b.reset()
    b.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    b.create_or_update(SUB, "rg", "other", vm_body())
    a.create_or_update(SUB, "rg", "vm1", vm_body())
    expected = [r for _k, ops in a.store.iter_histories() for r in usage_rows(ops)]
    assert sorted(a.store.usage_rows()) == sorted(expected)
    assert {r[0].rsplit("/", 1)[1] for r in expected} == {"vm1", "other"}
    a.store.close()
    b.store.close()


def test_the_shared_clock_never_goes_backwards(tmp_path: Path) -> None:
    a, b = two_services(tmp_path / "s.sqlite3")
    for s in (a, b):
        s.settings.shared_clock = True
        s.clock.set_skip(True)
    a.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    _st, op, _ = a.create_or_update(SUB, "rg", "vm1", vm_body())
    a.clock.advance(3600)
    a.time.persist()
    b.clock.advance(0)  # b has not seen a's move yet; polling the operation makes it skip ahead
    b.operation(op.op_id)
    a.time.sync()
    assert a.now() >= START + 3600 * 1_000_000
    a.store.close()
    b.store.close()


def test_a_group_being_deleted_takes_no_new_vm(svc: ComputeService) -> None:
    svc.create_or_update(SUB, "rg", "vm1", vm_body())
    svc.groups.delete(SUB, "rg")
    with pytest.raises(ArmError) as e:
        svc.create_or_update(SUB, "rg", "late", vm_body())
    assert e.value.code == "ResourceGroupBeingDeleted"


def test_a_fault_is_spent_only_by_the_operation_it_shapes(svc: ComputeService) -> None:
    svc.create_or_update(SUB, "rg", "vm1", vm_body())
    svc.clock.advance(60)
    svc.deallocate(SUB, "rg", "vm1")
    svc.clock.advance(60)
    rule = svc.faults.add("*", "operation")
    with pytest.raises(OperationNotAllowed):
        svc.power_off(SUB, "rg", "vm1")  # refused: spends nothing
    assert rule.remaining == 1
    op = svc.start(SUB, "rg", "vm1")
    svc.clock.advance(60)
    view = svc.operation(op.op_id)
    assert view is not None and view.status.value == "Failed" and rule.remaining == 0


def test_the_os_disk_can_grow_but_not_shrink_or_change(svc: ComputeService) -> None:
    svc.create_or_update(SUB, "rg", "vm1", vm_body())
    svc.clock.advance(60)
    st, _op = svc.update(SUB, "rg", "vm1", {"properties": {"storageProfile": {"osDisk": {"diskSizeGB": 64}}}})
    assert st.row.model["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] == 64
    svc.clock.advance(60)
    for change, target in [({"diskSizeGB": 32}, "storageProfile.osDisk.diskSizeGB"),
                           ({"name": "other"}, "storageProfile.osDisk.name")]:
        with pytest.raises(ArmError) as e:
            svc.update(SUB, "rg", "vm1", {"properties": {"storageProfile": {"osDisk": change}}})
        assert e.value.code == "PropertyChangeNotAllowed" and e.value.target == target


def test_tags_reach_the_cost_export(azvm: AzvmServer) -> None:
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(azvm, "vm1")
    azvm.compute_client().virtual_machines.begin_create_or_update(
        "rg", "vm1", {**vm_body(), "tags": {"team": "finops"}}).result()
    azvm.advance(3600)
    with http_client(verify=azvm.ssl_context() or False) as c:
        csv = c.get(f"{azvm.endpoint}/azvm/billing/cost-details").text
    assert '{""team"":""finops""}' in csv or '{"team":"finops"}' in csv


def test_seeded_ids_and_several_workers_do_not_mix(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "azvm", "serve", "--workers", "2", "--seed", "1", "--data-dir",
                        str(tmp_path), "--port", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--seed" in r.stderr
