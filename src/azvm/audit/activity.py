"""Since when a VM is in its power state, from the Activity Log (Administrative events).

Each VM operation logs `Started`, `Accepted` (with the HTTP status ARM answered: `Created` for a
new VM) and, when it ends, `Succeeded`, `Failed` or `Canceled`, all sharing one `operationId`
(MicrosoftDocs/azure-docs `activity-log-schema.md`; `shared/reference/graph-health-activity.md` C).
The time a VM reached its state is the `Succeeded` event of the last operation that set a power
state: a create, `start`, `restart` or `redeploy` (running), `powerOff` (stopped), `deallocate`
(deallocated). When that operation does not explain the state the VM is in now (a VM shut down from
inside its guest: no API call, no event), or when the log holds none (it keeps 90 days), the answer
is "unknown", never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["LOG_DAYS", "LastChange", "activity_filter", "last_changes", "since"]

LOG_DAYS = 89  # the Activity Log keeps 90 days; a day is left for the caller's and ARM's clocks to differ
SELECT = "eventTimestamp,operationName,operationId,status,subStatus,resourceId,eventName"

_SETS = {"start/action": "running", "restart/action": "running", "redeploy/action": "running",
         "poweroff/action": "stopped", "deallocate/action": "deallocated", "delete": "deleted"}
_VM_OPS = "microsoft.compute/virtualmachines/"


@dataclass(frozen=True)
class LastChange:
    state: str  # running | stopped | deallocated | deleted
    at_us: int
    operation: str  # e.g. Microsoft.Compute/virtualMachines/powerOff/action


def _iso(us: int) -> str:
    from ..clock import iso

    return iso(us)


def activity_filter(start_us: int, end_us: int) -> str:
    """The `$filter` of a subscription's VM events between two times."""
    return (f"eventTimestamp ge '{_iso(start_us)}' and eventTimestamp le '{_iso(end_us)}'"
            " and resourceProvider eq 'Microsoft.Compute'")


def _value(x: Any) -> str:
    v = getattr(x, "value", x)
    return "" if v is None else str(v)


def _us(t: Any) -> int | None:
    if isinstance(t, datetime):
        return int(t.timestamp() * 1_000_000)
    return None


def last_changes(events: Iterable[Any]) -> dict[str, LastChange]:
    """VM id (lower case) -> the last operation that set its power state and succeeded. `events`
    are the SDK's EventData (or anything with the same attributes)."""
    created: set[str] = set()
    done: list[tuple[int, str, str, str]] = []  # (at, vm id lower, operation name, operation id)
    for e in events:
        op = _value(e.operation_name)
        rid = _value(e.resource_id).lower()
        if not op.lower().startswith(_VM_OPS) or not rid:
            continue
        status, sub = _value(e.status).lower(), _value(e.sub_status).lower()
        if status == "accepted" and sub == "created":
            created.add(_value(e.operation_id))
        elif status == "succeeded":
            at = _us(e.event_timestamp)
            if at is not None:
                done.append((at, rid, op, _value(e.operation_id)))
    out: dict[str, LastChange] = {}
    for at, rid, op, op_id in sorted(done):
        suffix = op[len(_VM_OPS):].lower()
        state = "running" if suffix == "write" and op_id in created else _SETS.get(suffix)
        if state is not None:
            out[rid] = LastChange(state, at, op)
    return out


def since(change: LastChange | None, power_state: str | None) -> int | None:
    """When the VM reached `power_state`, if its last state-setting operation explains it."""
    if change is None or power_state is None:
        return None
    state = power_state.split("/", 1)[-1].lower()
    return change.at_us if change.state == state else None
