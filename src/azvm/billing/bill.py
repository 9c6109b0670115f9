"""Price second: turn metered seconds into line items, explanations and what-ifs.

Everything here works on the integer aggregates of `azvm.billing.meter`; Fractions and Decimals
appear only once per line item.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .meter import Row, Usage, ceil_second, meter
from .model import (
    BILLING_STATES,
    RESOURCE_KINDS,
    SECONDS_PER_HOUR,
    SECONDS_PER_MONTH,
    BillingError,
    DiskSpan,
    ResourceSpan,
    parse_vm_id,
)
from .money import ExactTotal, to_decimal
from .prices import Meter, PriceSheet, disk_meter_name
from .resources import meter_resources, resource_meter, unpriced_reason
from .rules import RuleSet

__all__ = [
    "GROUP_BY",
    "Bill",
    "LineItem",
    "Unpriced",
    "bill",
    "day_string",
    "disk_resource_id",
    "meter_disks",
    "DiskKey",
    "price_key",
]

GROUP_BY: tuple[str, ...] = ("vm", "state", "day", "meter")
DISK_STATE_GROUP = "any"  # the `state` group of disk lines: disks are billed whatever the power state
_EPOCH = _dt.date(1970, 1, 1)

PriceKey = tuple[str, str, str]  # (size lower, location lower, "Linux" | "Windows")


def price_key(size: str, location: str, os_type: str) -> PriceKey:
    return (size.lower(), location.lower(), "Windows" if os_type.lower() == "windows" else "Linux")


def day_string(day: int) -> str:
    """ISO date (YYYY-MM-DD) of a UTC day number since the epoch."""
    return (_EPOCH + _dt.timedelta(days=day)).isoformat()


def disk_resource_id(vm_id: str, disk_name: str) -> str:
    """The ARM id of a managed disk of a VM: same subscription and resource group."""
    sub, rg, _ = parse_vm_id(vm_id)
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{disk_name}"


@dataclass(frozen=True)
class LineItem:
    """One priced line: a group value and one meter.

    `seconds` is every metered second behind the line (billed or not), `billed_seconds` what the
    rule set bills (plus minimum-run top-ups); `quantity` is billed time in the meter's unit
    (hours for VMs and public IPs, or months of 730 hours for disks). `amount` is exact to 50 significant digits
    (`exact` is the exact Fraction); both are None when the line is unpriced.
    """

    group_by: str
    group: str
    kind: str  # "vm" | "disk" | "publicip"
    resource_id: str  # the VM, disk or public IP id; "" when lines of several resources are merged
    meter: str  # a label for the meter, e.g. "Virtual Machines DSv3 Series / D2s v3 / eastus"
    meter_id: str
    size: str  # VM size, or disk tier meterName
    location: str
    os_type: str  # "Linux" | "Windows"; "" for disks
    seconds: int
    billed_seconds: int
    unit_of_measure: str  # "1 Hour" | "1/Month"
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal | None
    exact: Fraction | None
    billed: bool | None  # for group_by="state": whether the rule set bills the state

    @property
    def unpriced(self) -> bool:
        return self.unit_price is None


@dataclass(frozen=True)
class Unpriced:
    """A VM (facts), disk or public IP with metered time but no price in the sheet."""

    kind: str  # "vm" | "disk" | "publicip"
    resource_id: str
    size: str
    location: str
    os_type: str
    seconds: int
    billed_seconds: int
    reason: str


@dataclass(frozen=True)
class Bill(ExactTotal):
    rule_set: str
    currency: str
    window_start_us: int
    window_end_us: int
    group_by: str
    lines: tuple[LineItem, ...]
    total_exact: Fraction
    unpriced: tuple[Unpriced, ...]

    @property
    def complete(self) -> bool:
        """False when some usage could not be priced (the total is then a lower bound)."""
        return not self.unpriced

    def subtotals(self) -> dict[str, Fraction]:
        """Exact subtotal of each group value (priced lines only), in line order."""
        out: dict[str, Fraction] = {}
        for line in self.lines:
            if line.exact is not None:
                out[line.group] = out.get(line.group, Fraction(0)) + line.exact
            else:
                out.setdefault(line.group, Fraction(0))
        return out


def _check_states(usage: Usage) -> None:
    for state in usage.states:
        if state not in BILLING_STATES:
            raise BillingError(
                f"unknown state {state!r} in the timeline; expected one of {', '.join(BILLING_STATES)}"
            )


def _meter_label(m: Meter | None, size: str, location: str, os_type: str) -> str:
    if m is None:
        return f"unpriced: {size} {os_type} / {location.lower()}"
    return f"{m.product_name} / {m.meter_name} / {m.region}"


def _quantity(seconds: int, per: int) -> Decimal:
    return to_decimal(Fraction(seconds, per))


#: (vm key, disk name, tier meterName or sku, location, day): "" / -1 where not kept
DiskKey = tuple[str, str, str, str, int]


def meter_disks(
    disks: Iterable[DiskSpan],
    usage: Usage,
    by_disk: bool = True,
    by_day: bool = False,
) -> dict[DiskKey, int]:
    """Seconds of the disks in the window, whatever the power state of their VM.

    Keyed by (vm key, disk name, tier meterName or the sku when it has no tier, location of the
    VM, UTC day); the VM and disk name are "" unless `by_disk`, the day -1 unless `by_day`.
    """
    ws, we = usage.window_start_s, usage.window_end_s
    day_len = 86_400
    out: dict[DiskKey, int] = {}
    get = out.get
    tiers: dict[tuple[str, int], str] = {}
    locations = usage.locations
    for vm_id, name, sku, size_gb, start_us, end_us in disks:
        a = ceil_second(start_us)
        a = ws if a < ws else a
        b = we if end_us is None else min(ceil_second(end_us), we)
        if b <= a:
            continue
        vm = vm_id.lower()
        label = tiers.get((sku, size_gb))
        if label is None:
            label = tiers[(sku, size_gb)] = disk_meter_name(sku, size_gb) or sku
        loc = locations.get(vm, "")
        if not by_disk:
            vm = name = ""
        if by_day:
            d, d1 = a // day_len, (b - 1) // day_len
            while d <= d1:
                lo = d * day_len
                hi = lo + day_len
                k = (vm, name, label, loc, d)
                out[k] = get(k, 0) + (b if b < hi else hi) - (a if a > lo else lo)
                d += 1
        else:
            k = (vm, name, label, loc, -1)
            out[k] = get(k, 0) + b - a
    return out


def _disk_meter(prices: PriceSheet, label: str, location: str) -> Meter | None:
    return prices.disk(label, location) if label.endswith(" Disk") else None


def _unpriced_disks(disks: Iterable[DiskSpan], usage: Usage, prices: PriceSheet) -> list[Unpriced]:
    out = []
    for (vm, name, label, loc, _d), n in meter_disks(disks, usage, True, False).items():
        if _disk_meter(prices, label, loc) is not None:
            continue
        if not loc:
            why = "the disk's VM is not in the timeline, so its region is unknown"
        elif not label.endswith(" Disk"):
            why = "the disk sku is not priced by tier"
        else:
            why = "no Consumption price for this disk tier and region"
        rid = disk_resource_id(usage.names.get(vm, vm), name)
        out.append(Unpriced("disk", rid, label, loc, "", n, n, why))
    return out


def bill(
    timeline: Iterable[Row],
    disks: Iterable[DiskSpan],
    prices: PriceSheet,
    rules: RuleSet,
    window_start_us: int,
    window_end_us: int,
    group_by: str = "vm",
    resources: Iterable[ResourceSpan] = (),
) -> Bill:
    """Bill a timeline, disks and resources over [window_start_us, window_end_us), grouped by `group_by`.

    `group_by` is one of ``vm`` (one line per VM and meter; disks of the VM model per disk under
    their VM; each resource span's meter under the resource's own id), ``state`` (per power state
    and meter; disks and resources under ``any``), ``day`` (per UTC day and meter) or ``meter``.
    """
    if group_by not in GROUP_BY:
        raise BillingError(f"group_by {group_by!r}: expected one of {', '.join(GROUP_BY)}")
    by_day = group_by == "day"
    by_vm = group_by == "vm"
    rows = timeline if isinstance(timeline, (list, tuple)) else list(timeline)
    usage = meter(
        rows, window_start_us, window_end_us, rules.billed_states, rules.minimum_billed_seconds, by_day, by_vm
    )
    _check_states(usage)
    billed_j = [rules.billed(s) for s in usage.states]
    n_days = usage.n_days

    # fold cells into (group value, facts index) with integer seconds
    # acc[(group, facts)] = [seconds, billed seconds]
    acc: dict[tuple[int, int], list[int]] = {}
    for source, is_topup in ((usage.seconds, False), (usage.topups, True)):
        for ck, n in source.items():
            j = ck & 31
            i, d = divmod(ck >> 5, n_days)
            if group_by == "vm" or group_by == "meter":
                g = -1
            elif group_by == "state":
                g = j
            else:
                g = d
            cell = acc.get((g, i))
            if cell is None:
                cell = acc[(g, i)] = [0, 0]
            if is_topup:
                cell[1] += n
            else:
                cell[0] += n
                if billed_j[j]:
                    cell[1] += n

    # merge facts into lines: vm -> (vm key, price key); others -> (group, price key)
    lines_acc: dict[tuple[str, int, PriceKey], list[int]] = {}
    spelling: dict[PriceKey, str] = {}  # the size as first written
    unpriced_acc: dict[tuple[str, str, str, str], list[int]] = {}
    for (g, i), (secs, billed_secs) in acc.items():
        vm, size, loc, os_type = usage.facts[i]
        pk = price_key(size, loc, os_type)
        spelling.setdefault(pk, size)
        lk = (vm, -1, pk) if group_by == "vm" else ("", g, pk)
        cur = lines_acc.get(lk)
        if cur is None:
            lines_acc[lk] = [secs, billed_secs]
        else:
            cur[0] += secs
            cur[1] += billed_secs
        if prices.vm(*pk) is None:
            u = unpriced_acc.setdefault((vm, size, loc, pk[2]), [0, 0])
            u[0] += secs
            u[1] += billed_secs

    if unpriced_acc and not by_vm:
        # name the VMs behind the unpriced usage: meter again by VM (rare: an incomplete sheet)
        by_vm_usage = meter(
            rows,
            window_start_us,
            window_end_us,
            rules.billed_states,
            rules.minimum_billed_seconds,
            False,
            True,
        )
        unpriced_acc = _unpriced_by_vm(by_vm_usage, prices, rules)

    lines: list[LineItem] = []
    for (vm, g, pk), (secs, billed_secs) in lines_acc.items():
        size, loc, os_type = pk
        m = prices.vm(size, loc, os_type)
        display_size = spelling[pk]
        if group_by == "vm":
            group = resource = usage.names[vm]
            billed_flag = None
        elif group_by == "state":
            group = usage.states[g]
            resource = ""
            billed_flag = billed_j[g]
        elif group_by == "day":
            group = day_string(usage.first_day + g)
            resource = ""
            billed_flag = None
        else:
            group = _meter_label(m, display_size, loc, os_type)
            resource = ""
            billed_flag = None
        lines.append(
            _line(
                group_by,
                group,
                "vm",
                resource,
                m,
                display_size,
                loc,
                os_type,
                secs,
                billed_secs,
                SECONDS_PER_HOUR,
                "1 Hour",
                billed_flag,
            )
        )

    unpriced = [
        Unpriced(
            "vm",
            usage.names[vm],
            size,
            loc,
            os_type,
            s,
            b,
            "no Consumption price for this size, region and OS",
        )
        for (vm, size, loc, os_type), (s, b) in unpriced_acc.items()
        if s or b
    ]

    disk_list = disks if isinstance(disks, (list, tuple)) else list(disks)
    disk_seconds = meter_disks(disk_list, usage, by_vm, by_day)
    any_unpriced_disk = False
    for (vm, name, label, loc, d), secs in disk_seconds.items():
        m = _disk_meter(prices, label, loc)
        any_unpriced_disk = any_unpriced_disk or m is None
        resource = ""
        group = _existing_group(group_by, usage.names.get(vm, vm), d, m, label, loc)
        if group_by == "vm":
            resource = disk_resource_id(group, name)
        billed_flag = True if group_by == "state" else None
        lines.append(
            _line(
                group_by,
                group,
                "disk",
                resource,
                m,
                label,
                loc,
                "",
                secs,
                secs,
                SECONDS_PER_MONTH,
                "1/Month",
                billed_flag,
            )
        )
    if any_unpriced_disk:
        unpriced.extend(_unpriced_disks(disk_list, usage, prices))
    lines.extend(_resource_lines(resources, usage, prices, group_by, unpriced))

    lines.sort(key=lambda li: (li.group, li.kind != "vm", li.resource_id, li.meter))
    total = sum((li.exact for li in lines if li.exact is not None), Fraction(0))
    return Bill(
        rules.name,
        prices.currency,
        window_start_us,
        window_end_us,
        group_by,
        tuple(lines),
        total,
        tuple(_merge_unpriced(unpriced)),
    )


def _existing_group(group_by: str, owner: str, day: int, m: Meter | None, label: str, loc: str) -> str:
    """The group of a line billed for existing (a disk, a public IP): its owner's id (the VM of a
    VM-model disk, the resource itself) by vm, ``any`` by state, its day, or its meter."""
    if group_by == "vm":
        return owner
    if group_by == "state":
        return DISK_STATE_GROUP
    if group_by == "day":
        return day_string(day)
    return _meter_label(m, label, loc, "")


def _resource_lines(resources: Iterable[ResourceSpan], usage: Usage, prices: PriceSheet, group_by: str,
                    unpriced: list[Unpriced]) -> list[LineItem]:
    """The lines of resource spans (disks, public IPs), billed whatever the power state; their
    unpriced usage is added to `unpriced`, per resource."""
    spans = resources if isinstance(resources, (list, tuple)) else list(resources)
    if not spans:
        return []
    ws, we = usage.window_start_s, usage.window_end_s
    by_resource = group_by == "vm"
    seconds, names = meter_resources(spans, ws, we, by_resource, group_by == "day")
    lines = []
    any_unpriced = False
    for (rid, kind, label, loc, d), secs in seconds.items():
        per, unit, _category, _service = RESOURCE_KINDS[kind]
        m = resource_meter(prices, kind, label, loc)
        any_unpriced = any_unpriced or m is None
        group = _existing_group(group_by, names.get(rid, ""), d, m, label, loc)
        resource = group if group_by == "vm" else ""
        lines.append(_line(group_by, group, kind, resource, m, label, loc, "", secs, secs, per, unit,
                           True if group_by == "state" else None))
    if any_unpriced:
        by_id = seconds if by_resource else meter_resources(spans, ws, we, True, False)[0]
        for (rid, kind, label, loc, _d), n in by_id.items():
            if resource_meter(prices, kind, label, loc) is None:
                unpriced.append(Unpriced(kind, names[rid], label, loc, "", n, n, unpriced_reason(kind, label)))
    return lines


def _unpriced_by_vm(
    usage: Usage, prices: PriceSheet, rules: RuleSet
) -> dict[tuple[str, str, str, str], list[int]]:
    billed_j = [rules.billed(s) for s in usage.states]
    out: dict[tuple[str, str, str, str], list[int]] = {}
    for source, is_topup in ((usage.seconds, False), (usage.topups, True)):
        for ck, n in source.items():
            i, _day, j = usage.decode(ck)
            vm, size, loc, os_type = usage.facts[i]
            pk = price_key(size, loc, os_type)
            if prices.vm(*pk) is not None:
                continue
            u = out.setdefault((vm, size, loc, pk[2]), [0, 0])
            if not is_topup:
                u[0] += n
            if is_topup or billed_j[j]:
                u[1] += n
    return out


def _merge_unpriced(items: list[Unpriced]) -> list[Unpriced]:
    merged: dict[tuple[str, str, str, str, str], Unpriced] = {}
    for u in items:
        k = (u.kind, u.resource_id.lower(), u.size, u.location, u.os_type)
        prev = merged.get(k)
        merged[k] = (
            u
            if prev is None
            else Unpriced(
                u.kind,
                prev.resource_id,
                u.size,
                u.location,
                u.os_type,
                prev.seconds + u.seconds,
                prev.billed_seconds + u.billed_seconds,
                u.reason,
            )
        )
    return sorted(merged.values(), key=lambda u: (u.kind, u.resource_id.lower(), u.size))


def _line(
    group_by: str,
    group: str,
    kind: str,
    resource: str,
    m: Meter | None,
    size: str,
    location: str,
    os_type: str,
    seconds: int,
    billed_seconds: int,
    per: int,
    unit: str,
    billed: bool | None,
) -> LineItem:
    if m is None:
        price = None
        exact = None
        amount = None
        meter_id = ""
    else:
        price = m.unit_price
        exact = Fraction(price) * billed_seconds / per
        amount = to_decimal(exact)
        meter_id = m.meter_id
        unit = m.unit_of_measure or unit
    return LineItem(
        group_by,
        group,
        kind,
        resource,
        _meter_label(m, size, location, os_type),
        meter_id,
        size,
        location.lower(),
        os_type,
        seconds,
        billed_seconds,
        unit,
        _quantity(billed_seconds, per),
        price,
        amount,
        exact,
        billed,
    )
