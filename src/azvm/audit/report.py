"""The audit's outputs: a table (rich), JSON, CSV, and a self-contained HTML page with a chart of
waste by resource group.

Amounts are per month (730 hours) in the price sheet's currency. JSON carries them exact (the
amounts of a Retail Prices sheet are decimals, so a month of them is too: read them with
`parse_float=Decimal`); the table, the CSV and the page round once, to the currency's minor unit.

The page draws its chart with Chart.js (MIT), the copy vendored for azvm's dashboard
(`azvm/web/static/vendor/chart.umd.min.js`, v4.6.1), inlined into the page so that it needs nothing
from the network: the page can be mailed or kept as a pipeline artifact.
"""

from __future__ import annotations

import csv
import html
import io
import json
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from typing import Any

from ..billing import display
from ..billing.money import to_decimal
from .costing import Finding
from .run import AuditReport

__all__ = ["CSV_COLUMNS", "render_csv", "render_html", "render_json", "render_table", "to_json"]

CHART_JS = ("web", "static", "vendor", "chart.umd.min.js")
CSV_COLUMNS = ("SubscriptionId", "ResourceGroup", "Name", "ResourceId", "Location", "Size", "OS", "PowerState",
               "PowerStateSource", "BillingState", "ComputeBilled", "Category", "Since", "Monthly", "Compute",
               "Disks", "PublicIPs", "SavingIfDeallocated", "Idle", "Unpriced", "Excluded", "Fix", "Currency")


def _exact(x: Fraction) -> Decimal:
    return to_decimal(x).normalize() if x else Decimal(0)


def _num(x: Fraction) -> float | int:
    """A JSON number whose text is the exact decimal (a month of a decimal price is a short decimal)."""
    d = _exact(x)
    return int(d) if d == d.to_integral_value() else float(d)


