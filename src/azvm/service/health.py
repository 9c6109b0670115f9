"""Resource Health for VMs: the availability status a VM reports, as a pure function of its
power state (and of the phase it is in), and the time that status began.

Texts are Azure's (`../shared/reference/graph-health-activity.md` §B.3, read 2026-12-02):
a running VM is Available with "There aren't any known Azure platform problems affecting this
virtual machine."; a VM stopped and deallocated by its user is Unavailable with "This virtual
machine is stopping and deallocating as requested by an authorized user or process" (the text
runbooks test for, with the Cloud Services annotation title "Stopped and deallocating"); a VM whose
power state is unknown is Unknown with "We are currently unable to determine the health of this
virtual machine". The start, stop and set-up texts are the VM annotations of
`resource-health-vm-annotation.md`; the stopped (not deallocated) text is inferred by analogy
with the deallocated one. `reasonType` "Customer Initiated" for a user's action is inferred from
a real status and the annotations' context (§B.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..domain.history import Operation, Phase
from ..domain.states import PowerState, Prov


class AvailabilityState(StrEnum):
    """`AvailabilityStateValues` of Microsoft.ResourceHealth."""

    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"


class ReasonChronicity(StrEnum):
    TRANSIENT = "Transient"
    PERSISTENT = "Persistent"


NOT_APPLICABLE = "Not Applicable"
CUSTOMER_INITIATED = "Customer Initiated"
START_ACTION = "To start this virtual machine, open the resource blade and click Start"


@dataclass(frozen=True)
class Availability:
    """What Resource Health says of a VM in one power state (everything but the times)."""

    state: AvailabilityState
    title: str
    summary: str
    reason_type: str
    context: str
    category: str
    chronicity: ReasonChronicity
    recommended_actions: tuple[str, ...] = ()


AVAILABLE = Availability(
    AvailabilityState.AVAILABLE, "Available",
    "There aren't any known Azure platform problems affecting this virtual machine.",
    "", NOT_APPLICABLE, NOT_APPLICABLE, ReasonChronicity.PERSISTENT)
UNKNOWN = Availability(
    AvailabilityState.UNKNOWN, "Unknown",
    "We are currently unable to determine the health of this virtual machine",
    "", NOT_APPLICABLE, NOT_APPLICABLE, ReasonChronicity.TRANSIENT)


def _user(title: str, summary: str, chronicity: ReasonChronicity, *actions: str) -> Availability:
    return Availability(AvailabilityState.UNAVAILABLE, title, summary, CUSTOMER_INITIATED, CUSTOMER_INITIATED,
                        NOT_APPLICABLE, chronicity, actions)


DEALLOCATED = _user("Stopped and deallocating",
                    "This virtual machine is stopping and deallocating as requested by an authorized user or"
                    " process", ReasonChronicity.PERSISTENT, START_ACTION)
STOPPED = _user("Stopped", "This virtual machine is stopped as requested by an authorized user or process",
                ReasonChronicity.PERSISTENT, START_ACTION)
STOPPING = _user("Stopping", "The Virtual Machine is stopping as requested by an authorized user or process."
                 " No other action is required at this time.", ReasonChronicity.TRANSIENT)
STARTING = _user("Starting", "The Virtual Machine is starting as requested by an authorized user or process."
                 " No other action is required at this time.", ReasonChronicity.TRANSIENT)
SETTING_UP = _user("Setting up", "The Virtual Machine is in the process of being set up as requested by an"
                   " authorized user or process. No other action is required at this time.",
                   ReasonChronicity.TRANSIENT)

_BY_POWER = {
    PowerState.RUNNING: AVAILABLE,
    PowerState.STARTING: STARTING,
    PowerState.STOPPING: STOPPING,
    PowerState.STOPPED: STOPPED,
    PowerState.DEALLOCATING: DEALLOCATED,
    PowerState.DEALLOCATED: DEALLOCATED,
    PowerState.UNKNOWN: UNKNOWN,
}
_CREATING = frozenset({Prov.CREATING, Prov.OS_PROVISIONING_IN_PROGRESS})


def availability(power: PowerState, prov: Prov | None = None) -> Availability:
    """The status Resource Health reports for a VM with this power state (and provisioning
    sub-state): Running is Available (also after an OS-provisioning failure, which leaves the VM
    running); stopped, deallocated (hibernated too) and the transitions a user asked for are
    Unavailable, customer initiated; `PowerState/unknown` is Unknown."""
    if power == PowerState.STARTING and prov in _CREATING:
        return SETTING_UP
    return _BY_POWER[power]


def of_phase(phase: Phase) -> Availability | None:
    """The status in one phase of a plan; None once the VM is deleted."""
    return None if phase.power is None else availability(phase.power, phase.prov)


def since(op: Operation, now_us: int) -> int:
    """When the status in force at `now_us` began within the current operation: the start of
    the earliest phase (up to now) from which every phase shows the same availability state.
    (An operation that keeps the state, such as an update of a running VM, starts it anew.)"""
    phases = [p for p in op.phases if p.at_us <= now_us]
    if not phases:
        return op.at_us
    current = of_phase(phases[-1])
    state = None if current is None else current.state
    start = phases[-1].at_us
    for p in reversed(phases[:-1]):
        a = of_phase(p)
        if a is None or a.state != state:
            break
        start = p.at_us
    return start


__all__ = ["AVAILABLE", "DEALLOCATED", "UNKNOWN", "Availability", "AvailabilityState", "ReasonChronicity",
           "availability", "of_phase", "since"]
