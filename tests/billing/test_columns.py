"""The billing projection read as columns (`Store.usage_columns`, `azvm.billing.UsageColumns`) bills
exactly what the same rows bill: over every store, and for any timeline (hypothesis); the Arrow
fold computes what the standard-library fold computes."""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.billing.test_properties import FAST, PRICES, T0, instants, rule_names, timelines, window
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

from azvm.billing import (
    GROUP_BY,
    ColumnsBuilder,
    StateChange,
    UsageColumns,
    bill,
    display,
    explain,
    rule_set,
    vm_costs,
    what_if_deallocate,
)
from azvm.domain.usage import USAGE_STATES
from azvm.service.billing import BillingService, arrow_fold, timeline_from_store
from azvm.service.history_import import arrow_available
from azvm.store import MemoryStore, SqliteStore

SUB = "00000000-0000-0000-0000-000000000000"
S = 1_000_000
needs_arrow = pytest.mark.skipif(not arrow_available(), reason="pyarrow is not installed")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        s: Any = MemoryStore()
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "azvm.sqlite3")
    else:
        from azvm.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_server").fresh_database())
    yield s
    s.close()


def _history(store: Any) -> Any:
    """Two VMs through the service: power actions, a resize (new facts mid-stream), a deletion and a
    re-creation under the same name, one action preempting another."""
    from tests.conftest import make_service, vm_body

    from azvm.domain.table import Op

    svc = make_service(store)
    svc.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    svc.create_or_update(SUB, "rg", "a", vm_body())
    svc.create_or_update(SUB, "rg", "b", vm_body(size="Standard_B1s"))
    steps: list[tuple[int, Callable[[], Any]]] = [
        (60, lambda: svc.power_off(SUB, "rg", "a")), (3, lambda: svc.deallocate(SUB, "rg", "a")),
        (100, lambda: svc.update(SUB, "rg", "a", {"properties": {"hardwareProfile": {"vmSize": "Standard_B2s"}}})),
        (5, lambda: svc.action(SUB, "rg", "a", Op.START)), (600, lambda: svc.delete(SUB, "rg", "b")),
        (30, lambda: svc.create_or_update(SUB, "rg", "b", vm_body(size="Standard_D4s_v5"))),
        (1800, lambda: svc.power_off(SUB, "rg", "b")),
    ]
    for secs, call in steps:
        svc.clock.advance(secs)
        call()
    svc.clock.advance(3600)
    return svc


def test_every_store_reads_the_same_rows_as_columns_and_bills_them_alike(store: Any) -> None:
    svc = _history(store)
    rows, cols = store.usage_rows(), store.usage_columns()
    assert isinstance(cols, UsageColumns) and list(cols) == rows
    assert cols.n_streams == 2 and len({r[3] for r in rows if r[0].endswith("/a")}) == 2  # a was resized
    assert "deleted" in {r[2] for r in rows}
    disks, now = store.disk_rows(), svc.now()
    first = rows[0][1]
    for rules in ("docs-2018", "docs-2021", "azure-2023"):
        rs = rule_set(rules)
        for start, end in ((first, now), (first + 90 * S + 123, first + 900 * S), (first - 86_400 * S, now + S)):
            for group_by in GROUP_BY:
                assert bill(cols, disks, PRICES, rs, start, end, group_by) == bill(rows, disks, PRICES, rs, start, end,
                                                                                  group_by)
            assert what_if_deallocate(cols, PRICES, rs, start, end) == what_if_deallocate(rows, PRICES, rs, start, end)
            for vm in {r[0] for r in rows}:
                assert explain(vm, cols, disks, PRICES, rs, start, end) == explain(vm, rows, disks, PRICES, rs, start,
                                                                                   end)
    total = bill(rows, disks, PRICES, rule_set("docs-2021"), first, now).total_exact
    assert total > 0


