"""Views of a VM's state that more than one surface shows (the ARM edge, the control API's history)."""

from __future__ import annotations

from typing import Any

from ..clock import iso
from ..domain.history import Phase
from ..domain.states import HIBERNATED_CODE, HIBERNATED_DISPLAY, PowerState, Prov

# the wire strings of each state, computed once (this is on the path of every list and instance view)
_PROV = {p: ("Error" if p == Prov.FAILED else "Info", p.display) for p in Prov}
_POWER = {p: (p.code, p.display) for p in PowerState}


def status_entries(phase: Phase, *, power: bool = True) -> list[dict[str, Any]]:
    """The instance view's statuses: the provisioning state, then the power state (none when
    `power` is False: what a list shows when the power state could not be retrieved)."""
    prov = phase.prov
    level, display = _PROV[prov]
    first: dict[str, Any] = {"code": phase.prov_code, "level": level, "displayStatus": display}
    if prov == Prov.FAILED and phase.error is not None:
        first["message"] = phase.error[1]
    first["time"] = iso(phase.at_us)
    if not power:
        return [first]
    assert phase.power is not None
    code, power_display = _POWER[phase.power]
    out = [first, {"code": code, "level": "Info", "displayStatus": power_display}]
    if phase.hibernated:
        out.append({"code": HIBERNATED_CODE, "level": "Info", "displayStatus": HIBERNATED_DISPLAY})
    return out


def provisioning_state(phase: Phase) -> str:
    """`properties.provisioningState` (Creating, Updating, Deleting, Succeeded, Failed)."""
    return _STATE[phase.prov]


_STATE = {p: p.provisioning_state.value for p in Prov}

__all__ = ["provisioning_state", "status_entries"]
