"""Cost-details records, CSV/JSON, the Cost Management query shape, explain and what-if."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from fractions import Fraction

from azvm.billing import (
    COST_COLUMNS,
    DiskSpan,
    PriceSheet,
    StateChange,
    bill,
    cost_records,
    cost_records_json,
    explain,
    query_costs,
    rule_set,
    what_if_deallocate,
    write_cost_csv,
)

S = 1_000_000
H = 3600 * S
T0 = 1_714_521_600 * S  # 2024-05-01T00:00:00Z
SUB = "11111111-1111-1111-1111-111111111111"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.Compute/virtualMachines/web1"
VM2 = f"/subscriptions/{SUB}/resourceGroups/rg-b/providers/Microsoft.Compute/virtualMachines/db1"


def r(vm: str, t_s: int, state: str, size: str = "Standard_D2s_v3", os_type: str = "Linux") -> StateChange:
    return StateChange(vm, T0 + t_s * S, state, size, "eastus", os_type)


# web1 runs from 22:00 on day 1 to 02:00 on day 2 (4 h), then stays stopped (allocated) 6 h, then
# is deallocated. db1 (Windows) runs 1 h on day 1, stops for 2 h, then runs 1 h.
TIMELINE = [
    r(VM, 22 * 3600, "running"),
    r(VM, 26 * 3600, "stopped"),
    r(VM, 32 * 3600, "deallocated"),
    r(VM2, 0, "running", os_type="Windows"),
    r(VM2, 3600, "stopped", os_type="Windows"),
    r(VM2, 3 * 3600, "running", os_type="Windows"),
    r(VM2, 4 * 3600, "deallocated", os_type="Windows"),
]
DISKS = [DiskSpan(VM, "web1-os", "Standard_LRS", 128, T0, None)]
WINDOW = (T0, T0 + 2 * 24 * H)


def records(prices: PriceSheet) -> list:  # type: ignore[type-arg]
    return cost_records(TIMELINE, DISKS, prices, rule_set("docs-2021"), *WINDOW, tags={VM: {"env": "prod"}})


def test_daily_records_one_per_resource_meter_and_day(prices: PriceSheet) -> None:
    recs = records(prices)
    vm_rows = [
        (x.date, x.resource_id, x.quantity, x.cost) for x in recs if x.meter_category == "Virtual Machines"
    ]
    assert vm_rows == [
        # web1 day 1: 22:00-24:00 running = 2 h x 0.096 = 0.192
        ("2024-05-01", VM, Decimal(2), Decimal("0.192")),
        # db1 day 1: running 1 h + stopped 2 h + running 1 h = 4 h x 0.188 = 0.752
        ("2024-05-01", VM2, Decimal(4), Decimal("0.752")),
        # web1 day 2: 2 h running + 6 h stopped = 8 h x 0.096 = 0.768
        ("2024-05-02", VM, Decimal(8), Decimal("0.768")),
    ]
    web1 = next(x for x in recs if x.resource_id == VM)
    assert web1.meter_subcategory == "Virtual Machines DSv3 Series" and web1.meter_name == "D2s v3"
    assert web1.unit_of_measure == "1 Hour" and web1.effective_price == Decimal("0.096")
    assert web1.resource_group == "rg-a" and web1.subscription_id == SUB and web1.location == "eastus"
    assert web1.consumed_service == "Microsoft.Compute" and json.loads(web1.tags) == {"env": "prod"}
    db1 = next(x for x in recs if x.resource_id == VM2)
    assert db1.meter_subcategory == "Virtual Machines DSv3 Series Windows" and db1.tags == "{}"
    disks = [x for x in recs if x.meter_category == "Storage"]
    # S10 LRS 5.888/month, 1 day a row: 86400 / 2628000 months x 5.888
    assert [x.date for x in disks] == ["2024-05-01", "2024-05-02"]
    assert (
        disks[0].meter_subcategory == "Standard HDD Managed Disks" and disks[0].unit_of_measure == "1/Month"
    )
    assert disks[0].resource_id.endswith("/resourceGroups/rg-a/providers/Microsoft.Compute/disks/web1-os")
    assert disks[0].exact == Fraction(Decimal("5.888")) * 86400 / 2628000


def test_records_add_up_to_the_bill(prices: PriceSheet) -> None:
    total = bill(TIMELINE, DISKS, prices, rule_set("docs-2021"), *WINDOW).total_exact
    assert sum(x.exact for x in records(prices)) == total


def test_csv_has_the_cost_details_columns(prices: PriceSheet) -> None:
    buf = io.StringIO()
    n = write_cost_csv(records(prices), buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert n == len(rows) == 5
    assert tuple(rows[0]) == COST_COLUMNS
    web1 = [x for x in rows if x["ResourceId"] == VM]
    assert web1[1]["Quantity"] == "8" and web1[1]["CostInBillingCurrency"] == "0.768"
    assert web1[1]["EffectivePrice"] == "0.096" and web1[1]["BillingCurrency"] == "USD"
    assert json.loads(web1[1]["Tags"]) == {"env": "prod"}
    disk = next(x for x in rows if x["MeterCategory"] == "Storage")
    assert disk["Quantity"] == "0.0328767123"  # 86400 / 2628000 months, 10 places


def test_json_records_use_the_same_keys(prices: PriceSheet) -> None:
    out = cost_records_json(records(prices))
    assert all(tuple(d) == COST_COLUMNS for d in out)
    json.dumps(out)  # JSON-ready
    assert out[1]["Tags"] == {"env": "prod"} and out[1]["CostInBillingCurrency"] == 0.192


def test_query_shape_without_granularity(prices: PriceSheet) -> None:
    q = query_costs(records(prices), None, ["ResourceGroup"])
    assert q["columns"] == [
        {"name": "Cost", "type": "Number"},
        {"name": "UsageQuantity", "type": "Number"},
        {"name": "ResourceGroup", "type": "String"},
        {"name": "Currency", "type": "String"},
    ]
    disk_cost = Fraction(Decimal("5.888")) * 2 * 86400 / 2628000
    by_rg = {row[2]: row for row in q["rows"]}
    assert by_rg["rg-b"][0] == Decimal("0.752") and by_rg["rg-b"][1] == 4
    # 50 significant digits of the exact 0.96 + disk cost
    assert abs(Fraction(by_rg["rg-a"][0]) - (Fraction("0.96") + disk_cost)) < Fraction(1, 10**45)
    assert by_rg["rg-a"][3] == "USD"


def test_query_daily_by_resource_id_and_service(prices: PriceSheet) -> None:
    q = query_costs(records(prices), "Daily", ["ResourceId", "ServiceName"])
    assert [c["name"] for c in q["columns"]] == [
        "Cost",
        "UsageQuantity",
        "ResourceId",
        "ServiceName",
        "UsageDate",
        "Currency",
    ]
    day2 = [row for row in q["rows"] if row[4] == 20240502 and row[3] == "Virtual Machines"]
    assert day2 == [[Decimal("0.768"), Decimal(8), VM.lower(), "Virtual Machines", 20240502, "USD"]]


def test_explain_lists_every_interval_and_the_rule(prices: PriceSheet) -> None:
    e = explain(VM.upper(), TIMELINE, DISKS, prices, rule_set("docs-2018"), *WINDOW)
    assert e.vm_id == VM
    got = [(i.start_us, i.end_us, i.seconds, i.state, i.billed, i.amount) for i in e.intervals]
    assert got == [
        (T0 + 22 * H, T0 + 26 * H, 4 * 3600, "running", True, Decimal("0.384")),
        (T0 + 26 * H, T0 + 32 * H, 6 * 3600, "stopped", False, Decimal(0)),
        (T0 + 32 * H, T0 + 48 * H, 16 * 3600, "deallocated", False, Decimal(0)),
    ]
    assert e.intervals[1].rule_set == "docs-2018" and "docs-2018" in e.intervals[1].reason
    assert e.intervals[0].unit_price == Decimal("0.096")
    [d] = e.disks
    assert d.tier == "S10 LRS Disk" and d.seconds == 2 * 86400 and "whatever the power state" in d.reason
    b = bill(TIMELINE, DISKS, prices, rule_set("docs-2018"), *WINDOW)
    assert e.total_exact == b.subtotals()[VM]


def test_explain_split_days(prices: PriceSheet) -> None:
    e = explain(VM, TIMELINE, [], prices, rule_set(), *WINDOW, split_days=True)
    assert [(i.day, i.state, i.seconds) for i in e.intervals][:2] == [
        ("2024-05-01", "running", 7200),
        ("2024-05-02", "running", 7200),
    ]


def test_what_if_every_stopped_vm_were_deallocated(prices: PriceSheet) -> None:
    w = what_if_deallocate(TIMELINE, prices, rule_set("docs-2021"), *WINDOW)
    # web1: 6 h stopped x 0.096 = 0.576; db1: 2 h stopped x 0.188 = 0.376
    assert [(v.vm_id, v.stopped_seconds, v.saving) for v in w.vms] == [
        (VM, 6 * 3600, Decimal("0.576")),
        (VM2, 2 * 3600, Decimal("0.376")),
    ]
    assert w.total == Decimal("0.952") and w.total_display == Decimal("0.95")
    # the saving is exactly the difference with a timeline where stopped became deallocated
    swapped = [x._replace(state="deallocated") if x.state == "stopped" else x for x in TIMELINE]
    before = bill(TIMELINE, [], prices, rule_set("docs-2021"), *WINDOW).total
    after = bill(swapped, [], prices, rule_set("docs-2021"), *WINDOW).total
    assert before - after == w.total
    # docs-2018 does not bill Stopped: nothing to save
    w18 = what_if_deallocate(TIMELINE, prices, rule_set("docs-2018"), *WINDOW)
    assert w18.total == 0 and all(v.stopped_seconds for v in w18.vms)


def test_what_if_unpriced_vm(prices: PriceSheet) -> None:
    tl = [r(VM, 0, "stopped", size="Standard_Nope")]
    w = what_if_deallocate(tl, prices, rule_set(), T0, T0 + H)
    assert w.total == 0 and [v.saving for v in w.unpriced] == [None]
