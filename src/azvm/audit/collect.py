"""Read one subscription: every VM with its power state (the documents' recipe, `power_states`), its
managed disks, the public IPs on its network interfaces, and since when it is in its state (the
Activity Log). All through the official SDK; the lists run side by side (each a paged call for the
whole subscription, so a thousand VMs cost a few dozen requests, not thousands).

A subscription whose VMs cannot be listed (403 `AuthorizationFailed`, ...) is a `SubscriptionResult`
with an `error`; one whose disks, addresses or Activity Log cannot be read keeps its VMs, with a
`warning` saying what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core.exceptions import AzureError

from ..clock import US, now_wall_us
from ..domain.resource_id import ResourceId
from .activity import LOG_DAYS, SELECT, LastChange, activity_filter, last_changes, since
from .connect import Connection
from .costing import DiskFacts, IpFacts, VmFacts
from .power_states import PowerState, read_power_states, status_codes

__all__ = ["SubscriptionResult", "error_of", "read_subscription", "vm_facts"]

T = TypeVar("T")
MESSAGE_MAX = 600
ANSWER_WAIT = 60.0  # seconds the Activity Log's query waits for ARM's first answer (its Date), read side by side
DAY_US = 86_400 * US


@dataclass
class SubscriptionResult:
    id: str
    name: str
    vms: list[VmFacts] = field(default_factory=list)
    error: tuple[str, str] | None = None  # (code, message): the subscription could not be read
    warnings: list[str] = field(default_factory=list)


def error_of(e: BaseException) -> tuple[str, str]:
    """(code, message) of an SDK error, in ARM's terms when the answer carried its envelope."""
    err = getattr(e, "error", None)
    code = getattr(err, "code", None) or type(e).__name__
    message = getattr(err, "message", None) or " ".join(str(e).split()) or type(e).__name__
    if len(message) > MESSAGE_MAX:  # a credential chain's explanation runs long: its start says what failed
        message = message[:MESSAGE_MAX - 3] + "..."
    status = getattr(getattr(e, "response", None), "status_code", None)
    # the HTTP status when the request itself was refused (a failed long-running operation's poll is a 200)
    return (f"{code} ({status})" if isinstance(status, int) and status >= 400 else str(code)), str(message)


def _text(x: Any, default: str = "") -> str:
    """A model field as its wire string (the SDK gives some as enums: VirtualMachineSizeTypes.STANDARD_B2_S)."""
    if x is None:
        return default
    return str(getattr(x, "value", x))


def _ip_facts(ip: Any) -> IpFacts:
    return IpFacts(str(ip.id), str(ip.name), _text(getattr(getattr(ip, "sku", None), "name", None), "Basic"),
                   _text(ip.public_ip_allocation_method, "Dynamic"), bool(ip.ip_address))


def vm_facts(p: PowerState, disks: dict[str, list[DiskFacts]], ips: dict[str, list[IpFacts]],
             changes: dict[str, LastChange]) -> VmFacts:
    """One VM's facts from its listed model and the subscription's disks (by VM id), addresses (by
    NIC id) and last state changes (by VM id), all keyed in lower case."""
    vm = p.vm
    rid = ResourceId.try_parse(p.id)
    hardware = getattr(vm, "hardware_profile", None)
    storage = getattr(vm, "storage_profile", None)
    os_disk = getattr(storage, "os_disk", None)
    os_type = _text(getattr(os_disk, "os_type", None), "Linux")
    network = getattr(vm, "network_profile", None)
    nics = [str(n.id).lower() for n in (getattr(network, "network_interfaces", None) or []) if n.id]
    codes = status_codes(vm)
    key = p.id.lower()
    return VmFacts(
        id=p.id, name=p.name,
        subscription_id=rid.subscription if rid else "", resource_group=(rid.resource_group or "") if rid else "",
        location=str(getattr(vm, "location", "") or ""),
        size=_text(getattr(hardware, "vm_size", None), "unknown"),
        os_type="Windows" if os_type.lower() == "windows" else "Linux",
        power_state=p.power_state, source=p.source,
        provisioning=next((c for c in codes if c.startswith("ProvisioningState/")), None),
        hibernated=any(c.lower() == "hibernationstate/hibernated" for c in codes),
        tags=dict(getattr(vm, "tags", None) or {}),
        disks=tuple(disks.get(key, ())),
        public_ips=tuple(ip for nic in nics for ip in ips.get(nic, ())),
        since_us=since(changes.get(key), p.power_state),
    )


def _disks(conn: Connection, sub: str) -> dict[str, list[DiskFacts]]:
    out: dict[str, list[DiskFacts]] = {}
    for d in conn.compute(sub).disks.list():
        if d.managed_by:
            sku = _text(getattr(getattr(d, "sku", None), "name", None), "Standard_LRS")
            out.setdefault(str(d.managed_by).lower(), []).append(
                DiskFacts(str(d.id), str(d.name), sku, int(d.disk_size_gb or 0)))
    return out


def _ips(conn: Connection, sub: str) -> dict[str, list[IpFacts]]:
    out: dict[str, list[IpFacts]] = {}
    for ip in conn.network(sub).public_ip_addresses.list_all():
        config = getattr(getattr(ip, "ip_configuration", None), "id", None)
        if config and "/ipconfigurations/" in str(config).lower():
            nic = str(config)[:str(config).lower().index("/ipconfigurations/")].lower()
            out.setdefault(nic, []).append(_ip_facts(ip))
    return out


def _changes(conn: Connection, sub: str) -> dict[str, LastChange]:
    now = conn.server_now_us(wait=ANSWER_WAIT) or now_wall_us()
    flt = activity_filter(now - LOG_DAYS * DAY_US, now + DAY_US)
    return last_changes(conn.monitor(sub).activity_logs.list(filter=flt, select=SELECT))


def read_subscription(conn: Connection, sub: str, name: str = "", *, retries: int = 2) -> SubscriptionResult:
    """Everything the audit needs of one subscription (never raises for what the service answers)."""
    result = SubscriptionResult(sub, name or sub)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="audit-read") as pool:
        changes_f = pool.submit(_changes, conn, sub)  # the longest list: first
        disks_f = pool.submit(_disks, conn, sub)
        ips_f = pool.submit(_ips, conn, sub)
        try:
            states = read_power_states(conn.compute(sub), conn.graph(), sub, retries=retries)
        except AzureError as e:  # the subscription cannot be read: reported, the others go on
            result.error = error_of(e)
            for f in (changes_f, disks_f, ips_f):
                f.cancel()
            return result

        def get(f: Future[T] | None, what: str, empty: Callable[[], T]) -> T:
            if f is None:
                return empty()
            try:
                return f.result()
            except AzureError as e:
                code, message = error_of(e)
                result.warnings.append(f"{what} could not be read ({code}: {message})")
                return empty()

        disks = get(disks_f, "managed disks", dict)
        ips = get(ips_f, "public IP addresses", dict)
        changes = get(changes_f, "the Activity Log", dict)
    result.vms = [vm_facts(p, disks, ips, changes) for p in states]
    return result
