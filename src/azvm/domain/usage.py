"""What the billing meter needs from a VM's history: its states over time and its disks.

Pure folds over the history (the meter itself lives in azvm.billing, which does not know about
operations). A phase of an operation holds until the next phase, or until the next operation on
the VM starts, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .history import Operation, Phase
from .states import PowerState

# (vm_id, at_us, state, size, location, os_type): the billing package's StateChange shape
UsageRow = tuple[str, int, str, str, str, str]
# (vm_id, name, sku, size_gb, start_us, end_us | None): the billing package's DiskSpan shape
DiskRow = tuple[str, str, str, int, int, int | None]


# the state names of azvm.billing, numbered for compact storage (append only: stored codes stay valid)
USAGE_STATES: tuple[str, ...] = ("creating", "starting", "running", "stopping", "stopped", "deallocating",
                                 "deallocated", "hibernated", "unknown", "deleted")
USAGE_STATE_CODE = {s: i for i, s in enumerate(USAGE_STATES)}


def billing_state(phase: Phase) -> str:
    """The state names of azvm.billing: creating is the Starting phase of a create."""
    if phase.power is None:
        return "deleted"
    if phase.power == PowerState.STARTING and phase.prov.startswith("creating"):
        return "creating"
    if phase.power == PowerState.DEALLOCATED and phase.hibernated:
        return "hibernated"
    return str(phase.power)


def vm_facts(model: dict[str, Any]) -> tuple[str, str, str]:
    props = model.get("properties", {})
    size = props.get("hardwareProfile", {}).get("vmSize", "")
    os_type = props.get("storageProfile", {}).get("osDisk", {}).get("osType", "Linux")
    return str(size), str(model.get("location", "")), str(os_type)


def disk_set(model: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """name -> (storage account type, size in GB) of the managed disks of a model."""
    storage = model.get("properties", {}).get("storageProfile", {})
    out: dict[str, tuple[str, int]] = {}
    for d in [storage.get("osDisk") or {}] + list(storage.get("dataDisks") or []):
        name = d.get("name")
        md = d.get("managedDisk") or {}
        if name and md and not d.get("toBeDetached"):
            out[str(name)] = (str(md.get("storageAccountType", "Standard_LRS")), int(d.get("diskSizeGB") or 0))
    return out


def op_usage_rows(op: Operation, model: dict[str, Any], until_us: int | None = None) -> list[UsageRow]:
    vm_id = str(model.get("id", ""))
    size, location, os_type = vm_facts(model)
    return [(vm_id, p.at_us, billing_state(p), size, location, os_type)
            for p in op.phases if until_us is None or p.at_us < until_us]


def usage_rows(ops: Sequence[Operation]) -> list[UsageRow]:
    rows: list[UsageRow] = []
    model: dict[str, Any] = {}
    for i, op in enumerate(ops):
        if op.model is not None:
            model = op.model
        nxt = ops[i + 1].at_us if i + 1 < len(ops) else None
        rows.extend(op_usage_rows(op, model, nxt))
    return rows


class DiskTracker:
    """The open disks of one VM, moved forward operation by operation."""

    def __init__(self, vm_id: str = "", open_disks: dict[str, tuple[str, int, int]] | None = None) -> None:
        self.vm_id = vm_id
        self.open: dict[str, tuple[str, int, int]] = dict(open_disks or {})  # name -> (sku, size, start)
        self.closed: list[DiskRow] = []

    def apply(self, op: Operation) -> None:
        if op.model is not None:
            self.vm_id = str(op.model.get("id", self.vm_id))
            wanted = disk_set(op.model)
            for name, (sku, size, start) in list(self.open.items()):
                if wanted.get(name) != (sku, size):
                    self.closed.append((self.vm_id, name, sku, size, start, op.at_us))
                    del self.open[name]
            for name, (sku, size) in wanted.items():
                if name not in self.open:
                    self.open[name] = (sku, size, op.at_us)
        if op.phases[-1].power is None:  # deleted: its disks go with it (deleteOption aside)
            for name, (sku, size, start) in self.open.items():
                self.closed.append((self.vm_id, name, sku, size, start, op.end_us))
            self.open.clear()

    def spans(self) -> list[DiskRow]:
        return self.closed + [(self.vm_id, n, sku, size, start, None) for n, (sku, size, start) in self.open.items()]


def disk_rows(ops: Iterable[Operation]) -> list[DiskRow]:
    t = DiskTracker()
    for op in ops:
        t.apply(op)
    return t.spans()
