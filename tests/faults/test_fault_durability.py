"""Faults are part of the history: a restarted server goes on with the same rules at the same point
of their sequences (the rules and their state are written in the transaction of the request that
moved them), so it replays what a server that never stopped would have done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azvm import cli
from azvm.testing import AzvmServer, azvm_server
from tests.conftest import make_network, vm_body
from tests.faults.conftest import history, restart_outcomes

RULES = [{"kind": "operation", "op": "restart", "probability": 0.5, "seed": 11},
         {"kind": "power-missing", "name": "vm1", "count": 3}]


def restarts(server: AzvmServer, n: int) -> list[str]:
    return restart_outcomes(server.compute_client(), n)


def power_listed(server: AzvmServer) -> bool:
    vm = next(iter(server.compute_client().virtual_machines.list_all(status_only="true")))
    return len(vm.instance_view.statuses) == 2


def setup_vm(server: AzvmServer) -> None:
    server.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(server, "vm1")
    server.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", vm_body("vm1")).result()


def test_a_restart_goes_on_with_the_same_rules_and_sequence(tmp_path: Path, azvm: AzvmServer) -> None:
    # one server that never stops
    setup_vm(azvm)
    for rule in RULES:
        azvm.inject_fault(**rule)
    straight = restarts(azvm, 12)
    straight_reads = [power_listed(azvm) for _ in range(4)]
    # the same, with a restart halfway
    kw: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "cert_dir": str(tmp_path / "cert")}
    with azvm_server(**kw) as first:
        setup_vm(first)
        for rule in RULES:
            first.inject_fault(**rule)
        before = restarts(first, 6)
        reads = [power_listed(first) for _ in range(2)]
        held = first.faults()
        ops = history(first, "vm1")
    with azvm_server(**kw) as second:
        assert second.faults() == held
        assert history(second, "vm1") == ops  # the failures are in the history, as clients saw them
        after = restarts(second, 6)
        reads += [power_listed(second) for _ in range(2)]
        failed = [op for op in history(second, "vm1") if op["name"] == "restart"
                  and "failed" in op["phases"][-1]["statuses"][0]["code"]]
    assert before + after == straight and "InternalOperationError" in straight and "ok" in straight
    assert reads == straight_reads == [False, False, False, True]
    assert len(failed) == straight.count("InternalOperationError")


def test_faults_from_a_file_start_a_store_once(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"faults": RULES}))
    kw: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "cert_dir": str(tmp_path / "cert"),
                          "faults": str(path)}
    with azvm_server(**kw) as first:
        assert [f["id"] for f in first.faults()] == ["fault-1", "fault-2"]
        setup_vm(first)
        assert power_listed(first) is False
        first.remove_fault("fault-1")
    with azvm_server(**kw) as second:  # the store's rules, not the file's again
        assert [(f["id"], f["remaining"]) for f in second.faults()] == [("fault-2", 2)]


def test_a_bad_fault_file_is_refused_before_anything_starts(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps([RULES[0], {"kind": "slow", "op": "start", "factor": 0.5}]))
    data = tmp_path / "data"
    assert cli.main(["serve", "--data-dir", str(data), "--faults", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--faults" in err and "faults[1]: factor must be a number from 1 to 1000" in err
    assert not data.exists()
