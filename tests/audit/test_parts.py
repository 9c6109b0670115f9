"""The audit's pure parts, case by case: the Activity Log's answer to "since when", the request gate
and the rate-limit headers it reads, pricing by state and rule set, exclusions, and the filters of a
live Retail Prices query."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from azvm.audit.activity import LastChange, last_changes, since
from azvm.audit.connect import RequestGate, parse_remaining
from azvm.audit.costing import DiskFacts, IpFacts, VmFacts, billing_state, price_vm
from azvm.audit.prices import price_filters
from azvm.audit.run import Exclusions
from azvm.billing import rule_set, sample_prices

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
OPS = "Microsoft.Compute/virtualMachines/"


@dataclass
class Event:
    operation_name: str
    status: str
    sub_status: str
    operation_id: str
    event_timestamp: datetime
    resource_id: str = VM


def at(minute: int) -> datetime:
    return datetime(2026, 1, 1, 0, minute, tzinfo=UTC)


def us(minute: int) -> int:
    return int(at(minute).timestamp()) * 1_000_000


def op(name: str, op_id: str, start: int, end: int, *, created: bool = False, status: str = "Succeeded") -> list[Event]:
    return [Event(OPS + name, "Started", "", op_id, at(start)),
            Event(OPS + name, "Accepted", "Created" if created else "Accepted", op_id, at(start)),
            Event(OPS + name, status, "", op_id, at(end))]


def test_the_last_state_setting_operation_that_succeeded_says_since_when() -> None:
    events = [*op("write", "c", 0, 1, created=True), *op("powerOff/action", "p", 10, 11),
              *op("write", "u", 20, 21)]  # an update changes no power state
    changes = last_changes(reversed(events))  # the log lists newest first
    assert changes == {VM.lower(): LastChange("stopped", us(11), OPS + "powerOff/action")}
    assert since(changes[VM.lower()], "PowerState/stopped") == us(11)
    assert since(changes[VM.lower()], "PowerState/running") is None  # not what the VM is now: unknown


def test_a_create_counts_a_failed_or_canceled_operation_does_not() -> None:
    events = [*op("write", "c", 0, 1, created=True), *op("deallocate/action", "d", 5, 6, status="Failed")]
    assert last_changes(events)[VM.lower()] == LastChange("running", us(1), OPS + "write")
    assert last_changes(op("write", "u", 0, 1)) == {}  # an update alone says nothing
    assert since(None, "PowerState/running") is None and since(LastChange("running", 1, "x"), None) is None


def test_parse_remaining_reads_arm_and_compute_headers() -> None:
    headers = {"x-ms-ratelimit-remaining-subscription-reads": "248", "Content-Type": "application/json",
               "x-ms-ratelimit-remaining-resource":
                   "Microsoft.Compute/PutVMSubscriptionMaximum;1499,Microsoft.Compute/PutVMResource;11"}
    assert parse_remaining(headers) == {"subscription-reads": 248, "Microsoft.Compute/PutVMSubscriptionMaximum": 1499,
                                        "Microsoft.Compute/PutVMResource": 11}


def test_the_gate_lets_in_no_more_than_the_announced_budget_and_at_least_one() -> None:
    gate = RequestGate(8)
    assert gate.allowed("read") == 8
    gate.acquire("read")
    gate.release("read", 200, {"x-ms-ratelimit-remaining-subscription-reads": "3"})
    assert gate.allowed("read") == 3 and gate.allowed("write") == 8
    gate.acquire("read")
    gate.release("read", 429, {"x-ms-ratelimit-remaining-subscription-reads": "0"})
    assert gate.allowed("read") == 1 and gate.stats.throttled == 1
    # a second reader waits until the first is answered
    gate.acquire("read")
    entered = threading.Event()

    def second() -> None:
        gate.acquire("read")
        entered.set()
        gate.release("read", 200, {})

    t = threading.Thread(target=second)
    t.start()
    assert not entered.wait(0.2)
    gate.release("read", 200, {"x-ms-ratelimit-remaining-subscription-reads": "5"})
    assert entered.wait(5)
    t.join()
    assert gate.stats.requests == 4 and gate.stats.lowest_remaining == {"subscription-reads": 0}


def facts(power: str | None, **kw: object) -> VmFacts:
    holds_address = power in ("PowerState/running", "PowerState/stopped")  # a Basic Dynamic address
    base: dict[str, object] = {
        "id": VM, "name": "vm1", "subscription_id": "s", "resource_group": "rg", "location": "eastus",
        "size": "Standard_B2s", "os_type": "Linux", "power_state": power, "source": "list",
        "disks": (DiskFacts("d1", "d1", "Premium_LRS", 100),),
        "public_ips": (IpFacts("ip1", "ip1", "Basic", "Dynamic", holds_address),)}
    base.update(kw)
    return VmFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("power, provisioning, hibernated, state", [
    ("PowerState/running", None, False, "running"),
    ("PowerState/starting", "ProvisioningState/creating", False, "creating"),
    ("PowerState/starting", "ProvisioningState/updating", False, "starting"),
    ("PowerState/deallocated", None, True, "hibernated"),
    ("PowerState/unknown", None, False, "unknown"),
    (None, None, False, "unknown"),
])
def test_billing_state(power: str | None, provisioning: str | None, hibernated: bool, state: str) -> None:
    assert billing_state(power, provisioning, hibernated) == state


def test_pricing_by_state_and_rule_set() -> None:
    prices = sample_prices()
    b2s = Fraction("0.0416") * 730
    p10 = Fraction(prices.disk("P10 LRS Disk", "eastus").unit_price)  # type: ignore[union-attr]
    basic = Fraction(prices.public_ip("Basic IPv4 Dynamic Public IP", "eastus").unit_price) * 730  # type: ignore[union-attr]
    stopped = price_vm(facts("PowerState/stopped"), prices, rule_set("docs-2021"))
    assert (stopped.category, stopped.compute, stopped.storage, stopped.network) == ("stopped-billed", b2s, p10, basic)
    assert stopped.saving == b2s + basic and stopped.idle == stopped.monthly == b2s + p10 + basic
    old = price_vm(facts("PowerState/stopped"), prices, rule_set("docs-2018"))
    assert (old.category, old.compute, old.saving, old.monthly) == ("stopped", 0, 0, p10 + basic)
    gone = price_vm(facts("PowerState/deallocated"), prices, rule_set("docs-2021"))
    # the Basic Dynamic address is released with the VM
    assert (gone.category, gone.monthly, gone.saving, gone.idle) == ("deallocated", p10, 0, p10)
    running = price_vm(facts("PowerState/running"), prices, rule_set("docs-2021"))
    assert (running.monthly, running.idle, running.saving) == (b2s + p10 + basic, 0, 0)


def test_what_has_no_price_is_unpriced_never_zero() -> None:
    vm = facts("PowerState/stopped", size="Standard_NC6", disks=(DiskFacts("u", "u", "UltraSSD_LRS", 64),),
               location="eastus")
    f = price_vm(vm, sample_prices(), rule_set("docs-2021"))
    assert [(i.kind, i.reason) for i in f.unpriced] == [
        ("compute", "no Consumption price for Standard_NC6 (Linux) in eastus"),
        ("disk", "UltraSSD_LRS is not priced by tier (provisioned capacity)")]
    assert f.compute == 0 and f.monthly == f.network


def test_exclusions_by_tag_and_group() -> None:
    vm = facts("PowerState/stopped", tags={"Keep": "yes"}, resource_group="Prod")
    assert Exclusions(tags=(("keep", "yes"),)).why(vm) == "tag keep=yes"
    assert Exclusions(tags=(("keep", None),)).why(vm) == "tag keep=yes"
    assert Exclusions(tags=(("keep", "no"),)).why(vm) is None
    assert Exclusions(groups=("prod",)).why(vm) == "group Prod"
    assert Exclusions(groups=("s/PROD",)).why(vm) == "group Prod" and Exclusions(groups=("t/prod",)).why(vm) is None


def test_live_price_filters_ask_for_exactly_what_the_vms_use() -> None:
    (flt,) = price_filters([facts("PowerState/stopped")])
    assert flt == ("priceType eq 'Consumption' and armRegionName eq 'eastus' and ("
                   "(serviceName eq 'Storage' and meterName eq 'P10 LRS Disk') or "
                   "(serviceName eq 'Virtual Machines' and armSkuName eq 'Standard_B2s') or "
                   "(serviceName eq 'Virtual Network' and meterName eq 'Basic IPv4 Dynamic Public IP'))")


def test_live_prices_follow_the_pages_of_the_retail_prices_api() -> None:
    """Against a local stand-in of prices.azure.com (never the network in tests): the filter asked
    for, the NextPageLink followed, the items priced exactly as a saved sheet's."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    from azvm.audit.prices import live_prices

    asked: list[dict[str, list[str]]] = []

    def item(meter: str, sku: str, price: str, service: str, product: str) -> dict[str, object]:
        return {"currencyCode": "USD", "retailPrice": float(price), "armRegionName": "eastus", "armSkuName": sku,
                "meterName": meter, "productName": product, "serviceName": service, "type": "Consumption",
                "effectiveStartDate": "2025-01-01T00:00:00Z", "unitOfMeasure": "1 Hour"}

    class Prices(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            query = parse_qs(urlsplit(self.path).query)
            asked.append(query)
            port = self.server.server_address[1]
            if "$skip" in query:
                doc = {"BillingCurrency": "USD", "Items": [item("P10 LRS Disk", "", "19.71", "Storage",
                                                                "Premium SSD Managed Disks")], "NextPageLink": None}
            else:
                doc = {"BillingCurrency": "USD", "Items": [item("B2s", "Standard_B2s", "0.0416", "Virtual Machines",
                                                                "Virtual Machines BS Series")],
                       "NextPageLink": f"http://127.0.0.1:{port}/api/retail/prices?$skip=100"}
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sheet = live_prices([facts("PowerState/stopped", public_ips=())],
                            url=f"http://127.0.0.1:{server.server_address[1]}/api/retail/prices")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert asked[0]["api-version"] == ["2023-01-01-preview"] and asked[0]["currencyCode"] == ["USD"]
    assert asked[0]["$filter"] == price_filters([facts("PowerState/stopped", public_ips=())])
    assert len(asked) == 2  # the next page followed
    f = price_vm(facts("PowerState/stopped", public_ips=()), sheet, rule_set("docs-2021"))
    assert (f.compute, f.storage, f.unpriced) == (Fraction("0.0416") * 730, Fraction("19.71"), ())
