"""Meter first: fold a timeline into integer seconds per (VM, UTC day, state, size, region, OS).

This is the hot path (a million rows in well under a second): plain tuples, integer arithmetic,
one dict update per (row, day) and no object per interval. Prices are applied later, on the
aggregates (see `azvm.billing.bill`).

Time is metered in whole seconds of the UTC clock: the second [k s, k+1 s) belongs to whatever is
in force at its first instant (see `model.seconds_between`). A row's instant `at_us` therefore
maps to the second lattice point ceil(at_us / 1e6), and every interval, window and day boundary
is handled on that lattice, which makes metering exactly additive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import US_PER_SECOND, BillingError

__all__ = ["Usage", "UsageKey", "meter", "ceil_second", "vm_key"]

SECONDS_PER_DAY = 86_400

#: (vm key, UTC day number since the epoch, state, size, location, os_type)
UsageKey = tuple[str, int, str, str, str, str]

#: A timeline row: StateChange or any tuple (vm_id, at_us, state, size, location, os_type)
Row = tuple[str, int, str, str, str, str]


def ceil_second(at_us: int) -> int:
    """The first whole second at or after `at_us`."""
    return -(-at_us // US_PER_SECOND)


def vm_key(vm_id: str) -> str:
    """VM ids are compared case-insensitively."""
    return vm_id.lower()


@dataclass(frozen=True)
class Usage:
    """Metered seconds.

    `seconds` holds every metered second of an existing VM (billed or not, `deleted` excluded).
    `topups` holds the extra seconds that a rule set's `minimum_billed_seconds` adds to a short
    billed run, under the key of the run's last second. `names` maps each VM key to the VM id as
    first seen (for display).
    """

    seconds: dict[UsageKey, int]
    topups: dict[UsageKey, int]
    names: dict[str, str]
    window_start_s: int
    window_end_s: int


class _Unsorted(Exception):
    pass


def _sort_key(row: Row) -> tuple[str, int]:
    return (row[0].lower(), row[1])


def meter(
    timeline: Iterable[Row],
    window_start_us: int,
    window_end_us: int,
    billed_states: frozenset[str] = frozenset(),
    minimum_billed_seconds: int = 0,
) -> Usage:
    """Fold `timeline` (StateChange rows or plain tuples in the same field order) over a window.

    Rows may come in any order: the fast path expects them grouped by VM and sorted by time (as
    the store delivers them) and falls back to a (stable) sort when they are not.
    `billed_states` and `minimum_billed_seconds` matter only for minimum-run top-ups.
    """
    if window_end_us < window_start_us:
        raise BillingError(f"window ends ({window_end_us}) before it starts ({window_start_us})")
    rows = timeline if isinstance(timeline, (list, tuple)) else list(timeline)
    try:
        return _meter_sorted(rows, window_start_us, window_end_us, billed_states, minimum_billed_seconds)
    except _Unsorted:
        ordered = sorted(rows, key=_sort_key)
        return _meter_sorted(ordered, window_start_us, window_end_us, billed_states, minimum_billed_seconds)


def _meter_sorted(
    rows: Sequence[Row],
    window_start_us: int,
    window_end_us: int,
    billed_states: frozenset[str],
    minimum: int,
) -> Usage:
    ws = -(-window_start_us // US_PER_SECOND)
    we = -(-window_end_us // US_PER_SECOND)
    day = SECONDS_PER_DAY
    seconds: dict[UsageKey, int] = {}
    topups: dict[UsageKey, int] = {}
    names: dict[str, str] = {}
    get = seconds.get
    lowered: dict[str, str] = {}
    done: set[str] = set()

    key = ""  # current VM key
    p_at = 0  # previous row: its second, state, size, location, os
    p_state = p_size = p_loc = p_os = ""
    have_prev = False
    run_start = -1  # start second of the current billed run (minimum > 0 only), -1: none
    track_runs = minimum > 0

    for row in rows:
        vm_id, at_us, state, size, loc, os_type = row
        at = -(-at_us // US_PER_SECOND)
        k = lowered.get(vm_id)
        if k is None:
            k = vm_id.lower()
            lowered[vm_id] = k
        if k == key and have_prev:
            if at < p_at:
                raise _Unsorted
            end = at
        else:
            end = -1  # previous VM (if any) runs to the window end
            if k in done:
                raise _Unsorted
        if have_prev:
            # close the previous row: [p_at, end) clipped to [ws, we)
            b = we if end < 0 or end > we else end
            a = ws if p_at < ws else p_at
            if b > a and p_state != "deleted":
                d0 = a // day
                d1 = (b - 1) // day
                if d0 == d1:
                    ukey = (key, d0, p_state, p_size, p_loc, p_os)
                    seconds[ukey] = get(ukey, 0) + (b - a)
                else:
                    d = d0
                    while d <= d1:
                        lo = d * day
                        hi = lo + day
                        ukey = (key, d, p_state, p_size, p_loc, p_os)
                        seconds[ukey] = get(ukey, 0) + ((b if b < hi else hi) - (a if a > lo else lo))
                        d += 1
            if track_runs:
                if p_state in billed_states:
                    if run_start < 0:
                        run_start = p_at
                    ends_run = end >= 0 and state not in billed_states
                    if ends_run:
                        short = minimum - (end - run_start)
                        if short > 0 and ws <= end - 1 < we:
                            tkey = (key, (end - 1) // day, p_state, p_size, p_loc, p_os)
                            topups[tkey] = topups.get(tkey, 0) + short
                    if end < 0 or ends_run:
                        run_start = -1
                else:
                    run_start = -1
        if k != key or not have_prev:
            if have_prev:
                done.add(key)
            key = k
            if k not in names:
                names[k] = vm_id
        p_at = at
        p_state, p_size, p_loc, p_os = state, size, loc, os_type
        have_prev = True
    if have_prev:
        b = we
        a = ws if p_at < ws else p_at
        if b > a and p_state != "deleted":
            d = a // day
            while d <= (b - 1) // day:
                lo = d * day
                hi = lo + day
                ukey = (key, d, p_state, p_size, p_loc, p_os)
                seconds[ukey] = get(ukey, 0) + ((b if b < hi else hi) - (a if a > lo else lo))
                d += 1
    return Usage(seconds, topups, names, ws, we)
