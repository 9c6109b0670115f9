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
from itertools import accumulate, islice, pairwise, repeat
from operator import add, and_, floordiv, sub
from typing import Protocol, overload

from .model import US_PER_SECOND, BillingError

__all__ = ["ColumnsBuilder", "Facts", "Fold", "UsageColumns", "STATE_BITS"]

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

    When every stream has one facts id (no VM resized), `stream_facts[n]` is stream n's, and the
    columns may be made with it alone: `facts_ids` is then made from it the first time it is read
    (the folds and a bill by VM, state or meter read `stream_facts` instead).

    Each stream is one VM (every row's VM id the same, compared case-insensitively, and no other
    stream of that VM), its rows sorted by time; the builders (`from_streams`, `from_rows`,
    `ColumnsBuilder`) see to it. `facts[i]` is (vm_id, size, location, os_type); `state_names` maps
    a state code to its name. Read as a sequence, row i is ``(vm_id, at_us, state, size, location,
    os_type)``.
    """

    __slots__ = ("facts", "state_names", "packed", "starts", "folder", "_facts_ids", "_stream_facts", "_keys")
    STATE_BITS = STATE_BITS

    def __init__(self, facts: Sequence[Facts], state_names: Sequence[str], packed: array[int],
                 facts_ids: array[int] | None, starts: array[int], folder: Fold | None = None, *,
                 stream_facts: array[int] | None = None, vm_keys: Sequence[str] | None = None) -> None:
        if len(state_names) > _STATE_MASK + 1:
            raise BillingError(f"too many distinct states ({len(state_names)}; at most {_STATE_MASK + 1})")
        if facts_ids is None and stream_facts is None:
            raise BillingError("columns need the facts ids of their rows or of their streams")
        self.facts = facts
        self.state_names = tuple(state_names)
        self.packed = packed
        self.starts = starts
        self.folder = folder
        self._facts_ids = facts_ids
        self._stream_facts: array[int] | None | bool = True if stream_facts is None else stream_facts  # True: unknown
        self._keys = vm_keys

    def with_fold(self, folder: Fold | None) -> UsageColumns:
        """The same columns (shared, not copied), folded by `folder` (None: the standard library's)."""
        known = self._stream_facts
        out = UsageColumns(self.facts, self.state_names, self.packed, self._facts_ids, self.starts, folder,
                           stream_facts=known if isinstance(known, array) else None, vm_keys=self._keys)
        out._stream_facts = known
        return out

    @property
    def facts_ids(self) -> array[int]:
        """The facts id of each row (made from `stream_facts` when the columns were made without it)."""
        if self._facts_ids is None:
            one = [array("q", [f]).tobytes() for f in range(len(self.facts))]
            starts, ids = self.starts, array("q")
            ids.frombytes(b"".join(map(bytes.__mul__, map(one.__getitem__, self.stream_facts or ()),
                                       map(sub, starts[1:], starts))))
            self._facts_ids = ids
        return self._facts_ids

    @property
    def stream_facts(self) -> array[int] | None:
        """The facts id of each stream's rows, None when a stream has several (a VM resized)."""
        if self._stream_facts is True:
            ids, starts = self._facts_ids, self.starts
            assert ids is not None
            self._stream_facts = array("q", [ids[lo] for lo in starts[:-1]]) if all(
                _constant(ids, lo, hi) for lo, hi in pairwise(starts)) else None
        known = self._stream_facts
        return known if isinstance(known, array) else None

    def vm_keys(self) -> Sequence[str]:
        """The VM id of each facts entry in lower case (the key a VM is known by), worked out once."""
        if self._keys is None:
            self._keys = [f[0].lower() for f in self.facts]
        return self._keys

    # -- builders ------------------------------------------------------------------------------
    @classmethod
    def from_streams(cls, facts: Mapping[int, Facts], state_names: Sequence[str],
                     streams: Iterable[tuple[list[int], int | list[int]]]) -> UsageColumns:
        """From one stream per VM, as a store reads its projection: the packed rows
        (``at_us << 5 | state code``), and the facts id (a key of `facts`, any integer) of every row
        (a list) or of them all (an int). A stream out of time order is sorted (stably); a VM split
        over several streams, or a stream holding several VMs, is regrouped VM by VM. The facts are
        numbered anew from 0, in order of first use. (`ColumnsBuilder` takes streams a chunk at a
        time.)"""
        builder = ColumnsBuilder(state_names)
        packed: list[int] = []
        lengths: list[int] = []
        fids: list[int | list[int]] = []
        for rows, f in streams:
            packed += rows
            lengths.append(len(rows))
            fids.append(f)
            if len(lengths) == 1024:
                builder.add(array("q", packed), lengths, fids)
                packed, lengths, fids = [], [], []
        builder.add(array("q", packed), lengths, fids)
        return builder.build(facts)

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
        one: array[int] | None = array("q")
        for vm_packed, vm_facts in by_vm.values():
            if vm_packed != sorted(vm_packed):  # by instant, stably
                order = sorted(range(len(vm_packed)), key=lambda n: vm_packed[n] >> STATE_BITS)
                vm_packed, vm_facts = [vm_packed[n] for n in order], [vm_facts[n] for n in order]
            packed.fromlist(vm_packed)
            facts_ids.fromlist(vm_facts)
            starts.append(len(packed))
            if one is not None and vm_facts.count(vm_facts[0]) == len(vm_facts):
                one.append(vm_facts[0])
            else:
                one = None
        out = cls(list(fact_id), names, packed, facts_ids, starts, stream_facts=one)
        out._stream_facts = one  # (None: known to be per row)
        return out

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
        packed, starts, one = self.packed, self.starts, self.stream_facts
        facts_ids = self.facts_ids if one is None else array("q")
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
            if one is not None or _constant(facts_ids, lo, hi):
                acc = [0] * (_STATE_MASK + 1)
                for j, x in zip(map(and_, p, repeat(_STATE_MASK)), d, strict=True):
                    acc[j] += x
                base = (facts_ids[lo] if one is None else one[n]) << STATE_BITS
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

    def first_facts(self) -> list[int]:
        """The facts id of each stream's first row."""
        one = self.stream_facts
        return list(map(self.facts_ids.__getitem__, self.starts[:-1])) if one is None else one.tolist()

    def vm_ids(self) -> list[str]:
        """The VM id of each stream, as its first row spells it."""
        facts = self.facts
        return [facts[f][0] for f in self.first_facts()]

    def first_us(self) -> int | None:
        """The earliest instant, None when there is no row."""
        return min(self.packed) >> STATE_BITS if self.packed else None

    def select(self, keep: Iterable[int]) -> UsageColumns:
        """The streams numbered in `keep`, in that order."""
        packed, facts_ids, starts = array("q"), array("q"), array("q", [0])
        one, kept = self.stream_facts, array("q")
        for n in keep:
            lo, hi = self.starts[n], self.starts[n + 1]
            packed += self.packed[lo:hi]
            if one is None:
                facts_ids += self.facts_ids[lo:hi]
            else:
                kept.append(one[n])
            starts.append(len(packed))
        if one is None:
            return UsageColumns(self.facts, self.state_names, packed, facts_ids, starts, self.folder,
                                vm_keys=self._keys)
        return UsageColumns(self.facts, self.state_names, packed, None, starts, self.folder, stream_facts=kept,
                            vm_keys=self._keys)

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


class ColumnsBuilder:
    """`UsageColumns` put together a chunk of streams at a time, as a store reads them, before the
    facts that the rows name are known (a store reads its facts table after the rows, so that every
    facts id a row names is in it). The streams are those of `UsageColumns.from_streams`, with
    the same result: streams sorted by time where they are not, facts numbered in order of first
    use, and VMs regrouped if a stream holds several or a VM has several streams."""

    def __init__(self, state_names: Sequence[str]) -> None:
        self.state_names = tuple(state_names)
        self.packed, self.starts = array("q"), array("q", [0])
        self._number: dict[int, int] = {}  # a store's facts id -> ours (in order of first use)
        self._stream_facts: list[int] = []  # per stream: its facts (ours), or -1: see _row_facts
        self._row_facts: dict[int, list[int]] = {}  # stream -> the facts (ours) of each row

    def add(self, packed: array[int], lengths: Sequence[int], fids: Sequence[int | Sequence[int]],
            in_order: bool = False) -> None:
        """Streams one after another: `packed` holds the rows of them all (``at_us << 5 | state
        code``), `lengths` how many rows each has, `fids` each one's facts id (an int: every row's)
        or the facts id of each of its rows. `in_order`: each stream's instants are known to
        increase (else each is checked, and sorted stably by instant where it is not; `packed` is
        then reordered in place)."""
        if len(lengths) != len(fids):
            raise BillingError(f"{len(lengths)} streams and {len(fids)} facts ids")
        if sum(lengths) != len(packed):
            raise BillingError(f"{len(packed)} rows in streams of {sum(lengths)}")
        number, stream_facts, starts = self._number, self._stream_facts, self.starts
        end = starts[-1]
        if in_order and 0 not in lengths and set(map(type, fids)) <= {int}:  # with C-level loops
            stream_facts.extend([number.setdefault(f, len(number)) for f in fids])  # type: ignore[arg-type]
            starts.extend(islice(accumulate(lengths, initial=end), 1, None))
            self.packed += packed
            return
        lo = 0
        for n, f in zip(lengths, fids, strict=True):
            hi = lo + n
            if not n:
                continue
            if isinstance(f, int):
                if not in_order:
                    _sort_stream(packed, lo, hi, [])
                stream_facts.append(number.setdefault(f, len(number)))
            else:
                if len(f) != n:
                    raise BillingError(f"a stream has {n} rows and {len(f)} facts ids")
                ours = [number.setdefault(x, len(number)) for x in f]
                if not in_order:
                    ours = _sort_stream(packed, lo, hi, ours)
                if ours.count(ours[0]) == n:
                    stream_facts.append(ours[0])
                else:
                    self._row_facts[len(stream_facts)] = ours
                    stream_facts.append(-1)
            end += n
            starts.append(end)
            lo = hi
        self.packed += packed

    def build(self, facts: Mapping[int, Facts], folder: Fold | None = None) -> UsageColumns:
        """The columns, with `facts` (the store's facts by id: every id that a row names)."""
        table = [facts[f] for f in self._number]
        vm_key = [f[0].lower() for f in table]
        row_facts = self._row_facts
        stream_keys = [vm_key[f] for f in self._stream_facts if f >= 0]
        regroup = len(set(stream_keys)) < len(stream_keys)  # a VM in several streams
        for ours in row_facts.values():  # a stream of several VMs, or of a VM in another stream
            regroup = regroup or len({vm_key[o] for o in ours}) != 1
            stream_keys.append(vm_key[ours[0]])
        regroup = regroup or len(set(stream_keys)) < len(stream_keys)
        if not row_facts:
            out = UsageColumns(table, self.state_names, self.packed, None, self.starts, folder,
                               stream_facts=array("q", self._stream_facts), vm_keys=vm_key)
        else:
            one = [array("q", [f]).tobytes() for f in range(len(table))]
            starts = self.starts
            facts_ids = array("q")
            facts_ids.frombytes(b"".join(
                one[f] * (starts[n + 1] - starts[n]) if f >= 0 else array("q", row_facts[n]).tobytes()
                for n, f in enumerate(self._stream_facts)))
            out = UsageColumns(table, self.state_names, self.packed, facts_ids, starts, folder, vm_keys=vm_key)
            out._stream_facts = None  # (known to be per row)
        return UsageColumns.from_rows(out, self.state_names).with_fold(folder) if regroup else out


def _sort_stream(packed: array[int], lo: int, hi: int, fids: list[int]) -> list[int]:
    """Sort packed[lo:hi] (one stream) by instant, stably, in place, and `fids` (each row's facts,
    or none) alike: returned."""
    rows = packed[lo:hi]
    if rows.tolist() == sorted(rows):  # (a stream's instants are distinct, or stay in order)
        return fids
    order = sorted(range(hi - lo), key=lambda i: rows[i] >> STATE_BITS)
    packed[lo:hi] = array("q", [rows[i] for i in order])
    return [fids[i] for i in order] if fids else fids


def _constant(values: array[int], lo: int, hi: int) -> bool:
    """Whether values[lo:hi] are all the same."""
    first = values[lo]
    return values[lo:hi].count(first) == hi - lo
