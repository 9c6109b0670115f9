"""Properties of the meter that must hold for any timeline (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm.billing import (
    BILLING_STATES,
    BUILTIN_RULE_SETS,
    DiskSpan,
    PriceSheet,
    StateChange,
    bill,
    cost_records,
    explain,
    rule_set,
    sample_prices,
)

PRICES: PriceSheet = sample_prices()
S = 1_000_000
T0 = 1_714_521_600 * S
SPAN = 3 * 86_400 * S  # timelines live in three UTC days
VMS = [
    f"/subscriptions/s/resourceGroups/rg{n}/providers/Microsoft.Compute/virtualMachines/vm{n}"
    for n in range(3)
]
SIZES = ["Standard_D2s_v3", "Standard_B1s", "Standard_Nope"]  # the last one is unpriced
LOCATIONS = ["eastus", "westeurope"]

instants = st.integers(min_value=T0 - SPAN // 3, max_value=T0 + SPAN)
row = st.builds(
    StateChange,
    vm_id=st.sampled_from(VMS),
    at_us=instants,
    state=st.sampled_from(BILLING_STATES),
    size=st.sampled_from(SIZES),
    location=st.sampled_from(LOCATIONS),
    os_type=st.sampled_from(["Linux", "Windows"]),
)
timelines = st.lists(row, max_size=25)
disk = st.builds(
    DiskSpan,
    vm_id=st.sampled_from(VMS),
    name=st.sampled_from(["os", "data"]),
    sku=st.sampled_from(["Premium_LRS", "Standard_LRS", "UltraSSD_LRS"]),
    size_gb=st.integers(1, 1100),
    start_us=instants,
    end_us=st.none() | instants,
)
rule_names = st.sampled_from(BUILTIN_RULE_SETS)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def window() -> st.SearchStrategy[tuple[int, int, int]]:
    return st.lists(instants, min_size=3, max_size=3).map(lambda xs: tuple(sorted(xs)))  # type: ignore[arg-type,return-value]


@FAST
@given(timelines, st.lists(disk, max_size=3), rule_names, window())
def test_a_window_split_in_two_bills_the_sum_of_its_halves(
    timeline: list[StateChange], disks: list[DiskSpan], name: str, w: tuple[int, int, int]
) -> None:
    a, t, b = w
    rules = rule_set(name)
    whole = bill(timeline, disks, PRICES, rules, a, b)
    left = bill(timeline, disks, PRICES, rules, a, t)
    right = bill(timeline, disks, PRICES, rules, t, b)
    assert whole.total_exact == left.total_exact + right.total_exact
    seconds = sum(li.billed_seconds for li in whole.lines)
    assert seconds == sum(li.billed_seconds for li in left.lines) + sum(
        li.billed_seconds for li in right.lines
    )


@FAST
@given(timelines, st.lists(disk, max_size=3), rule_names, window())
def test_never_negative_and_every_grouping_and_output_agrees(
    timeline: list[StateChange], disks: list[DiskSpan], name: str, w: tuple[int, int, int]
) -> None:
    a, _, b = w
    rules = rule_set(name)
    by_vm = bill(timeline, disks, PRICES, rules, a, b)
    assert by_vm.total_exact >= 0
    assert all(li.exact is None or li.exact >= 0 for li in by_vm.lines)
    for g in ("state", "day", "meter"):
        other = bill(timeline, disks, PRICES, rules, a, b, group_by=g)
        assert other.total_exact == by_vm.total_exact, g
        assert {u.resource_id for u in other.unpriced} == {u.resource_id for u in by_vm.unpriced}
    records = cost_records(timeline, disks, PRICES, rules, a, b)
    assert sum((r.exact for r in records if r.exact is not None), Fraction(0)) == by_vm.total_exact
    explained = Fraction(0)
    for vm in {r.vm_id.lower() for r in timeline}:
        explained += explain(vm, timeline, disks, PRICES, rules, a, b, split_days=True).total_exact
    # disks of a VM absent from the timeline have no region, hence no price: nothing to explain
    assert explained == by_vm.total_exact


@FAST
@given(timelines, rule_names, instants, instants)
def test_zero_for_a_vm_that_did_not_exist_in_the_window(
    timeline: list[StateChange], name: str, x: int, y: int
) -> None:
    a, b = sorted((x, y))
    first = {r.vm_id: min(q.at_us for q in timeline if q.vm_id == r.vm_id) for r in timeline}
    b = min([b, *first.values()]) if first else b
    a = min(a, b)
    result = bill(timeline, [], PRICES, rule_set(name), a, b)
    assert result.total_exact == 0 and result.lines == ()


@FAST
@given(timelines, window())
def test_running_is_billed_and_deallocated_is_not_under_every_rule_set(
    timeline: list[StateChange], w: tuple[int, int, int]
) -> None:
    a, _, b = w
    per_set = {}
    for name in BUILTIN_RULE_SETS:
        lines = bill(timeline, [], PRICES, rule_set(name), a, b, group_by="state").lines
        per_set[name] = {(li.group, li.meter): li for li in lines}
        for li in lines:
            if li.group in ("deallocated", "hibernated", "creating", "deallocating"):
                assert li.billed_seconds == 0 and (li.exact is None or li.exact == 0)
            if li.group in ("running", "stopping", "unknown"):
                assert li.billed_seconds == li.seconds
    running = [{k: v.exact for k, v in lines.items() if k[0] == "running"} for lines in per_set.values()]
    assert running[0] == running[1] == running[2]
