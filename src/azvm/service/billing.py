"""Billing use cases: the meter (azvm.billing) over the store's history, or an imported timeline."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .. import billing as b
from ..clock import iso, parse_iso
from ..domain.errors import ArmError
from .ports import Store

DAY_US = 86_400_000_000


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
    """What a bill is computed from: state changes and disk spans, plus the VMs' tags."""

    rows: Sequence[Any]
    disks: Sequence[Any] = ()
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def first_us(self) -> int | None:
        return min((r[1] for r in self.rows), default=None)


def timeline_from_store(store: Store, *, tags: bool = False) -> Timeline:
    """The store's billing projection; with `tags`, each VM's tags too (for the cost export)."""
    return Timeline(store.usage_rows(), store.disk_rows(), store.vm_tags() if tags else {})


def timeline_from_file(path: str) -> Timeline:
    from .history_import import read_timeline

    return Timeline(read_timeline(path))


@dataclass
class BillingService:
    prices: b.PriceSheet = field(default_factory=b.sample_prices)
    rules: b.RuleSet = field(default_factory=b.rule_set)

    def with_rules(self, name_or_path: str | None) -> BillingService:
        return self if name_or_path is None else BillingService(self.prices, resolve_rules(name_or_path))

    # -- windows -----------------------------------------------------------------------------
    @staticmethod
    def window(tl: Timeline, start: str | None, end: str | None, now_us: int) -> tuple[int, int]:
        try:
            s = parse_iso(start) if start else (tl.first_us if tl.first_us is not None else now_us)
            e = parse_iso(end) if end else now_us
        except ValueError as err:
            raise ArmError(f"{err}: times are ISO 8601 with a zone, e.g. 2026-01-01T00:00:00Z.",
                           code="InvalidParameter", target="from" if start else "to") from None
        if e < s:
            raise ArmError("The window ends before it starts.", code="InvalidParameter", target="to")
        return s, e

    # -- computations ------------------------------------------------------------------------
    def bill(self, tl: Timeline, start_us: int, end_us: int, group_by: str = "vm") -> b.Bill:
        return b.bill(tl.rows, tl.disks, self.prices, self.rules, start_us, end_us, group_by)

    def explain(self, tl: Timeline, vm_id: str, start_us: int, end_us: int) -> b.Explanation:
        return b.explain(vm_id, tl.rows, tl.disks, self.prices, self.rules, start_us, end_us)

    def what_if(self, tl: Timeline, start_us: int, end_us: int) -> b.WhatIf:
        return b.what_if_deallocate(tl.rows, self.prices, self.rules, start_us, end_us)

    def records(self, tl: Timeline, start_us: int, end_us: int) -> list[b.CostRecord]:
        return b.cost_records(tl.rows, tl.disks, self.prices, self.rules, start_us, end_us, tl.tags or None)

    def cost_csv(self, tl: Timeline, start_us: int, end_us: int) -> str:
        buf = io.StringIO()
        b.write_cost_csv(self.records(tl, start_us, end_us), buf)
        return buf.getvalue()

    # -- JSON shapes -------------------------------------------------------------------------
    def bill_json(self, bl: b.Bill) -> dict[str, Any]:
        return {
            "ruleSet": bl.rule_set, "currency": bl.currency, "from": iso(bl.window_start_us),
            "to": iso(bl.window_end_us), "groupBy": bl.group_by, "total": _str(bl.total_display),
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

    def explain_json(self, ex: b.Explanation) -> dict[str, Any]:
        return {
            "vmId": ex.vm_id, "ruleSet": ex.rule_set, "currency": ex.currency, "from": iso(ex.window_start_us),
            "to": iso(ex.window_end_us), "total": _str(ex.total_display), "totalExact": _str(ex.total),
            "complete": ex.complete,
            "intervals": [{"start": iso(i.start_us), "end": iso(i.end_us), "seconds": i.seconds, "state": i.state,
                           "size": i.size, "billed": i.billed, "rule": f"{i.rule_set}: {i.reason}",
                           "meter": i.meter, "unitPrice": _str(i.unit_price), "amount": _str(i.amount),
                           **({"minimumTopUp": True} if i.topup else {})} for i in ex.intervals],
            "disks": [{"name": d.name, "resourceId": d.resource_id, "sku": d.sku, "sizeGB": d.size_gb,
                       "tier": d.tier, "start": iso(d.start_us), "end": iso(d.end_us), "seconds": d.seconds,
                       "reason": d.reason, "unitPrice": _str(d.unit_price), "amount": _str(d.amount)}
                      for d in ex.disks],
        }

    def what_if_json(self, w: b.WhatIf) -> dict[str, Any]:
        return {
            "ruleSet": w.rule_set, "currency": w.currency, "from": iso(w.window_start_us),
            "to": iso(w.window_end_us), "totalSaving": _str(w.total_display), "totalSavingExact": _str(w.total),
            "vms": [{"vmId": v.vm_id, "stoppedSeconds": v.stopped_seconds,
                     "billedStoppedSeconds": v.billed_stopped_seconds, "saving": _str(v.saving)} for v in w.vms],
        }

    # -- the Cost Management Query API (a subset) --------------------------------------------
    def query(self, tl: Timeline, scope: str, body: Any, now_us: int) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ArmError("The query definition must be a JSON object.", code="BadRequest", target="body")
        qtype = str(body.get("type", ""))
        if qtype.lower() not in ("actualcost", "usage", "amortizedcost"):
            raise ArmError(f"Query type '{qtype}' is not supported: use ActualCost.", code="BadRequest",
                           target="type")
        start, end = self._timeframe(body, now_us)
        ds = body.get("dataset") or {}
        if not isinstance(ds, dict):
            raise ArmError("dataset must be an object.", code="BadRequest", target="dataset")
        granularity = ds.get("granularity")
        if granularity not in (None, "None", "Daily"):
            raise ArmError(f"Granularity '{granularity}' is not supported: use None or Daily.", code="BadRequest",
                           target="dataset.granularity")
        agg = ds.get("aggregation") or {"totalCost": {"name": "Cost", "function": "Sum"}}
        for alias, a in agg.items():
            if not isinstance(a, dict) or a.get("function") != "Sum" or a.get("name") not in (
                    "Cost", "PreTaxCost", "CostUSD", "UsageQuantity"):
                raise ArmError(f"Aggregation '{alias}' is not supported: use Sum of Cost or UsageQuantity.",
                               code="BadRequest", target=f"dataset.aggregation.{alias}")
        groups: list[str] = []
        for g in ds.get("grouping") or []:
            name = g.get("name") if isinstance(g, dict) else None
            if name not in b.QUERY_GROUPINGS or (g.get("type") or "Dimension") != "Dimension":
                raise ArmError(f"Grouping '{name}' is not supported: use a Dimension among "
                               f"{', '.join(b.QUERY_GROUPINGS)}.", code="BadRequest", target="dataset.grouping")
            groups.append(str(name))
        scope_low = scope.lower().rstrip("/")
        records = [r for r in self.records(tl, start, end)
                   if r.resource_id.lower().startswith(scope_low + "/")]
        result = b.query_costs(records, None if granularity in (None, "None") else granularity, groups)
        rows = [[float(v) if isinstance(v, Decimal) else v for v in row] for row in result["rows"]]
        return {"id": f"{scope}/providers/Microsoft.CostManagement/query/{iso(now_us)}",
                "name": iso(now_us), "type": "Microsoft.CostManagement/query",
                "properties": {"nextLink": None, "columns": result["columns"], "rows": rows}}

    @staticmethod
    def _timeframe(body: dict[str, Any], now_us: int) -> tuple[int, int]:
        tf = str(body.get("timeframe", "MonthToDate"))
        day0 = now_us - now_us % DAY_US
        if tf == "Custom":
            tp = body.get("timePeriod") or {}
            try:
                return parse_iso(str(tp["from"])), parse_iso(str(tp["to"]))
            except (KeyError, ValueError):
                raise ArmError("A Custom timeframe needs timePeriod.from and timePeriod.to as ISO 8601 times.",
                               code="BadRequest", target="timePeriod") from None
        import datetime as dt

        today = dt.datetime.fromtimestamp(day0 / 1e6, dt.UTC)
        month0 = today.replace(day=1)

        def us(d: dt.datetime) -> int:
            return int(d.timestamp()) * 1_000_000
        if tf in ("MonthToDate", "BillingMonthToDate"):
            return us(month0), now_us
        if tf in ("TheLastMonth", "TheLastBillingMonth"):
            prev = (month0 - dt.timedelta(days=1)).replace(day=1)
            return us(prev), us(month0)
        if tf == "WeekToDate":
            return us(today - dt.timedelta(days=today.weekday())), now_us
        raise ArmError(f"Timeframe '{tf}' is not supported: use Custom, MonthToDate, WeekToDate or TheLastMonth.",
                       code="BadRequest", target="timeframe")
