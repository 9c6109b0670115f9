"""Meter first: fold a timeline into integer seconds per (VM facts, UTC day, state).

This is the hot path (a million rows in well under a second): plain tuples, integer arithmetic,
one dict update with an integer key per (row, day), and no object per interval. Prices are applied
later, on the aggregates (see `azvm.billing.bill`).

Time is metered in whole seconds of the UTC clock: the second [k s, k+1 s) belongs to whatever is
in force at its first instant (see `model.seconds_between`). A row's instant `at_us` maps to the
second lattice point ceil(at_us / 1e6), and every interval, window and day boundary is handled on
that lattice, which makes metering exactly additive: cutting a window anywhere neither gains nor
loses a second.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from .columns import UsageColumns
from .model import US_PER_SECOND, BillingError

__all__ = ["Row", "Usage", "UsageCell", "as_rows", "meter", "ceil_second", "day_cells", "quiet_gc", "SECONDS_PER_DAY"]

P = ParamSpec("P")
R = TypeVar("R")


def quiet_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with the cyclic garbage collector paused. A bill of a big fleet makes hundreds of
    thousands of small objects (cells, lines, keys), none of them in a reference cycle, which the
    collector would walk through again and again as they pile up (a third of the time of a
    100,000-VM bill). It is switched back on only if it was on (another thread may pause it too);
    memory is freed by reference counting as ever."""

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        was_on = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_on:
                gc.enable()

    return paused

SECONDS_PER_DAY = 86_400

#: A timeline row: StateChange or any tuple (vm_id, at_us, state, size, location, os_type)
Row = tuple[str, int, str, str, str, str]

_STATE_BITS = 5  # up to 32 distinct state strings (unknown ones are rejected when priced)
_STATE_MASK = (1 << _STATE_BITS) - 1


