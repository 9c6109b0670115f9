"""The transition table: validated when loaded, and every (situation, operation) pair behaves as
the documents say. The expectations below are written out by hand, independently of the JSON."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from tests.conftest import SUB, vm_body

from azvm.domain.errors import NotFound, OperationNotAllowed
from azvm.domain.states import PowerState, Prov
from azvm.domain.table import LIVE, Op, Situation, TableError, load
from azvm.service.compute import ComputeService

R, J = "refused", "joined"
OPS = [Op.UPDATE, Op.START, Op.POWER_OFF, Op.POWER_OFF_SKIP, Op.DEALLOCATE, Op.HIBERNATE, Op.RESTART,
       Op.REDEPLOY, Op.REAPPLY, Op.DELETE, Op.FORCE_DELETE, Op.GUEST_SHUTDOWN]
# situation: outcome of each op in OPS, in order (final situation, refused, or joined)
EXPECTED: dict[Situation, list[str]] = {
    Situation.CREATING: [R, R, R, R, "deallocated", R, R, R, R, "deleted", "deleted", R],
    Situation.STARTING: ["running", "running", "stopped", "stopped", "deallocated", R, "running", "running",
                         "running", "deleted", "deleted", R],
    Situation.RUNNING: ["running", "running", "stopped", "stopped", "deallocated", "hibernated", "running",
                        "running", "running", "deleted", "deleted", "stopped"],
    Situation.STOPPING: ["stopped", "running", "stopped", "stopped", "deallocated", R, "running", "running",
                         "stopped", "deleted", "deleted", R],
    Situation.STOPPED: ["stopped", "running", "stopped", "stopped", "deallocated", R, "running", "running",
                        "stopped", "deleted", "deleted", R],
    Situation.DEALLOCATING: ["deallocated", "running", R, R, "deallocated", R, R, "running", "deallocated",
                             "deleted", "deleted", R],
    Situation.DEALLOCATED: ["deallocated", "running", R, R, "deallocated", R, R, "running", "deallocated",
                            "deleted", "deleted", R],
    Situation.HIBERNATED: ["hibernated", "running", R, R, "hibernated", "hibernated", R, "running", "hibernated",
                           "deleted", "deleted", R],
    Situation.DELETING: [R, R, R, R, R, R, R, R, R, J, J, R],
}
# the power state shown while each accepted operation runs (from a settled situation)
WHILE_RUNNING = {Op.START: "starting", Op.POWER_OFF: "stopping", Op.POWER_OFF_SKIP: "stopping",
                 Op.DEALLOCATE: "deallocating", Op.HIBERNATE: "deallocating", Op.RESTART: "starting",
                 Op.REDEPLOY: "starting", Op.DELETE: "deallocating", Op.FORCE_DELETE: "deallocating",
                 Op.GUEST_SHUTDOWN: "stopping"}


def bring_to(svc: ComputeService, situation: Situation, name: str = "vm") -> None:
    """Drive a VM into `situation` through the service, as a user would."""
    def done() -> None:
        st = svc.get_state(SUB, "rg", name)
        if st is not None:
            svc.clock.set(max(svc.now(), st.row.last.end_us))

    svc.create_or_update(SUB, "rg", name, vm_body(hibernation=True))
    if situation == Situation.CREATING:
        return
    done()
    steps = {
        Situation.RUNNING: [], Situation.STARTING: [svc.power_off, done, svc.start],
        Situation.STOPPING: [svc.power_off], Situation.STOPPED: [svc.power_off, done],
        Situation.DEALLOCATING: [svc.deallocate], Situation.DEALLOCATED: [svc.deallocate, done],
        Situation.HIBERNATED: [lambda *a: svc.deallocate(*a, hibernate=True), done],
        Situation.DELETING: [svc.delete],
    }[situation]
    for step in steps:
        if step is done:
            done()
        else:
            step(SUB, "rg", name)  # type: ignore[operator]
    st = svc.get_state(SUB, "rg", name)
    assert st is not None and st.phase.situation == situation


def apply(svc: ComputeService, op: Op, name: str = "vm") -> Any:
    vid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
    if op == Op.UPDATE:
        return svc.update(SUB, "rg", name, {"tags": {"k": "v"}})[1]
    if op == Op.GUEST_SHUTDOWN:
        return svc.guest_shutdown(vid)
    if op == Op.HIBERNATE:
        return svc.deallocate(SUB, "rg", name, hibernate=True)
    return svc.action(SUB, "rg", name, op)


def test_the_expectations_cover_every_pair() -> None:
    assert set(EXPECTED) == set(LIVE)
    assert all(len(v) == len(OPS) for v in EXPECTED.values())
    assert set(OPS) == set(Op) - {Op.CREATE, Op.CREATE_ATTACHED}


@pytest.mark.parametrize("situation", list(EXPECTED), ids=str)
@pytest.mark.parametrize("op", OPS, ids=str)
def test_every_pair(svc: ComputeService, situation: Situation, op: Op) -> None:
    bring_to(svc, situation)
    expected = EXPECTED[situation][OPS.index(op)]
    before = svc.get_state(SUB, "rg", "vm")
    assert before is not None
    if expected == R:
        with pytest.raises(OperationNotAllowed) as e:
            apply(svc, op)
        assert e.value.code == "OperationNotAllowed" and "'vm'" in e.value.message
        after = svc.get_state(SUB, "rg", "vm")
        assert after is not None and after.row.version == before.row.version  # nothing written
        return
    operation = apply(svc, op)
    if expected == J:  # a retried delete ends with the ongoing one
        assert operation.end_us == before.row.last.end_us and not operation.preempts
    if situation in (Situation.RUNNING, Situation.STOPPED, Situation.DEALLOCATED) and op in WHILE_RUNNING \
            and expected not in (situation.value,):
        mid = svc.get_state(SUB, "rg", "vm")
        assert mid is not None and mid.phase.power == WHILE_RUNNING[op]
    svc.clock.set(operation.end_us)
    after = svc.get_state(SUB, "rg", "vm")
    if expected == "deleted" or expected == J:
        assert after is None
        with pytest.raises(NotFound):
            svc.start(SUB, "rg", "vm")
        return
    assert after is not None
    assert after.phase.situation.value == expected
    assert after.phase.prov == (Prov.SUCCEEDED if op != Op.GUEST_SHUTDOWN else before.phase.prov
                                if before.phase.prov in ("succeeded", "failed") else Prov.SUCCEEDED)
    if before.row.last.end_us > before.at_us and operation.preempts and op != Op.GUEST_SHUTDOWN:
        view = svc.operation(before.row.last.op_id)
        assert view is not None and view.status.value == "Canceled"
        assert view.error is not None and view.error[0] == "OperationPreempted"


def test_create_from_image_goes_through_os_provisioning(svc: ComputeService) -> None:
    svc.create_or_update(SUB, "rg", "vm", vm_body())
    seen = []
    for _ in range(100):
        st = svc.get_state(SUB, "rg", "vm")
        assert st is not None
        seen.append((st.phase.prov, st.phase.power))
        if st.phase.prov == Prov.SUCCEEDED:
            break
        svc.clock.advance(1)
    assert list(dict.fromkeys(seen)) == [
        ("creating", PowerState.STARTING), ("creating/OSProvisioningInprogress", PowerState.RUNNING),
        ("creating/OSProvisioningComplete", PowerState.RUNNING), ("succeeded", PowerState.RUNNING)]


def test_create_from_attached_disk_has_no_os_provisioning(svc: ComputeService) -> None:
    _st, op, created = svc.create_or_update(SUB, "rg", "vm", vm_body(image=False))
    assert created and [p.prov for p in op.phases] == ["creating", "succeeded"]


def test_extensions_prolong_os_provisioning_complete(svc: ComputeService) -> None:
    body = vm_body()
    body["resources"] = [{"name": "ext1"}, {"name": "ext2"}]
    _st, op, _ = svc.create_or_update(SUB, "rg", "vm", body)
    durations = {p.prov: (q.at_us - p.at_us) / 1e6 for p, q in zip(op.phases, op.phases[1:], strict=False)}
    assert durations["creating/OSProvisioningComplete"] == 2 + 2 * 10


def test_default_profile_uses_durations_seen_on_azure(svc: ComputeService) -> None:
    bring_to(svc, Situation.RUNNING)
    for op, seconds in [(Op.POWER_OFF, 11), (Op.START, 8), (Op.DEALLOCATE, 23), (Op.START, 8), (Op.RESTART, 30),
                        (Op.REDEPLOY, 35)]:
        o = apply(svc, op)
        assert (o.end_us - o.at_us) / 1e6 == seconds
        svc.clock.set(o.end_us)


def _table_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("azvm.domain").joinpath("transitions.json").read_text())
    return data


def test_loading_rejects_an_exit_from_the_final_state() -> None:
    raw = _table_json()
    raw["rules"].append({"from": ["deleted"], "op": "start", "evidence": "docs", "refuse": "deallocated"})
    with pytest.raises(TableError, match="final situation has an exit"):
        load(json.dumps(raw))


def test_loading_rejects_a_missing_pair() -> None:
    raw = _table_json()
    raw["rules"] = [r for r in raw["rules"] if r["op"] != "reapply" or "creating" not in r["from"]]
    with pytest.raises(TableError, match="no rule for operation reapply in situation creating"):
        load(json.dumps(raw))


def test_loading_rejects_an_unreachable_state() -> None:
    raw = _table_json()
    for r in raw["rules"]:
        if r["op"] in ("deallocate-hibernate",) and "running" in r["from"]:
            r.pop("accept")
            r["refuse"] = "hibernate_needs_running"
    with pytest.raises(TableError, match="unreachable situations: \\['hibernated'\\]"):
        load(json.dumps(raw))


def test_loading_rejects_a_trap_state() -> None:
    raw = _table_json()
    for r in raw["rules"]:
        if r["op"] in ("delete", "delete-force") and "hibernated" in r["from"]:
            r["from"].remove("hibernated")
    raw["rules"].append({"from": ["hibernated"], "op": "delete", "evidence": "docs", "refuse": "deallocated"})
    raw["rules"].append({"from": ["hibernated"], "op": "delete-force", "evidence": "docs", "refuse": "deallocated"})
    for r in raw["rules"]:
        if "hibernated" in r["from"] and "accept" in r and r["op"] not in ("delete", "delete-force"):
            r["accept"]["final"] = ["succeeded", "deallocated", "hibernated"]
            r["accept"]["steps"] = [["updating", "deallocated", "noop"]]
    with pytest.raises(TableError, match="trap situation: hibernated"):
        load(json.dumps(raw))
