"""What each VM costs a month if it is left as it is, and what deallocating it would save: pure, over
what the audit read (`VmFacts`), a price sheet and a billing rule set (`azvm.billing`).

- **A month is 730 hours**, as Azure prices one (`azvm.billing.SECONDS_PER_MONTH`; the Retail Prices
  API's monthly disk meters are per 730 h), so a month here is exactly what azvm's meter bills over a
  730-hour window in the same states.
- **Compute**: the VM size's hourly Consumption price for its region and OS, times 730, when the
  rule set bills the VM's power state (`docs-2021`, azvm's default, bills Stopped (allocated);
  `docs-2018` does not).
- **Disks**: each managed disk of the VM at its tier's monthly price (`P10 LRS Disk`, ...), whatever
  the VM's state: "some resources, such as disks and networking, are charged whatever the state".
- **Public IPs**: each address on the VM's network interfaces at its meter's hourly price, times 730;
  a Basic Dynamic address only while it holds an address (it is released on deallocation).
- **Saving**: for a VM Stopped (allocated) and billed, the compute plus its Basic Dynamic addresses:
  what deallocation stops. Disks and static addresses stay billed after deallocation.
- Anything without a price is **unpriced**: named, never a silent zero.

Money is exact (`Fraction`), rounded once for display (`azvm.billing.display`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from ..billing import SECONDS_PER_MONTH, PriceSheet, RuleSet, disk_meter_name, public_ip_meter_name

__all__ = ["HOURS_PER_MONTH", "DiskFacts", "Finding", "IpFacts", "Priced", "VmFacts", "billing_state", "category",
           "price_vm", "total"]

HOURS_PER_MONTH = SECONDS_PER_MONTH // 3600  # 730
UNUSED = ("stopped", "stopping", "deallocated", "deallocating", "hibernated")


@dataclass(frozen=True)
class DiskFacts:
    id: str
    name: str
    sku: str  # storage account type, e.g. Premium_LRS
    size_gb: int


@dataclass(frozen=True)
class IpFacts:
    id: str
    name: str
    sku: str  # Basic | Standard
    allocation: str  # Static | Dynamic
    has_address: bool


@dataclass(frozen=True)
class VmFacts:
    """One VM as the audit read it."""

    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    size: str
    os_type: str  # Linux | Windows
    power_state: str | None  # PowerState/... or None when no path could tell
    source: str  # the path that gave the power state: list, list retry N, resource graph, none
    provisioning: str | None = None  # ProvisioningState/... code
    hibernated: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    disks: tuple[DiskFacts, ...] = ()
    public_ips: tuple[IpFacts, ...] = ()
    since_us: int | None = None  # when the VM reached its power state, from the Activity Log


@dataclass(frozen=True)
class Priced:
    """One billed item of a VM: its monthly amount, or None when unpriced (`reason` says why)."""

    kind: str  # compute | disk | publicip
    id: str
    meter: str
    monthly: Fraction | None
    billed: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Finding:
    vm: VmFacts
    state: str  # the billing state (azvm.billing.BILLING_STATES)
    billed: bool  # is compute billed in this state under the rule set
    category: str  # stopped-billed | stopped | deallocated | running | transitioning | unknown
    items: tuple[Priced, ...]
    excluded: str | None = None  # why --fix leaves it alone (an --exclude-tag or --exclude-group)

    @property
    def monthly(self) -> Fraction:
        """What leaving the VM as it is costs a month (its priced items)."""
        return total(i.monthly for i in self.items if i.billed)

    @property
    def compute(self) -> Fraction:
        return total(i.monthly for i in self.items if i.kind == "compute" and i.billed)

    @property
    def storage(self) -> Fraction:
        return total(i.monthly for i in self.items if i.kind == "disk")

    @property
    def network(self) -> Fraction:
        return total(i.monthly for i in self.items if i.kind == "publicip" and i.billed)

    @property
    def saving(self) -> Fraction:
        """What deallocating would save a month: the compute and Basic Dynamic addresses of a VM
        Stopped (allocated) and billed; zero otherwise."""
        if self.category != "stopped-billed":
            return Fraction(0)
        return total(i.monthly for i in self.items if i.billed and (
            i.kind == "compute" or (i.kind == "publicip" and i.meter.startswith("Basic IPv4 Dynamic"))))

    @property
    def idle(self) -> Fraction:
        """What a VM that is not in use costs a month (every billed item), zero for a VM in use."""
        return self.monthly if self.state in UNUSED else Fraction(0)

    @property
    def unpriced(self) -> tuple[Priced, ...]:
        return tuple(i for i in self.items if i.billed and i.monthly is None)


def total(amounts: Iterable[Fraction | None]) -> Fraction:
    return sum((a for a in amounts if a is not None), Fraction(0))


def billing_state(power_state: str | None, provisioning: str | None = None, hibernated: bool = False) -> str:
    """The billing state of a power state code: `PowerState/stopped` -> `stopped`; the Starting of a
    VM being created is `creating`; a hibernated deallocated VM `hibernated`; no power state `unknown`."""
    if power_state is None:
        return "unknown"
    state = power_state.split("/", 1)[-1].strip().lower()
    if state == "starting" and (provisioning or "").lower().startswith("provisioningstate/creating"):
        return "creating"
    if state == "deallocated" and hibernated:
        return "hibernated"
    known = ("creating", "starting", "running", "stopping", "stopped", "deallocating", "deallocated", "hibernated")
    return state if state in known else "unknown"


def category(state: str, billed: bool) -> str:
    if state in ("stopped", "stopping"):
        return "stopped-billed" if billed else "stopped"
    if state in ("deallocated", "deallocating", "hibernated"):
        return "deallocated"
    if state == "running":
        return "running"
    if state == "unknown":
        return "unknown"
    return "transitioning"


def _monthly(price: Fraction, per_hour: bool) -> Fraction:
    return price * HOURS_PER_MONTH if per_hour else price


def price_vm(vm: VmFacts, prices: PriceSheet, rules: RuleSet, excluded: str | None = None) -> Finding:
    """The VM's finding: its billing state, its items priced per month, its category."""
    state = billing_state(vm.power_state, vm.provisioning, vm.hibernated)
    billed = rules.billed(state)
    items: list[Priced] = []
    meter = prices.vm(vm.size, vm.location, vm.os_type)
    label = f"{vm.size} {vm.os_type}"
    if meter is None:
        items.append(Priced("compute", vm.id, label, None, billed,
                            f"no Consumption price for {vm.size} ({vm.os_type}) in {vm.location}"))
    else:
        items.append(Priced("compute", vm.id, f"{meter.meter_name} {vm.os_type}",
                            _monthly(Fraction(meter.unit_price), True) if billed else Fraction(0), billed))
    for d in vm.disks:
        tier = disk_meter_name(d.sku, d.size_gb)
        m = prices.disk(tier, vm.location) if tier else None
        if m is None:
            why = (f"no Consumption price for {tier} in {vm.location}" if tier
                   else f"{d.sku} is not priced by tier (provisioned capacity)")
            items.append(Priced("disk", d.id, tier or d.sku, None, True, why))
        else:
            items.append(Priced("disk", d.id, tier or d.sku, Fraction(m.unit_price)))
    for ip in vm.public_ips:
        name = public_ip_meter_name(ip.sku, ip.allocation)
        ip_billed = ip.has_address or not name.startswith("Basic IPv4 Dynamic")
        m = prices.public_ip(name, vm.location)
        if m is None:
            items.append(Priced("publicip", ip.id, name, None, ip_billed,
                                f"no Consumption price for {name} in {vm.location}"))
        else:
            items.append(Priced("publicip", ip.id, name,
                                _monthly(Fraction(m.unit_price), True) if ip_billed else Fraction(0), ip_billed))
    return Finding(vm, state, billed, category(state, billed), tuple(items), excluded)
