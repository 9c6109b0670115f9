"""The input contract of the billing package: timeline rows and disk spans.

Both are NamedTuples: cheap to build by the million, and any plain tuple with the same field
order is accepted wherever a timeline or a disk list is expected.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from ..domain.resource_id import ResourceId

__all__ = [
    "BILLING_STATES",
    "US_PER_SECOND",
    "US_PER_DAY",
    "SECONDS_PER_HOUR",
    "SECONDS_PER_MONTH",
    "StateChange",
    "DiskSpan",
    "ResourceSpan",
    "RESOURCE_KINDS",
    "BillingError",
    "seconds_between",
    "parse_vm_id",
]

#: The states a timeline row may carry (the power states of SPEC §1, plus `creating`, the Starting
#: phase of a VM being created, `hibernated`, deallocated with hibernation, and `deleted`).
BILLING_STATES: tuple[str, ...] = (
    "creating",
    "starting",
    "running",
    "stopping",
    "stopped",
    "deallocating",
    "deallocated",
    "hibernated",
    "unknown",
    "deleted",
)

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
SECONDS_PER_HOUR = 3_600
#: Azure prices a month as 730 hours.
SECONDS_PER_MONTH = 730 * SECONDS_PER_HOUR


class BillingError(ValueError):
    """Base class of the errors that the billing package raises on bad input."""


class StateChange(NamedTuple):
    """From `at_us` on (until the next row of the same VM), the VM is in `state`."""

    vm_id: str
    at_us: int
    state: str
    size: str
    location: str
    os_type: str


class DiskSpan(NamedTuple):
    """A managed disk of `vm_id` that exists from `start_us` to `end_us` (None: still exists)."""

    vm_id: str
    name: str
    sku: str
    size_gb: int
    start_us: int
    end_us: int | None


class ResourceSpan(NamedTuple):
    """A plain resource billed whatever any VM does: one meter from `start_us` to `end_us` (None: on).

    `kind` is ``disk`` (a managed disk: `sku` its storage account type, e.g. ``Premium_LRS``,
    `size_gb` its size, priced by tier per month) or ``publicip`` (a public IP: `sku` the Retail
    Prices meterName, e.g. ``Standard IPv4 Static Public IP``, `size_gb` 0, priced per hour).
    """

    resource_id: str
    kind: str
    sku: str
    size_gb: int
    location: str
    start_us: int
    end_us: int | None


#: kind -> (seconds in one unit, unitOfMeasure, MeterCategory, ConsumedService) of a ResourceSpan
RESOURCE_KINDS: dict[str, tuple[int, str, str, str]] = {
    "disk": (SECONDS_PER_MONTH, "1/Month", "Storage", "Microsoft.Compute"),
    "publicip": (SECONDS_PER_HOUR, "1 Hour", "Virtual Network", "Microsoft.Network"),
}


def seconds_between(start_us: int, end_us: int) -> int:
    """Whole seconds metered in [start_us, end_us).

    A second of the UTC clock, [k s, k+1 s), is metered to whatever is in force at its first
    instant. The count is therefore the number of whole-second instants in the half-open
    interval, which is additive: cutting an interval anywhere never gains or loses a second.
    """
    if end_us <= start_us:
        return 0
    return -(-end_us // US_PER_SECOND) + (start_us // -US_PER_SECOND)


def parse_vm_id(vm_id: str) -> tuple[str, str, str]:
    """(subscription id, resource group, name) of an ARM resource id; "" for missing parts (an
    imported history may hold anything). Parsed once per resource group: ids that differ in their
    last segment alone share their subscription and resource group (see `_scope`)."""
    prefix, slash, last = vm_id.rpartition("/")
    if slash and last:
        scope = _scope(prefix)
        if scope is not None:
            return scope[0], scope[1], last
    return _parse(vm_id)


@functools.lru_cache(maxsize=1 << 12)
def _scope(prefix: str) -> tuple[str, str] | None:
    """(subscription id, resource group) of every id ``prefix + "/" + name`` (name not empty):
    once the prefix holds five segments or more, whether such an id parses, its subscription and
    its resource group depend on the prefix alone (`ResourceId.parse` reads segments 1 to 5 and
    counts the others), and its name is its last segment. None for a shorter prefix."""
    if len([p for p in prefix.split("/") if p]) < 5:
        return None
    sub, rg, _name = _parse(prefix + "/name")
    return sub, rg


def _parse(vm_id: str) -> tuple[str, str, str]:
    rid = ResourceId.try_parse(vm_id)
    if rid is None:
        parts = [p for p in vm_id.split("/") if p]
        return "", "", parts[-1] if parts else ""
    return rid.subscription, rid.resource_group or "", rid.name if rid.types else ""
