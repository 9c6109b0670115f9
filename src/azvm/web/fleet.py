"""The fleet as the dashboard shows it: every VM with its states, billed or not, and its cost so far.

Read in two steps, like the control API's bills: `read` takes what it needs from the store on the
event loop (the VMs' heads and the billing projection: a few SQL reads), and `FleetInput.compute`
is pure work over it, run off the event loop. Reads never write: a power-unknown read fault is not
consumed by the dashboard (it shows each VM as it is, and as it is billed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .. import billing as b
from ..clock import iso
from ..domain.errors import ArmError
from ..domain.resource_id import ResourceId
from ..domain.usage import UsageRow, billing_state, vm_facts
from ..service.billing import BillingService
from ..service.compute import ComputeService, VmState
from ..service.views import provisioning_state, status_entries

# the most VMs one subscription's list read returns at once (the store pages them by key)
PAGE = 5000

Row = dict[str, Any]
# the fields of a row, in the order the event stream sends them
COLUMNS = ("id", "name", "resourceGroup", "subscriptionId", "location", "vmSize", "osType", "provisioningState",
           "provisioningCode", "provisioningStatus", "powerState", "displayStatus", "hibernated", "billingState",
           "billed", "operation", "since", "cost")


@dataclass(frozen=True)
class FleetInput:
    """What the fleet is computed from: each live VM's state now, and every VM's billing states."""

    now_us: int
    states: Sequence[VmState]
    usage: Sequence[UsageRow]
    billing: BillingService

    def compute(self, *, costs: bool = True) -> dict[str, Row]:
        """Every live VM by lower-case id: its row as the page shows it (pure work). Without `costs`,
        each row's cost is None (the bill is the long part of the work)."""
        rules = self.billing.rules
        amounts = self._costs() if costs else {}
        out: dict[str, Row] = {}
        for st in self.states:
            ph, row = st.phase, st.row
            statuses = status_entries(ph)
            size, location, os_type = vm_facts(row.model)
            state = billing_state(ph)
            rid = str(row.model.get("id") or row.key)
            cost = amounts.get(row.key)
            out[row.key] = {
                "id": rid, "name": row.name, "resourceGroup": row.rg, "subscriptionId": row.sub,
                "location": location, "vmSize": size, "osType": os_type,
                "provisioningState": provisioning_state(ph), "provisioningCode": statuses[0]["code"],
                "provisioningStatus": statuses[0]["displayStatus"],
                "powerState": statuses[1]["code"], "displayStatus": statuses[1]["displayStatus"],
                "hibernated": ph.hibernated, "billingState": state, "billed": rules.billed(state),
                "operation": str(row.last.name), "since": iso(ph.at_us),
                "cost": None if cost is None else str(b.display(cost, self.currency)),
            }
        return out

    @property
    def currency(self) -> str:
        return self.billing.prices.currency

    def _costs(self) -> dict[str, Fraction | None]:
        """Each VM's compute (instance usage) cost from its first state to now, exact; None when its
        size, region or OS has no price in the sheet."""
        if not self.usage:
            return {}
        start = min(r[1] for r in self.usage)
        end = max(start, self.now_us)
        return b.vm_costs(self.usage, self.billing.prices, self.billing.rules, start, end)


def read(service: ComputeService, billing: BillingService) -> FleetInput:
    """The store's VMs now (on the event loop: it reads the store)."""
    now = service.now()
    usage = service.store.usage_rows()
    subs = sorted({_subscription(vm) for vm in {r[0] for r in usage}} - {""})
    states: list[VmState] = []
    for sub in subs:
        after: str | None = None
        while True:
            heads = service.store.list_vms(sub=sub, rg=None, location=None, live_at_us=now, after_key=after,
                                           limit=PAGE)
            for head in heads:
                st = service.get_state_row(head, now)
                if st is not None:
                    states.append(st)
            if len(heads) < PAGE:
                break
            after = heads[-1].key
    return FleetInput(now, states, usage, billing)


@functools.lru_cache(maxsize=1 << 16)
def _subscription(vm_id: str) -> str:
    rid = ResourceId.try_parse(vm_id)
    return rid.subscription if rid is not None else ""


def timeline(service: ComputeService, vm: str) -> dict[str, Any]:
    """A VM's states over time for its timeline chart: one span per phase (provisioning state, power
    state, billing state), cut where a newer operation took over, and the operations as markers."""
    key = vm.lower()
    ops = service.store.load_history(key)
    if not ops:
        raise ArmError(f"No VM '{vm[:300]}' has a history in this emulator.", code="ResourceNotFound",
                       target="id")
    now = service.now()
    spans: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    for i, op in enumerate(ops):
        cut = ops[i + 1].at_us if i + 1 < len(ops) else None
        marker: dict[str, Any] = {"at": iso(op.at_us), "atMicroseconds": op.at_us, "operation": str(op.name),
                                  "id": op.op_id}
        if op.error is not None and op.end_us <= now:
            marker["error"] = {"code": op.error[0], "message": op.error[1], "canceled": op.canceled}
        markers.append(marker)
        for j, ph in enumerate(op.phases):
            if cut is not None and ph.at_us >= cut:
                break
            end = op.phases[j + 1].at_us if j + 1 < len(op.phases) else None
            if cut is not None and (end is None or end > cut):
                end = cut
            if ph.at_us > now:
                break  # the future is planned, not shown
            shown_end = now if end is None or end > now else end
            entry: dict[str, Any] = {"start": iso(ph.at_us), "startMicroseconds": ph.at_us,
                                     "end": iso(shown_end), "endMicroseconds": shown_end,
                                     "operation": str(op.name), "billingState": billing_state(ph)}
            if ph.power is not None:
                statuses = status_entries(ph)
                entry.update({"provisioningCode": statuses[0]["code"],
                              "provisioningStatus": statuses[0]["displayStatus"],
                              "powerState": statuses[1]["code"], "displayStatus": statuses[1]["displayStatus"]})
                if ph.error is not None:
                    entry["error"] = {"code": ph.error[0], "message": ph.error[1]}
                    markers.append({"at": iso(ph.at_us), "atMicroseconds": ph.at_us, "operation": str(op.name),
                                    "id": op.op_id, "fault": ph.error[0], "message": ph.error[1]})
            else:
                entry.update({"provisioningCode": None, "powerState": None, "displayStatus": "deleted"})
            spans.append(entry)
    return {"id": vm, "now": iso(now), "nowMicroseconds": now, "spans": spans, "markers": markers}


__all__ = ["FleetInput", "read", "timeline"]