def test_the_timeline_read_from_a_store_answers_as_its_rows_do(store: Any) -> None:
    from azvm.service.billing import Timeline

    svc = _history(store)
    tl = timeline_from_store(store)
    as_rows = Timeline(store.usage_rows(), tl.disks, tl.tags, tl.resources)
    assert isinstance(tl.rows, UsageColumns)
    assert tl.first_us == as_rows.first_us
    vm_a = next(r[0] for r in as_rows.rows if r[0].endswith("/a"))
    assert tl.has_vm(vm_a.upper()) and not tl.has_vm(vm_a + "x")
    for scope in (f"/subscriptions/{SUB}", f"/subscriptions/{SUB}/resourceGroups/RG", "/subscriptions/other"):
        assert list(tl.in_scope(scope).rows) == list(as_rows.in_scope(scope).rows)
    service = BillingService()
    w = service.window_until_now(tl, None, None, svc.now())
    for group_by in GROUP_BY:
        assert service.bill_report(tl, w, group_by)() == service.bill_report(as_rows, w, group_by)()
    assert service.explain_report(tl, w, vm_a)() == service.explain_report(as_rows, w, vm_a)()


# -- any timeline ---------------------------------------------------------------------------------

@FAST
@given(timelines, rule_names, window(), st.sampled_from(GROUP_BY))
def test_columns_bill_exactly_what_their_rows_bill(timeline: list[StateChange], name: str,
                                                  w: tuple[int, int, int], group_by: str) -> None:
    a, _t, b = w
    rules = rule_set(name)
    cols = UsageColumns.from_rows(timeline)
    assert sorted(cols, key=lambda r: (r[0].lower(), r[1])) == sorted(
        (tuple(r) for r in timeline), key=lambda r: (r[0].lower(), r[1]))
    assert bill(cols, [], PRICES, rules, a, b, group_by) == bill(timeline, [], PRICES, rules, a, b, group_by)


@FAST
@given(timelines, st.lists(st.tuples(instants, instants).map(sorted), min_size=1, max_size=4),
       st.none() | st.lists(st.integers(-1, len(USAGE_STATES) - 1), min_size=len(USAGE_STATES),
                            max_size=len(USAGE_STATES)))
