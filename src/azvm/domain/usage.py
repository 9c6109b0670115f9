"""What the billing meter needs from a VM's history: its states over time and its disks.

Pure folds over the history (the meter itself lives in azvm.billing, which does not know about
operations). A phase of an operation holds until the next phase, or until the next operation on
the VM starts, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .history import Operation, Phase
from .resource_id import ResourceId
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


# -- plain resources billed for existing: Disk resources and public IPs ---------------------------------

#: One version of a plain resource, as the billing projection needs it:
#: (key (lower case), resource id, location, at_us, gone_us | None, body)
ResourceVersion = tuple[str, str, str, int, int | None, dict[str, Any]]
#: (resource id, kind, sku, size_gb, location, start_us, end_us | None): azvm.billing's ResourceSpan shape
SpanRow = tuple[str, str, str, int, str, int, int | None]

#: power states in which a VM's Dynamic public IP address is released (as the public IP's render says)
RELEASING_STATES = frozenset({"deallocating", "deallocated", "hibernated", "deleted"})
_INF = 1 << 62


def _by_key(versions: Iterable[ResourceVersion]) -> dict[str, list[ResourceVersion]]:
    out: dict[str, list[ResourceVersion]] = {}
    for v in versions:
        out.setdefault(v[0], []).append(v)
    for vs in out.values():
        vs.sort(key=lambda v: v[3])
    return out


def _lived(vs: Sequence[ResourceVersion]) -> list[tuple[int, int, ResourceVersion]]:
    """[start, end) of each version while the resource exists: until the next version, or its deletion
    (`gone_us`, possibly later than the version itself); an open end is _INF."""
    out = []
    for i, v in enumerate(vs):
        end = vs[i + 1][3] if i + 1 < len(vs) else _INF
        if v[4] is not None:
            end = min(end, v[4])
        if end > v[3]:
            out.append((v[3], end, v))
    return out


def _spans(rid: str, kind: str, location: str, pieces: Iterable[tuple[int, int, str, int]]) -> list[SpanRow]:
    """Spans of one resource from (start, end, sku, size) pieces, consecutive equal ones merged."""
    out: list[SpanRow] = []
    for a, b, sku, size in sorted(pieces):
        if b <= a:
            continue
        if out and out[-1][2] == sku and out[-1][3] == size and out[-1][6] == a:
            out[-1] = (*out[-1][:6], b)
        else:
            out.append((rid, kind, sku, size, location, a, b))
    return [s if s[6] != _INF else (*s[:6], None) for s in out]


def _disk_facts(body: dict[str, Any]) -> tuple[str, int]:
    sku = (body.get("sku") or {}).get("name") or "Standard_LRS"
    size = (body.get("properties") or {}).get("diskSizeGB") or 0
    return str(sku), int(size)


def disk_resource_spans(versions: Iterable[ResourceVersion]) -> list[SpanRow]:
    """Each Disk resource from its creation to its deletion, whatever the VMs do, one span per
    (sku, size): a grown disk changes tier from the version that grew it."""
    out: list[SpanRow] = []
    for vs in _by_key(versions).values():
        pieces = [(a, b, *_disk_facts(v[5])) for a, b, v in _lived(vs)]
        out += _spans(vs[-1][1], "disk", vs[-1][2], pieces)
    return out


def _intersect(xs: Sequence[tuple[int, int]], ys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if hi > lo:
                out.append((lo, hi))
    return sorted(out)


def _holding(usage: Iterable[UsageRow]) -> dict[str, list[tuple[int, int]]]:
    """Per VM (lower-case id): when it holds a Dynamic public IP address (exists, not deallocated)."""
    rows: dict[str, list[tuple[int, str]]] = {}
    for vm_id, at_us, state, *_ in usage:
        rows.setdefault(vm_id.lower(), []).append((at_us, state))
    out: dict[str, list[tuple[int, int]]] = {}
    for vm, rs in rows.items():
        rs.sort(key=lambda r: r[0])
        held: list[tuple[int, int]] = []
        for i, (at, state) in enumerate(rs):
            end = rs[i + 1][0] if i + 1 < len(rs) else _INF
            if state not in RELEASING_STATES and end > at:
                if held and held[-1][1] == at:
                    held[-1] = (held[-1][0], end)
                else:
                    held.append((at, end))
        out[vm] = held
    return out


def _ref(props: dict[str, Any], name: str) -> str | None:
    v = props.get(name)
    return str(v["id"]).lower() if isinstance(v, dict) and isinstance(v.get("id"), str) else None


def public_ip_spans(public_ips: Iterable[ResourceVersion], nics: Iterable[ResourceVersion],
                    usage: Iterable[UsageRow], meter_name: Callable[[str, str, str], str]) -> list[SpanRow]:
    """Each public IP from its creation to its deletion, under the meter `meter_name(sku, allocation
    method, IP version)` of each version (azvm.billing.public_ip_meter_name); a Basic Dynamic one only while it holds
    an address: while a NIC whose IP configuration uses it is attached to a VM that exists and is
    not deallocated (nor deallocating, hibernated), as the public IP's render shows `ipAddress`."""
    used: dict[str, list[tuple[int, int, str]]] = {}  # public IP key -> [(start, end, vm key)]
    for vs in _by_key(nics).values():
        for a, b, v in _lived(vs):
            props = v[5].get("properties") or {}
            vm = _ref(props, "virtualMachine")
            if vm is None:
                continue
            for ipc in props.get("ipConfigurations") or []:
                pip = _ref((ipc or {}).get("properties") or {}, "publicIPAddress")
                if pip is not None:
                    used.setdefault(pip, []).append((a, b, vm))
    holding = _holding(usage)
    out: list[SpanRow] = []
    for key, vs in _by_key(public_ips).items():
        pieces: list[tuple[int, int, str, int]] = []
        for a, b, v in _lived(vs):
            body = v[5]
            props = body.get("properties") or {}
            sku = str((body.get("sku") or {}).get("name") or "Basic")
            method = str(props.get("publicIPAllocationMethod") or ("Static" if sku == "Standard" else "Dynamic"))
            name = meter_name(sku, method, str(props.get("publicIPAddressVersion") or "IPv4"))
            if sku.lower() == "standard" or method.lower() != "dynamic":
                pieces.append((a, b, name, 0))
                continue
            for c, d, vm in used.get(key, ()):
                for lo, hi in _intersect([(max(a, c), min(b, d))], holding.get(vm, [])):
                    pieces.append((lo, hi, name, 0))
        out += _spans(vs[-1][1], "publicip", vs[-1][2], pieces)
    return out


def vm_disks_without_resources(disks: Iterable[DiskRow], disk_ids: Iterable[str]) -> list[DiskRow]:
    """The disks of the VM-model projection that have no Disk resource (histories imported, or
    written before Disk resources existed): the Disk resources are the one source of truth where they
    exist. A disk row matches a Disk resource by id (the VM's subscription and resource group), or by
    subscription and name when that name is unique among the Disk resources of the subscription (a
    disk attached from another resource group)."""
    ids = {i.lower() for i in disk_ids}
    names: dict[tuple[str, str], int] = {}
    for i in ids:
        parsed = ResourceId.try_parse(i)
        k = (parsed.subscription, parsed.name) if parsed is not None else ("", i)
        names[k] = names.get(k, 0) + 1
    out = []
    for d in disks:
        vm = ResourceId.try_parse(d[0])
        sub = vm.subscription.lower() if vm is not None else ""
        disk = ResourceId.of(sub, vm.resource_group if vm is not None else "", "Microsoft.Compute", "disks", d[1])
        if disk.key in ids or names.get((sub, d[1].lower()), 0) == 1:
            continue
        out.append(d)
    return out
