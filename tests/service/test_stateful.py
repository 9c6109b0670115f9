"""Random operations and random clock moves against the documents' tables, with restarts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from tests.conftest import START, SUB, vm_body

from azvm.clock import Clock, ClockState
from azvm.domain.errors import NotFound, OperationNotAllowed
from azvm.domain.history import History, operation_status
from azvm.domain.states import OperationStatus, PowerState, Prov
from azvm.domain.table import Op, Situation
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, Settings
from azvm.store import SqliteStore

NAMES = ["a", "b", "c"]
ACTIONS = [Op.START, Op.POWER_OFF, Op.POWER_OFF_SKIP, Op.DEALLOCATE, Op.HIBERNATE, Op.RESTART, Op.REDEPLOY,
           Op.REAPPLY, Op.DELETE, Op.FORCE_DELETE, Op.UPDATE, Op.GUEST_SHUTDOWN]
# where each operation ends when nothing preempts it (the documents' diagram)
ENDS_IN = {Op.START: {"running"}, Op.POWER_OFF: {"stopped"}, Op.POWER_OFF_SKIP: {"stopped"},
           Op.DEALLOCATE: {"deallocated", "hibernated"}, Op.HIBERNATE: {"hibernated"}, Op.RESTART: {"running"},
           Op.REDEPLOY: {"running"}, Op.CREATE: {"running"}, Op.CREATE_ATTACHED: {"running"},
           Op.GUEST_SHUTDOWN: {"stopped"}, Op.DELETE: {"deleted"}, Op.FORCE_DELETE: {"deleted"}}
PROVS = {p.value for p in Prov}


class Lifecycle(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "h.sqlite3"
        self.svc = self._open(Clock.manual(START, skip=False).state)
        self.svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})

    def _open(self, state: ClockState) -> ComputeService:
        svc = ComputeService(SqliteStore(self.path), Clock(state), IdSource(3), Settings())
        return svc

    def teardown(self) -> None:
        self.svc.store.close()
        self.dir.cleanup()

    @rule(name=st.sampled_from(NAMES), image=st.booleans())
    def create(self, name: str, image: bool) -> None:
        try:
            self.svc.create_or_update(SUB, "rg", name, vm_body(image=image, hibernation=True))
        except OperationNotAllowed:
            pass

    @rule(name=st.sampled_from(NAMES), op=st.sampled_from(ACTIONS))
    def act(self, name: str, op: Op) -> None:
        vid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
        try:
            if op == Op.UPDATE:
                self.svc.update(SUB, "rg", name, {"tags": {"n": name}})
            elif op == Op.GUEST_SHUTDOWN:
                self.svc.guest_shutdown(vid)
            elif op == Op.HIBERNATE:
                self.svc.deallocate(SUB, "rg", name, hibernate=True)
            else:
                self.svc.action(SUB, "rg", name, op)
        except (OperationNotAllowed, NotFound):
            pass

    @rule(seconds=st.sampled_from([0.5, 1, 3, 7, 12, 30, 60, 600]))
    def advance(self, seconds: float) -> None:
        self.svc.clock.advance(seconds)

    @rule()
    def restart(self) -> None:
        keys = [k for k, _ in self.svc.store.iter_histories()]
        times = [START + i * 5_000_000 for i in range(0, 200)] + [self.svc.now() + 10**9]
        before = {k: [self.svc.state_at(k, t) for t in times] for k in keys}
        state = self.svc.clock.state
        self.svc.store.close()
        self.svc = self._open(state)
        after = {k: [self.svc.state_at(k, t) for t in times] for k in keys}
        assert {k: [(s.phase if s else None) for s in v] for k, v in before.items()} == \
               {k: [(s.phase if s else None) for s in v] for k, v in after.items()}

    @invariant()
    def states_are_documented_and_consistent(self) -> None:
        now = self.svc.now()
        for _key, ops in self.svc.store.iter_histories():
            h = History(ops)
            ph = h.phase(now)
            if ph is not None and ph.power is not None:
                assert PowerState(ph.power) in PowerState and ph.prov in PROVS
            for i, op in enumerate(ops):
                nxt = ops[i + 1] if i + 1 < len(ops) else None
                view = operation_status(op, nxt, now)
                final = op.phases[-1]
                if view.status == OperationStatus.CANCELED:
                    assert nxt is not None and nxt.preempts and nxt.at_us < op.end_us
                    assert view.error is not None and view.error[0] == "OperationPreempted"
                elif view.status == OperationStatus.IN_PROGRESS:
                    assert now < op.end_us
                    cur = h.phase(now)
                    assert cur is not None and (not Prov(cur.prov).terminal or op.name == Op.GUEST_SHUTDOWN)
                else:  # ended undisturbed: where the documents say
                    expected = ENDS_IN.get(Op(op.name))
                    if expected is not None and view.status == OperationStatus.SUCCEEDED:
                        assert final.situation.value in expected, (op.name, final)
                    if i + 1 == len(ops) and view.status == OperationStatus.SUCCEEDED and op.name != Op.GUEST_SHUTDOWN:
                        cur = h.phase(now)
                        assert cur is not None and (cur.power is None or cur.prov == Prov.SUCCEEDED)
                for a, b in zip(op.phases, op.phases[1:], strict=False):
                    assert a.at_us < b.at_us
                assert Situation.DELETED != op.phases[0].situation


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])
