"""A VM's history and what it means at any time: the one idea of azvm.

A VM's history is the list of operations accepted on it, in order. Each operation carries its
*plan*: the phases it will go through, at absolute simulated times, decided when it was accepted
(injected faults included). What the VM is at time t is the phase in force at t of the last
operation accepted at or before t; a newer operation cuts the older one's plan at its own start,
and the older one then reads Canceled (OperationPreempted). Nothing here reads a clock or writes.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from .states import OperationStatus, PowerState, Prov
from .table import (
    CREATE_OPS,
    KEEP,
    SETTLE,
    TABLE,
    Hibernation,
    Op,
    Rule,
    Situation,
    Table,
    failable,
    settle,
    situation_of,
)

US = 1_000_000
PREEMPTED = ("OperationPreempted", "The operation has been preempted by a more recent operation.")
INTERNAL_ERROR = ("InternalOperationError", "Operation abandoned due to internal error. Please try again later.")
OS_PROVISIONING_TIMEOUT = (
    "OSProvisioningTimedOut",
    "OS Provisioning for VM '{vm}' did not finish in the allotted time. The VM may still finish "
    "provisioning successfully. Please check provisioning state later.",
)


class Phase(NamedTuple):
    """From `at_us` on (until the next phase), the VM shows these states."""

    at_us: int
    prov: Prov
    power: PowerState | None  # None once deleted
    hibernated: bool = False
    error: tuple[str, str] | None = None  # (code, message) when prov is failed

    @property
    def situation(self) -> Situation:
        return situation_of(self.prov, self.power, self.hibernated)

    @property
    def prov_code(self) -> str:
        if self.prov == Prov.FAILED and self.error is not None:
            return f"ProvisioningState/failed/{self.error[0]}"
        return f"ProvisioningState/{self.prov}"


class FaultKind(StrEnum):
    """What an injected fault does (docs/faults.md).

    Plan faults shape an operation's plan when it is accepted, so they replay identically:
    - OS_PROVISIONING: a create from an image ends Failed/<code> while the VM stays Running (billed);
    - OPERATION: the operation ends Failed/<code>; the power state settles where it was;
    - PREEMPTED: the platform preempts the operation: it ends Canceled (OperationPreempted) and
      the VM settles where it was;
    - SLOW: the operation's phases last longer than its profile says (a factor, added seconds).
    Read faults change what a read shows, never the history:
    - POWER_MISSING: a VM's power state is missing from a list with statusOnly=true;
    - POWER_UNKNOWN: a VM reads `PowerState/unknown`.
    THROTTLE answers a request 429 as ARM or Compute does when a rate-limit bucket is empty.
    """

    OS_PROVISIONING = "os-provisioning"
    OPERATION = "operation"
    PREEMPTED = "preempted"
    SLOW = "slow"
    POWER_MISSING = "power-missing"
    POWER_UNKNOWN = "power-unknown"
    THROTTLE = "throttle"


PLAN_FAULTS = frozenset({FaultKind.OS_PROVISIONING, FaultKind.OPERATION, FaultKind.PREEMPTED, FaultKind.SLOW})
READ_FAULTS = frozenset({FaultKind.POWER_MISSING, FaultKind.POWER_UNKNOWN})


class Fault(NamedTuple):
    """A fault decided when an operation is accepted; part of its plan, so it replays identically.

    `kind` is an outcome FaultKind (os-provisioning, operation, preempted); `code` and `message`
    are the error the operation ends with (`{vm}` in the message stands for the VM's name).
    """

    kind: str
    code: str
    message: str


class Stretch(NamedTuple):
    """A slow operation: every phase of its plan lasts `factor` times its profile's duration, and
    its last phase before the final one `extra_us` more."""

    factor: float = 1.0
    extra_us: int = 0


@dataclass(frozen=True, slots=True)
class Operation:
    op_id: str
    name: str  # an Op value
    at_us: int
    phases: tuple[Phase, ...]
    preempts: bool = True
    model: dict[str, Any] | None = None  # the VM's model from this operation on (create, update)
    error: tuple[str, str] | None = None  # the operation's own error when it ends Failed (or Canceled)
    canceled: bool = False  # it ends Canceled with `error` (preempted by the platform), not Failed
    caller: str | None = None  # who asked for it (a token's upn or application id), when known

    @property
    def end_us(self) -> int:
        return self.phases[-1].at_us

    @property
    def visible(self) -> bool:
        """Has an operation resource (a guest shutdown is not an API call)."""
        return self.name != Op.GUEST_SHUTDOWN

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.op_id, "name": self.name, "at": self.at_us,
                             "phases": [list(p) for p in self.phases]}
        if not self.preempts:
            d["preempts"] = False
        if self.model is not None:
            d["model"] = self.model
        if self.error is not None:
            d["error"] = list(self.error)
        if self.canceled:
            d["canceled"] = True
        if self.caller is not None:
            d["caller"] = self.caller
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Operation:
        phases = tuple(Phase(p[0], _PROV[p[1]], _POWER[p[2]] if p[2] else None, p[3],
                             (p[4][0], p[4][1]) if p[4] else None) for p in d["phases"])
        err = d.get("error")
        return cls(d["id"], d["name"], d["at"], phases, d.get("preempts", True), d.get("model"),
                   (err[0], err[1]) if err else None, bool(d.get("canceled", False)), d.get("caller"))


_PROV = {p.value: p for p in Prov}  # stored values back to enums (a dict lookup, on the hot read path)
_POWER = {p.value: p for p in PowerState}


def phase_at(op: Operation, t_us: int) -> Phase:
    """The phase of `op`'s plan in force at t (t >= op.at_us)."""
    phases = op.phases
    if len(phases) == 1 or t_us >= phases[-1].at_us:
        return phases[-1] if t_us >= phases[-1].at_us else phases[0]
    i = bisect_right(phases, t_us, key=lambda p: p.at_us) - 1
    return phases[max(i, 0)]


@dataclass(frozen=True)
class OperationView:
    op: Operation
    status: OperationStatus
    end_us: int | None
    error: tuple[str, str] | None


def operation_status(op: Operation, successor: Operation | None, t_us: int) -> OperationView:
    """The status of `op` at t, given the next operation on the same VM (if any)."""
    if successor is not None and successor.preempts and successor.at_us < op.end_us:
        if t_us >= successor.at_us:
            return OperationView(op, OperationStatus.CANCELED, successor.at_us, PREEMPTED)
    if t_us < op.end_us:
        return OperationView(op, OperationStatus.IN_PROGRESS, None, None)
    if op.canceled:
        return OperationView(op, OperationStatus.CANCELED, op.end_us, op.error)
    if op.error is not None:
        return OperationView(op, OperationStatus.FAILED, op.end_us, op.error)
    return OperationView(op, OperationStatus.SUCCEEDED, op.end_us, None)


@dataclass
class History:
    """The operations of one VM (one ARM resource id), oldest first."""

    ops: list[Operation] = field(default_factory=list)

    def index_at(self, t_us: int) -> int:
        """Index of the last operation accepted at or before t, or -1."""
        return bisect_right(self.ops, t_us, key=lambda o: o.at_us) - 1

    def phase(self, t_us: int) -> Phase | None:
        i = self.index_at(t_us)
        if i < 0:
            return None
        return phase_at(self.ops[i], t_us)

    def model(self, t_us: int) -> dict[str, Any] | None:
        for i in range(self.index_at(t_us), -1, -1):
            m = self.ops[i].model
            if m is not None:
                return m
        return None


class Refused(Exception):
    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def plan(op: Op, current: Phase | None, at_us: int, *, vm_name: str, profile: str = "azure",
         extensions: int = 0, fault: Fault | None = None, table: Table = TABLE,
         ongoing: Operation | None = None,
         stretch: Stretch | None = None) -> tuple[tuple[Phase, ...], tuple[str, str] | None, bool]:
    """Decide what `op`, accepted at `at_us` on a VM now in phase `current`, will do.

    Returns (phases, error, preempts). Raises Refused where Azure refuses (409), KeyError where
    the table has no rule (an operation on an absent VM: the caller answers 404). `fault` ends the
    operation Failed or Canceled (`fault_applies` says whether it can); `stretch` slows it down.
    """
    situation = Situation.ABSENT if current is None or current.power is None else current.situation
    rule = table.rule(situation, op)
    if rule.refuse:
        raise Refused(rule, table.refusal(rule, vm_name))
    if rule.join:
        assert ongoing is not None, "a join needs the ongoing operation"
        rest = [p for p in ongoing.phases if p.at_us > at_us]
        head = phase_at(ongoing, at_us)._replace(at_us=at_us)
        return (head, *rest), ongoing.error, False
    assert rule.final is not None
    durations = table.profiles[profile]
    cur_prov = current.prov if current is not None else Prov.CREATING
    cur_power = PowerState(current.power) if current is not None and current.power else PowerState.STARTING
    cur_hib = current.hibernated if current is not None else False
    cur_err = current.error if current is not None else None
    phases: list[Phase] = []
    t = at_us
    for st in rule.steps:
        prov = cur_prov if st.prov == KEEP else st.prov
        power = cur_power if st.power == KEEP else PowerState(st.power)
        hib = cur_hib and power == PowerState.DEALLOCATED
        phases.append(Phase(t, prov, power, hib, cur_err if st.prov == KEEP else None))
        if st.duration == "os_complete+extensions":
            seconds = durations["os_complete"] + extensions * durations["extension"]
        else:
            seconds = durations[st.duration]
        t += max(1, round(seconds * (stretch.factor if stretch is not None else 1.0) * US))
    if stretch is not None:
        t += stretch.extra_us
    f = rule.final
    if f.power is None:
        phases.append(Phase(t, Prov.DELETING, None))
        return tuple(phases), None, True
    power = settle(cur_power) if f.power == SETTLE else PowerState(f.power)
    hib = (f.hibernated == Hibernation.HIBERNATED or (f.hibernated == Hibernation.KEEP and cur_hib)) \
        and power == PowerState.DEALLOCATED
    if f.prov == KEEP:
        phases.append(Phase(t, cur_prov, power, hib, cur_err))
        return tuple(phases), None, True
    if fault is not None and fault_applies(fault.kind, op):
        err = (fault.code, fault.message.format(vm=vm_name))
        if fault.kind == FaultKind.OS_PROVISIONING:
            # OS provisioning fails: the VM stays deployed, Running and billed (SPEC.md section 2)
            phases.append(Phase(t, Prov.FAILED, PowerState.RUNNING, False, err))
            return tuple(phases), err, True
        before = PowerState.RUNNING if op in CREATE_OPS else settle(cur_power)
        hib_before = cur_hib and before == PowerState.DEALLOCATED
        if fault.kind == FaultKind.PREEMPTED:
            # the platform cancels it: nothing it asked for happens, the VM settles where it was
            phases.append(Phase(t, Prov.SUCCEEDED, before, hib_before))
            return tuple(phases), err, True
        phases.append(Phase(t, Prov.FAILED, before, hib_before, err))
        return tuple(phases), err, True
    phases.append(Phase(t, Prov.SUCCEEDED, power, hib))
    return tuple(phases), None, True


def fault_applies(kind: str, op: Op, table: Table = TABLE) -> bool:
    """Whether an outcome fault of this kind can shape `op`: an OS provisioning failure shapes a
    create from an image; a failure, an operation that ends in a state of its own (a delete always
    completes); a preemption, such an operation on an existing VM (not a create)."""
    if kind == FaultKind.OS_PROVISIONING:
        return op == Op.CREATE
    ops = _FAILABLE if table is TABLE else failable(table)
    if kind == FaultKind.OPERATION:
        return op in ops
    if kind == FaultKind.PREEMPTED:
        return op in ops and op not in CREATE_OPS
    return False


_FAILABLE = failable(TABLE)
