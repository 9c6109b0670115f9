"""Explain a charge interval by interval, and what-if: stopped VMs deallocated instead."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .bill import _meter_label, day_string, disk_resource_id, price_key
from .columns import UsageColumns
from .meter import Row, ceil_second, meter
from .model import (
    BILLING_STATES,
    SECONDS_PER_HOUR,
    SECONDS_PER_MONTH,
    US_PER_DAY,
    BillingError,
    DiskSpan,
    ResourceSpan,
    seconds_between,
)
from .money import ExactTotal, to_decimal
from .prices import PriceSheet, disk_meter_name
from .resources import ResourceInterval, resource_intervals
from .rules import RuleSet

__all__ = [
    "DiskInterval",
    "Explanation",
    "ExplainedInterval",
    "WhatIf",
    "WhatIfVm",
    "explain",
    "explain_resource",
    "what_if_deallocate",
]

DISK_REASON = "managed disks are billed whatever the power state, prorated per second of a 730-hour month"


@dataclass(frozen=True)
class ExplainedInterval:
    """One stretch of one timeline row inside the window (or a minimum-run top-up)."""

    start_us: int
    end_us: int
    seconds: int
    state: str
    size: str
    location: str
    os_type: str
    rule_set: str
    billed: bool
    reason: str
    meter: str
    unit_price: Decimal | None  # per hour
    amount: Decimal | None  # None: unpriced (or not billed and unpriced)
    exact: Fraction | None
    topup: bool = False

    @property
    def day(self) -> str:
        return day_string(self.start_us // US_PER_DAY)


@dataclass(frozen=True)
class DiskInterval:
    name: str
    resource_id: str
    sku: str
    size_gb: int
    tier: str | None
    location: str
    start_us: int
    end_us: int
    seconds: int
    reason: str
    unit_price: Decimal | None  # per month
    amount: Decimal | None
    exact: Fraction | None


@dataclass(frozen=True)
class Explanation(ExactTotal):
    vm_id: str
    rule_set: str
    currency: str
    window_start_us: int
    window_end_us: int
    intervals: tuple[ExplainedInterval, ...]
    disks: tuple[DiskInterval, ...]
    #: the spans of a disk or public IP resource (`explain_resource`): then `vm_id` is its id
    resources: tuple[ResourceInterval, ...] = ()

    @property
    def total_exact(self) -> Fraction:
        parts = [i.exact for i in self.intervals] + [d.exact for d in self.disks] + [r.exact for r in self.resources]
        return sum((p for p in parts if p is not None), Fraction(0))

    @property
    def complete(self) -> bool:
        """False when some billed time has no price."""
        return (all(i.exact is not None for i in self.intervals if i.billed)
                and all(d.exact is not None for d in self.disks)
                and all(r.exact is not None for r in self.resources))


def _split_days(a: int, b: int) -> list[tuple[int, int]]:
    out = []
    while a < b:
        nxt = min(b, (a // US_PER_DAY + 1) * US_PER_DAY)
        out.append((a, nxt))
        a = nxt
    return out


def explain(
    vm_id: str,
    timeline: Iterable[Row],
    disks: Iterable[DiskSpan],
    prices: PriceSheet,
    rules: RuleSet,
    window_start_us: int,
    window_end_us: int,
    split_days: bool = False,
) -> Explanation:
    """Every interval behind the charge of one VM (case-insensitive id) in the window.

    One interval per timeline row (clipped to the window; cut at UTC midnight if `split_days`),
    with the rule that billed it or not, the unit price and the amount; plus minimum-run top-ups
    and the VM's disks. The amounts add up exactly to what `bill` charges the VM.
    """
    if window_end_us < window_start_us:
        raise BillingError(f"window ends ({window_end_us}) before it starts ({window_start_us})")
    key = vm_id.lower()
    mine = timeline.of_vms([key]) if isinstance(timeline, UsageColumns) else timeline
    rows = sorted((r for r in mine if r[0].lower() == key), key=lambda r: r[1])
    display_id = rows[0][0] if rows else vm_id
    ws_s, we_s = ceil_second(window_start_us), ceil_second(window_end_us)
    out: list[ExplainedInterval] = []
    minimum = rules.minimum_billed_seconds
    run_start = -1
    for n, (_vm, at_us, state, size, loc, os_type) in enumerate(rows):
        if state not in BILLING_STATES:
            raise BillingError(f"unknown state {state!r} in the timeline of {display_id}")
        nxt = rows[n + 1] if n + 1 < len(rows) else None
        end_us = nxt[1] if nxt is not None else None
        rule = rules.rule(state)
        m = prices.vm(size, loc, os_type)
        label = _meter_label(m, size, loc, price_key(size, loc, os_type)[2])
        a = max(at_us, window_start_us)
        b = window_end_us if end_us is None else min(end_us, window_end_us)
        if b > a:
            for lo, hi in _split_days(a, b) if split_days else [(a, b)]:
                secs = seconds_between(lo, hi)
                exact = None
                if m is not None:
                    exact = Fraction(m.unit_price) * secs / SECONDS_PER_HOUR if rule.billed else Fraction(0)
                out.append(
                    ExplainedInterval(
                        lo,
                        hi,
                        secs,
                        state,
                        size,
                        loc,
                        os_type,
                        rules.name,
                        rule.billed,
                        f"{rules.name}: {rule.reason}",
                        label,
                        None if m is None else m.unit_price,
                        None if exact is None else to_decimal(exact),
                        exact,
                    )
                )
        if minimum > 0:
            if rule.billed:
                if run_start < 0:
                    run_start = ceil_second(at_us)
                if nxt is not None and not rules.billed(nxt[2]):
                    end_s = ceil_second(nxt[1])
                    short = minimum - (end_s - run_start)
                    if short > 0 and ws_s <= end_s - 1 < we_s:
                        exact = None if m is None else Fraction(m.unit_price) * short / SECONDS_PER_HOUR
                        run = end_s - run_start
                        out.append(
                            ExplainedInterval(
                                nxt[1],
                                nxt[1],
                                short,
                                state,
                                size,
                                loc,
                                os_type,
                                rules.name,
                                True,
                                f"{rules.name}: minimum_billed_seconds {minimum}: a billed run of {run} s "
                                f"is billed as {minimum} s",
                                label,
                                None if m is None else m.unit_price,
                                None if exact is None else to_decimal(exact),
                                exact,
                                True,
                            )
                        )
                    run_start = -1
            else:
                run_start = -1
    location = rows[0][4] if rows else ""
    disk_out: list[DiskInterval] = []
    for d_vm, name, sku, size_gb, start_us, end_us in disks:
        if d_vm.lower() != key:
            continue
        a = max(start_us, window_start_us)
        b = window_end_us if end_us is None else min(end_us, window_end_us)
        if b <= a:
            continue
        tier = disk_meter_name(sku, size_gb)
        dm = prices.disk(tier, location) if tier and location else None
        for lo, hi in _split_days(a, b) if split_days else [(a, b)]:
            secs = seconds_between(lo, hi)
            exact = None if dm is None else Fraction(dm.unit_price) * secs / SECONDS_PER_MONTH
            disk_out.append(
                DiskInterval(
                    name,
                    disk_resource_id(display_id, name),
                    sku,
                    size_gb,
                    tier,
                    location.lower(),
                    lo,
                    hi,
                    secs,
                    DISK_REASON,
                    None if dm is None else dm.unit_price,
                    None if exact is None else to_decimal(exact),
                    exact,
                )
            )
    return Explanation(
        display_id, rules.name, prices.currency, window_start_us, window_end_us, tuple(out), tuple(disk_out)
    )


def explain_resource(resource_id: str, resources: Iterable[ResourceSpan], prices: PriceSheet, rules: RuleSet,
                     window_start_us: int, window_end_us: int, split_days: bool = False) -> Explanation:
    """Every span behind the charge of one disk or public IP (case-insensitive id) in the window:
    its meter, unit price and amount. The amounts add up to what `bill` charges the resource."""
    if window_end_us < window_start_us:
        raise BillingError(f"window ends ({window_end_us}) before it starts ({window_start_us})")
    spans = [s for s in resources if s[0].lower() == resource_id.lower()]
    display_id = spans[0][0] if spans else resource_id
    out = resource_intervals(resource_id, spans, prices, window_start_us, window_end_us,
                             _split_days if split_days else None)
    return Explanation(display_id, rules.name, prices.currency, window_start_us, window_end_us, (), (), tuple(out))


@dataclass(frozen=True)
class WhatIfVm:
    vm_id: str
    stopped_seconds: int  # seconds in Stopped (allocated) within the window
    billed_stopped_seconds: int  # of which the rule set bills
    saving: Decimal | None  # None: the VM's size/region/OS has no price
    exact: Fraction | None


@dataclass(frozen=True)
class WhatIf(ExactTotal):
    """The saving had every Stopped (allocated) VM been deallocated instead."""

    rule_set: str
    currency: str
    window_start_us: int
    window_end_us: int
    vms: tuple[WhatIfVm, ...]  # VMs with stopped time, largest saving first
    total_exact: Fraction  # priced VMs only

    @property
    def unpriced(self) -> tuple[WhatIfVm, ...]:
        return tuple(v for v in self.vms if v.exact is None)


def what_if_deallocate(
    timeline: Iterable[Row],
    prices: PriceSheet,
    rules: RuleSet,
    window_start_us: int,
    window_end_us: int,
) -> WhatIf:
    """Per VM and in total: the stopped seconds priced at the VM's rate under `rules`.

    Deallocated is billed under no rule set, so a stopped second that the rule set bills is saved
    entirely; under ``docs-2018`` (Stopped not billed) the saving is zero. Minimum-run top-ups
    are left out (they depend on how the runs would have been cut).
    """
    usage = meter(timeline, window_start_us, window_end_us, by_day=False)
    billed = rules.billed("stopped")
    seconds: dict[str, int] = {}
    savings: dict[str, Fraction] = {}
    unpriced: set[str] = set()
    for cell in usage.cells():
        if cell.state != "stopped":
            continue
        seconds[cell.vm_key] = seconds.get(cell.vm_key, 0) + cell.seconds
        m = prices.vm(cell.size, cell.location, cell.os_type)
        if m is None:
            unpriced.add(cell.vm_key)
        else:
            saved = Fraction(m.unit_price) * cell.seconds / SECONDS_PER_HOUR if billed else Fraction(0)
            savings[cell.vm_key] = savings.get(cell.vm_key, Fraction(0)) + saved
    vms = []
    for vm, secs in seconds.items():
        exact = None if vm in unpriced else savings[vm]
        saving = None if exact is None else to_decimal(exact)
        vms.append(WhatIfVm(usage.names[vm], secs, secs if billed else 0, saving, exact))
    vms.sort(key=lambda v: (-(v.exact or Fraction(0)), v.vm_id.lower()))
    total = sum((v.exact for v in vms if v.exact is not None), Fraction(0))
    return WhatIf(rules.name, prices.currency, window_start_us, window_end_us, tuple(vms), total)
