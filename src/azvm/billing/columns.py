"""A timeline held as columns, VM by VM: what a store reads its billing projection into.

A million state changes as a million tuples cost more to build than to meter. `UsageColumns` keeps
them as two integer arrays, cut into streams (one per VM, in time order): each row's instant and
state packed into one integer, and the id of the row's facts (VM id, size, location, OS) in a small
table. The meter folds it with no object per row (see `UsageColumns.fold`); anything else reads it
as the sequence of `StateChange`-shaped tuples it stands for, so every function that takes a
timeline takes it too.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from operator import add, and_, floordiv, sub
from typing import Protocol, overload

from .model import US_PER_SECOND, BillingError

__all__ = ["Facts", "Fold", "UsageColumns", "STATE_BITS"]

#: A packed row is ``at_us << STATE_BITS | state``, and a fold's code ``facts_id << STATE_BITS |
#: state``: up to 32 states. Instants stay within +-2**58 us (years 1 to 9999 do).
STATE_BITS = 5
_STATE_MASK = (1 << STATE_BITS) - 1

#: (vm_id, size, location, os_type): what a row says besides its instant and state
Facts = tuple[str, str, str, str]
Row = tuple[str, int, str, str, str, str]


class Fold(Protocol):
    """A faster `UsageColumns.fold` (e.g. vectorized): the same result, code by code."""

    def __call__(self, cols: UsageColumns, window_start_s: int, window_end_s: int,
                 merge: Sequence[int] | None) -> dict[int, int]: ...


class UsageColumns(Sequence[Row]):
    """State changes as columns: for the rows of stream n, ``starts[n] <= i < starts[n + 1]``,
    `packed[i]` is ``at_us << 5 | state code`` and `facts_ids[i]` the index of its facts.

    Each stream is one VM (every row's VM id the same, compared case-insensitively, and no other
    stream of that VM), its rows sorted by time; the builders (`from_streams`, `from_rows`) see to
    it. `facts[i]` is (vm_id, size, location, os_type); `state_names` maps a state code to its
    name. Read as a sequence, row i is ``(vm_id, at_us, state, size, location, os_type)``.
    """

    __slots__ = ("facts", "state_names", "packed", "facts_ids", "starts", "folder")
    STATE_BITS = STATE_BITS

    def __init__(self, facts: Sequence[Facts], state_names: Sequence[str], packed: array[int],
                 facts_ids: array[int], starts: array[int], folder: Fold | None = None) -> None:
        if len(state_names) > _STATE_MASK + 1:
            raise BillingError(f"too many distinct states ({len(state_names)}; at most {_STATE_MASK + 1})")
        self.facts = facts
        self.state_names = tuple(state_names)
        self.packed = packed
        self.facts_ids = facts_ids
        self.starts = starts
        self.folder = folder

    def with_fold(self, folder: Fold | None) -> UsageColumns:
        """The same columns (shared, not copied), folded by `folder` (None: the standard library's)."""
        return UsageColumns(self.facts, self.state_names, self.packed, self.facts_ids, self.starts, folder)

    # -- builders ------------------------------------------------------------------------------
    @classmethod
    def from_streams(cls, facts: Mapping[int, Facts], state_names: Sequence[str],
                     streams: Iterable[tuple[list[int], int | list[int]]]) -> UsageColumns:
        """From one stream per VM, as a store reads its projection: the packed rows
        (``at_us << 5 | state code``), and the facts id (a key of `facts`, any integer) of every row
        (a list) or of them all (an int). A stream out of time order is sorted (stably); a VM split
        over several streams, or a stream holding several VMs, is regrouped VM by VM. The facts are
        numbered anew from 0, in order of first use."""
        packed, facts_ids, starts = array("q"), array("q"), array("q", [0])
        table: list[Facts] = []
        number: dict[int, int] = {}  # the store's facts id -> ours
        vm_key: list[str] = []  # ours -> its VM id, lower case
        keys: set[str] = set()
        regroup = False
        for rows, fids in streams:
            if not rows:
                continue
            if isinstance(fids, int):
                ours_id = number.get(fids)
                if ours_id is None:
                    ours_id = number[fids] = len(table)
                    table.append(facts[fids])
                    vm_key.append(facts[fids][0].lower())
                ours = array("q", [ours_id]) * len(rows)
                key = vm_key[ours_id]
                regroup = regroup or key in keys
                keys.add(key)
            else:
                if len(fids) != len(rows):
                    raise BillingError(f"a stream has {len(rows)} rows and {len(fids)} facts ids")
                for fid in dict.fromkeys(fids):
                    if fid not in number:
                        number[fid] = len(table)
                        table.append(facts[fid])
                        vm_key.append(facts[fid][0].lower())
                ours = array("q", [number[f] for f in fids])
                vm_keys = {vm_key[f] for f in set(ours)}
                regroup = regroup or len(vm_keys) != 1 or not keys.isdisjoint(vm_keys)
                keys |= vm_keys
            if rows != sorted(rows):  # by instant (a stream's instants are distinct, or stay in order)
                order = sorted(range(len(rows)), key=lambda i: rows[i] >> STATE_BITS)
                rows, ours = [rows[i] for i in order], array("q", [ours[i] for i in order])
            packed.fromlist(rows)
            facts_ids += ours
            starts.append(len(packed))
        out = cls(table, state_names, packed, facts_ids, starts)
        return cls.from_rows(out, state_names) if regroup else out

    @classmethod
    def from_rows(cls, rows: Iterable[Row], state_names: Sequence[str] | None = None) -> UsageColumns:
        """From rows in any order: grouped by VM (case-insensitively, in order of first
        appearance), each VM's rows sorted by time (stably: of two rows at one instant, the later one
        in input order stays later). `state_names` numbers the states (in order of appearance by
        default)."""
        names = list(state_names or ())
        state_code = {s: i for i, s in enumerate(names)}
        fact_id: dict[Facts, int] = {}
        by_vm: dict[str, tuple[list[int], list[int]]] = {}  # VM key -> (packed rows, facts ids)
        last_id, mine = None, ([0], [0])
        for vm_id, at, state, size, loc, os_type in rows:
            j = state_code.get(state)
            if j is None:
                j = state_code[state] = len(names)
                names.append(state)
            f = (vm_id, size, loc, os_type)
            i = fact_id.get(f)
            if i is None:
                i = fact_id[f] = len(fact_id)
            if vm_id is not last_id:
                last_id, mine = vm_id, by_vm.setdefault(vm_id.lower(), ([], []))
            mine[0].append(at << STATE_BITS | j)
            mine[1].append(i)
        packed, facts_ids, starts = array("q"), array("q"), array("q", [0])
        for vm_packed, vm_facts in by_vm.values():
            if vm_packed != sorted(vm_packed):  # by instant, stably
                order = sorted(range(len(vm_packed)), key=lambda n: vm_packed[n] >> STATE_BITS)
                vm_packed, vm_facts = [vm_packed[n] for n in order], [vm_facts[n] for n in order]
            packed.fromlist(vm_packed)
            facts_ids.fromlist(vm_facts)
            starts.append(len(packed))
        return cls(list(fact_id), names, packed, facts_ids, starts)

    # -- metering ------------------------------------------------------------------------------
    def fold(self, window_start_s: int, window_end_s: int, merge: Sequence[int] | None = None) -> dict[int, int]:
        """Seconds per code (``facts index << 5 | state code``) in the window [window_start_s,
        window_end_s) of whole seconds: a row holds from the first second at or after its instant
        to its next row's (a VM's last row: to the window's end), clipped to the window. With
        `merge`, the seconds of state code j are counted under code ``merge[j]`` instead (under
        the key -1 when it is negative: not counted). Codes with no second in the window may be
        missing or 0. The meter's hot loop: C-level maps per VM and one list update per row (or
        the `folder` given, which must compute the same)."""
        if self.folder is not None:
            return self.folder(self, window_start_s, window_end_s, merge)
        return self.fold_here(window_start_s, window_end_s, merge)

    def fold_here(self, window_start_s: int, window_end_s: int, merge: Sequence[int] | None = None) -> dict[int, int]:
        """`fold` with the standard library, whatever the `folder`."""
        ws, we = window_start_s, window_end_s
        to = list(range(_STATE_MASK + 1)) if merge is None else list(merge) + [-1] * (_STATE_MASK + 1 - len(merge))
        out: dict[int, int] = {}
        get = out.get
        packed, facts_ids, starts = self.packed, self.facts_ids, self.starts
        # the first whole second at or after at_us, from at_us << 5 | state (state < 32 does not
        # carry it over a multiple of 32 s): (packed + 32 * (1 s - 1 us)) // (32 * 1 s)
        unit = US_PER_SECOND << STATE_BITS
        up = unit - (1 << STATE_BITS)
        for n in range(len(starts) - 1):
            lo, hi = starts[n], starts[n + 1]
            p = packed[lo:hi]
            s = list(map(floordiv, map(add, p, repeat(up)), repeat(unit)))
            if s[0] < ws or s[-1] > we:
                s = [ws if x < ws else we if x > we else x for x in s]
            d = list(map(sub, s[1:], s))
            d.append(we - s[-1])
            if _constant(facts_ids, lo, hi):
                acc = [0] * (_STATE_MASK + 1)
                for j, x in zip(map(and_, p, repeat(_STATE_MASK)), d, strict=True):
                    acc[j] += x
                base = facts_ids[lo] << STATE_BITS
                for j, x in enumerate(acc):
                    if x:
                        k = base | to[j] if to[j] >= 0 else -1
                        out[k] = get(k, 0) + x
            else:  # a VM resized within the stream: per row
                for f, j, x in zip(facts_ids[lo:hi], map(and_, p, repeat(_STATE_MASK)), d, strict=True):
                    k = f << STATE_BITS | to[j] if to[j] >= 0 else -1
                    out[k] = get(k, 0) + x
        return out

    # -- views ---------------------------------------------------------------------------------
    @property
    def n_streams(self) -> int:
        return len(self.starts) - 1

    def vm_ids(self) -> list[str]:
        """The VM id of each stream, as its first row spells it."""
        facts, facts_ids = self.facts, self.facts_ids
        return [facts[facts_ids[i]][0] for i in self.starts[:-1]]

    def first_us(self) -> int | None:
        """The earliest instant, None when there is no row."""
        return min(self.packed) >> STATE_BITS if self.packed else None

    def select(self, keep: Iterable[int]) -> UsageColumns:
        """The streams numbered in `keep`, in that order."""
        packed, facts_ids, starts = array("q"), array("q"), array("q", [0])
        for n in keep:
            lo, hi = self.starts[n], self.starts[n + 1]
            packed += self.packed[lo:hi]
            facts_ids += self.facts_ids[lo:hi]
            starts.append(len(packed))
        return UsageColumns(self.facts, self.state_names, packed, facts_ids, starts, self.folder)

    def of_vms(self, vm_ids: Iterable[str]) -> UsageColumns:
        """The streams of these VMs (ids compared case-insensitively)."""
        wanted = {v.lower() for v in vm_ids}
        return self.select(n for n, v in enumerate(self.vm_ids()) if v.lower() in wanted)

    def under(self, prefix: str) -> UsageColumns:
        """The streams of the VMs whose lower-case id starts with `prefix` (lower case)."""
        return self.select(n for n, v in enumerate(self.vm_ids()) if v.lower().startswith(prefix))

    def stream_of(self, i: int) -> int:
        """The stream that row i is in."""
        return bisect_right(self.starts, i) - 1

    def _row(self, i: int) -> Row:
        v = self.packed[i]
        vm_id, size, loc, os_type = self.facts[self.facts_ids[i]]
        return (vm_id, v >> STATE_BITS, self.state_names[v & _STATE_MASK], size, loc, os_type)

    # -- the Sequence[Row] protocol ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.packed)

    @overload
    def __getitem__(self, i: int) -> Row: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Row]: ...

    def __getitem__(self, i: int | slice) -> Row | Sequence[Row]:
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._row(i)

    def rows(self) -> list[Row]:
        """Every row, as a list of tuples (for the meters that fold rows one by one)."""
        facts, names, mask, bits = self.facts, self.state_names, _STATE_MASK, STATE_BITS
        return [(f[0], v >> bits, names[v & mask], f[1], f[2], f[3])
                for v, f in zip(self.packed, map(facts.__getitem__, self.facts_ids), strict=True)]

    def __iter__(self) -> Iterator[Row]:
        facts, names, mask, bits = self.facts, self.state_names, _STATE_MASK, STATE_BITS
        last, f = -1, ("", "", "", "")
        for v, fid in zip(self.packed, self.facts_ids, strict=True):
            if fid != last:
                last, f = fid, facts[fid]
            yield (f[0], v >> bits, names[v & mask], f[1], f[2], f[3])

    def __repr__(self) -> str:
        return f"UsageColumns({len(self)} rows, {self.n_streams} VMs)"


def _constant(values: array[int], lo: int, hi: int) -> bool:
    """Whether values[lo:hi] are all the same."""
    first = values[lo]
    return values[lo:hi].count(first) == hi - lo
