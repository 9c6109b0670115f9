"""Views of a VM's state that more than one surface shows (the ARM edge, the control API's history)."""

from __future__ import annotations

from typing import Any

from ..clock import iso
from ..domain.history import Phase
from ..domain.states import HIBERNATED_CODE, HIBERNATED_DISPLAY, PowerState, Prov


def status_entries(phase: Phase) -> list[dict[str, Any]]:
    prov = Prov(phase.prov)
    first: dict[str, Any] = {"code": phase.prov_code, "level": "Error" if prov == Prov.FAILED else "Info",
                             "displayStatus": prov.display}
    if prov == Prov.FAILED and phase.error is not None:
        first["message"] = phase.error[1]
    first["time"] = iso(phase.at_us)
    assert phase.power is not None
    power = PowerState(phase.power)
    out = [first, {"code": power.code, "level": "Info", "displayStatus": power.display}]
    if phase.hibernated:
        out.append({"code": HIBERNATED_CODE, "level": "Info", "displayStatus": HIBERNATED_DISPLAY})
    return out


__all__ = ["status_entries"]
