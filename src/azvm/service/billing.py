"""Billing use cases: the meter (azvm.billing) over the store's history, or an imported timeline."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from .. import billing as b
from ..clock import MAX_ISO, MAX_US, from_datetime, iso, parse_iso, to_datetime
from ..domain.errors import ArmError, BadRequest, InvalidParameter, NotFound
from ..domain.usage import (
    ResourceVersion,
    disk_resource_spans,
    public_ip_spans,
    vm_disks_without_resources,
)

# the plain resource types that the meter reads (Disk resources, public IPs, and the NICs that link a
# public IP to its VM)
from .neighbours import DISK_TYPE, NIC_TYPE, PUBLIC_IP_TYPE
from .ports import ResourceRow, Store

DAY_US = 86_400_000_000
MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z: windows stay inside years 1 to 9999

#: The most (row or disk, UTC day) pieces that one request may bill by day over HTTP (a bill by
#: day, the cost-details export, a Cost Management query): about 550 VMs with a disk each over a
#: year, or 3,300 over a month. The CLI has no such bound. See docs/billing.md.
MAX_DAY_CELLS = 200_000
#: Cost Management answers at most one year per Custom query.
MAX_QUERY_YEARS = 1
#: Cost Management: "Query can have up to 2 group by clauses", "up to 2 aggregation clauses".
MAX_GROUPINGS = 2
MAX_AGGREGATIONS = 2

T = TypeVar("T")


def shown(value: str, limit: int = 100) -> str:
    """A caller's value as a message may quote it: escaped, and cut when long."""
    text = json.dumps(value)[1:-1]
    return text if len(text) <= limit else text[:limit] + "..."


def resolve_rules(name_or_path: str | None) -> b.RuleSet:
    """A built-in rule set by name, or one loaded from a JSON file."""
    if name_or_path is None:
        return b.rule_set()
    if name_or_path in b.BUILTIN_RULE_SETS:
        return b.rule_set(name_or_path)
    if Path(name_or_path).exists():
        return b.load_rules(name_or_path)
    raise b.RuleSetError("name", f"unknown rule set {name_or_path!r}: expected one of "
                                 f"{', '.join(b.BUILTIN_RULE_SETS)}, or a JSON file")


def resolve_prices(path: str | None) -> b.PriceSheet:
    return b.sample_prices() if path is None else b.load_prices(path)


def _str(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize() if d == d.to_integral() else d, "f")


@dataclass
class Timeline:
    """What a bill is computed from: state changes (a store's as `azvm.billing.UsageColumns`), the
    disks of the VM model, the spans of plain resources billed for existing (Disk resources, public
    IPs: `azvm.billing.ResourceSpan`), plus the tags of the VMs and of those resources."""

    rows: Sequence[Any]
    disks: Sequence[Any] = ()
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    resources: Sequence[Any] = ()

    @property
    def first_us(self) -> int | None:
        rows = self.rows
        firsts = [rows.first_us()] if isinstance(rows, b.UsageColumns) else [r[1] for r in rows]
        return min([f for f in firsts if f is not None] + [s[5] for s in self.resources], default=None)

    def has_vm(self, vm_id: str) -> bool:
        key = vm_id.lower()
        ids = self.rows.vm_ids() if isinstance(self.rows, b.UsageColumns) else (r[0] for r in self.rows)
        return any(v.lower() == key for v in ids)

    def has_resource(self, resource_id: str) -> bool:
        """Whether a disk or public IP resource of that id has been billed (any span)."""
        key = resource_id.lower()
        return any(s[0].lower() == key for s in self.resources)

    def in_scope(self, scope: str) -> Timeline:
        """The rows, disks and resources under an ARM scope (a subscription or a resource group)."""
        prefix = scope.lower().rstrip("/") + "/"
        rows = self.rows
        mine = rows.under(prefix) if isinstance(rows, b.UsageColumns) else [
            r for r in rows if r[0].lower().startswith(prefix)]
        return Timeline(mine, [d for d in self.disks if d[0].lower().startswith(prefix)], self.tags,
                        [s for s in self.resources if s[0].lower().startswith(prefix)])


def _version(r: ResourceRow) -> ResourceVersion:
    return (r.key, str(r.body.get("id") or r.key), r.location, r.at_us, r.gone_us, r.body)


#: Rows folded at once by `arrow_fold` (whole VMs at a time): bounds the memory of its temporary arrays.
ARROW_CHUNK_ROWS = 1 << 18


