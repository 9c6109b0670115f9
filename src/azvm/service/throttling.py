"""Rate limits as ARM and Compute apply them: token buckets that refill over simulated time.

ARM (MicrosoftDocs/azure-docs `articles/azure-resource-manager/management/request-limits-and-throttling.md`,
"Regional throttling and token bucket algorithm", read 2026-12): per subscription and security principal,
reads: a bucket of 250 that refills 25 a second; deletes: 200, 10 a second; writes: 200, 10 a second. Every
answer says what remains in `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (a POST
counts as a write, as a recorded deallocate shows:
shared/conformance/recorded/sdk_vm_deallocate_delete_generalize.json).

Compute (`articles/virtual-machines/compute-throttling-limits.md`, 2024-05-27): each API belongs to a
policy; each policy has a bucket per subscription and (but HighCostGet) one per resource, sized and
refilled per minute (maximum capacity / refill a minute):

| policy | APIs | resource | subscription |
|---|---|---|---|
| PutVM | create or update | 12 / 4 | 1,500 / 500 |
| UpdateVM | update, start, powerOff, restart, redeploy, reapply, extensions | 12 / 4 | 1,500 / 500 |
| DeleteVM | delete, deallocate | 12 / 4 | 1,500 / 500 |
| LowCostGet | get, instanceView, vmSizes, extensions get | 36 / 12 | 24,000 / 8,000 |
| HighCostGet | list, list all, list by location | - | 900 / 300 |
| GetOperation | status of an asynchronous operation | 45 / 15 | 15,000 / 5,000 |

The remaining counts go in `x-ms-ratelimit-remaining-resource` as the service wrote them in 2025:
`Microsoft.Compute/PutVMSubscriptionMaximum;1499,Microsoft.Compute/PutVMResource;11`
(shared/conformance/recorded/cli_vm_resize_put_200_2025.json, cli_redeploy_202_headers_2025.json).

Chosen: Compute's buckets are kept per subscription (Azure keeps them per region too); the buckets
live in the server process (a restart, or each of --workers, starts with full buckets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

US = 1_000_000


class Limit(NamedTuple):
    capacity: int
    per_second: float  # refill rate


class Policy(NamedTuple):
    subscription: Limit
    resource: Limit | None  # None: only the subscription's bucket (HighCostGet)


def _per_minute(capacity: int, refill: int) -> Limit:
    return Limit(capacity, refill / 60)


ARM_LIMITS = {"reads": Limit(250, 25), "deletes": Limit(200, 10), "writes": Limit(200, 10)}
_VM = Policy(_per_minute(1500, 500), _per_minute(12, 4))
COMPUTE_LIMITS = {
    "PutVM": _VM,
    "UpdateVM": _VM,
    "DeleteVM": _VM,
    "LowCostGet": Policy(_per_minute(24000, 8000), _per_minute(36, 12)),
    "HighCostGet": Policy(_per_minute(900, 300), None),
    "GetOperation": Policy(_per_minute(15000, 5000), _per_minute(45, 15)),
}
RATE_LIMITS = ("off", "azure")  # --rate-limits


def arm_bucket(method: str) -> str:
    """ARM's bucket of a request: reads (GET, HEAD), deletes (DELETE), writes (the rest)."""
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


class Charge(NamedTuple):
    """What one request costs: ARM's bucket, and Compute's policy with the key of its resource."""

    arm: str
    policy: str | None = None
    resource: str | None = None


_VMS = "/providers/microsoft.compute/virtualmachines"
_LOCATIONS = "/providers/microsoft.compute/locations/{location}/"


def compute_policy(method: str, template: str) -> tuple[str | None, str | None]:
    """Compute's policy of a route (its template as azure-rest-api-specs spells it, lower case), and
    the path parameter that names its resource (None: no resource bucket)."""
    if template.endswith(_VMS) or template.endswith(_LOCATIONS + "virtualmachines"):
        return ("HighCostGet", None) if method == "GET" else (None, None)
    if _LOCATIONS + "operations/" in template or _LOCATIONS + "operationresults/" in template:
        return "GetOperation", "operationId"
    head, sep, rest = template.partition(_VMS + "/{vmname}")
    if not sep or "/providers/" in rest:  # another provider's resource under the VM (Resource Health)
        return None, None
    if method == "GET":
        return "LowCostGet", "vmName"
    if rest == "":
        return {"PUT": "PutVM", "PATCH": "UpdateVM", "DELETE": "DeleteVM"}.get(method), "vmName"
    return ("DeleteVM" if rest == "/deallocate" else "UpdateVM"), "vmName"