def _since(f: Finding) -> str:
    """When the VM reached its state, `2026-01-01T10:00:00Z` (to the second), or "unknown"."""
    if f.vm.since_us is None:
        return "unknown"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(f.vm.since_us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fixes(report: AuditReport) -> dict[str, Any]:
    return {r.vm_id.lower(): r for r in report.fixes}


def _fix_word(report: AuditReport, f: Finding, fixed: dict[str, Any]) -> str:
    r = fixed.get(f.vm.id.lower())
    if r is not None:
        return "deallocated" if r.ok else f"failed: {r.error[0] if r.error else ''}"
    if f.category == "stopped-billed" and f.excluded is None:
        return "would deallocate"
    return ""


def _label(group: str, report: AuditReport) -> str:
    """A group's name on the chart: the resource group alone when one subscription was read."""
    sub, _, rg = group.partition("/")
    return rg if len({s.id for s in report.subscriptions if s.error is None}) <= 1 else f"{sub[:8]}…/{rg}"


def to_json(report: AuditReport, dry_run: bool = True) -> dict[str, Any]:
    fixed = _fixes(report)
    vms = []
    for f in report.findings:
        vm = f.vm
        vms.append({
            "id": vm.id, "name": vm.name, "subscriptionId": vm.subscription_id, "resourceGroup": vm.resource_group,
            "location": vm.location, "size": vm.size, "os": vm.os_type, "tags": dict(vm.tags),
            "powerState": vm.power_state, "powerStateSource": vm.source, "billingState": f.state,
            "computeBilled": f.billed, "category": f.category, "since": _since(f), "excluded": f.excluded,
            "monthly": _num(f.monthly), "compute": _num(f.compute), "disks": _num(f.storage),
            "publicIps": _num(f.network), "savingIfDeallocated": _num(f.saving), "idle": _num(f.idle),
            "items": [{"kind": i.kind, "id": i.id, "meter": i.meter, "billed": i.billed,
                       "monthly": None if i.monthly is None else _num(i.monthly),
                       **({"reason": i.reason} if i.reason else {})} for i in f.items],
            "unpriced": [{"kind": i.kind, "id": i.id, "meter": i.meter, "reason": i.reason} for i in f.unpriced],
            "fix": _fix_word(report, f, fixed) or None,
        })
    return {
        "generatedAt": report.generated_at, "currency": report.currency, "rules": report.rules,
        "prices": report.prices, "hoursPerMonth": 730, "threshold": _num(report.threshold),
        "totals": {"monthly": _num(report.monthly), "waste": _num(report.waste), "idle": _num(report.idle),
                   "saved": _num(report.saved), "remainingWaste": _num(report.remaining_waste),
                   "overThreshold": report.over_threshold, "vms": len(report.findings),
                   "stoppedBilled": sum(1 for f in report.counted if f.category == "stopped-billed"),
                   "unpriced": sum(len(f.unpriced) for f in report.findings)},
        "byGroup": [{"group": g, "label": _label(g, report), "waste": _num(w), "idle": _num(i)}
                    for g, w, i in report.by_group()],
        "subscriptions": [{"id": s.id, "name": s.name, "vms": len(s.vms),
                           "error": None if s.error is None else {"code": s.error[0], "message": s.error[1]},
                           "warnings": s.warnings} for s in report.subscriptions],
        "fix": {"dryRun": dry_run, "results": [
            {"id": r.vm_id, "name": r.name, "ok": r.ok, "savingIfDeallocated": _num(r.saving),
             "error": None if r.error is None else {"code": r.error[0], "message": r.error[1]}}
            for r in report.fixes]},
        "requests": report.stats.as_dict(),
        "vms": vms,
    }


def render_json(report: AuditReport, dry_run: bool = True) -> str:
    return json.dumps(to_json(report, dry_run), indent=2) + "\n"


def _money(x: Fraction, currency: str) -> str:
    return f"{display(x, currency)}"


def render_csv(report: AuditReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    fixed = _fixes(report)
    c = report.currency
    for f in report.findings:
        vm = f.vm
        w.writerow([vm.subscription_id, vm.resource_group, vm.name, vm.id, vm.location, vm.size, vm.os_type,
                    vm.power_state or "", vm.source, f.state, "true" if f.billed else "false", f.category, _since(f),
                    _money(f.monthly, c), _money(f.compute, c), _money(f.storage, c), _money(f.network, c),
                    _money(f.saving, c), _money(f.idle, c), "; ".join(f"{i.meter}: {i.reason}" for i in f.unpriced),
                    f.excluded or "", _fix_word(report, f, fixed), c])
    return out.getvalue()


def summary_lines(report: AuditReport, dry_run: bool) -> list[str]:
    c = report.currency
    lines = [f"{len(report.findings)} VMs in {len(report.subscriptions) - len(report.unreadable)} subscription(s);"
             f" rule set {report.rules}; prices: {report.prices}; a month is 730 hours."]
    stopped = [f for f in report.counted if f.category == "stopped-billed"]
    lines.append(f"Waste: {_money(report.waste, c)} {c}/month from {len(stopped)} VM(s) Stopped (allocated) and"
                 f" billed; idle (VMs not in use, disks and addresses included): {_money(report.idle, c)} {c}/month.")
    unpriced = [i for f in report.findings for i in f.unpriced]
    if unpriced:
        shown = "; ".join(f"{i.meter} ({i.reason})" for i in unpriced[:5]) + (" ..." if len(unpriced) > 5 else "")
        lines.append(f"Unpriced: {len(unpriced)} item(s) (their cost is not in the totals): {shown}")
    excluded = [f for f in report.findings if f.excluded]
    if excluded:
        shown = ", ".join(f"{f.vm.name}: {f.excluded}" for f in excluded[:5]) + (", ..." if len(excluded) > 5 else "")
        lines.append(f"Excluded: {len(excluded)} VM(s) ({shown})")
    for s in report.unreadable:
        assert s.error is not None
        lines.append(f"Subscription {s.id} could not be read: {s.error[0]}: {s.error[1]}")
    for s in report.subscriptions:
        for warning in s.warnings:
            lines.append(f"Subscription {s.id}: {warning}")
    if report.fixes:
        ok = [r for r in report.fixes if r.ok]
        lines.append(f"Fix: deallocated {len(ok)} of {len(report.fixes)} VM(s), saving {_money(report.saved, c)}"
                     f" {c}/month.")
        for r in report.fixes:
            if not r.ok and r.error is not None:
                lines.append(f"  {r.name} was not deallocated: {r.error[0]}: {r.error[1]}")
    elif stopped and dry_run:
        lines.append(f"Dry run: --fix would deallocate {len(stopped)} VM(s) ("
                     + ", ".join(f.vm.name for f in stopped[:10]) + (", ..." if len(stopped) > 10 else "")
                     + f"), saving {_money(report.waste, c)} {c}/month.")
    st = report.stats
    lines.append(f"Requests: {st.requests}, throttled {st.throttled}, retried {st.retries}"
                 + (f" (waited {st.retry_after_waited:g} s as Retry-After asked)" if st.retry_after_waited else "")
                 + "." + (" Lowest remaining: " + ", ".join(f"{k} {v}" for k, v in sorted(st.lowest_remaining.items()))
                          if st.lowest_remaining else ""))
    return lines


def render_table(report: AuditReport, console: Any, dry_run: bool = True) -> None:
    from rich.table import Table

    c = report.currency
    fixed = _fixes(report)
    table = Table(title=f"azvm audit: monthly cost of leaving each VM as it is ({c})", show_lines=False)
    for name, justify in (("VM", "left"), ("power state", "left"), ("from", "left"), ("billed", "left"),
                          ("since", "left"), ("monthly", "right"), ("saving", "right"), ("note", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in report.findings:
        notes = []
        if f.excluded:
            notes.append(f"excluded ({f.excluded})")
        if f.unpriced:
            notes.append("unpriced: " + ", ".join(i.meter for i in f.unpriced))
        word = _fix_word(report, f, fixed)
        if word:
            notes.append(word)
        style = "bold red" if f.category == "stopped-billed" and not f.excluded else None
        table.add_row(f"{f.vm.resource_group}/{f.vm.name}", (f.vm.power_state or "unknown").removeprefix("PowerState/"),
                      f.vm.source, "yes" if f.billed else "no", _since(f), _money(f.monthly, c),
                      _money(f.saving, c) if f.saving else "", "; ".join(notes), style=style)
    console.print(table)
    for line in summary_lines(report, dry_run):
        console.print(line, highlight=False, markup=False)


def _chart_js() -> str:
    text = (resources.files("azvm").joinpath(*CHART_JS)).read_text(encoding="utf-8")
    return text.replace("</", "<\\/")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>azvm audit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} h1{{font-size:1.4em}}
table{{border-collapse:collapse;width:100%;font-size:.9em}}
th,td{{padding:.3em .5em;border-bottom:1px solid #ddd;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}} tr.waste td{{color:#b00020;font-weight:600}}
.summary p{{margin:.2em 0}} #chart-box{{max-width:900px;height:{height}px}}
</style></head><body>
<h1>azvm audit &mdash; {generated}</h1>
<div class="summary">{summary}</div>
<h2>Waste by resource group ({currency} per month)</h2>
<div id="chart-box"><canvas id="waste-chart" role="img" aria-label="waste by resource group"></canvas></div>
<h2>VMs</h2>
<table id="vms"><thead><tr>{head}</tr></thead><tbody>
{rows}
</tbody></table>
<script type="application/json" id="audit-data">{data}</script>
<script>{chartjs}</script>
<script>
(function () {{
  var data = JSON.parse(document.getElementById("audit-data").textContent);
  var groups = data.byGroup;
  new Chart(document.getElementById("waste-chart"), {{
    type: "bar",
    data: {{labels: groups.map(function (g) {{ return g.label; }}),
            datasets: [{{label: "stopped but billed (saved by deallocating)", backgroundColor: "#b00020",
                         data: groups.map(function (g) {{ return g.waste; }})}},
                       {{label: "other idle cost (disks, addresses)", backgroundColor: "#f2a900",
                         data: groups.map(function (g) {{ return g.idle; }})}}]}},
    options: {{indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
              scales: {{x: {{stacked: true, title: {{display: true, text: data.currency + " per month"}}}},
                        y: {{stacked: true}}}}}}
  }});
}})();
</script>
</body></html>
"""


def render_html(report: AuditReport, dry_run: bool = True) -> str:
    c = report.currency
    fixed = _fixes(report)
    head = "".join(f"<th>{h}</th>" for h in ("VM", "resource group", "subscription", "size", "power state",
                                              "from", "billed", "since", f"monthly ({c})", f"saving ({c})", "note"))
    rows = []
    for f in report.findings:
        notes = [x for x in (f"excluded ({f.excluded})" if f.excluded else "",
                             "unpriced: " + ", ".join(i.meter for i in f.unpriced) if f.unpriced else "",
                             _fix_word(report, f, fixed)) if x]
        cls = ' class="waste"' if f.category == "stopped-billed" and not f.excluded else ""
        cells = [f.vm.name, f.vm.resource_group, f.vm.subscription_id, f.vm.size,
                 (f.vm.power_state or "unknown").removeprefix("PowerState/"), f.vm.source,
                 "yes" if f.billed else "no", _since(f)]
        rows.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells)
                    + f'<td class="n">{_money(f.monthly, c)}</td><td class="n">'
                    + (_money(f.saving, c) if f.saving else "") + f"</td><td>{html.escape('; '.join(notes))}</td></tr>")
    data = json.dumps(to_json(report, dry_run)).replace("</", "<\\/")
    summary = "".join(f"<p>{html.escape(line)}</p>" for line in summary_lines(report, dry_run))
    height = max(160, 40 * len(report.by_group()) + 80)
    return PAGE.format(generated=html.escape(report.generated_at), summary=summary, currency=html.escape(c),
                       head=head, rows="\n".join(rows), data=data, chartjs=_chart_js(), height=height)
