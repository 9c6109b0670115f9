"""Price second: turn metered seconds into line items, explanations and what-ifs.

Everything here works on the integer aggregates of `azvm.billing.meter`; Fractions and Decimals
appear only once per line item.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import gcd
from operator import itemgetter
from typing import NamedTuple

from .columns import UsageColumns
from .meter import Row, Usage, meter, quiet_gc
from .model import (
    BILLING_STATES,
    RESOURCE_KINDS,
    SECONDS_PER_HOUR,
    SECONDS_PER_MONTH,
    US_PER_SECOND,
    BillingError,
    DiskSpan,
    ResourceSpan,
    parse_vm_id,
)
from .money import ExactTotal, exact_sum, quotient
from .prices import Meter, PriceSheet, disk_meter_name
from .resources import meter_resources, resource_meter, unpriced_reason
from .rules import RuleSet

__all__ = [
    "GROUP_BY",
    "Bill",
    "LineItem",
    "Unpriced",
    "bill",
    "vm_costs",
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
    return _disks_of(vm_id) + disk_name


def _disks_of(vm_id: str) -> str:
    """The ARM id of a VM's disks less the disk's name, worked out once per resource group."""
    prefix, slash, last = vm_id.rpartition("/")
    if slash and last:
        return _disks_under(prefix)
    return _disks_in(*parse_vm_id(vm_id)[:2])


@functools.lru_cache(maxsize=1 << 12)
def _disks_under(prefix: str) -> str:
    return _disks_in(*parse_vm_id(prefix + "/name")[:2])


def _disks_in(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/"


class LineItem(NamedTuple):
    """One priced line: a group value and one meter (a NamedTuple: a bill has one per VM and meter,
    cheap to make by the ten thousand).

    `seconds` is every metered second behind the line (billed or not), `billed_seconds` what the
    rule set bills (plus minimum-run top-ups); `quantity` is billed time in the meter's unit
    (hours for VMs and public IPs, or months of 730 hours for disks: `unit_seconds` long). `amount`
    is exact to 50 significant digits (`exact` is the exact Fraction); both are None when the line
    is unpriced. The three are worked out from the integers when read, not when the bill is made.
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
    unit_price: Decimal | None
    billed: bool | None  # for group_by="state": whether the rule set bills the state
    unit_seconds: int = SECONDS_PER_HOUR  # seconds in one unit of measure

    @property
    def unpriced(self) -> bool:
        return self.unit_price is None

    @property
    def quantity(self) -> Decimal:
        return quotient(self.billed_seconds, self.unit_seconds)

    @property
    def exact(self) -> Fraction | None:
        ratio = self._ratio()
        return None if ratio is None else Fraction(*ratio)

    @property
    def amount(self) -> Decimal | None:
        ratio = self._ratio()
        return None if ratio is None else quotient(*ratio)

    def _ratio(self) -> tuple[int, int] | None:
        """The amount as (numerator, denominator), None when unpriced."""
        if self.unit_price is None:
            return None
        num, den = self.unit_price.as_integer_ratio()
        return num * self.billed_seconds, den * self.unit_seconds


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
    key_of = {name: key for key, name in usage.names.items()}  # a VM id as first spelled -> its key
    for vm_id, name, sku, size_gb, start_us, end_us in disks:
        a = -(-start_us // US_PER_SECOND)
        a = ws if a < ws else a
        b = we if end_us is None else min(-(-end_us // US_PER_SECOND), we)
        if b <= a:
            continue
        vm = key_of.get(vm_id)
        if vm is None:
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


@quiet_gc
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
    rows = timeline if isinstance(timeline, (list, tuple, UsageColumns)) else list(timeline)
    usage = meter(rows, window_start_us, window_end_us, rules.billed_states, rules.minimum_billed_seconds, by_day,
                  by_vm, by_state=group_by == "state")
    _check_states(usage)
    billed_01 = [1 if rules.billed(s) else 0 for s in usage.states]
    n_days = usage.n_days
    names = usage.names

    # each facts index's price key, numbered: pk_of[i] = p, keys[p] = the price key
    keys: list[PriceKey] = []
    spelling: list[str] = []  # the size as first written
    meters: list[Meter | None] = []
    number: dict[PriceKey, int] = {}
    facts_key: dict[tuple[str, str, str], int] = {}
    pk_of: list[int] = []
    for _vm, size, loc, os_type in usage.facts:
        p = facts_key.get((size, loc, os_type))
        if p is None:
            pk = price_key(size, loc, os_type)
            p = number.get(pk)
            if p is None:
                p = number[pk] = len(keys)
                keys.append(pk)
                spelling.append(size)
                meters.append(prices.vm(*pk))
            facts_key[(size, loc, os_type)] = p
        pk_of.append(p)

    # the line of each cell: by vm, (vm key, price key) per facts index; by meter, the price key; by
    # state or day, (state or day) * number of price keys + price key. line -> [seconds, billed seconds]
    n_keys = len(keys)
    acc: dict[int, list[int]] = {}
    line_keys: dict[tuple[str, int], int] = {}
    if by_vm or group_by == "meter":  # a line per facts index: in lists
        if by_vm:
            line_of = [line_keys.setdefault((f[0], p), len(line_keys)) for f, p in zip(usage.facts, pk_of, strict=True)]
        else:
            line_of = pk_of
        n_lines = len(line_keys) if by_vm else n_keys
        secs_of, billed_of = [0] * n_lines, [0] * n_lines
        for ck, n in usage.seconds.items():
            k = line_of[(ck >> 5) // n_days]
            secs_of[k] += n
            billed_of[k] += n * billed_01[ck & 31]
        for ck, n in usage.topups.items():
            billed_of[line_of[(ck >> 5) // n_days]] += n
        acc = {k: [secs_of[k], billed_of[k]] for k in range(n_lines) if secs_of[k] or billed_of[k]}
    else:
        for source, is_topup in ((usage.seconds, False), (usage.topups, True)):
            for ck, n in source.items():
                j = ck & 31
                i, d = divmod(ck >> 5, n_days)
                k = (j if group_by == "state" else d) * n_keys + pk_of[i]
                cell = acc.get(k)
                if cell is None:
                    cell = acc[k] = [0, 0]
                if is_topup:
                    cell[1] += n
                else:
                    cell[0] += n
                    cell[1] += n * billed_01[j]

    # unpriced usage, by VM, facts and OS
    unpriced_acc: dict[tuple[str, str, str, str], list[int]] = {}
    if None in meters:
        if by_vm:
            for ck, n in usage.seconds.items():
                i = (ck >> 5) // n_days
                if meters[pk_of[i]] is None:
                    vm, size, loc, _os = usage.facts[i]
                    u = unpriced_acc.setdefault((vm, size, loc, keys[pk_of[i]][2]), [0, 0])
                    u[0] += n
                    u[1] += n * billed_01[ck & 31]
            for ck, n in usage.topups.items():
                i = (ck >> 5) // n_days
                if meters[pk_of[i]] is None:
                    vm, size, loc, _os = usage.facts[i]
                    unpriced_acc.setdefault((vm, size, loc, keys[pk_of[i]][2]), [0, 0])[1] += n
        else:  # name the VMs behind the unpriced usage: meter again by VM (rare: an incomplete sheet)
            by_vm_usage = meter(rows, window_start_us, window_end_us, rules.billed_states,
                                rules.minimum_billed_seconds, False, True)
            unpriced_acc = _unpriced_by_vm(by_vm_usage, prices, rules)

    lines = _Lines()
    label = _Labels()
    entries, billed_by = lines.entries, lines.billed
    # what the lines of one price key share
    vm_templates = [lines.template(meters[p], label(meters[p], spelling[p], keys[p][1], keys[p][2]), spelling[p],
                                   keys[p][1], keys[p][2], "1 Hour", SECONDS_PER_HOUR) for p in range(n_keys)]
    vm_of_line = [vm for vm, _p in line_keys]  # (line_keys is in slot order)
    pk_of_line = [p for _vm, p in line_keys]
    for k, (secs, billed_secs) in acc.items():
        resource = ""
        billed_flag = None
        if by_vm:
            p = pk_of_line[k]
        else:
            g, p = divmod(k, n_keys) if group_by in ("state", "day") else (-1, k)
        meter_label, meter_id, size, loc, os_type, unit, price, per, t = vm_templates[p]
        if by_vm:
            group = resource = names[vm_of_line[k]]
        elif group_by == "state":
            group = usage.states[g]
            billed_flag = bool(billed_01[g])
        elif by_day:
            group = day_string(usage.first_day + g)
        else:
            group = meter_label
        entries.append(((group, False, resource, meter_label, size, loc, os_type),
                        LineItem(group_by, group, "vm", resource, meter_label, meter_id, size, loc, os_type, secs,
                                 billed_secs, unit, price, billed_flag, per)))
        billed_by[t] += billed_secs

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
    disk_templates: dict[tuple[str, str], tuple[str, str, str, str, str, str, Decimal | None, int, int]] = {}
    billed_flag = True if group_by == "state" else None
    append = entries.append
    for (vm, name, tier, loc, d), secs in disk_seconds.items():
        tmpl = disk_templates.get((tier, loc))
        if tmpl is None:
            m = _disk_meter(prices, tier, loc)
            tmpl = disk_templates[(tier, loc)] = lines.template(m, label(m, tier, loc, ""), tier, loc, "", "1/Month",
                                                                SECONDS_PER_MONTH)
            any_unpriced_disk = any_unpriced_disk or m is None
        meter_label, meter_id, size, loc_lower, _os, unit, price, per, t = tmpl
        if by_vm:
            group = names.get(vm, vm)
            resource = _disks_of(group) + name
        else:
            resource = ""
            group = DISK_STATE_GROUP if group_by == "state" else day_string(d) if by_day else meter_label
        append(((group, True, resource, meter_label, size, loc_lower, ""),
                LineItem(group_by, group, "disk", resource, meter_label, meter_id, size, loc_lower, "", secs, secs,
                         unit, price, billed_flag, per)))
        billed_by[t] += secs
    if any_unpriced_disk:
        unpriced.extend(_unpriced_disks(disk_list, usage, prices))
    _resource_lines(lines, resources, usage, prices, group_by, unpriced)
    return Bill(
        rules.name,
        prices.currency,
        window_start_us,
        window_end_us,
        group_by,
        lines.sorted(),
        lines.total(),
        tuple(_merge_unpriced(unpriced)),
    )


@quiet_gc
def vm_costs(
    timeline: Iterable[Row],
    prices: PriceSheet,
    rules: RuleSet,
    window_start_us: int,
    window_end_us: int,
) -> dict[str, Fraction | None]:
    """Each VM's compute (instance usage) cost in the window, exactly: what the VM lines of
    ``bill(timeline, (), ..., group_by="vm")`` charge the VM, added up (None when some of its usage
    has no price), by lower-case VM id; a VM with no metered second in the window is absent.

    For a fleet's cost so far (the dashboard): the seconds are added up in integers over one common
    denominator of the prices, so each VM costs one Fraction, and no line is made."""
    rows = timeline if isinstance(timeline, (list, tuple, UsageColumns)) else list(timeline)
    usage = meter(rows, window_start_us, window_end_us, rules.billed_states, rules.minimum_billed_seconds, False,
                  True, by_state=False)
    _check_states(usage)
    billed_01 = [1 if rules.billed(s) else 0 for s in usage.states]
    n_days = usage.n_days
    billed_of = [0] * len(usage.facts)
    has = bytearray(len(usage.facts))
    for ck, n in usage.seconds.items():
        i = (ck >> 5) // n_days
        billed_of[i] += n * billed_01[ck & 31]
        has[i] = 1
    for ck, n in usage.topups.items():
        i = (ck >> 5) // n_days
        billed_of[i] += n
        has[i] = 1
    meters: dict[tuple[str, str, str], Meter | None] = {}
    ratios: list[tuple[int, int] | None] = []  # per facts index: its price as (numerator, denominator)
    for _vm, size, loc, os_type in usage.facts:
        k = (size, loc, os_type)
        if k not in meters:
            meters[k] = prices.vm(*price_key(size, loc, os_type))
        m = meters[k]
        ratios.append(None if m is None else m.unit_price.as_integer_ratio())
    common = 1  # a common denominator of every price
    for r in ratios:
        if r is not None:
            common = common * r[1] // gcd(common, r[1])
    numerators: dict[str, int | None] = {}  # per VM key: cost * common * 3600
    for i, (vm, _size, _loc, _os) in enumerate(usage.facts):
        if not has[i]:
            continue
        r = ratios[i]
        so_far = numerators.get(vm, 0)
        numerators[vm] = None if r is None or so_far is None else so_far + r[0] * (common // r[1]) * billed_of[i]
    per = common * SECONDS_PER_HOUR
    return {vm: None if n is None else Fraction(n, per) for vm, n in numerators.items()}


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


def _resource_lines(lines: _Lines, resources: Iterable[ResourceSpan], usage: Usage, prices: PriceSheet,
                    group_by: str, unpriced: list[Unpriced]) -> None:
    """Add the lines of resource spans (disks, public IPs), billed whatever the power state; their
    unpriced usage is added to `unpriced`, per resource."""
    spans = resources if isinstance(resources, (list, tuple)) else list(resources)
    if not spans:
        return
    ws, we = usage.window_start_s, usage.window_end_s
    by_resource = group_by == "vm"
    seconds, names = meter_resources(spans, ws, we, by_resource, group_by == "day")
    any_unpriced = False
    for (rid, kind, label, loc, d), secs in seconds.items():
        per, unit, _category, _service = RESOURCE_KINDS[kind]
        m = resource_meter(prices, kind, label, loc)
        any_unpriced = any_unpriced or m is None
        group = _existing_group(group_by, names.get(rid, ""), d, m, label, loc)
        resource = group if group_by == "vm" else ""
        lines.add(group_by, group, kind, resource, m, _meter_label(m, label, loc, ""), label, loc, "", secs, secs, per,
                  unit, True if group_by == "state" else None)
    if any_unpriced:
        by_id = seconds if by_resource else meter_resources(spans, ws, we, True, False)[0]
        for (rid, kind, label, loc, _d), n in by_id.items():
            if resource_meter(prices, kind, label, loc) is None:
                unpriced.append(Unpriced(kind, names[rid], label, loc, "", n, n, unpriced_reason(kind, label)))


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
    return sorted(merged.values(), key=lambda u: (u.kind, u.resource_id.lower(), u.size, u.location, u.os_type))


class _Labels:
    """`_meter_label`, worked out once per meter (or unpriced size, location and OS)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str, str, str], str] = {}

    def __call__(self, m: Meter | None, size: str, location: str, os_type: str) -> str:
        k = (id(m), "", "", "") if m is not None else (0, size, location, os_type)
        text = self._seen.get(k)
        if text is None:
            text = self._seen[k] = _meter_label(m, size, location, os_type)
        return text


_NOT_LOOKED_UP = Meter("", "", "", "", "", Decimal(0), "", "")


class _Lines:
    """The lines of a bill as they are made, with their sort key (group, VM lines first, resource,
    meter, then size, location and OS so that the order is total), and the billed seconds of each
    template (a meter and its unit): the exact total is one Fraction per template."""

    def __init__(self) -> None:
        self.entries: list[tuple[tuple[str, bool, str, str, str, str, str], LineItem]] = []
        self.billed: list[int] = []  # per template
        self._prices: list[tuple[Decimal, int] | None] = []  # per template: (unit price, unit) of a priced meter

    def template(self, m: Meter | None, meter_label: str, size: str, location: str, os_type: str, unit: str,
                 per: int) -> tuple[str, str, str, str, str, str, Decimal | None, int, int]:
        """What the lines of one meter share: label, meter id, size, location (lower case), OS, unit
        of measure, unit price, seconds per unit, and the template's number."""
        t = len(self.billed)
        self.billed.append(0)
        self._prices.append(None if m is None else (m.unit_price, per))
        if m is None:
            return meter_label, "", size, location.lower(), os_type, unit, None, per, t
        return meter_label, m.meter_id, size, location.lower(), os_type, m.unit_of_measure or unit, m.unit_price, per, t

    def add(self, group_by: str, group: str, kind: str, resource: str, m: Meter | None, meter_label: str, size: str,
            location: str, os_type: str, seconds: int, billed_seconds: int, per: int, unit: str,
            billed: bool | None) -> None:
        meter_label, meter_id, size, loc, os_type, unit, price, per, t = self.template(
            m, meter_label, size, location, os_type, unit, per)
        self.entries.append(((group, kind != "vm", resource, meter_label, size, loc, os_type),
                             LineItem(group_by, group, kind, resource, meter_label, meter_id, size, loc, os_type,
                                      seconds, billed_seconds, unit, price, billed, per)))
        self.billed[t] += billed_seconds

    def sorted(self) -> tuple[LineItem, ...]:
        self.entries.sort(key=itemgetter(0))
        return tuple(map(itemgetter(1), self.entries))

    def total(self) -> Fraction:
        return exact_sum((p[0], n, p[1]) for p, n in zip(self._prices, self.billed, strict=True) if p is not None)
