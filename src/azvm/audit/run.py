"""The audit itself: read every subscription asked for (or every one the credential sees) side by
side, price every VM, and say what is wasted.

**Waste** is what VMs that are Stopped (allocated) and billed under the rule set cost a month that
deallocating them would save (their compute and Basic Dynamic addresses): the documents' "stopped
but still billed" trap, and exactly what `--fix` removes. **Idle** is everything that VMs not in use
(stopped, deallocated, hibernated) cost a month, disks and addresses included; it is reported, not
gated on, since only deleting them would stop it. VMs excluded by tag or group are listed and priced
but count in neither total, and `--fix` leaves them alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..billing import PriceSheet, RuleSet
from .collect import SubscriptionResult, read_subscription
from .connect import Connection, RequestStats
from .costing import Finding, VmFacts, price_vm, total

__all__ = ["AuditReport", "Exclusions", "audit"]


@dataclass(frozen=True)
class Exclusions:
    tags: tuple[tuple[str, str | None], ...] = ()  # (name, value or None for any value); names any case
    groups: tuple[str, ...] = ()  # resource group names, or "<subscription>/<group>"; any case

    def why(self, vm: VmFacts) -> str | None:
        tags = {k.lower(): v for k, v in vm.tags.items()}
        for name, value in self.tags:
            if name.lower() in tags and (value is None or tags[name.lower()] == value):
                return f"tag {name}={tags[name.lower()]}"
        for g in self.groups:
            sub, _, rg = g.rpartition("/")
            if rg.lower() == vm.resource_group.lower() and (not sub or sub.lower() == vm.subscription_id.lower()):
                return f"group {vm.resource_group}"
        return None


@dataclass
class AuditReport:
    findings: list[Finding]
    subscriptions: list[SubscriptionResult]
    currency: str
    rules: str
    prices: str
    stats: RequestStats
    generated_at: str
    threshold: Fraction = Fraction(0)
    fixes: list[Any] = field(default_factory=list)  # fix.FixResult, when --fix ran

    @property
    def counted(self) -> list[Finding]:
        return [f for f in self.findings if f.excluded is None]

    @property
    def waste(self) -> Fraction:
        return total(f.saving for f in self.counted)

    @property
    def idle(self) -> Fraction:
        return total(f.idle for f in self.counted)

    @property
    def monthly(self) -> Fraction:
        return total(f.monthly for f in self.findings)

    @property
    def saved(self) -> Fraction:
        """What the deallocations that succeeded save a month."""
        return total(r.saving for r in self.fixes if r.ok)

    @property
    def remaining_waste(self) -> Fraction:
        fixed = {r.vm_id.lower() for r in self.fixes if r.ok}
        return total(f.saving for f in self.counted if f.vm.id.lower() not in fixed)

    @property
    def unreadable(self) -> list[SubscriptionResult]:
        return [s for s in self.subscriptions if s.error is not None]

    @property
    def over_threshold(self) -> bool:
        return self.remaining_waste > self.threshold

    def by_group(self) -> list[tuple[str, Fraction, Fraction]]:
        """(subscription/resource group, waste, idle beyond the waste) per group, most wasteful first."""
        groups: dict[str, tuple[Fraction, Fraction]] = {}
        for f in self.counted:
            key = f"{f.vm.subscription_id}/{f.vm.resource_group}"
            w, i = groups.get(key, (Fraction(0), Fraction(0)))
            groups[key] = (w + f.saving, i + f.idle - f.saving)
        rows = [(k, w, i) for k, (w, i) in groups.items() if w or i]
        return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0]))


def audit(conn: Connection, subscriptions: Sequence[str] | None,
          prices: PriceSheet | Callable[[list[VmFacts]], PriceSheet], rules: RuleSet, *, prices_source: str,
          exclusions: Exclusions = Exclusions(), threshold: Fraction = Fraction(0), retries: int = 2,
          progress: Any = None) -> AuditReport:
    """Audit the subscriptions (None: every one the credential sees). `prices` is a sheet, or a
    function that makes one for the VMs read (the live Retail Prices API)."""
    from azure.core.exceptions import AzureError

    from ..clock import iso, now_wall_us
    from .collect import error_of

    results: list[SubscriptionResult] = []
    if subscriptions:
        subs = [(s, s) for s in dict.fromkeys(s.lower() for s in subscriptions)]
    else:
        try:
            subs = conn.subscriptions()
        except AzureError as e:  # not even the list of subscriptions: reported as such
            subs = []
            results.append(SubscriptionResult("*", "the subscriptions the credential sees", error=error_of(e)))
    task = progress.add_task("reading subscriptions", total=len(subs)) if progress is not None else None
    with ThreadPoolExecutor(max_workers=max(1, min(len(subs), conn.gate.concurrency)),
                            thread_name_prefix="audit-sub") as pool:
        for r in pool.map(lambda s: read_subscription(conn, s[0], s[1], retries=retries), subs):
            results.append(r)
            if progress is not None:
                progress.advance(task)
    vms = [vm for r in results for vm in r.vms]
    if not isinstance(prices, PriceSheet):
        prices = prices(vms)
    findings = [price_vm(vm, prices, rules, exclusions.why(vm)) for vm in vms]
    findings.sort(key=lambda f: (-f.saving, -f.idle, f.vm.id.lower()))
    return AuditReport(findings, results, prices.currency, rules.name, prices_source, conn.stats,
                       iso(now_wall_us()), threshold)
