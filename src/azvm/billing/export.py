"""Cost-details records (daily, per resource and meter), CSV/JSON output, and a Cost Management
Query-shaped aggregation over them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact
from fractions import Fraction
from typing import Any, NamedTuple, TextIO

from ..domain.resource_id import ResourceId
from .bill import _disk_meter, day_string, disk_resource_id, meter_disks, price_key
from .meter import Row, as_rows, meter, quiet_gc
from .model import BILLING_STATES, SECONDS_PER_HOUR, SECONDS_PER_MONTH, BillingError, DiskSpan, parse_vm_id
from .model import RESOURCE_KINDS as KINDS
from .model import ResourceSpan as Span
from .money import CONTEXT
from .prices import Meter, PriceSheet
from .resources import meter_resources, resource_meter
from .rules import RuleSet

__all__ = [
    "COST_COLUMNS",
    "QUERY_GROUPINGS",
    "CostRecord",
    "cost_records",
    "cost_records_json",
    "query_costs",
    "write_cost_csv",
]

COST_COLUMNS: tuple[str, ...] = (
    "Date",
    "ResourceId",
    "ResourceGroup",
    "SubscriptionId",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "MeterId",
    "Quantity",
    "UnitOfMeasure",
    "EffectivePrice",
    "CostInBillingCurrency",
    "BillingCurrency",
    "ResourceLocation",
    "ConsumedService",
    "Tags",
)

CONSUMED_SERVICE = "Microsoft.Compute"


class CostRecord(NamedTuple):
    """One row of a daily cost-details export: one resource, one meter, one UTC day.

    `quantity` is hours (VMs) or months of 730 hours (disks) and `cost` the amount, both to 50
    significant digits; `exact` is the exact cost. `effective_price`, `cost` and `exact` are None
    when the usage has no price. `seconds` is the billed time behind the row.
    """

    date: str  # YYYY-MM-DD (UTC)
    resource_id: str
    resource_group: str
    subscription_id: str
    meter_category: str
    meter_subcategory: str
    meter_name: str
    meter_id: str
    quantity: Decimal
    unit_of_measure: str
    effective_price: Decimal | None
    cost: Decimal | None
    currency: str
    location: str
    consumed_service: str
    tags: str  # JSON object text
    seconds: int
    unit_seconds: int  # seconds in one unit of measure: 3600 (1 Hour) or 2628000 (1/Month)

    @property
    def resource_type(self) -> str:
        """The resource type of `resource_id`, e.g. ``Microsoft.Compute/disks`` (the ResourceType dimension)."""
        rid = ResourceId.try_parse(self.resource_id)
        return rid.type if rid is not None and rid.types else ""

    @property
    def exact(self) -> Fraction | None:
        if self.effective_price is None:
            return None
        return Fraction(self.effective_price) * self.seconds / self.unit_seconds

    def _numerator(self) -> Decimal:
        """The exact cost times SECONDS_PER_MONTH (an exact Decimal: additive without rounding)."""
        assert self.effective_price is not None
        return _EXACT.multiply(self.effective_price, self.seconds * (SECONDS_PER_MONTH // self.unit_seconds))

    def as_dict(self) -> dict[str, Any]:
        """Column name -> value (Decimals and None kept as they are)."""
        return dict(zip(COST_COLUMNS, self[:16], strict=True))


_EXACT = Context(prec=60, traps=[Inexact])


def _cost_record(date: str, resource_id: str, rg: str, sub: str, m: Meter | None, category: str, label: str,
                 unit: str, secs: int, unit_seconds: int, currency: str, location: str, tags: str,
                 service: str = CONSUMED_SERVICE) -> CostRecord:
    """One row of the export; an unpriced one keeps its label as the meter name and has neither price
    nor cost."""
    per = Decimal(unit_seconds)
    quantity = CONTEXT.divide(secs, per)
    if m is None:
        return CostRecord(date, resource_id, rg, sub, category, "", label, "", quantity, unit, None, None, currency,
                          location, service, tags, secs, unit_seconds)
    return CostRecord(date, resource_id, rg, sub, m.service_name or category, m.product_name, m.meter_name,
                      m.meter_id, quantity, m.unit_of_measure or unit, m.unit_price,
                      CONTEXT.divide(m.unit_price * secs, per), currency, location, service, tags, secs,
                      unit_seconds)


def _tags_json(tags_by_lower_id: Mapping[str, Mapping[str, str]], vm_id: str) -> str:
    v = tags_by_lower_id.get(vm_id.lower())
    return json.dumps(dict(v), sort_keys=True, separators=(",", ":")) if v else "{}"


@quiet_gc
def cost_records(
    timeline: Iterable[Row],
    disks: Iterable[DiskSpan],
    prices: PriceSheet,
    rules: RuleSet,
    window_start_us: int,
    window_end_us: int,
    tags: Mapping[str, Mapping[str, str]] | None = None,
    resources: Iterable[Span] = (),
) -> list[CostRecord]:
    """Daily cost-details records: one per resource per meter per UTC day with billed usage: VMs,
    the disks of the VM model, and resource spans (disks, public IPs). `tags` maps resource ids
    (VMs, disks, public IPs) to their tags.

    Unpriced usage still gets its rows (quantity filled in, price and cost None).
    """
    rows = as_rows(timeline)
    usage = meter(
        rows,
        window_start_us,
        window_end_us,
        rules.billed_states,
        rules.minimum_billed_seconds,
        by_day=True,
        by_vm=True,
        billed_only=True,
    )
    for state in rules.billed_states:
        if state not in BILLING_STATES:  # pragma: no cover - rule sets are validated
            raise BillingError(f"unknown state {state!r}")
    currency = prices.currency
    acc: dict[tuple[str, tuple[str, str, str], int], int] = {}
    spelling: dict[tuple[str, str, str], str] = {}
    n_days = usage.n_days
    for source in (usage.seconds, usage.topups):
        for ck, n in source.items():
            i, d = divmod(ck >> 5, n_days)
            vm, size, loc, os_type = usage.facts[i]
            pk = price_key(size, loc, os_type)
            spelling.setdefault(pk, size)
            k = (vm, pk, d + usage.first_day)
            acc[k] = acc.get(k, 0) + n
    out: list[CostRecord] = []
    days: dict[int, str] = {}
    parsed: dict[str, tuple[str, str, str]] = {}
    vm_tags: dict[str, str] = {}
    tags_lower = {k.lower(): v for k, v in (tags or {}).items()}
    for (vm, pk, day), secs in acc.items():
        if secs <= 0:
            continue
        vm_id = usage.names[vm]
        if vm not in parsed:
            parsed[vm] = parse_vm_id(vm_id)
            vm_tags[vm] = _tags_json(tags_lower, vm_id)
        sub, rg, _ = parsed[vm]
        date = days.get(day) or days.setdefault(day, day_string(day))
        m = prices.vm(*pk)
        out.append(_cost_record(date, vm_id, rg, sub, m, "Virtual Machines", spelling[pk], "1 Hour", secs,
                                SECONDS_PER_HOUR, currency, pk[1], vm_tags[vm]))
    for (vm, name, label, loc, day), secs in meter_disks(disks, usage, True, True).items():
        vm_id = usage.names.get(vm, vm)
        sub, rg, _ = parse_vm_id(vm_id)
        rid = disk_resource_id(vm_id, name)
        dm = _disk_meter(prices, label, loc)
        date = days.get(day) or days.setdefault(day, day_string(day))
        out.append(_cost_record(date, rid, rg, sub, dm, "Storage", label, "1/Month", secs, SECONDS_PER_MONTH,
                                currency, loc.lower(), "{}"))
    spans, names = meter_resources(resources, usage.window_start_s, usage.window_end_s, True, True)
    for (key, kind, label, loc, day), secs in spans.items():
        per, unit, category, service = KINDS[kind]
        rid = names[key]
        sub, rg, _ = parse_vm_id(rid)
        date = days.get(day) or days.setdefault(day, day_string(day))
        out.append(_cost_record(date, rid, rg, sub, resource_meter(prices, kind, label, loc), category, label, unit,
                                secs, per, currency, loc, _tags_json(tags_lower, rid), service))
    out.sort(key=lambda r: (r.date, r.resource_id.lower(), r.meter_category, r.meter_name))
    return out


_QUANTA = {p: Decimal(1).scaleb(-p) for p in range(0, 13)}


def _fmt(value: Decimal | None, places: int) -> str:
    if value is None:
        return ""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        q = value
    else:
        q = value.quantize(_QUANTA.get(places) or Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def write_cost_csv(records: Iterable[CostRecord], fp: TextIO, places: int = 10) -> int:
    """Write records as CSV with the cost-details column names; numbers rounded to `places`.

    Unpriced rows have an empty EffectivePrice and CostInBillingCurrency. Returns the row count.
    """
    writer = csv.writer(fp, lineterminator="\n")
    writer.writerow(COST_COLUMNS)
    n = 0
    for r in records:
        writer.writerow(
            (
                r.date,
                r.resource_id,
                r.resource_group,
                r.subscription_id,
                r.meter_category,
                r.meter_subcategory,
                r.meter_name,
                r.meter_id,
                _fmt(r.quantity, places),
                r.unit_of_measure,
                _fmt(r.effective_price, places),
                _fmt(r.cost, places),
                r.currency,
                r.location,
                r.consumed_service,
                r.tags,
            )
        )
        n += 1
    return n


def _json_number(value: Decimal | None, places: int) -> Any:
    if value is None:
        return None
    text = _fmt(value, places)
    return int(text) if "." not in text else float(text)


def cost_records_json(records: Iterable[CostRecord], places: int = 10) -> list[dict[str, Any]]:
    """The records as JSON-ready dicts with the same keys as the CSV columns (Tags as an object)."""
    out = []
    for r in records:
        d = r.as_dict()
        for k in ("Quantity", "EffectivePrice", "CostInBillingCurrency"):
            d[k] = _json_number(d[k], places)
        d["Tags"] = json.loads(r.tags)
        out.append(d)
    return out


#: Cost Management Query grouping dimension -> CostRecord attribute
QUERY_GROUPINGS: Mapping[str, str] = {
    "ResourceId": "resource_id",
    "ResourceType": "resource_type",
    "ResourceGroup": "resource_group",
    "ResourceGroupName": "resource_group",
    "MeterSubCategory": "meter_subcategory",
    "MeterCategory": "meter_category",
    "ServiceName": "meter_category",
    "ResourceLocation": "location",
    "SubscriptionId": "subscription_id",
    "Meter": "meter_name",
}
_LOWERED = frozenset({"ResourceId", "ResourceType", "ResourceGroup", "ResourceGroupName"})


def query_costs(
    records: Iterable[CostRecord], granularity: str | None = None, grouping: Sequence[str] = ()
) -> dict[str, Any]:
    """Aggregate records the way the Cost Management Query API answers.

    Returns ``{"columns": [{"name", "type"}...], "rows": [[...]...], "nextLink": None}``: columns
    Cost and UsageQuantity (Number), then one String column per grouping dimension, then UsageDate
    (Number, yyyymmdd) when `granularity` is ``"Daily"``, then Currency (String). Resource ids and
    group names are lower-cased, as the service returns them. Unpriced records are left out (their
    cost is unknown). Cost is the exact Decimal sum (50 significant digits).
    """
    if granularity not in (None, "None", "Daily"):
        raise BillingError(f"granularity {granularity!r}: expected None or 'Daily'")
    daily = granularity == "Daily"
    for g in grouping:
        if g not in QUERY_GROUPINGS:
            raise BillingError(f"grouping {g!r}: expected one of {', '.join(QUERY_GROUPINGS)}")
    acc: dict[tuple[tuple[str, ...], int, str], list[Any]] = {}
    for r in records:
        if r.effective_price is None:
            continue
        values = []
        for g in grouping:
            v = str(getattr(r, QUERY_GROUPINGS[g]))
            values.append(v.lower() if g in _LOWERED else v)
        date = int(r.date.replace("-", "")) if daily else 0
        k = (tuple(values), date, r.currency)
        cur = acc.get(k)
        if cur is None:
            acc[k] = [r._numerator(), r.seconds * (SECONDS_PER_MONTH // r.unit_seconds)]
        else:
            cur[0] = _EXACT.add(cur[0], r._numerator())
            cur[1] += r.seconds * (SECONDS_PER_MONTH // r.unit_seconds)
    columns = [{"name": "Cost", "type": "Number"}, {"name": "UsageQuantity", "type": "Number"}]
    columns += [{"name": g, "type": "String"} for g in grouping]
    if daily:
        columns.append({"name": "UsageDate", "type": "Number"})
    columns.append({"name": "Currency", "type": "String"})
    rows = []
    for k in sorted(acc):
        numerator, qty_numerator = acc[k]
        group_values, date, currency = k
        cost = CONTEXT.divide(numerator, SECONDS_PER_MONTH)
        quantity = CONTEXT.divide(qty_numerator, SECONDS_PER_MONTH)
        row: list[Any] = [cost, quantity, *group_values]
        if daily:
            row.append(date)
        row.append(currency)
        rows.append(row)
    return {"columns": columns, "rows": rows, "nextLink": None}
