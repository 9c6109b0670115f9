"""Plain resources billed for existing: managed disks (per month, by tier) and public IPs (per hour).

A `ResourceSpan` holds one meter from its start to its end whatever any VM does; the caller
(azvm.service.billing) has already cut the spans where the meter changes (a disk grown into
another tier) or where nothing is billed (a Basic Dynamic public IP released while its VM is
deallocated). Here they are metered on the same second lattice as VMs and priced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from .meter import SECONDS_PER_DAY, ceil_second
from .model import RESOURCE_KINDS, BillingError, ResourceSpan, seconds_between
from .money import to_decimal
from .prices import Meter, PriceSheet, disk_meter_name

__all__ = [
    "RESOURCE_REASONS",
    "ResourceInterval",
    "ResourceKey",
    "meter_resources",
    "resource_intervals",
    "resource_label",
    "resource_meter",
    "unpriced_reason",
]

RESOURCE_REASONS: dict[str, str] = {
    "disk": "managed disks are billed from creation to deletion, whatever the state of any VM, prorated per"
            " second of a 730-hour month",
    "publicip": "public IPs are billed per hour from creation to deletion, whatever the state of any VM (a Basic"
                " Dynamic address only while it holds an address)",
}

#: (resource id lower-cased or "", kind, meter label, location lower-cased, UTC day or -1)
ResourceKey = tuple[str, str, str, str, int]


def _kind(kind: str) -> tuple[int, str, str, str]:
    k = RESOURCE_KINDS.get(kind)
    if k is None:
        raise BillingError(f"resource kind {kind!r}: expected one of {', '.join(RESOURCE_KINDS)}")
    return k


def resource_label(kind: str, sku: str, size_gb: int) -> str:
    """The meterName a span is priced under: a disk's tier (``P10 LRS Disk``; the sku when it has
    no tier), a public IP's meterName as given."""
    if kind == "disk":
        return disk_meter_name(sku, size_gb) or sku
    return sku


def resource_meter(prices: PriceSheet, kind: str, label: str, location: str) -> Meter | None:
    if kind == "disk":
        return prices.disk(label, location) if label.endswith(" Disk") else None
    if kind == "publicip":
        return prices.public_ip(label, location)
    return None


def unpriced_reason(kind: str, label: str) -> str:
    if kind == "disk" and not label.endswith(" Disk"):
        return "the disk sku is not priced by tier"
    what = "disk tier" if kind == "disk" else "public IP meter"
    return f"no Consumption price for this {what} and region"


def meter_resources(
    spans: Iterable[ResourceSpan],
    window_start_s: int,
    window_end_s: int,
    by_resource: bool = True,
    by_day: bool = False,
) -> tuple[dict[ResourceKey, int], dict[str, str]]:
    """Seconds of each resource meter in the window, and each resource id as first spelled.

    The resource id in a key is "" unless `by_resource`, the day -1 unless `by_day`.
    """
    ws, we = window_start_s, window_end_s
    out: dict[ResourceKey, int] = {}
    names: dict[str, str] = {}
    labels: dict[tuple[str, str, int], str] = {}
    for rid, kind, sku, size_gb, location, start_us, end_us in spans:
        _kind(kind)
        a = max(ceil_second(start_us), ws)
        b = we if end_us is None else min(ceil_second(end_us), we)
        if b <= a:
            continue
        label = labels.get((kind, sku, size_gb))
        if label is None:
            label = labels[(kind, sku, size_gb)] = resource_label(kind, sku, size_gb)
        key = rid.lower()
        names.setdefault(key, rid)
        if not by_resource:
            key = ""
        loc = location.lower()
        if by_day:
            d, d1 = a // SECONDS_PER_DAY, (b - 1) // SECONDS_PER_DAY
            while d <= d1:
                lo = d * SECONDS_PER_DAY
                k = (key, kind, label, loc, d)
                out[k] = out.get(k, 0) + min(b, lo + SECONDS_PER_DAY) - max(a, lo)
                d += 1
        else:
            k = (key, kind, label, loc, -1)
            out[k] = out.get(k, 0) + b - a
    return out, names


@dataclass(frozen=True)
class ResourceInterval:
    """One span of a disk or public IP inside the window, with its meter and amount."""

    resource_id: str
    kind: str  # "disk" | "publicip"
    sku: str
    size_gb: int
    meter: str  # the meterName (a disk's tier)
    location: str
    start_us: int
    end_us: int
    seconds: int
    reason: str
    unit_of_measure: str  # "1/Month" | "1 Hour"
    unit_price: Decimal | None
    amount: Decimal | None
    exact: Fraction | None


def resource_intervals(
    resource_id: str,
    spans: Iterable[ResourceSpan],
    prices: PriceSheet,
    window_start_us: int,
    window_end_us: int,
    pieces: Callable[[int, int], list[tuple[int, int]]] | None = None,
) -> list[ResourceInterval]:
    """Every span of one resource (case-insensitive id) clipped to the window, priced.

    `pieces`, when given, is a function (start_us, end_us) -> [(lo, hi), ...] that cuts a span
    (e.g. at UTC midnight)."""
    key = resource_id.lower()
    out: list[ResourceInterval] = []
    for rid, kind, sku, size_gb, location, start_us, end_us in sorted(
            (s for s in spans if s[0].lower() == key), key=lambda s: s[5]):
        per, unit, _cat, _svc = _kind(kind)
        a = max(start_us, window_start_us)
        b = window_end_us if end_us is None else min(end_us, window_end_us)
        if b <= a:
            continue
        label = resource_label(kind, sku, size_gb)
        m = resource_meter(prices, kind, label, location)
        cut = pieces(a, b) if pieces is not None else [(a, b)]
        for lo, hi in cut:
            secs = seconds_between(lo, hi)
            exact = None if m is None else Fraction(m.unit_price) * secs / per
            out.append(ResourceInterval(rid, kind, sku, size_gb, label, location.lower(), lo, hi, secs,
                                        RESOURCE_REASONS[kind], (m.unit_of_measure if m else "") or unit,
                                        None if m is None else m.unit_price,
                                        None if exact is None else to_decimal(exact), exact))
    return out