@dataclass
class Bucket:
    limit: Limit
    tokens: float
    at_us: int

    def level(self, now_us: int) -> float:
        if now_us > self.at_us:
            self.tokens = min(self.limit.capacity, self.tokens + (now_us - self.at_us) / US * self.limit.per_second)
            self.at_us = now_us
        return self.tokens

    def retry_after(self) -> int:
        """Whole seconds until a token is back (at least 1)."""
        return max(1, math.ceil((1 - self.tokens) / self.limit.per_second))


class Refusal(NamedTuple):
    """A request refused: by ARM (bucket "reads"...) or by Compute (bucket "PutVMSubscriptionMaximum"...)."""

    compute: bool
    bucket: str
    retry_after: int
    capacity: int


@dataclass
class Verdict:
    headers: dict[str, str]
    refusal: Refusal | None = None


@dataclass
class Throttler:
    """The buckets of one server process; `limits` "off" keeps none (nothing is counted)."""

    limits: str = "off"
    _arm: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)
    _compute: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)

    @property
    def on(self) -> bool:
        return self.limits != "off"

    def reset(self) -> None:
        """Every bucket full again (a reset of the world)."""
        self._arm.clear()
        self._compute.clear()

    def _bucket(self, table: dict[tuple[str, str, str], Bucket], key: tuple[str, str, str], limit: Limit,
                now_us: int) -> Bucket:
        b = table.get(key)
        if b is None:
            b = table[key] = Bucket(limit, float(limit.capacity), now_us)
        return b

    def charge(self, now_us: int, sub: str, actor: str, charge: Charge) -> Verdict:
        """Take a token from each bucket the request falls in; a refusal names the first empty one
        (ARM's first: ARM throttles before it routes to the resource provider). A request ARM
        refuses costs Compute nothing; one Compute refuses has cost ARM its token."""
        headers: dict[str, str] = {}
        arm = self._bucket(self._arm, (sub, actor, charge.arm), ARM_LIMITS[charge.arm], now_us)
        header = f"x-ms-ratelimit-remaining-subscription-{charge.arm}"
        if arm.level(now_us) < 1:
            headers[header] = "0"
            return Verdict(headers, Refusal(False, charge.arm, arm.retry_after(), arm.limit.capacity))
        arm.tokens -= 1
        headers[header] = str(int(arm.tokens))
        if charge.policy is None:
            return Verdict(headers)
        policy = COMPUTE_LIMITS[charge.policy]
        buckets = [(f"{charge.policy}SubscriptionMaximum",
                    self._bucket(self._compute, (sub, charge.policy, ""), policy.subscription, now_us))]
        if policy.resource is not None and charge.resource is not None:
            buckets.append((f"{charge.policy}Resource",
                            self._bucket(self._compute, (sub, charge.policy, charge.resource), policy.resource,
                                         now_us)))
        empty = next(((name, b) for name, b in buckets if b.level(now_us) < 1), None)
        if empty is None:
            for _name, b in buckets:
                b.tokens -= 1
        headers["x-ms-ratelimit-remaining-resource"] = ",".join(
            f"Microsoft.Compute/{name};{int(b.tokens)}" for name, b in buckets)
        if empty is not None:
            return Verdict(headers, Refusal(True, empty[0], empty[1].retry_after(), empty[1].limit.capacity))
        return Verdict(headers)


def default_retry_after(bucket: str) -> int:
    """A throttling fault's Retry-After when it names none: how long the bucket takes to refill one
    token (a Compute policy's resource bucket if it has one)."""
    if bucket in ARM_LIMITS:
        return max(1, math.ceil(1 / ARM_LIMITS[bucket].per_second))
    policy = COMPUTE_LIMITS.get(bucket)
    if policy is None:
        return 1
    limit = policy.resource or policy.subscription
    return max(1, math.ceil(1 / limit.per_second))


__all__ = ["ARM_LIMITS", "COMPUTE_LIMITS", "RATE_LIMITS", "Charge", "Limit", "Refusal", "Throttler", "Verdict",
           "arm_bucket", "compute_policy", "default_retry_after"]