def test_the_arrow_fold_and_the_standard_library_fold_agree(timeline: list[StateChange], windows: list[list[int]],
                                                            merge: list[int] | None) -> None:
    if not arrow_available():
        pytest.skip("pyarrow is not installed")
    from azvm.service import billing as service_billing

    cols = UsageColumns.from_rows(timeline, USAGE_STATES)
    chunk = service_billing.ARROW_CHUNK_ROWS
    try:
        for ws_us, we_us in windows:
            ws, we = -(-ws_us // S), -(-we_us // S)
            here = {k: v for k, v in cols.fold_here(ws, we, merge).items() if v}
            assert all(v >= 0 for v in here.values())
            if merge is not None:  # merged, the same seconds in all
                assert sum(here.values()) == sum(cols.fold_here(ws, we).values())
            for rows_at_once in (chunk, 3):  # in one go, and a few VMs at a time
                service_billing.ARROW_CHUNK_ROWS = rows_at_once
                assert {k: v for k, v in arrow_fold(cols, ws, we, merge).items() if v} == here
    finally:
        service_billing.ARROW_CHUNK_ROWS = chunk


@FAST
@given(timelines, st.randoms(use_true_random=False), rule_names, window())
def test_streams_out_of_order_or_split_are_regrouped_vm_by_vm(timeline: list[StateChange], rnd: Any, name: str,
                                                              w: tuple[int, int, int]) -> None:
    """What a store hands over need not be one stream per VM in time order: a VM's rows may come in
    any order or in several streams (of one facts id each), and the bill is the same."""
    rows = [tuple(r) for r in timeline]
    facts = {i: f for i, f in enumerate(sorted({(r[0], r[3], r[4], r[5]) for r in rows}))}
    number = {f: i for i, f in facts.items()}
    state = {s: j for j, s in enumerate(USAGE_STATES)}
    streams: list[tuple[list[int], int | list[int]]] = []
    # one stream per facts id (a VM resized is split), each shuffled; instants made distinct per VM
    seen: set[tuple[str, int]] = set()
    by_facts: dict[int, list[int]] = {}
    kept: list[Any] = []
    for r in rows:
        if (r[0].lower(), r[1]) in seen:
            continue
        seen.add((r[0].lower(), r[1]))
        kept.append(r)
        by_facts.setdefault(number[(r[0], r[3], r[4], r[5])], []).append(r[1] << UsageColumns.STATE_BITS | state[r[2]])
    for fid, packed in by_facts.items():
        rnd.shuffle(packed)
        streams.append((packed, fid) if rnd.random() < 0.5 else (packed, [fid] * len(packed)))
    rnd.shuffle(streams)
    cols = UsageColumns.from_streams(facts, USAGE_STATES, streams)
    a, _t, b = w
    rules = rule_set(name)
    assert bill(cols, [], PRICES, rules, a, b) == bill(kept, [], PRICES, rules, a, b)


def test_unpriced_usage_is_listed_in_one_order_whatever_the_timeline_is_read_as() -> None:
    """A VM metered under two unpriced facts that differ only in OS: listed in the same order from
    its rows and from its columns (the two meters meet its facts in different orders)."""
    vm = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/odd"
    rows = [StateChange(vm, T0, "running", "Standard_Nope", "eastus", "Linux"),
            StateChange(vm, T0 + 1, "running", "Standard_Nope", "eastus", "Windows"),
            StateChange(vm, T0 + 95_000 * S, "running", "Standard_Nope", "eastus", "Linux")]
    a, b = T0 + 1, T0 + 96_000 * S
    expected = bill(rows, [], PRICES, rule_set("docs-2018"), a, b)
    assert [u.os_type for u in expected.unpriced] == ["Linux", "Windows"]
    assert bill(UsageColumns.from_rows(rows), [], PRICES, rule_set("docs-2018"), a, b) == expected


@FAST
@given(timelines, st.randoms(use_true_random=False))
def test_columns_built_a_chunk_at_a_time_hold_the_rows_of_their_streams(timeline: list[StateChange],
                                                                       rnd: Any) -> None:
    """`ColumnsBuilder`, as a store reads its projection: streams added a few at a time (one facts id
    each, or one per row; in time order, or not and said so), the facts given at the end."""
    bits = UsageColumns.STATE_BITS
    state = {s: j for j, s in enumerate(USAGE_STATES)}
    facts = {100 + i: f for i, f in enumerate(sorted({(r[0], r[3], r[4], r[5]) for r in timeline}))}
    number = {f: i for i, f in facts.items()}
    by_vm: dict[str, dict[int, tuple[int, int]]] = {}  # one stream per VM, one row per instant
    for r in timeline:
        by_vm.setdefault(r[0].lower(), {})[r[1]] = (r[1] << bits | state[r[2]], number[(r[0], r[3], r[4], r[5])])
    streams = [sorted(rows.values()) for rows in by_vm.values()]
    kept = [(*facts[f][:1], p >> bits, USAGE_STATES[p & 31], *facts[f][1:]) for s in streams for p, f in s]
    builder = ColumnsBuilder(USAGE_STATES)
    i = 0
    while i < len(streams):
        chunk = streams[i:i + rnd.randint(1, 3)]
        i += len(chunk)
        in_order = rnd.random() < 0.5
        if not in_order:
            chunk = [rnd.sample(s, len(s)) for s in chunk]
        fids: list[int | list[int]] = [s[0][1] if len({f for _p, f in s}) == 1 and rnd.random() < 0.7
                                       else [f for _p, f in s] for s in chunk]
        builder.add(array("q", [p for s in chunk for p, _f in s]), [len(s) for s in chunk], fids, in_order)
    cols = builder.build(facts)
    as_rows = UsageColumns.from_rows(kept, USAGE_STATES)
    assert cols.n_streams == len(streams) and cols.vm_ids() == as_rows.vm_ids()
    for ws, we in ((T0 // S, T0 // S + 86_400), (T0 // S - 10**6, T0 // S + 10**7)):
        assert _by_facts(cols, cols.fold_here(ws, we)) == _by_facts(as_rows, as_rows.fold_here(ws, we))
        if arrow_available():
            assert {k: v for k, v in arrow_fold(cols, ws, we).items() if v} == {
                k: v for k, v in cols.fold_here(ws, we).items() if v}
    assert list(cols.select(range(cols.n_streams - 1, -1, -1))) == list(as_rows.select(
        range(cols.n_streams - 1, -1, -1)))
    assert list(cols) == list(as_rows)  # (the facts of each row, made from each VM's when none was resized)


def _by_facts(cols: UsageColumns, folded: dict[int, int]) -> dict[tuple[Any, ...], int]:
    """A fold's seconds keyed by what its codes stand for (the facts and the state)."""
    return {(*cols.facts[k >> 5], k & 31): v for k, v in folded.items() if v}


@needs_arrow
@given(st.lists(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=5), min_size=1, max_size=5))
def test_arrow_parses_packed_rows_as_orjson_does(streams: list[list[int]]) -> None:
    from azvm.service.billing import arrow_decode
    from azvm.store.sqlite import _decode_json

    texts = [",".join(map(str, s)) for s in streams]
    values, lengths, in_order = arrow_decode(texts)
    assert values.tolist() == [v for s in streams for v in s] and lengths == [len(s) for s in streams]
    assert in_order == all(a < b for s in streams for a, b in itertools.pairwise(s))
    assert _decode_json(texts)[:2] == (values, lengths)
    with pytest.raises(ValueError):
        arrow_decode([*texts, "1,x"])


@pytest.mark.parametrize("group_commit", [False, True])
@pytest.mark.parametrize("decoder", ["orjson", "arrow"])
@pytest.mark.parametrize("where", ["file", "memory"])
def test_sqlite_reads_its_columns_a_few_vms_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      group_commit: bool, decoder: str, where: str) -> None:
    """VMs read a chunk at a time while the chunk before is parsed, a resized VM's rows with their
    facts; through a connection of their own, or the store's while it holds writes not committed
    yet (group commit: they are read too) or lives in memory."""
    from azvm.store import sqlite

    if decoder == "arrow" and not arrow_available():
        pytest.skip("pyarrow is not installed")
    if decoder == "orjson":
        monkeypatch.setattr(sqlite, "_packed_decoder", lambda: sqlite._decode_json)
    store = SqliteStore(tmp_path / "azvm.sqlite3" if where == "file" else ":memory:")
    store.group_commit = group_commit
    _history(store)
    assert store.pending() == group_commit
    rows = store.usage_rows()
    for vms_at_once in (1, 2, 4096):
        monkeypatch.setattr(sqlite, "_USAGE_CHUNK", vms_at_once)
        assert list(store.usage_columns()) == rows
    assert store.pending() == group_commit
    store.commit()
    store.close()


def test_a_read_ahead_hands_over_items_result_and_error_and_ends_its_thread() -> None:
    import threading

    from azvm.store.sqlite import _ReadAhead

    def counting() -> Generator[int, None, str]:
        yield from range(10)
        return "done"

    reader = _ReadAhead(counting)
    assert list(reader) == list(range(10)) and reader.result == "done"

    def failing() -> Generator[int, None, None]:
        yield 1
        raise ValueError("unreadable")

    with pytest.raises(ValueError, match="unreadable"):
        list(_ReadAhead(failing))
    closed: list[bool] = []

    def endless() -> Generator[int, None, None]:
        try:
            while True:
                yield 0
        finally:
            closed.append(True)

    items = iter(_ReadAhead(endless))
    assert next(items) == 0
    items.close()  # the reader gives up: the thread closes the generator and ends
    assert closed == [True]
    assert not [t for t in threading.enumerate() if t.name == "azvm-read-ahead"]


@needs_arrow
def test_the_arrow_fold_handles_instants_before_1970_and_far_ahead() -> None:
    vm = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/old"
    far = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
    rows = [StateChange(vm, t, s, "Standard_B1s", "eastus", "Linux") for t, s in (
        (-62_135_596_800_000_000, "running"), (-1_500_001, "stopped"), (-1_000_000, "running"), (-1, "deallocated"),
        (0, "running"), (1, "stopped"), (T0 + 999_999, "running"), (far - 1, "deleted"))]
    cols = UsageColumns.from_rows(rows, USAGE_STATES)
    assert list(cols) == rows
    for ws, we in ((-62_135_596_800, 253_402_300_800), (-2, 2), (-1, 0), (0, 1), (T0 // S, T0 // S + 1)):
        here = {k: v for k, v in cols.fold_here(ws, we).items() if v}
        assert {k: v for k, v in arrow_fold(cols, ws, we).items() if v} == here
    # second -1 is the row at -1 s's (running); the row at -1 us starts at second 0 too, where the row at
    # 0 (running) takes over: it lasts no second
    running = USAGE_STATES.index("running")
    assert {k: v for k, v in cols.fold_here(-1, 1).items() if v} == {running: 2}


# -- a fleet's cost so far ------------------------------------------------------------------------

def _vm_lines_summed(timeline: Any, rules_name: str, a: int, b: int) -> dict[str, Fraction | None]:
    """Each VM's cost as its VM lines of a bill by VM add up (None when one is unpriced)."""
    bl = bill(timeline, [], PRICES, rule_set(rules_name), a, b, "vm")
    out: dict[str, Fraction | None] = {}
    for line in bl.lines:
        key = line.group.lower()
        so_far = out.get(key, Fraction(0))
        out[key] = None if line.exact is None or so_far is None else so_far + line.exact
    return out


@FAST
@given(timelines, rule_names, window())
def test_vm_costs_are_what_a_bill_by_vm_charges_each_vm(timeline: list[StateChange], name: str,
                                                         w: tuple[int, int, int]) -> None:
    a, _t, b = w
    expected = _vm_lines_summed(timeline, name, a, b)
    assert vm_costs(timeline, PRICES, rule_set(name), a, b) == expected
    assert vm_costs(UsageColumns.from_rows(timeline), PRICES, rule_set(name), a, b) == expected


@given(st.integers(-10**12, 10**12), st.integers(1, 10**9), st.sampled_from(["USD", "JPY", "EUR"]))
def test_display_rounds_a_fraction_half_up_once(numerator: int, denominator: int, currency: str) -> None:
    value = Fraction(numerator, denominator)
    places = 0 if currency == "JPY" else 2
    units = math.floor(abs(value) * 10**places + Fraction(1, 2))
    assert display(value, currency) == (Decimal(units) if value >= 0 else -Decimal(units)).scaleb(-places)


# -- resource ids parsed once per resource group --------------------------------------------------

segments = st.sampled_from(["subscriptions", "SUBSCRIPTIONS", "s1", "resourceGroups", "resourcegroups", "rg",
                            "providers", "Microsoft.Compute", "virtualMachines", "vm", "disks", "", "x y"])


@given(st.lists(segments, max_size=10), st.booleans(), st.booleans())
def test_vm_ids_parse_as_the_resource_id_parser_says(parts: list[str], lead: bool, trail: bool) -> None:
    """`parse_vm_id` parses once per prefix (the id less its last segment); it must say what
    `ResourceId` says of the whole id, whatever the id."""
    from azvm.billing.model import _parse, parse_vm_id

    vm_id = ("/" if lead else "") + "/".join(parts) + ("/" if trail else "")
    assert parse_vm_id(vm_id) == _parse(vm_id)
    for name in ("vm1", "other"):  # two ids of one prefix: the second is answered from the first
        assert parse_vm_id(f"{vm_id}/{name}") == _parse(f"{vm_id}/{name}")


def test_a_bill_pauses_the_cyclic_collector_and_leaves_it_as_it_found_it() -> None:
    import gc

    from azvm.billing.meter import quiet_gc

    seen: list[bool] = []

    @quiet_gc
    def work(fail: bool) -> None:
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("bad input")

    was_on = gc.isenabled()
    try:
        gc.enable()
        work(False)
        with pytest.raises(ValueError):
            work(True)
        assert gc.isenabled()
        gc.disable()  # paused by someone else: left paused
        work(False)
        assert not gc.isenabled()
        assert seen == [False, False, False]
    finally:
        if was_on:
            gc.enable()
