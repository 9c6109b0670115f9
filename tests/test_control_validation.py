"""The control API checks its input when it takes it (issue 7, part 5), through a real server.

A fault is refused at POST /azvm/faults (400 with a target) unless every later request it matches
can apply it; the clock never goes past 9999-12-31T23:59:59Z, whether set, advanced, reset or
moved by time skipping. A refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm.clock import MAX_US, Clock, ClockError, iso, parse_iso
from azvm.testing import AzvmServer
from tests.arm.test_http_surface import assert_arm_error, is_arm_envelope, tls_context
from tests.conftest import SUB, http_client, make_network, vm_body
from tests.strategies import JSON

VMS = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
VM_ID = f"{VMS}/vm1"
CV = {"api-version": "2024-07-01"}
END = "9999-12-31T23:59:59Z"


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(base_url=azvm.endpoint, verify=tls_context(str(azvm.cert)), timeout=60) as client:
        yield client


def state(http: httpx.Client) -> tuple[Any, Any]:
    return http.get("/azvm/faults").json(), http.get("/azvm/clock").json()


BAD_FAULTS: list[tuple[Any, str]] = [
    ([], "body"),
    ("operation", "body"),
    ({"kind": "operation", "vm": 5}, "vm"),
    ({"kind": "operation", "op": "delete"}, "op"),  # a delete always completes: the fault would never apply
    ({"kind": "operation", "op": "delete-force"}, "op"),
    ({"kind": "operation", "vm": [VM_ID]}, "vm"),
    ({"kind": "operation", "vm": {"id": VM_ID}}, "vm"),
    ({"kind": "operation", "vm": ""}, "vm"),
    ({"kind": "operation", "vm": "vm1"}, "vm"),
    ({"kind": "operation", "vm": VM_ID + "\n"}, "vm"),
    ({"kind": "operation", "message": "{name} failed"}, "message"),
    ({"kind": "operation", "message": "{0} failed"}, "message"),
    ({"kind": "operation", "message": "{} failed"}, "message"),
    ({"kind": "operation", "message": "{vm.__class__} failed"}, "message"),
    ({"kind": "operation", "message": "{vm[0]} failed"}, "message"),
    ({"kind": "operation", "message": "{vm:d} failed"}, "message"),
    ({"kind": "operation", "message": "{vm!r} failed"}, "message"),
    ({"kind": "operation", "message": "{vm failed"}, "message"),
    ({"kind": "operation", "message": "vm} failed"}, "message"),
    ({"kind": "operation", "message": ""}, "message"),
    ({"kind": "operation", "message": "x" * 5000}, "message"),
    ({"kind": "operation", "message": ["failed"]}, "message"),
    ({"kind": "operation", "code": {"c": 1}}, "code"),
    ({"kind": "operation", "code": "Bad Code"}, "code"),
    ({"kind": "operation", "code": "Code\r\nX-Injected: 1"}, "code"),
    ({"kind": "operation", "code": ""}, "code"),
    ({"kind": "operation", "count": True}, "count"),
    ({"kind": "operation", "count": 0}, "count"),
    ({"kind": "operation", "count": 1.5}, "count"),
    ({"kind": "operation", "count": "2"}, "count"),
    ({"kind": "operation", "count": 10**30}, "count"),
    ({"kind": "operation", "op": "fly"}, "op"),
    ({"kind": "operation", "op": ["start"]}, "op"),
    ({"kind": "os-provisioning", "op": "start"}, "op"),
    ({"kind": "disk"}, "kind"),
    ({"kind": 1}, "kind"),
    ({}, "kind"),
    ({"kind": "operation", "colour": "red"}, "colour"),
    # the scope, the firing and each kind's own fields
    ({"kind": "operation", "subscription": "not-a-guid"}, "subscription"),
    ({"kind": "operation", "resourceGroup": "bad/group"}, "resourceGroup"),
    ({"kind": "operation", "resourceGroup": "ends."}, "resourceGroup"),
    ({"kind": "operation", "name": "a/b"}, "name"),
    ({"kind": "operation", "name": ""}, "name"),
    ({"kind": "operation", "resourceType": "Microsoft.Network/networkInterfaces"}, "resourceType"),
    ({"kind": "throttle", "resourceType": "not a type"}, "resourceType"),
    ({"kind": "operation", "probability": 1.5}, "probability"),
    ({"kind": "operation", "probability": "0.5"}, "probability"),
    ({"kind": "operation", "seed": 1.5}, "seed"),
    ({"kind": "operation", "seed": 2**64}, "seed"),
    ({"kind": "operation", "factor": 2}, "factor"),
    ({"kind": "slow"}, "factor"),
    ({"kind": "slow", "factor": 1}, "factor"),
    ({"kind": "slow", "factor": 0.5}, "factor"),
    ({"kind": "slow", "factor": 1001}, "factor"),
    ({"kind": "slow", "addSeconds": -1}, "addSeconds"),
    ({"kind": "slow", "op": "guest-shutdown", "factor": 2}, "op"),
    ({"kind": "slow", "factor": 2, "code": "Boom"}, "code"),
    ({"kind": "preempted", "op": "create"}, "op"),
    ({"kind": "preempted", "op": "delete"}, "op"),
    ({"kind": "preempted", "message": "{vm} was preempted"}, "message"),
    ({"kind": "power-missing", "op": "start"}, "op"),
    ({"kind": "power-unknown", "code": "Boom"}, "code"),
    ({"kind": "throttle", "op": "start"}, "op"),
    ({"kind": "throttle", "bucket": "PutVm"}, "bucket"),
    ({"kind": "throttle", "bucket": "reads", "retryAfterSeconds": -1}, "retryAfterSeconds"),
    ({"kind": "throttle", "retryAfterSeconds": 3601}, "retryAfterSeconds"),
    ({"kind": "throttle", "retryAfterSeconds": 1.5}, "retryAfterSeconds"),
    ([{"kind": "operation"}, {"kind": "operation", "op": "fly"}], "faults[1].op"),  # all or nothing
]


def test_bad_faults_are_refused_when_posted(azvm: AzvmServer, http: httpx.Client) -> None:
    before = state(http)
    for body, target in BAD_FAULTS:
        r = http.post("/azvm/faults", json=body)
        assert_arm_error(r, 400, "InvalidParameter", target)
    assert state(http) == before and before[0] == {"value": []}


def test_a_fault_is_shown_removed_and_cleared_by_id(azvm: AzvmServer, http: httpx.Client) -> None:
    r = http.post("/azvm/faults", json=[{"kind": "power-unknown", "name": "web-*"},
                                        {"kind": "throttle", "bucket": "PutVM", "probability": 0.25}])
    assert r.status_code == 201, r.text
    one, two = r.json()["value"]
    assert (one["id"], one["remaining"], two["id"], two["remaining"]) == ("fault-1", 1, "fault-2", None)
    assert http.get("/azvm/faults/FAULT-2").json() == two
    assert http.delete("/azvm/faults/fault-1").json() == one
    assert_arm_error(http.get("/azvm/faults/fault-1"), 404, "NotFound")
    assert_arm_error(http.delete("/azvm/faults/fault-9"), 404, "NotFound")
    assert_arm_error(http.post("/azvm/faults/fault-2"), 404, "NotFound")
    assert [f["id"] for f in http.get("/azvm/faults").json()["value"]] == ["fault-2"]
    for listed in http.get("/azvm/faults").json()["value"]:  # a listed rule can be posted back
        assert {**http.post("/azvm/faults", json=listed).json(), "id": listed["id"]} == listed
    for kind in ("os-provisioning", "operation", "preempted", "slow"):
        posted = http.post("/azvm/faults", json={"kind": kind, "factor": 2} if kind == "slow" else {"kind": kind})
        assert posted.status_code == 201 and http.post("/azvm/faults", json=posted.json()).status_code == 201
    assert http.delete("/azvm/faults").json() == {"value": []}
    assert http.get("/azvm/faults").json() == {"value": []}


def make_vm(azvm: AzvmServer) -> None:
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(azvm, "vm1")
    azvm.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()


def test_an_accepted_fault_applies_with_the_vm_name(azvm: AzvmServer, http: httpx.Client) -> None:
    make_vm(azvm)
    r = http.post("/azvm/faults", json={"kind": "operation", "op": "powerOff", "vm": VM_ID.upper(),
                                        "code": "Custom.Failure_1", "message": "{vm} {{braces}} broke", "count": 1})
    assert r.status_code == 201, r.text
    op = http.post(f"{VM_ID}/powerOff", params=CV)
    assert op.status_code == 202, op.text
    azvm.advance(600)
    status = http.get(op.headers["azure-asyncoperation"]).json()
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "Custom.Failure_1" and status["error"]["message"] == "vm1 {braces} broke"




EXERCISED = ("create", "powerOff", "start", "restart", "deallocate", "delete")  # what the fuzz below does to vm1
FAILABLE = EXERCISED[:-1]  # a delete always completes: a fault never shapes one


@st.composite
def fault_bodies(draw: st.DrawFn) -> Any:
    """Fault bodies biased towards accepted ones: `kind` always present, the other fields valid or
    absent, and about half of the bodies with one field spoilt (any JSON, or an odd message)."""
    text = st.text(alphabet=st.sampled_from("{}vm0:!r[].x _"), max_size=12)
    kind = draw(st.sampled_from(("operation", "os-provisioning")))
    ops = ("*", "create") if kind == "os-provisioning" else ("*", *EXERCISED)
    body = {"kind": kind, **draw(st.fixed_dictionaries({}, optional={
        "op": st.sampled_from(ops), "code": st.sampled_from(("Boom", "A.b-c_d")),
        "message": st.sampled_from(("{vm} failed", "{{vm}} is {vm}")), "count": st.sampled_from((1, 2)),
        "vm": st.sampled_from((VM_ID, VM_ID.upper()))}))}
    if draw(st.booleans()):
        key = draw(st.sampled_from(("kind", "op", "code", "message", "count", "vm")))
        body[key] = draw(st.one_of(JSON, text) if key == "message" else JSON)
    return body


def test_any_fault_body_is_refused_or_usable(azvm: AzvmServer, http: httpx.Client) -> None:
    """Refused: a 4xx envelope and no fault. Accepted: the operations it matches answer cleanly, and
    the fault is spent on vm1 when it names vm1 (or no VM) and an operation the test performs that
    can fail; a delete completes whatever the faults."""
    assert http.put(f"/subscriptions/{SUB}/resourceGroups/rg", params={"api-version": "2022-09-01"},
                    json={"location": "eastus"}).status_code in (200, 201)
    make_network(http, "vm1")
    examples = 0
    refused = 0
    applied = 0

    def wait_for(r: httpx.Response, body: Any, what: str) -> None:
        assert r.status_code < 500, (body, what, r.status_code, r.text)
        azvm.advance(600)
        if "azure-asyncoperation" in r.headers:
            polled = http.get(r.headers["azure-asyncoperation"])
            assert polled.status_code == 200, (body, what, polled.text)

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(body=fault_bodies())
    def check(body: Any) -> None:
        nonlocal examples, refused, applied
        examples += 1
        assert http.delete("/azvm/faults").status_code < 300
        r = http.post("/azvm/faults", json=body)
        assert r.status_code in (201, 400), (examples, body, r.status_code, r.text)
        faults = http.get("/azvm/faults").json()["value"]
        if r.status_code == 400:
            assert is_arm_envelope(r.content) and faults == []
            refused += 1
            return
        assert len(faults) == 1
        count = faults[0]["remaining"]
        wait_for(http.put(VM_ID, params=CV, json=vm_body("vm1")), body, "create")
        for action in ("powerOff", "start", "restart", "deallocate"):
            wait_for(http.post(f"{VM_ID}/{action}", params=CV), body, action)
        assert http.get(VM_ID, params={**CV, "$expand": "instanceView"}).status_code == 200
        for _ in range(4):  # a fault may fail a delete or two (count <= 2)
            wait_for(http.delete(VM_ID, params=CV), body, "delete")
            if http.get(VM_ID, params=CV).status_code == 404:
                break
        assert http.get(VM_ID, params=CV).status_code == 404, (examples, body)  # the next example creates it afresh
        left = http.get("/azvm/faults").json()["value"]
        assert len(left) == 1 and 0 <= left[0]["remaining"] <= count
        if faults[0]["op"] in ("*", *FAILABLE) and faults[0]["vm"] in (None, VM_ID.lower()):
            assert left[0]["remaining"] < count, (examples, body, left)  # it shaped an operation on vm1
            applied += 1

    check()
    assert examples - refused >= examples // 4 and refused > 0, (examples, refused)
    assert applied >= (examples - refused) // 2, (examples, refused, applied)


def test_the_clock_stops_at_the_end_of_year_9999(azvm: AzvmServer, http: httpx.Client) -> None:
    before = state(http)
    for body, target in [({"set": "9999-12-31T23:59:59.000001Z"}, "set"),
                         ({"set": "9999-12-31T23:59:59-00:01"}, "set"),
                         ({"set": "+10000-01-01T00:00:00Z"}, "set"),
                         ({"set": 253402300800}, "set"),
                         ({"advanceSeconds": 100 * 366 * 86400 + 1}, "advanceSeconds")]:
        assert_arm_error(http.post("/azvm/clock", json=body), 400, "InvalidParameter", target)
    for body, target in [({"startTime": "9999-12-31T23:59:59.5Z"}, "startTime"),
                         ({"startTime": 5}, "startTime"), ({"timeSkipping": "yes"}, "timeSkipping")]:
        assert_arm_error(http.post("/azvm/reset", json=body), 400, "InvalidParameter", target)
    assert state(http) == before
    # nine advances of 100 years land short of the end; the tenth would pass it
    http.post("/azvm/clock", json={"set": "9950-01-01T00:00:00Z"})
    moved = http.post("/azvm/clock", json={"advanceSeconds": 49 * 365 * 86400})
    assert moved.status_code == 200
    at = state(http)
    err = assert_arm_error(http.post("/azvm/clock", json={"advanceSeconds": 100 * 365 * 86400}), 400,
                           "InvalidParameter", "advanceSeconds")
    assert END in err["message"]
    assert state(http) == at
    done = http.post("/azvm/clock", json={"set": END})
    assert done.status_code == 200 and done.json()["now"] == iso(MAX_US)
    assert_arm_error(http.post("/azvm/clock", json={"advanceSeconds": 1}), 400, "InvalidParameter",
                     "advanceSeconds")
    assert http.post("/azvm/clock", json={"advanceSeconds": 0}).status_code == 200
    assert http.post("/azvm/reset", json={"startTime": END}).json()["now"] == iso(MAX_US)


def test_time_skipping_stops_at_the_end_of_time(azvm: AzvmServer, http: httpx.Client) -> None:
    """An operation whose phases fall after 9999-12-31T23:59:59Z is polled cleanly and never completes."""
    azvm.reset(start_time="9999-12-31T23:59:50Z")
    http.put(f"/subscriptions/{SUB}/resourceGroups/rg", params={"api-version": "2022-09-01"},
             json={"location": "eastus"})
    make_network(http, "vm1")
    created = http.put(VM_ID, params=CV, json=vm_body())
    assert created.status_code == 201, created.text
    for _ in range(5):  # each poll skips time to the next phase, up to the end
        polled = http.get(created.headers["azure-asyncoperation"])
        assert polled.status_code == 200 and polled.json()["status"] == "InProgress"
    assert http.get("/azvm/clock").json()["now"] == iso(MAX_US)
    view = http.get(f"{VM_ID}/instanceView", params=CV)
    assert view.status_code == 200, view.text
    assert http.get("/azvm/billing").json()["to"] == iso(MAX_US)


def test_clock_module_refuses_the_end_of_time() -> None:
    clock = Clock.manual(parse_iso("9999-12-31T23:59:00Z"))
    with pytest.raises(ClockError, match="9999-12-31T23:59:59Z"):
        clock.advance(61)
    with pytest.raises(ClockError):
        clock.advance(float("inf"))
    with pytest.raises(ClockError):
        clock.set(MAX_US + 1)
    assert clock.now_us() == parse_iso("9999-12-31T23:59:00Z")  # refusals change nothing
    clock.jump_to(MAX_US + 10**12)
    assert clock.now_us() == MAX_US
    assert clock.advance(0) == MAX_US
    # a running clock (a million times faster than a wall clock that ticks a second per read) stops there
    running = Clock.real(1e6, start_us=MAX_US - 10**6, wall=iter(range(0, 10**12, 10**6)).__next__)
    assert [running.now_us() for _ in range(3)] == [MAX_US] * 3