def ceil_second(at_us: int) -> int:
    """The first whole second at or after `at_us`."""
    return -(-at_us // US_PER_SECOND)


@dataclass(frozen=True, slots=True)
class UsageCell:
    """Seconds of one VM, with one set of facts (size, location, OS), in one state, on one UTC day."""

    vm_key: str
    size: str
    location: str
    os_type: str
    day: int  # days since 1970-01-01 (UTC)
    state: str
    seconds: int


@dataclass(frozen=True)
class Usage:
    """Metered seconds, keyed compactly.

    `facts[i]` is (vm key, size, location, os_type); `states[j]` a state string. A cell key is
    ``((i * n_days) + (day - first_day)) << 5 | j``; use `cells()` to read them. `seconds` holds
    every metered second of an existing VM (billed or not; `deleted` is not metered). `topups`
    holds the extra seconds that a rule set's `minimum_billed_seconds` adds to a short billed run,
    keyed like `seconds` at the run's last second. `names` maps each VM key to the VM id as first
    seen (for display), `locations` its location (from its first row).
    """

    seconds: dict[int, int]
    topups: dict[int, int]
    facts: list[tuple[str, str, str, str]]
    states: list[str]
    names: dict[str, str]
    locations: dict[str, str]
    window_start_s: int
    window_end_s: int
    first_day: int
    n_days: int
    day_seconds: int = SECONDS_PER_DAY  # the length of a cell's "day" (the whole window if not by day)

    def decode(self, key: int) -> tuple[int, int, int]:
        """(facts index, day, state index) of a cell key."""
        rest, j = key >> _STATE_BITS, key & _STATE_MASK
        i, d = divmod(rest, self.n_days)
        return i, d + self.first_day, j

    def cells(self, topups: bool = False) -> Iterator[UsageCell]:
        source = self.topups if topups else self.seconds
        for key, n in source.items():
            i, day, j = self.decode(key)
            vm, size, loc, os_type = self.facts[i]
            yield UsageCell(vm, size, loc, os_type, day, self.states[j], n)


class _Unsorted(Exception):
    pass


def day_cells(
    timeline: Iterable[Row],
    disks: Iterable[tuple[str, str, str, int, int, int | None]],
    window_start_us: int,
    window_end_us: int,
    resources: Iterable[tuple[str, str, str, int, str, int, int | None]] = (),
) -> int:
    """How many (row, disk or resource span, UTC day) pieces a by-day meter of the window folds: an upper bound of
    the lines of a bill by day and of the cost-details records, counted in one pass without
    metering. Each row counts the UTC days it covers inside the window (a VM absent or deleted
    counts nothing), each disk span likewise. Lets a caller refuse a window whose day-split output
    would be huge before doing the work."""
    ws, we = ceil_second(window_start_us), ceil_second(window_end_us)
    if we <= ws:
        return 0

    def days(a: int, b: int) -> int:
        a, b = max(a, ws), min(b, we)
        return 0 if b <= a else (b - 1) // SECONDS_PER_DAY - a // SECONDS_PER_DAY + 1

    def rows_days(rows: Iterable[Row]) -> int:
        last: dict[str, tuple[int, str]] = {}
        n = 0
        for vm_id, at_us, state, *_ in rows:
            k = vm_id.lower()
            at = ceil_second(at_us)
            prev = last.get(k)
            if prev is not None:
                if at < prev[0]:
                    raise _Unsorted
                if prev[1] != "deleted":
                    n += days(prev[0], at)
            last[k] = (at, state)
        return n + sum(days(at, we) for at, state in last.values() if state != "deleted")

    rows = as_rows(timeline)
    try:
        n = rows_days(rows)
    except _Unsorted:  # each VM's rows by time (stable: at one instant, input order)
        n = rows_days(sorted(rows, key=lambda r: r[1]))
    for _vm, _name, _sku, _size, start_us, end_us in disks:
        n += days(ceil_second(start_us), we if end_us is None else ceil_second(end_us))
    for *_facts, start_us, end_us in resources:
        n += days(ceil_second(start_us), we if end_us is None else ceil_second(end_us))
    return n


def as_rows(timeline: Iterable[Row]) -> Sequence[Row]:
    """A timeline as a sequence of rows: a list or tuple as it is, columns as tuples, anything else listed."""
    if isinstance(timeline, (list, tuple)):
        return timeline
    return timeline.rows() if isinstance(timeline, UsageColumns) else list(timeline)


def _sort_key(row: Row) -> tuple[str, int]:
    return (row[0].lower(), row[1])


def meter(
    timeline: Iterable[Row],
    window_start_us: int,
    window_end_us: int,
    billed_states: frozenset[str] = frozenset(),
    minimum_billed_seconds: int = 0,
    by_day: bool = True,
    by_vm: bool = True,
    billed_only: bool = False,
    by_state: bool = True,
) -> Usage:
    """Fold `timeline` (StateChange rows or plain tuples in the same field order) over a window.

    Rows may come in any order: the fast path expects them grouped by VM and sorted by time (as
    the store delivers them) and falls back to a stable sort by (lower-cased vm_id, at_us) when
    they are not; of two rows of one VM at the same instant, the later one in input order wins.
    `billed_states` and `minimum_billed_seconds` matter only for minimum-run top-ups. With
    `by_day=False` the cells are not split by UTC day (every cell reports the window's first day):
    fewer cells, for callers that do not group by day. With `by_vm=False` the cells are keyed by
    (size, location, os_type) only (facts carry "" as the VM key). With `billed_only=True` only
    the states in `billed_states` are metered, all under the single state name "billed". With
    `by_state=False`, a caller that needs no split by state says so: the cells may then count the
    seconds of every billed state under one of them, and those of every other metered state under
    one of those (fewer cells; the totals, billed and metered, are the same).
    """
    if window_end_us < window_start_us:
        raise BillingError(f"window ends ({window_end_us}) before it starts ({window_start_us})")
    if isinstance(timeline, UsageColumns) and not by_day and minimum_billed_seconds <= 0 and not billed_only:
        return _meter_columns(timeline, window_start_us, window_end_us, by_vm,
                              None if by_state else billed_states)
    rows = as_rows(timeline)
    args = (window_start_us, window_end_us, billed_states, minimum_billed_seconds, by_day, by_vm, billed_only)
    try:
        return _meter_sorted(rows, *args)
    except _Unsorted:
        return _meter_sorted(sorted(rows, key=_sort_key), *args)


def _meter_sorted(
    rows: Sequence[Row],
    window_start_us: int,
    window_end_us: int,
    billed_states: frozenset[str],
    minimum: int,
    by_day: bool,
    by_vm: bool,
    billed_only: bool,
) -> Usage:
    USEC = US_PER_SECOND
    ws = -(-window_start_us // USEC)
    we = -(-window_end_us // USEC)
    # without day split, one "day" as long as the window (and then some) holds every second
    DAY = SECONDS_PER_DAY if by_day else max(we - ws, 1) + SECONDS_PER_DAY
    first_day = ws // DAY
    n_days = max(1, (we - 1) // DAY - first_day + 1)
    seconds: dict[int, int] = {}
    topups: dict[int, int] = {}
    facts: list[tuple[str, str, str, str]] = []
    facts_index: dict[tuple[str, str, str, str], int] = {}
    states: list[str] = []
    state_index: dict[str, int] = {}
    if billed_only:
        # every billed state meters as "billed" (index 0); the others are skipped (index -1)
        states.append("billed")
        for s in billed_states:
            state_index[s] = 0
    names: dict[str, str] = {}
    locations: dict[str, str] = {}
    done: set[str] = set()
    get = seconds.get
    track_runs = minimum > 0

    p_vm = ""  # previous row: vm id as given, its key, second, state, state index, facts
    key = ""
    have_prev = False
    p_at = 0
    p_state = ""
    p_j = 0
    p_size = p_loc = p_os = ""
    base = 0  # facts index * n_days - first_day: cell key = ((base + day) << 5) | state index
    run_start = -1  # first second of the current billed run (minimum > 0 only); -1: none

    for vm_id, at_us, state, size, loc, os_type in rows:
        at = -(-at_us // USEC)
        if vm_id == p_vm:
            same_vm = True
        else:
            k = vm_id.lower()
            same_vm = have_prev and k == key
        if same_vm:
            if at < p_at:
                raise _Unsorted
            end = at
        else:
            end = -1  # the previous VM's last row holds to the window end
            if k in done:
                raise _Unsorted
        if have_prev:
            # close the previous row: [p_at, end) clipped to [ws, we)
            b = we if end < 0 or end > we else end
            a = ws if p_at < ws else p_at
            if b > a and p_j >= 0 and p_state != "deleted":
                d = a // DAY
                d1 = (b - 1) // DAY
                if d == d1:
                    ck = ((base + d) << 5) | p_j
                    seconds[ck] = get(ck, 0) + (b - a)
                else:
                    while d <= d1:
                        lo = d * DAY
                        hi = lo + DAY
                        ck = ((base + d) << 5) | p_j
                        seconds[ck] = get(ck, 0) + ((b if b < hi else hi) - (a if a > lo else lo))
                        d += 1
            if track_runs:
                if p_state in billed_states:
                    if run_start < 0:
                        run_start = p_at
                    ends_run = end >= 0 and state not in billed_states
                    if ends_run:
                        short = minimum - (end - run_start)
                        if short > 0 and ws <= end - 1 < we:
                            ck = ((base + (end - 1) // DAY) << 5) | p_j
                            topups[ck] = topups.get(ck, 0) + short
                    if end < 0 or ends_run:
                        run_start = -1
                else:
                    run_start = -1
        if not same_vm:
            if have_prev:
                done.add(key)
            key = k
            if k not in names:
                names[k] = vm_id
                locations[k] = loc
        p_vm = vm_id
        if state != p_state:
            j = state_index.get(state)
            if j is None and billed_only:
                j = -1
            elif j is None:
                j = state_index[state] = len(states)
                if j > _STATE_MASK:
                    raise BillingError(f"too many distinct states (at {vm_id} {at_us}: {state!r})")
                states.append(state)
            p_j = j
            p_state = state
        if not same_vm or size != p_size or loc != p_loc or os_type != p_os:
            fk = (key if by_vm else "", size, loc, os_type)
            i = facts_index.get(fk)
            if i is None:
                i = facts_index[fk] = len(facts)
                facts.append(fk)
            base = i * n_days - first_day
            p_size, p_loc, p_os = size, loc, os_type
        p_at = at
        have_prev = True
    if have_prev:
        b = we
        a = ws if p_at < ws else p_at
        if b > a and p_j >= 0 and p_state != "deleted":
            d = a // DAY
            while d <= (b - 1) // DAY:
                lo = d * DAY
                hi = lo + DAY
                ck = ((base + d) << 5) | p_j
                seconds[ck] = get(ck, 0) + ((b if b < hi else hi) - (a if a > lo else lo))
                d += 1
    return Usage(seconds, topups, facts, states, names, locations, ws, we, first_day, n_days, DAY)


def _meter_columns(cols: UsageColumns, window_start_us: int, window_end_us: int, by_vm: bool,
                   merge_by: frozenset[str] | None) -> Usage:
    """`_meter_sorted` without day split, minimum runs nor billed_only, over columns: the columns'
    fold (seconds per facts index and state code) is the Usage, keyed by the columns' own facts
    indexes and state codes (a VM may then have several facts of one spelling or another: every
    reader adds cells up by what the facts say). With `merge_by` (billed states), the billed states
    are folded under the first of them, the other metered states under the first of those."""
    USEC = US_PER_SECOND
    ws = -(-window_start_us // USEC)
    we = -(-window_end_us // USEC)
    DAY = max(we - ws, 1) + SECONDS_PER_DAY  # one "day" holds the whole window
    states = list(cols.state_names)
    # "deleted" is not metered: the VM does not exist
    merge = [-1 if name == "deleted" else j for j, name in enumerate(states)]
    if merge_by is not None:
        billed = [j for j, name in enumerate(states) if name in merge_by and merge[j] >= 0]
        others = [j for j, name in enumerate(states) if name not in merge_by and merge[j] >= 0]
        for group in (billed, others):
            for j in group:
                merge[j] = group[0]
    seconds = {k: x for k, x in cols.fold(ws, we, merge).items() if x > 0 and k >= 0}
    all_facts, keys = cols.facts, cols.vm_keys()
    facts = [(key if by_vm else "", size, loc, os_type)
             for key, (_vm, size, loc, os_type) in zip(keys, all_facts, strict=True)]
    # each VM's id as first spelled, and its location, from the first row of its (first) stream
    firsts = cols.first_facts()
    vm_keys = list(map(keys.__getitem__, firsts))
    names = dict(zip(vm_keys, [all_facts[f][0] for f in firsts], strict=True))
    locations = dict(zip(vm_keys, [all_facts[f][2] for f in firsts], strict=True))
    if len(names) < len(firsts):  # a VM over several streams: its first one's
        for key, f in zip(reversed(vm_keys), reversed(firsts), strict=True):
            names[key], locations[key] = all_facts[f][0], all_facts[f][2]
    return Usage(seconds, {}, facts, states, names, locations, ws, we, ws // DAY, 1, DAY)
