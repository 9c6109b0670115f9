"""Hand-computed bills, one scenario at a time, under each rule set.

Prices (prices-sample.json): Standard_D2s_v3 eastus Linux 0.096/h and Windows 0.188/h (real
items); P10 LRS Disk westeurope 21.68/month (real); S10 LRS Disk eastus 5.888/month (real).
Amount = seconds x hourly price / 3600; disks: seconds x monthly price / (730 x 3600).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from azvm.billing import DiskSpan, PriceSheet, StateChange, bill, load_rules, rule_set

VM = (
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-a"
    "/providers/Microsoft.Compute/virtualMachines/web1"
)
S = 1_000_000  # microseconds in a second
DAY = 86_400 * S
T0 = 1_714_521_600 * S  # 2024-05-01T00:00:00Z


def rows(
    *steps: tuple[int, str],
    vm: str = VM,
    size: str = "Standard_D2s_v3",
    location: str = "eastus",
    os_type: str = "Linux",
) -> list[StateChange]:
    """Steps are (seconds after T0, state)."""
    return [StateChange(vm, T0 + t * S, state, size, location, os_type) for t, state in steps]


def total(
    timeline: list[StateChange],
    prices: PriceSheet,
    rules: str,
    end_s: int = 86_400,
    disks: list[DiskSpan] | None = None,
) -> Decimal:
    b = bill(timeline, disks or [], prices, rule_set(rules), T0, T0 + end_s * S)
    assert b.complete
    return b.total


# create (120 s), run 3600, stop (60 stopping + 1800 stopped), start (60 starting), run 3600,
# deallocate (120 deallocating), 3600 deallocated, start (30), run 1800, delete (30 deallocating)
LIFECYCLE = rows(
    (0, "creating"),
    (120, "running"),
    (3720, "stopping"),
    (3780, "stopped"),
    (5580, "starting"),
    (5640, "running"),
    (9240, "deallocating"),
    (9360, "deallocated"),
    (12960, "starting"),
    (12990, "running"),
    (14790, "deallocating"),
    (14820, "deleted"),
)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # running 3600+3600+1800 = 9000 s, stopping 60 s: 9060 s x 0.096 / 3600 = 869.76 / 3600 = 0.2416
        ("docs-2018", Decimal("0.2416")),
        # + stopped 1800 s = 10860 s: 10860 x 0.096 / 3600 = 1042.56 / 3600 = 0.2896
        ("docs-2021", Decimal("0.2896")),
        # + starting 60 + 30 = 90 s: 10950 s x 0.096 / 3600 = 1051.2 / 3600 = 0.292
        ("azure-2023", Decimal("0.292")),
    ],
)
def test_full_lifecycle(prices: PriceSheet, rules: str, expected: Decimal) -> None:
    assert total(LIFECYCLE, prices, rules) == expected


def test_lifecycle_by_state(prices: PriceSheet) -> None:
    b = bill(LIFECYCLE, [], prices, rule_set("docs-2021"), T0, T0 + DAY, group_by="state")
    seconds = {li.group: li.seconds for li in b.lines}
    assert seconds == {
        "creating": 120,
        "running": 9000,
        "stopping": 60,
        "stopped": 1800,
        "starting": 90,
        "deallocating": 150,
        "deallocated": 3600,
    }
    billed = {li.group: li.amount for li in b.lines}
    assert billed["stopped"] == Decimal("0.048")  # 1800 s x 0.096 / 3600
    assert billed["deallocated"] == 0 and billed["creating"] == 0
    assert sum(li.amount for li in b.lines if li.amount is not None) == Decimal("0.2896")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # running 3600 + 1800 = 5400 s: 5400 x 0.096 / 3600 = 0.144
        ("docs-2018", Decimal("0.144")),
        ("docs-2021", Decimal("0.144")),
        # + starting 60 s = 5460 s: 5460 x 0.096 / 3600 = 524.16 / 3600 = 0.1456
        ("azure-2023", Decimal("0.1456")),
    ],
)
def test_hibernate_and_resume(prices: PriceSheet, rules: str, expected: Decimal) -> None:
    timeline = rows(
        (0, "running"),
        (3600, "deallocating"),
        (3660, "hibernated"),
        (10860, "starting"),
        (10920, "running"),
        (12720, "deleted"),
    )
    assert total(timeline, prices, rules) == expected


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # running 7200 + stopping 30 = 7230 s: 7230 x 0.096 / 3600 = 694.08 / 3600 = 0.1928
        ("docs-2018", Decimal("0.1928")),
        # + stopped until the window ends (18030 - 7230 = 10800 s): 18030 x 0.096 / 3600 = 0.4808
        ("docs-2021", Decimal("0.4808")),
        ("azure-2023", Decimal("0.4808")),
    ],
)
def test_guest_shutdown_leaves_the_vm_stopped_and_allocated(
    prices: PriceSheet, rules: str, expected: Decimal
) -> None:
    timeline = rows((0, "running"), (7200, "stopping"), (7230, "stopped"))
    assert total(timeline, prices, rules, end_s=18_030) == expected


@pytest.mark.parametrize("rules", ["docs-2018", "docs-2021", "azure-2023"])
def test_failed_os_provisioning_stays_running_and_billed(prices: PriceSheet, rules: str) -> None:
    # the provisioning state goes Failed but the power state stays Running: the adapter keeps
    # emitting `running`. Windows: 90 s creating (not billed) + 3600 s running x 0.188 / 3600 = 0.188
    timeline = rows((0, "creating"), (90, "running"), os_type="Windows")
    assert total(timeline, prices, rules, end_s=3690) == Decimal("0.188")


@pytest.mark.parametrize("rules", ["docs-2018", "docs-2021", "azure-2023"])
def test_delete_ends_the_vm(prices: PriceSheet, rules: str) -> None:
    # 1800 s running x 0.096 / 3600 = 0.048; deallocating (60 s) and deleted: nothing
    timeline = rows((0, "running"), (1800, "deallocating"), (1860, "deleted"))
    assert total(timeline, prices, rules) == Decimal("0.048")


@pytest.mark.parametrize("rules", ["docs-2018", "docs-2021", "azure-2023"])
def test_unknown_power_state_is_billed(prices: PriceSheet, rules: str) -> None:
    # 600 s running + 600 s unknown = 1200 s x 0.096 / 3600 = 0.032
    timeline = rows((0, "running"), (600, "unknown"), (1200, "deallocated"))
    assert total(timeline, prices, rules) == Decimal("0.032")


def test_recreated_after_delete_under_the_same_id(prices: PriceSheet) -> None:
    # 3600 s running, deleted for 3600 s, created again (60 s) and running 1800 s: 5400 s = 0.144
    timeline = rows(
        (0, "running"), (3600, "deleted"), (7200, "creating"), (7260, "running"), (9060, "deleted")
    )
    assert total(timeline, prices, "docs-2021") == Decimal("0.144")


def test_resize_bills_each_size_at_its_own_price(prices: PriceSheet) -> None:
    # 3600 s D2s_v3 (0.096) + deallocate + 3600 s D4s_v3 (illustrative 0.192) = 0.288
    timeline = [
        *rows((0, "running"), (3600, "deallocating")),
        *rows(
            (3660, "deallocated"),
            (3720, "starting"),
            (3780, "running"),
            (7380, "deallocated"),
            size="Standard_D4s_v3",
        ),
    ]
    b = bill(timeline, [], prices, rule_set("docs-2021"), T0, T0 + DAY)
    assert [(li.size, li.billed_seconds, li.amount) for li in b.lines] == [
        ("Standard_D2s_v3", 3600, Decimal("0.096")),
        ("Standard_D4s_v3", 3600, Decimal("0.192")),
    ]
    assert b.total == Decimal("0.288")


def test_per_second_not_per_hour(prices: PriceSheet) -> None:
    # 90 s running: 90 x 0.096 / 3600 = 0.0024
    assert total(rows((0, "running"), (90, "deallocated")), prices, "docs-2021") == Decimal("0.0024")
    # 1 s: 0.096 / 3600 = 0.0000266... (not terminating: exact as a Fraction)
    b = bill(rows((0, "running"), (1, "deallocated")), [], prices, rule_set(), T0, T0 + DAY)
    assert b.total_exact * 3600 == Decimal("0.096")
    assert b.total_display == Decimal("0.00")


def test_sub_second_instants_follow_the_whole_second_rule(prices: PriceSheet) -> None:
    # running from 0.5 s to 10.5 s: the seconds starting at 1..10 are running: 10 s
    timeline = [
        StateChange(VM, T0 + S // 2, "running", "Standard_D2s_v3", "eastus", "Linux"),
        StateChange(VM, T0 + 10 * S + S // 2, "deallocated", "Standard_D2s_v3", "eastus", "Linux"),
    ]
    b = bill(timeline, [], prices, rule_set(), T0, T0 + DAY)
    assert b.lines[0].billed_seconds == 10


def test_window_clips_and_vm_absent_before_its_first_row(prices: PriceSheet) -> None:
    timeline = rows((3600, "running"))
    # window [0, 7200): the VM exists from 3600: 3600 s = 0.096
    assert total(timeline, prices, "docs-2021", end_s=7200) == Decimal("0.096")
    # window before the VM existed: nothing at all
    b = bill(timeline, [], prices, rule_set(), T0, T0 + 3600 * S)
    assert b.total == 0 and b.lines == ()


def test_disks_are_billed_whatever_the_power_state(prices: PriceSheet) -> None:
    # a P10 (100 GB -> P10, 128 GB) in westeurope at 21.68/month for 73 h (262800 s):
    # 21.68 x 262800 / 2628000 = 2.168, while the VM is deallocated the whole time
    timeline = rows((0, "deallocated"), location="westeurope")
    disks = [DiskSpan(VM, "web1-data", "Premium_LRS", 100, T0, T0 + 262_800 * S)]
    b = bill(timeline, disks, prices, rule_set("docs-2021"), T0, T0 + 4 * DAY)
    assert b.total == Decimal("2.168")
    [disk] = [li for li in b.lines if li.kind == "disk"]
    assert (
        disk.size == "P10 LRS Disk" and disk.unit_of_measure == "1/Month" and disk.quantity == Decimal("0.1")
    )
    assert disk.resource_id.endswith("/resourceGroups/rg-a/providers/Microsoft.Compute/disks/web1-data")


def test_a_whole_730_hour_month_of_disk_is_the_monthly_price(prices: PriceSheet) -> None:
    # S10 LRS (128 GB) eastus 5.888/month, open-ended span, window of 730 h: 5.888
    timeline = rows((0, "stopped"))
    disks = [DiskSpan(VM, "os", "Standard_LRS", 128, T0 - DAY, None)]
    b = bill(timeline, disks, prices, rule_set("docs-2018"), T0, T0 + 730 * 3600 * S)
    assert b.total == Decimal("5.888")  # docs-2018: stopped is not billed, the disk is


def test_unpriced_vm_is_flagged_never_zero(prices: PriceSheet) -> None:
    timeline = rows((0, "running"), (3600, "deallocated"), size="Standard_M416ms_v2")
    b = bill(timeline, [], prices, rule_set(), T0, T0 + DAY)
    assert not b.complete
    [line] = b.lines
    assert line.unpriced and line.amount is None and line.billed_seconds == 3600
    [u] = b.unpriced
    assert u.resource_id == VM and u.size == "Standard_M416ms_v2" and u.billed_seconds == 3600


def test_unpriced_disk_is_flagged(prices: PriceSheet) -> None:
    b = bill(
        rows((0, "running")),
        [DiskSpan(VM, "ultra", "UltraSSD_LRS", 64, T0, None)],
        prices,
        rule_set(),
        T0,
        T0 + 3600 * S,
    )
    assert b.total == Decimal("0.096")
    assert [u.kind for u in b.unpriced] == ["disk"]


def test_vm_ids_are_case_insensitive(prices: PriceSheet) -> None:
    timeline = [*rows((0, "running")), *rows((3600, "deallocated"), vm=VM.upper())]
    b = bill(timeline, [], prices, rule_set(), T0, T0 + DAY)
    [line] = b.lines
    assert line.resource_id == VM and line.amount == Decimal("0.096")


def test_unsorted_rows_are_sorted(prices: PriceSheet) -> None:
    assert total(list(reversed(LIFECYCLE)), prices, "docs-2021") == Decimal("0.2896")


def test_minimum_billed_seconds_per_run(prices: PriceSheet, tmp_path: object) -> None:
    import json
    from pathlib import Path

    doc = json.loads((Path(__file__).parents[2] / "src/azvm/data/rules-docs-2021.json").read_text())
    doc["name"], doc["minimum_billed_seconds"] = "min60", 60
    p = Path(str(tmp_path)) / "min60.json"
    p.write_text(json.dumps(doc))
    rules = load_rules(p)
    # runs: 10 s (billed as 60) then 120 s (as is): 180 s x 0.096 / 3600 = 0.0048
    timeline = rows((0, "running"), (10, "deallocated"), (100, "running"), (220, "deallocated"))
    b = bill(timeline, [], prices, rules, T0, T0 + DAY)
    assert b.total == Decimal("0.0048")
    # running -> stopping -> stopped is one billed run (30 s) under docs-2021, so billed as 60 s
    timeline = rows((0, "running"), (10, "stopping"), (20, "stopped"), (30, "deallocated"))
    assert bill(timeline, [], prices, rules, T0, T0 + DAY).total == Decimal("0.0016")


def test_bad_inputs(prices: PriceSheet) -> None:
    from azvm.billing import BillingError

    with pytest.raises(BillingError, match="group_by"):
        bill([], [], prices, rule_set(), T0, T0 + DAY, group_by="week")
    with pytest.raises(BillingError, match="sleeping"):
        bill(rows((0, "sleeping")), [], prices, rule_set(), T0, T0 + DAY)
    with pytest.raises(BillingError, match="before it starts"):
        bill([], [], prices, rule_set(), T0 + DAY, T0)
