"""How the audit reaches Azure (or azvm): the standard credential chain, the official SDK clients, a
retry policy that waits as long as the service's `Retry-After` says, and a gate that keeps the
number of requests in flight within what the service announces it will still take.

- **Credential**: `DefaultAzureCredential` (environment, workload identity, managed identity, Azure
  CLI login, ...). With `endpoint`, the cloud is described by its metadata document
  (`GET {endpoint}/metadata/endpoints?api-version=2022-09-01`, the document Azure Stack Hub and the
  Azure CLI's `az cloud register --endpoint-resource-manager` read): the login endpoint becomes the
  credential's authority (instance discovery off: it is not a Microsoft authority) and the first
  audience the token's scope.
- **Certificates**: `ca_bundle`, or the environment's `REQUESTS_CA_BUNDLE` / `SSL_CERT_FILE`, which
  the SDK's transport (requests) honours by itself.
- **Retries**: azure-core's `RetryPolicy`, exponential back-off for transient failures (408, 429,
  500, 502, 503, 504 and connection errors) and, when the answer carries `Retry-After` (or
  `retry-after-ms` / `x-ms-retry-after-ms`), exactly that wait: ARM's 429s always carry it
  (MicrosoftDocs/azure-docs `request-limits-and-throttling.md`: "you should wait the number of
  seconds specified in the Retry-After value before retrying"). `AuditRetryPolicy` also counts the
  retries and the seconds waited, for the report.
- **Rate limits**: ARM answers with `x-ms-ratelimit-remaining-subscription-reads|writes|deletes` and
  Compute with `x-ms-ratelimit-remaining-resource` (`Microsoft.Compute/HighCostGetSubscriptionMaximum;
  899,...`; `compute-throttling-limits.md`). `RequestGate` lets at most `concurrency` requests be in
  flight, and never more than the smallest remaining figure the last answer of that kind announced
  (at least one: when the budget is spent, the next request meets its 429 and waits out its
  `Retry-After`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy

__all__ = ["AZURE_RESOURCE_MANAGER", "AuditRetryPolicy", "Connection", "RequestGate", "RequestStats",
           "cloud_metadata", "parse_remaining"]

AZURE_RESOURCE_MANAGER = "https://management.azure.com"
METADATA_API_VERSION = "2022-09-01"
RETRY_TOTAL = 8  # attempts after the first, per request (429s and 5xx included: azure-core's default is 3 for those)
RETRY_BACKOFF = 0.5  # seconds; doubled at each retry without Retry-After, up to RETRY_BACKOFF_MAX
RETRY_BACKOFF_MAX = 30.0
REMAINING_PREFIX = "x-ms-ratelimit-remaining-"


def parse_remaining(headers: Any) -> dict[str, int]:
    """The rate-limit budgets an answer announces: `subscription-reads` ... from ARM's headers, and
    each `Microsoft.Compute/<policy>` of Compute's `x-ms-ratelimit-remaining-resource`."""
    out: dict[str, int] = {}
    for name, value in headers.items():
        low = name.lower()
        if not low.startswith(REMAINING_PREFIX):
            continue
        if low == REMAINING_PREFIX + "resource":
            for part in str(value).split(","):
                policy, _, count = part.strip().rpartition(";")
                if policy and count.strip().isdigit():
                    out[policy] = int(count)
        elif str(value).strip().isdigit():
            out[low[len(REMAINING_PREFIX):]] = int(value)
    return out


@dataclass
class RequestStats:
    """What the audit's requests met: for the report's summary."""

    requests: int = 0
    throttled: int = 0  # answers 429
    retries: int = 0
    retry_after_waited: float = 0.0  # seconds waited because an answer's Retry-After said so
    lowest_remaining: dict[str, int] = field(default_factory=dict)
    server_date: str | None = None  # the Date of the first answer (ARM's clock)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "throttled": self.throttled, "retries": self.retries,
                "retryAfterWaitedSeconds": round(self.retry_after_waited, 3),
                "lowestRemaining": dict(sorted(self.lowest_remaining.items()))}


class RequestGate:
    """At most `concurrency` requests in flight, and at most the remaining budget that the last answer
    of the same kind (reads or writes) announced; at least one."""

    def __init__(self, concurrency: int, stats: RequestStats | None = None) -> None:
        self.concurrency = max(1, concurrency)
        self.stats = stats or RequestStats()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._budget: dict[str, int] = {}  # "read" | "write" -> smallest remaining of the last answer
        self.answered = threading.Event()  # set by the first answer (its Date is ARM's clock)

    def allowed(self, kind: str) -> int:
        budget = self._budget.get(kind)
        return self.concurrency if budget is None else max(1, min(self.concurrency, budget))

    def acquire(self, kind: str) -> None:
        with self._cond:
            while self._in_flight >= self.allowed(kind):
                self._cond.wait()
            self._in_flight += 1
            self.stats.requests += 1

    def release(self, kind: str, status: int, headers: Any) -> None:
        remaining = parse_remaining(headers)
        with self._cond:
            self._in_flight -= 1
            if status == 429:
                self.stats.throttled += 1
            if self.stats.server_date is None and headers.get("Date"):
                self.stats.server_date = str(headers.get("Date"))
            if status:
                self.answered.set()
            if remaining:
                self._budget[kind] = min(remaining.values())
                low = self.stats.lowest_remaining
                for name, n in remaining.items():
                    low[name] = min(n, low.get(name, n))
            self._cond.notify_all()


