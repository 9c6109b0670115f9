"""Throttling as ARM and Compute do it: a throttling fault, or the rate limits of `--rate-limits azure`
(token buckets refilled over simulated time), answer 429 with Retry-After; with rate limits on,
every answer says what remains (x-ms-ratelimit-remaining-*). Off by default: no header at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from azvm.testing import AzvmServer, azvm_server
from tests.arm.test_http_surface import tls_context
from tests.conftest import SUB, http_client, make_network, vm_body
from tests.faults.conftest import CV, make_vms, vm_id

GROUP = f"/subscriptions/{SUB}/resourceGroups/rg"
GV = {"api-version": "2022-09-01"}


def test_a_throttled_put_vm_is_a_compute_429(azvm: AzvmServer, compute: Any) -> None:
    make_network(azvm, "vm1")
    rule = azvm.inject_fault(kind="throttle", bucket="PutVM", name="vm1")
    assert rule["retryAfterSeconds"] is None
    strict = azvm.compute_client(retry_total=0)  # the SDK would otherwise wait Retry-After and retry
    with pytest.raises(HttpResponseError) as e:
        strict.virtual_machines.begin_create_or_update("rg", "vm1", vm_body("vm1"))
    r = e.value.response
    assert r.status_code == 429 and r.headers["Retry-After"] == "15"  # 4 tokens a minute
    assert r.headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/PutVMResource;0"
    err = e.value.error
    assert err.code == "OperationNotAllowed"
    assert err.message == ("The server rejected the request because too many requests have been received for this"
                           " subscription.")
    assert (err.details[0].code, err.details[0].target) == ("TooManyRequests", "PutVMResource")
    group = json.loads(err.details[0].message)
    assert group["operationGroup"] == "PutVMResource" and group["allowedRequestCount"] == 12
    assert r.json()["error"]["innererror"] == {"internalErrorCode": "TooManyRequestsReceived"}
    assert strict.virtual_machines.list("rg").next is not None  # nothing was written
    assert list(strict.virtual_machines.list("rg")) == []
    strict.virtual_machines.begin_create_or_update("rg", "vm1", vm_body("vm1")).result()  # count 1: spent


def test_the_sdk_retries_a_throttled_request_after_retry_after(azvm: AzvmServer, compute: Any) -> None:
    make_vms(azvm, compute, "vm1", "vm2")
    azvm.inject_fault(kind="throttle", bucket="LowCostGet", vm=vm_id("VM2"), count=5)
    assert compute.virtual_machines.get("rg", "vm1").name == "vm1"  # another VM: not throttled
    with pytest.raises(HttpResponseError) as e:
        azvm.compute_client(retry_total=0).virtual_machines.get("rg", "vm2")
    assert e.value.status_code == 429 and e.value.error.details[0].target == "LowCostGetResource"
    azvm.clear_faults()
    azvm.inject_fault(kind="throttle", bucket="reads", count=2, retryAfterSeconds=0)
    vm = compute.virtual_machines.get("rg", "vm1")  # two 429s, then the answer
    assert vm.name == "vm1" and [f["fired"] for f in azvm.faults()] == [2]


def test_an_arm_throttled_read_names_its_bucket(azvm: AzvmServer, http: httpx.Client) -> None:
    azvm.inject_fault(kind="throttle", bucket="reads", resourceGroup="rg", retryAfterSeconds=7)
    r = http.get(GROUP, params=GV)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"
    assert r.json() == {"error": {"code": "SubscriptionRequestsThrottled", "message": (
        f"Number of 'read' requests for subscription '{SUB}' actor '00000000-0000-0000-0000-000000000000'"
        " exceeded. Please try again after '7' seconds.")}}
    assert http.get(GROUP, params=GV).status_code == 404  # spent; the group does not exist
    assert "x-ms-ratelimit-remaining-subscription-reads" not in http.get(GROUP, params=GV).headers  # no limits


@pytest.fixture(scope="module")
def limited() -> Iterator[AzvmServer]:
    with azvm_server(rate_limits="azure") as server:
        yield server


@pytest.fixture
def lhttp(limited: AzvmServer) -> Iterator[httpx.Client]:
    limited.reset()
    with http_client(base_url=limited.endpoint, verify=tls_context(str(limited.cert)), timeout=60) as client:
        yield client


def test_every_answer_says_what_remains(limited: AzvmServer, lhttp: httpx.Client) -> None:
    created = lhttp.put(GROUP, params=GV, json={"location": "eastus"})
    assert created.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    make_network(lhttp, "vm1")
    put = lhttp.put(vm_id("vm1"), params=CV, json=vm_body("vm1"))
    assert put.status_code == 201
    # as the service answered a PUT in 2025 (shared/conformance/recorded/cli_vm_resize_put_200_2025.json)
    assert put.headers["x-ms-ratelimit-remaining-resource"] == \
        "Microsoft.Compute/PutVMSubscriptionMaximum;1499,Microsoft.Compute/PutVMResource;11"
    assert put.headers["x-ms-ratelimit-remaining-subscription-writes"] == "196"  # group, vnet, NIC, VM
    get = lhttp.get(vm_id("vm1"), params=CV)
    assert get.headers["x-ms-ratelimit-remaining-resource"] == \
        "Microsoft.Compute/LowCostGetSubscriptionMaximum;23999,Microsoft.Compute/LowCostGetResource;35"
    assert get.headers["x-ms-ratelimit-remaining-subscription-reads"] == "249"
    missing = lhttp.get(vm_id("nope"), params=CV)  # errors too
    assert missing.status_code == 404 and missing.headers["x-ms-ratelimit-remaining-subscription-reads"] == "248"
    listed = lhttp.get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines", params=CV)
    assert listed.headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/HighCostGetSubscriptionMaximum;899"
    deleted = lhttp.delete(vm_id("vm1"), params=CV)
    assert deleted.headers["x-ms-ratelimit-remaining-subscription-deletes"] == "199"
    assert deleted.headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/DeleteVMSub")
    assert "x-ms-ratelimit-remaining-subscription-reads" not in lhttp.get("/azvm/clock").headers


def test_a_vm_read_too_often_is_throttled_by_compute_until_its_bucket_refills(limited: AzvmServer,
                                                                              lhttp: httpx.Client) -> None:
    lhttp.put(GROUP, params=GV, json={"location": "eastus"})
    make_network(lhttp, "vm1", "vm2")
    for name in ("vm1", "vm2"):
        assert lhttp.put(vm_id(name), params=CV, json=vm_body(name)).status_code == 201
    view = f"{vm_id('vm1')}/instanceView"
    assert [lhttp.get(view, params=CV).status_code for _ in range(36)] == [200] * 36
    r = lhttp.get(view, params=CV)
    assert r.status_code == 429 and r.headers["retry-after"] == "5"  # 12 tokens a minute
    assert r.json()["error"]["details"][0]["target"] == "LowCostGetResource"
    assert r.headers["x-ms-ratelimit-remaining-resource"] == \
        "Microsoft.Compute/LowCostGetSubscriptionMaximum;23964,Microsoft.Compute/LowCostGetResource;0"
    assert lhttp.get(f"{vm_id('vm2')}/instanceView", params=CV).status_code == 200  # another VM's bucket
    limited.advance(4)
    assert lhttp.get(view, params=CV).status_code == 429  # the clock is manual: nothing refills on its own
    limited.advance(1)
    assert lhttp.get(view, params=CV).status_code == 200
    assert lhttp.get(view, params=CV).status_code == 429


def test_arm_throttles_a_principal_past_its_read_bucket(limited: AzvmServer, lhttp: httpx.Client) -> None:
    statuses = [lhttp.get(GROUP, params=GV).status_code for _ in range(251)]
    assert statuses[:250] == [404] * 250 and statuses[250] == 429
    r = lhttp.get(GROUP, params=GV)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"  # 25 tokens a second
    assert r.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert lhttp.put(GROUP, params=GV, json={"location": "eastus"}).status_code == 201  # writes: their own bucket
    limited.advance(2)  # 50 tokens back
    assert [lhttp.get(GROUP, params=GV).status_code for _ in range(51)] == [200] * 50 + [429]


def test_an_sdk_client_sees_the_rate_limits(limited: AzvmServer, lhttp: httpx.Client) -> None:
    compute = limited.compute_client(retry_total=0)
    limited.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(limited, "vm1")
    compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body("vm1")).result()
    results = []
    for _ in range(37):
        try:
            compute.virtual_machines.instance_view("rg", "vm1")
            results.append("ok")
        except HttpResponseError as e:
            results.append(f"{e.status_code} {e.error.code} {e.error.details[0].target}")
    # the create's poller took one token of the VM's 36 with its final GET
    assert results == ["ok"] * 35 + ["429 OperationNotAllowed LowCostGetResource"] * 2
    limited.advance(5)
    assert compute.virtual_machines.instance_view("rg", "vm1").statuses[1].code == "PowerState/running"
    # an operation takes simulated time, and the buckets refill meanwhile: 12 restarts in a row pass
    for _ in range(12):
        compute.virtual_machines.begin_restart("rg", "vm1").result()