def arrow_fold(cols: b.UsageColumns, window_start_s: int, window_end_s: int,
               merge: Sequence[int] | None = None) -> dict[int, int]:
    """`UsageColumns.fold` vectorized with Apache Arrow (over the columns' own buffers, no copy):
    the same seconds per code, in a few passes of compiled kernels instead of a Python loop, over
    chunks of whole VMs (ARROW_CHUNK_ROWS rows or so) to keep its memory small.

    No hashing: the rows come as runs (a VM's rows of one facts id, one after another), so the
    seconds of a run in a state are a difference of two running sums, taken at the run's ends, with
    one running sum per state (after `merge`) that the chunk holds."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(cols.packed)
    if not n:
        return {}
    i64 = pa.int64()
    bits = cols.STATE_BITS
    unit = b.US_PER_SECOND << bits
    ws, we = pa.scalar(window_start_s, i64), pa.scalar(window_end_s, i64)
    starts = cols.starts
    all_packed = pa.Array.from_buffers(i64, n, [None, pa.py_buffer(cols.packed)])
    one = cols.stream_facts  # each VM's one facts id (none resized), else the facts id of each row
    all_facts = None if one is not None else pa.Array.from_buffers(i64, n, [None, pa.py_buffer(cols.facts_ids)])
    last = bytearray(n)  # 1 at each VM's last row
    for end in starts[1:]:
        last[end - 1] = 1
    all_last = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(last)])
    lowest, highest = (v.as_py() for v in pc.min_max(all_packed).values())
    negative = lowest < 0  # (integer division truncates toward zero: floor differs for negatives)
    inside = window_start_s <= -(-(lowest >> bits) // b.US_PER_SECOND) and \
        -(-(highest >> bits) // b.US_PER_SECOND) <= window_end_s  # every instant in the window: nothing to clip
    to = None if merge is None else pa.array(list(merge) + [-1] * ((1 << bits) - len(merge)), i64)
    out: dict[int, int] = {}
    get = out.get
    not_counted = 0
    lo = first = 0  # the chunk's first row and first VM
    while lo < n:
        after = bisect_left(starts, min(n, lo + ARROW_CHUNK_ROWS))
        hi = starts[after]
        m = hi - lo
        packed = all_packed.slice(lo, m)
        # the first whole second at or after each instant (as UsageColumns.fold_here works it out)
        x = pc.add(packed, unit - (1 << bits))
        s = pc.divide(x, unit)
        if negative:  # floor is one less where a negative remainder is left
            s = pc.subtract(s, pc.cast(pc.less(pc.subtract(x, pc.multiply(s, unit)), 0), i64))
        if not inside:
            s = pc.min_element_wise(pc.max_element_wise(s, ws), we)
        # each row ends at the next one; the last row of each VM at the window's end
        is_last = pc.not_equal(all_last.slice(lo, m), 0)
        seconds = pc.subtract(pc.if_else(is_last, we, pa.concat_arrays([s.slice(1), pa.array([window_end_s], i64)])),
                              s)
        state = pc.bit_wise_and(packed, (1 << bits) - 1)
        if to is not None:
            state = pc.take(to, state)
        # the last row of each run: a VM's last row, or a row whose next one has other facts
        if all_facts is None:  # a run per VM
            run_ends = pa.array(starts[first + 1:after + 1], i64)
            run_ends = pc.subtract(run_ends, lo + 1)
            run_facts = pa.array(one[first:after], i64)  # type: ignore[index]
        else:
            facts = all_facts.slice(lo, m)
            other_next = pa.concat_arrays([pc.not_equal(facts.slice(1), facts.slice(0, m - 1)), pa.array([True])])
            run_ends = pc.indices_nonzero(pc.or_(is_last, other_next))
            run_facts = pc.take(facts, run_ends)
        bases = pc.shift_left(run_facts, bits)
        # one run per facts id here (no VM went back to facts it had): a code is one run's
        one_run_each = pc.count_distinct(run_facts).as_py() == len(run_facts)
        zero = pa.array([0], i64)
        counted = 0
        for j in pc.unique(state).to_pylist():
            if j < 0:
                continue
            sums = pc.take(pc.cumulative_sum(pc.if_else(pc.equal(state, j), seconds, 0)), run_ends)
            counted += sums[-1].as_py()
            each = pc.subtract(sums, pa.concat_arrays([zero, sums.slice(0, len(sums) - 1)]))
            some = pc.not_equal(each, 0)
            codes = pc.bit_wise_or(pc.filter(bases, some), j).to_pylist()
            values = pc.filter(each, some).to_pylist()
            if one_run_each and out.keys().isdisjoint(codes):
                out.update(zip(codes, values, strict=True))
            else:
                for k, v in zip(codes, values, strict=True):
                    out[k] = get(k, 0) + v
        not_counted += pc.sum(seconds).as_py() - counted
        lo, first = hi, after
    if not_counted:
        out[-1] = not_counted
    return out


def arrow_decode(texts: list[str]) -> tuple[array[int], list[int], bool]:
    """Texts of comma-separated integers (a store's packed rows, one text per VM) parsed with Apache
    Arrow: their integers one after another, how many each text holds, and whether those of each
    text increase strictly (instants in time order). Raises ValueError on anything not an integer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = pc.split_pattern(pa.array(texts, pa.string()), ",")
    try:
        values = pc.cast(lists.flatten(), pa.int64())
    except pa.ArrowInvalid as e:
        raise ValueError(str(e)) from None
    n = len(values)
    out = array("q")
    if n:
        out.frombytes(memoryview(values.buffers()[1])[values.offset * 8:(values.offset + n) * 8])
    in_order = True
    if n > 1:
        # every step down (or level) is where one text ends and the next begins
        down = pc.invert(pc.greater(values.slice(1), values.slice(0, n - 1)))
        ends = pc.subtract(lists.offsets.slice(1, len(texts) - 1), lists.offsets[0].as_py() + 1)
        in_order = pc.sum(down, min_count=0).as_py() == pc.sum(pc.take(down, ends), min_count=0).as_py()
    return out, pc.list_value_length(lists).to_pylist(), in_order


def fast_decode() -> Callable[[list[str]], tuple[array[int], list[int], bool]] | None:
    """`arrow_decode` when Apache Arrow is installed (pip install azvm[fast-import]), else None."""
    from .history_import import arrow_available

    return arrow_decode if arrow_available() else None


def _fast_fold() -> b.Fold | None:
    """`arrow_fold` when Apache Arrow is installed (pip install azvm[fast-import]), else None."""
    from .history_import import arrow_available

    return arrow_fold if arrow_available() else None


def store_usage(store: Store) -> b.UsageColumns:
    """The store's billing states over time as columns, folded with Apache Arrow when it is installed:
    what a bill, or a fleet's cost so far (`azvm.billing.vm_costs`), is metered from."""
    return store.usage_columns().with_fold(_fast_fold())


def timeline_from_store(store: Store, *, tags: bool = False) -> Timeline:
    """The store's billing projection; with `tags`, the tags of VMs, disks and public IPs too (for the
    cost export).

    The state changes are read as columns (`Store.usage_columns`), folded with Apache Arrow when it is
    installed. Disks have one source of truth: their Disk resources (created to deleted, whatever the
    VMs do), where they exist; the VM-model projection (`store.disk_rows()`) only for the disks that
    have no Disk resource (stores written before Disk resources existed, OS disks attached from
    nowhere). Public IPs come from their own history, their NIC's (which VM uses them) and the VM's
    states."""
    rows = store_usage(store)
    versions = store.resource_versions((DISK_TYPE, PUBLIC_IP_TYPE, NIC_TYPE))
    disks = [_version(r) for r in versions if r.type.lower() == DISK_TYPE.lower()]
    pips = [_version(r) for r in versions if r.type.lower() == PUBLIC_IP_TYPE.lower()]
    nics = [_version(r) for r in versions if r.type.lower() == NIC_TYPE.lower()]
    spans = disk_resource_spans(disks)
    if pips:  # (reading every VM's states as rows costs; with no public IP there is nothing to read them for)
        spans += public_ip_spans(pips, nics, rows, b.public_ip_meter_name)
    vm_disks = store.disk_rows()
    if disks:  # (with no Disk resource, every disk of the VM model is billed from the VM model)
        vm_disks = vm_disks_without_resources(vm_disks, {v[1] for v in disks})
    all_tags: dict[str, dict[str, str]] = {}
    if tags:
        all_tags = store.vm_tags()
        for v in disks + pips:  # the latest version's tags
            t = v[5].get("tags")
            if isinstance(t, dict):
                all_tags[v[1]] = {str(k): str(x) for k, x in t.items()}
    return Timeline(rows, vm_disks, all_tags, spans)


def timeline_from_file(path: str) -> Timeline:
    from .history_import import read_timeline

    return Timeline(read_timeline(path))


@dataclass(frozen=True)
class Window:
    """The window of a bill over HTTP. A bill never includes the future: `end_us` is the requested
    end cut at the simulated now (and never before the start); `requested_end_us` is what was asked."""

    start_us: int
    end_us: int
    requested_end_us: int

    @property
    def truncated(self) -> bool:
        """The window was cut at the simulated now."""
        return self.end_us < self.requested_end_us


def _window_fields(start_us: int, end_us: int, w: Window | None) -> dict[str, Any]:
    out: dict[str, Any] = {"from": iso(start_us), "to": iso(end_us)}
    if w is not None:
        out.update(requestedTo=iso(w.requested_end_us), truncatedAtNow=w.truncated)
    return out


def _instant(text: str, name: str) -> int:
    """A window bound: ISO 8601 with a zone, inside years 1 to 9999 (UTC)."""
    try:
        us = parse_iso(text)
    except (ValueError, OverflowError):
        raise InvalidParameter(f"'{shown(text)}' is not a time: {name} is an ISO 8601 time with a zone, e.g."
                               " 2026-01-01T00:00:00Z.", target=name) from None
    if not MIN_US <= us <= MAX_US:
        raise InvalidParameter(f"{name} must lie between 0001-01-01T00:00:00Z and {MAX_ISO}.", target=name)
    return us


@contextmanager
def _as_arm_errors() -> Iterator[None]:
    """The meter's own errors (BillingError) as ARM's 400, wherever the work runs."""
    try:
        yield
    except b.BillingError as e:
        raise InvalidParameter(str(e), target=getattr(e, "field", None)) from None


@dataclass(frozen=True)
class CostQuery:
    """A validated Cost Management query: its window (cut at now), shape and filter."""

    start_us: int
    end_us: int
    granularity: str | None  # None or "Daily"
    groups: tuple[str, ...]
    predicate: Callable[[b.CostRecord], bool] | None
    uses_tags: bool


@dataclass
class BillingService:
    prices: b.PriceSheet = field(default_factory=b.sample_prices)
    rules: b.RuleSet = field(default_factory=b.rule_set)

    def with_rules(self, name: str | None) -> BillingService:
        """This service under another built-in rule set. For HTTP callers: a name only, never a
        path on the server's disk (reading /dev/zero would never end; other paths would tell which
        files exist)."""
        if name is None:
            return self
        if name not in b.BUILTIN_RULE_SETS:
            raise InvalidParameter(f"Unknown rule set '{shown(name)}': expected one of "
                                   f"{', '.join(b.BUILTIN_RULE_SETS)}. A rule set file is read only from the"
                                   " command line (azvm serve --billing-rules FILE, azvm bill --rules FILE).",
                                   target="rules")
        return BillingService(self.prices, b.rule_set(name))

    # -- windows -----------------------------------------------------------------------------
    @staticmethod
    def window(tl: Timeline, start: str | None, end: str | None, now_us: int) -> tuple[int, int]:
        """[start, end): by default from the first change to `now_us`; 400 when malformed or reversed."""
        s = _instant(start, "from") if start else (tl.first_us if tl.first_us is not None else now_us)
        e = _instant(end, "to") if end else now_us
        if e < s:
            raise InvalidParameter("The window ends before it starts: to must not be before from.", target="to")
        return s, e

    def window_until_now(self, tl: Timeline, start: str | None, end: str | None, now_us: int) -> Window:
        """The window of an HTTP request: as `window`, then cut at the simulated now."""
        s, e = self.window(tl, start, end, now_us)
        return Window(s, max(s, min(e, now_us)), e)

    @staticmethod
    def check_day_cells(tl: Timeline, start_us: int, end_us: int, *, target: str, hint: str = "") -> None:
        """Refuse (400) a day-split bill whose output would exceed MAX_DAY_CELLS, before doing it."""
        n = b.day_cells(tl.rows, tl.disks, start_us, end_us, tl.resources)
        if n > MAX_DAY_CELLS:
            raise InvalidParameter(f"The window {iso(start_us)} to {iso(end_us)} holds {n} resource-days of usage;"
                                   f" one request bills at most {MAX_DAY_CELLS} by day. Narrow the window{hint}.",
                                   target=target)

    # -- computations ------------------------------------------------------------------------
    def bill(self, tl: Timeline, start_us: int, end_us: int, group_by: str = "vm") -> b.Bill:
        return b.bill(tl.rows, tl.disks, self.prices, self.rules, start_us, end_us, group_by, tl.resources)

    def explain(self, tl: Timeline, resource_id: str, start_us: int, end_us: int) -> b.Explanation:
        """A VM's explanation, or a disk's or public IP's (by its resource id)."""
        if not tl.has_vm(resource_id) and tl.has_resource(resource_id):
            return b.explain_resource(resource_id, tl.resources, self.prices, self.rules, start_us, end_us)
        return b.explain(resource_id, tl.rows, tl.disks, self.prices, self.rules, start_us, end_us)

    def what_if(self, tl: Timeline, start_us: int, end_us: int) -> b.WhatIf:
        return b.what_if_deallocate(tl.rows, self.prices, self.rules, start_us, end_us)

    def records(self, tl: Timeline, start_us: int, end_us: int) -> list[b.CostRecord]:
        return b.cost_records(tl.rows, tl.disks, self.prices, self.rules, start_us, end_us, tl.tags or None,
                              tl.resources)

    def cost_csv(self, tl: Timeline, start_us: int, end_us: int) -> str:
        buf = io.StringIO()
        b.write_cost_csv(self.records(tl, start_us, end_us), buf)
        return buf.getvalue()

    # -- reports over HTTP: validated now, computed by the returned pure work ----------------
    # Each returns a zero-argument callable that touches no store: the edge runs it off the event
    # loop (azvm.arm.http.Deferred), so other requests are served while a bill is computed.
    def bill_report(self, tl: Timeline, w: Window, group_by: str) -> Callable[[], dict[str, Any]]:
        if group_by not in b.GROUP_BY:
            raise InvalidParameter(f"groupBy '{shown(group_by)}' is not supported: expected one of"
                                   f" {', '.join(b.GROUP_BY)}.", target="groupBy")

        def work() -> dict[str, Any]:
            with _as_arm_errors():
                if group_by == "day":
                    self.check_day_cells(tl, w.start_us, w.end_us, target="from",
                                         hint=" (from, to), or group by vm, state or meter")
                return self.bill_json(self.bill(tl, w.start_us, w.end_us, group_by), w)
        return work

    def explain_report(self, tl: Timeline, w: Window, vm_id: str) -> Callable[[], dict[str, Any]]:
        def work() -> dict[str, Any]:
            if not tl.has_vm(vm_id) and not tl.has_resource(vm_id):
                raise NotFound(f"The Resource '{shown(vm_id, 300)}' was not found: no VM, disk or public IP of"
                               " this emulator has been billed under that id. Expected the resource id of one of"
                               " its VMs, disks or public IPs.", target="id")
            with _as_arm_errors():
                return self.explain_json(self.explain(tl, vm_id, w.start_us, w.end_us), w)
        return work

    def what_if_report(self, tl: Timeline, w: Window) -> Callable[[], dict[str, Any]]:
        def work() -> dict[str, Any]:
            with _as_arm_errors():
                return self.what_if_json(self.what_if(tl, w.start_us, w.end_us), w)
        return work

    def cost_details_report(self, tl: Timeline, w: Window) -> Callable[[], str]:
        def work() -> str:
            with _as_arm_errors():
                self.check_day_cells(tl, w.start_us, w.end_us, target="from", hint=" (from, to)")
                return self.cost_csv(tl, w.start_us, w.end_us)
        return work

    # -- JSON shapes -------------------------------------------------------------------------
    def bill_json(self, bl: b.Bill, w: Window | None = None) -> dict[str, Any]:
        return {
            "ruleSet": bl.rule_set, "currency": bl.currency, **_window_fields(bl.window_start_us, bl.window_end_us, w),
            "groupBy": bl.group_by, "total": _str(bl.total_display),
            "totalExact": _str(bl.total), "complete": bl.complete,
            "lines": [{"group": ln.group, "kind": ln.kind, "resourceId": ln.resource_id, "meter": ln.meter,
                       "meterId": ln.meter_id, "size": ln.size, "location": ln.location, "osType": ln.os_type,
                       "seconds": ln.seconds, "billedSeconds": ln.billed_seconds, "quantity": _str(ln.quantity),
                       "unitOfMeasure": ln.unit_of_measure, "unitPrice": _str(ln.unit_price),
                       "amount": _str(ln.amount), "billed": ln.billed} for ln in bl.lines],
            "unpriced": [{"kind": u.kind, "resourceId": u.resource_id, "size": u.size, "location": u.location,
                          "osType": u.os_type, "seconds": u.seconds, "billedSeconds": u.billed_seconds,
                          "reason": u.reason} for u in bl.unpriced],
        }

    def explain_json(self, ex: b.Explanation, w: Window | None = None) -> dict[str, Any]:
        return {
            "vmId": ex.vm_id, "resourceId": ex.vm_id, "ruleSet": ex.rule_set, "currency": ex.currency,
            **_window_fields(ex.window_start_us, ex.window_end_us, w),
            "total": _str(ex.total_display), "totalExact": _str(ex.total), "complete": ex.complete,
            "intervals": [{"start": iso(i.start_us), "end": iso(i.end_us), "seconds": i.seconds, "state": i.state,
                           "size": i.size, "billed": i.billed, "rule": f"{i.rule_set}: {i.reason}",
                           "meter": i.meter, "unitPrice": _str(i.unit_price), "amount": _str(i.amount),
                           **({"minimumTopUp": True} if i.topup else {})} for i in ex.intervals],
            "disks": [{"name": d.name, "resourceId": d.resource_id, "sku": d.sku, "sizeGB": d.size_gb,
                       "tier": d.tier, "start": iso(d.start_us), "end": iso(d.end_us), "seconds": d.seconds,
                       "reason": d.reason, "unitPrice": _str(d.unit_price), "amount": _str(d.amount)}
                      for d in ex.disks],
            "resources": [{"resourceId": r.resource_id, "kind": r.kind, "sku": r.sku, "sizeGB": r.size_gb,
                           "meter": r.meter, "location": r.location, "start": iso(r.start_us),
                           "end": iso(r.end_us), "seconds": r.seconds, "reason": r.reason,
                           "unitOfMeasure": r.unit_of_measure, "unitPrice": _str(r.unit_price),
                           "amount": _str(r.amount)} for r in ex.resources],
        }

    def what_if_json(self, wi: b.WhatIf, w: Window | None = None) -> dict[str, Any]:
        return {
            "ruleSet": wi.rule_set, "currency": wi.currency, **_window_fields(wi.window_start_us, wi.window_end_us, w),
            "totalSaving": _str(wi.total_display), "totalSavingExact": _str(wi.total),
            "vms": [{"vmId": v.vm_id, "stoppedSeconds": v.stopped_seconds,
                     "billedStoppedSeconds": v.billed_stopped_seconds, "saving": _str(v.saving)} for v in wi.vms],
        }

    # -- the Cost Management Query API (a subset) --------------------------------------------
    def prepare_query(self, store: Store, scope: str, body: Any, now_us: int) -> Callable[[], dict[str, Any]]:
        """Validate a query (400 with a target when malformed), read what it needs from the store,
        and return the pure work that answers it, to run off the event loop."""
        q = parse_query(body, now_us)
        return self._query_work(timeline_from_store(store, tags=q.uses_tags), scope, q, now_us)

    def query(self, tl: Timeline, scope: str, body: Any, now_us: int) -> dict[str, Any]:
        """Validate and answer at once, over a timeline already read (tag filters need its tags)."""
        return self._query_work(tl, scope, parse_query(body, now_us), now_us)()

    def _query_work(self, tl: Timeline, scope: str, q: CostQuery, now_us: int) -> Callable[[], dict[str, Any]]:
        def work() -> dict[str, Any]:
            with _as_arm_errors():
                mine = tl.in_scope(scope)
                self.check_day_cells(mine, q.start_us, q.end_us, target="timePeriod")
                records = self.records(mine, q.start_us, q.end_us)
                if q.predicate is not None:
                    records = [r for r in records if q.predicate(r)]
                result = b.query_costs(records, q.granularity, q.groups)
            rows = [[float(v) if isinstance(v, Decimal) else v for v in row] for row in result["rows"]]
            return {"id": f"{scope}/providers/Microsoft.CostManagement/query/{iso(now_us)}",
                    "name": iso(now_us), "type": "Microsoft.CostManagement/query",
                    "properties": {"nextLink": None, "columns": result["columns"], "rows": rows}}
        return work


# -- Cost Management query definitions --------------------------------------------------------------
QUERY_TYPES = ("ActualCost", "Usage", "AmortizedCost")
TIMEFRAMES = ("Custom", "MonthToDate", "BillingMonthToDate", "TheLastMonth", "TheLastBillingMonth", "WeekToDate")
AGGREGATED_COLUMNS = ("Cost", "PreTaxCost", "CostUSD", "UsageQuantity")
_DIMENSIONS = {name.lower(): name for name in b.QUERY_GROUPINGS}


def _bad(message: str, target: str) -> BadRequest:
    return BadRequest(f"Invalid query definition: {message}", target=target)


def _object(value: Any, target: str, known: Sequence[str], what: str) -> dict[str, Any]:
    """A JSON object with only `known` fields (null fields count as absent)."""
    if not isinstance(value, dict):
        raise _bad(f"{target} must be {what}.", target)
    for k, v in value.items():
        if k not in known and v is not None:
            where = shown(k) if target == "body" else f"{target}.{shown(k)}"
            raise _bad(f"'{shown(k)}' is not a field of {target}: expected {', '.join(known)}.", where)
    return value


def _choice(value: Any, target: str, choices: Sequence[str]) -> str:
    """One of `choices`, compared case-insensitively as the service does; the canonical spelling."""
    if isinstance(value, str):
        for c in choices:
            if c.lower() == value.lower():
                return c
    given = shown(value) if isinstance(value, str) else shown(json.dumps(value))
    raise _bad(f"{target} '{given}' is not supported: expected one of {', '.join(choices)}.", target)


def parse_query(body: Any, now_us: int) -> CostQuery:
    """Validate a QueryDefinition as Cost Management does: every field's type, the timeframe (a
    Custom window in order and of at most one year), aggregation, grouping and filter. The window
    ends at `now_us` at the latest: an answer never includes the future."""
    body = _object(body, "body", ("type", "timeframe", "timePeriod", "dataset"), "a JSON object (a QueryDefinition)")
    _choice(body.get("type"), "type", QUERY_TYPES)
    start, end = _timeframe(body, now_us)
    dataset = body.get("dataset")
    ds = _object({} if dataset is None else dataset, "dataset", ("granularity", "aggregation", "grouping", "filter"),
                 "an object")
    granularity = ds.get("granularity")
    granularity = None if granularity is None else _choice(granularity, "dataset.granularity", ("None", "Daily"))
    agg = ds.get("aggregation")
    if agg is not None:
        if not isinstance(agg, dict) or not 1 <= len(agg) <= MAX_AGGREGATIONS:
            raise _bad(f"dataset.aggregation must be an object of 1 to {MAX_AGGREGATIONS} aggregations, e.g."
                       ' {"totalCost": {"name": "Cost", "function": "Sum"}}.', "dataset.aggregation")
        for alias, a in agg.items():
            t = f"dataset.aggregation.{alias}"
            _object(a, t, ("name", "function"), 'an object {"name": "Cost", "function": "Sum"}')
            _choice(a.get("name"), f"{t}.name", AGGREGATED_COLUMNS)
            _choice(a.get("function"), f"{t}.function", ("Sum",))
    groups: list[str] = []
    grouping = ds.get("grouping")
    if grouping is not None:
        if not isinstance(grouping, list) or len(grouping) > MAX_GROUPINGS:
            raise _bad(f"dataset.grouping must be a list of at most {MAX_GROUPINGS} groupings, e.g."
                       ' [{"type": "Dimension", "name": "ResourceId"}].', "dataset.grouping")
        for i, g in enumerate(grouping):
            t = f"dataset.grouping[{i}]"
            _object(g, t, ("type", "name"), 'an object {"type": "Dimension", "name": "..."}')
            _choice(g.get("type", "Dimension"), f"{t}.type", ("Dimension",))
            groups.append(_choice(g.get("name"), f"{t}.name", tuple(b.QUERY_GROUPINGS)))
    predicate, uses_tags = (None, False) if ds.get("filter") is None else _filter(ds["filter"], "dataset.filter")
    return CostQuery(start, end, None if granularity == "None" else granularity, tuple(groups), predicate,
                     uses_tags)


def _timeframe(body: dict[str, Any], now_us: int) -> tuple[int, int]:
    if body.get("timeframe") is None:
        raise _bad(f"timeframe is required: one of {', '.join(TIMEFRAMES)}.", "timeframe")
    tf = _choice(body["timeframe"], "timeframe", TIMEFRAMES)
    tp = body.get("timePeriod")
    if tf != "Custom":
        if tp is not None:
            raise _bad(f"timePeriod goes with timeframe Custom only, not {tf}.", "timePeriod")
        return _relative(tf, now_us)
    if tp is None:
        raise _bad("a Custom timeframe needs timePeriod {\"from\": ..., \"to\": ...}.", "timePeriod")
    tp = _object(tp, "timePeriod", ("from", "to"), 'an object {"from": "<ISO time>", "to": "<ISO time>"}')
    bounds: list[int] = []
    for name in ("from", "to"):
        t = f"timePeriod.{name}"
        v = tp.get(name)
        if not isinstance(v, str):
            raise _bad(f"{t} must be an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z.", t)
        try:
            bounds.append(_instant(v, t))
        except ArmError as e:
            raise _bad(e.message, t) from None
    start, end = bounds
    if end < start:
        raise _bad("timePeriod.to is before timePeriod.from.", "timePeriod.to")
    try:
        d0 = to_datetime(start)
        limit = from_datetime(d0.replace(year=d0.year + MAX_QUERY_YEARS))
    except (ValueError, OverflowError, OSError):  # from 29 February, or in year 9999
        limit = start + 366 * DAY_US
    if end > limit:
        raise _bad(f"The time period for pulling the data cannot exceed {MAX_QUERY_YEARS} year(s).", "timePeriod")
    return start, max(start, min(end, now_us))


def _relative(tf: str, now_us: int) -> tuple[int, int]:
    today = to_datetime(now_us - now_us % DAY_US)
    month0 = today.replace(day=1)
    if tf in ("MonthToDate", "BillingMonthToDate"):
        return from_datetime(month0), now_us
    if tf in ("TheLastMonth", "TheLastBillingMonth"):
        prev = (month0 - dt.timedelta(days=1)).replace(day=1)
        return from_datetime(prev), from_datetime(month0)
    return from_datetime(today - dt.timedelta(days=today.weekday())), now_us  # WeekToDate


FILTER_EXPECTED = "a filter object with exactly one of and, or, dimensions, tags"


def _filter(f: Any, target: str) -> tuple[Callable[[b.CostRecord], bool], bool]:
    """A QueryFilter as a predicate over cost records, and whether it reads tags."""
    node = _object(f, target, ("and", "or", "dimensions", "tags"), FILTER_EXPECTED)
    present = [k for k, v in node.items() if v is not None]
    if len(present) != 1:
        raise _bad(f"{target} must be {FILTER_EXPECTED}.", target)
    kind = present[0]
    t = f"{target}.{kind}"
    v = node[kind]
    if kind in ("and", "or"):
        if not isinstance(v, list) or len(v) < 2:
            raise _bad(f"{t} must be a list of at least 2 filters.", t)
        parts = [_filter(x, f"{t}[{i}]") for i, x in enumerate(v)]
        preds = [p for p, _ in parts]
        combine = all if kind == "and" else any
        return (lambda r: combine(p(r) for p in preds)), any(u for _, u in parts)
    expr = _object(v, t, ("name", "operator", "values"),
                   'a comparison {"name": ..., "operator": "In", "values": [...]}')
    _choice(expr.get("operator"), f"{t}.operator", ("In",))
    values = expr.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
        raise _bad(f"{t}.values must be a non-empty list of strings.", f"{t}.values")
    name = expr.get("name")
    if kind == "dimensions":
        attr = b.QUERY_GROUPINGS[_choice(name, f"{t}.name", tuple(b.QUERY_GROUPINGS))]
        wanted = frozenset(x.lower() for x in values)
        return (lambda r: str(getattr(r, attr)).lower() in wanted), False
    if not isinstance(name, str) or not name:
        raise _bad(f"{t}.name must be a tag name.", f"{t}.name")
    tag, allowed = name.lower(), frozenset(values)
    return (lambda r: _tags_of(r.tags).get(tag) in allowed), True


@functools.lru_cache(maxsize=4096)
def _tags_of(text: str) -> dict[str, str]:
    """A record's tags (JSON object text) by lower-cased name: tag names compare case-insensitively."""
    return {k.lower(): v for k, v in json.loads(text).items()}