class GatePolicy(HTTPPolicy):  # type: ignore[type-arg]
    """A per-try pipeline policy (after the retry policy): every attempt passes the gate."""

    def __init__(self, gate: RequestGate) -> None:
        super().__init__()
        self.gate = gate

    def send(self, request: Any) -> Any:
        kind = "read" if request.http_request.method.upper() in ("GET", "HEAD") else "write"
        self.gate.acquire(kind)
        status, headers = 0, {}
        try:
            response = self.next.send(request)
            status, headers = response.http_response.status_code, response.http_response.headers
            return response
        finally:
            self.gate.release(kind, status, headers)


class AuditRetryPolicy(RetryPolicy):  # type: ignore[type-arg]
    """azure-core's retry policy (Retry-After honoured, exponential back-off otherwise), counting what
    it did into the audit's statistics."""

    def __init__(self, stats: RequestStats, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats = stats

    def sleep(self, settings: Any, transport: Any, response: Any = None) -> None:
        self.stats.retries += 1
        if response is not None and self._respect_retry_after_header:
            after = self.get_retry_after(response)
            if after:
                self.stats.retry_after_waited += after
        super().sleep(settings, transport, response)


def cloud_metadata(endpoint: str, verify: str | bool = True) -> dict[str, Any]:
    """The cloud metadata document of an ARM endpoint (`/metadata/endpoints`), through azure-core."""
    from azure.core import PipelineClient
    from azure.core.rest import HttpRequest

    client: Any
    with PipelineClient(endpoint, connection_verify=verify) as client:
        response = client.send_request(HttpRequest(
            "GET", f"{endpoint.rstrip('/')}/metadata/endpoints?api-version={METADATA_API_VERSION}"))
        response.raise_for_status()
        doc = json.loads(response.text())
    if not isinstance(doc, dict):
        raise ValueError("the metadata document is not a JSON object")
    return doc


def _verify(ca_bundle: str | None) -> str | bool:
    return ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or True


class Connection:
    """The credential and the SDK clients of one audit, all sharing one gate and one retry policy's
    statistics."""

    def __init__(self, *, endpoint: str | None = None, ca_bundle: str | None = None, concurrency: int = 8,
                 credential: Any = None, retry_total: int = RETRY_TOTAL, retry_backoff: float = RETRY_BACKOFF) -> None:
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.verify = _verify(ca_bundle)
        self.stats = RequestStats()
        self.gate = RequestGate(concurrency, self.stats)
        self.retry_total = retry_total
        self.retry_backoff = retry_backoff
        self.scopes = [f"{AZURE_RESOURCE_MANAGER}/.default"]
        authority: str | None = None
        if self.endpoint:
            meta = cloud_metadata(self.endpoint, self.verify)
            auth = meta.get("authentication") or {}
            authority = auth.get("loginEndpoint") or None
            audiences = auth.get("audiences") or []
            if audiences:
                self.scopes = [str(audiences[-1]).rstrip("/") + "/.default"]
        if credential is None:
            from azure.identity import DefaultAzureCredential

            kwargs: dict[str, Any] = {"connection_verify": self.verify} if isinstance(self.verify, str) else {}
            if authority:
                kwargs.update(authority=authority, disable_instance_discovery=True)
            credential = DefaultAzureCredential(**kwargs)
        self.credential = credential

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "retry_policy": AuditRetryPolicy(self.stats, retry_total=self.retry_total, retry_status=self.retry_total,
                                             retry_backoff_factor=self.retry_backoff,
                                             retry_backoff_max=RETRY_BACKOFF_MAX),
            "per_retry_policies": [GatePolicy(self.gate)],
            "credential_scopes": self.scopes,
        }
        if self.endpoint:
            kw["base_url"] = self.endpoint
        if isinstance(self.verify, str):
            kw["connection_verify"] = self.verify
        return kw

    def _make(self, factory: Callable[..., Any], *args: Any) -> Any:
        return factory(self.credential, *args, **self.client_kwargs())

    def compute(self, subscription_id: str) -> Any:
        from azure.mgmt.compute import ComputeManagementClient

        return self._make(ComputeManagementClient, subscription_id)

    def network(self, subscription_id: str) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return self._make(NetworkManagementClient, subscription_id)

    def monitor(self, subscription_id: str) -> Any:
        from azure.mgmt.monitor import MonitorManagementClient

        return self._make(MonitorManagementClient, subscription_id)

    def graph(self) -> Any:
        from azure.mgmt.resourcegraph import ResourceGraphClient

        return self._make(ResourceGraphClient)

    def subscriptions(self) -> list[tuple[str, str]]:
        """(id, display name) of every subscription the credential sees."""
        from azure.mgmt.resource.subscriptions import SubscriptionClient

        client = self._make(SubscriptionClient)
        return [(str(s.subscription_id), str(s.display_name or s.subscription_id)) for s in client.subscriptions.list()]

    def server_now_us(self, wait: float = 0.0) -> int | None:
        """ARM's clock: the Date of its first answer, in microseconds (None when there is none yet,
        after waiting up to `wait` seconds for one)."""
        if wait:
            self.gate.answered.wait(wait)
        if self.stats.server_date is None:
            return None
        try:
            return int(parsedate_to_datetime(self.stats.server_date).timestamp() * 1_000_000)
        except (TypeError, ValueError):
            return None
