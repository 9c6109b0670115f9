"""Billing under bad input and heavy requests (issue 7, parts 3 and 4), through a real server.

A cost query or /azvm/billing request is answered 200 or with an ARM error (400 with a target,
404 for an unknown VM), never 5xx, writes nothing, never reads a file the caller names, never
bills the future, and never holds the event loop while a bill is computed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.arm.test_http_surface import assert_arm_error, is_arm_envelope, tls_context
from tests.conftest import SUB, http_client, make_network, vm_body
from tests.strategies import JSON

from azvm.clock import parse_iso, to_datetime
from azvm.domain.errors import ArmError
from azvm.service.billing import MAX_DAY_CELLS, BillingService
from azvm.testing import AzvmServer, StaticTokenCredential

T0 = "2026-01-01T00:00:00Z"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
QUERY = f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/query"
QV = {"api-version": "2023-03-01"}
GOOD_QUERY: dict[str, Any] = {
    "type": "ActualCost", "timeframe": "Custom",
    "timePeriod": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
    "dataset": {"granularity": "Daily", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": [{"type": "Dimension", "name": "ResourceId"}]},
}


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(base_url=azvm.endpoint, verify=tls_context(str(azvm.cert)), timeout=60) as client:
        yield client


def one_vm(azvm: AzvmServer, hours: float = 1) -> None:
    """vm1 (Standard_D2s_v3, eastus) created at T0, then `hours` of simulated time."""
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    make_network(azvm, "vm1")
    azvm.compute_client().virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
    azvm.advance(hours * 3600)


def world(http: httpx.Client) -> tuple[Any, ...]:
    """What a write would change: the clock, the faults, the VMs and vm1's history."""
    vms = http.get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines",
                   params={"api-version": "2024-07-01"})
    history = http.get("/azvm/history", params={"id": VM_ID})
    return (http.get("/azvm/clock").json(), http.get("/azvm/faults").json(), vms.status_code, vms.text,
            history.status_code, history.text)


def with_dataset(**fields: Any) -> dict[str, Any]:
    return {**GOOD_QUERY, "dataset": {**GOOD_QUERY["dataset"], **fields}}


def period(start: str, end: Any) -> dict[str, Any]:
    return {**GOOD_QUERY, "timePeriod": {"from": start, "to": end}}


MALFORMED_QUERIES: list[tuple[Any, str]] = [
    (with_dataset(grouping=5), "dataset.grouping"),
    (with_dataset(grouping="ResourceId"), "dataset.grouping"),
    (with_dataset(grouping=[5]), "dataset.grouping[0]"),
    (with_dataset(grouping=[{"type": "Dimension", "name": "Colour"}]), "dataset.grouping[0].name"),
    (with_dataset(grouping=[{"type": "TagKey", "name": "env"}]), "dataset.grouping[0].type"),
    (with_dataset(grouping=[{"name": n} for n in ("ResourceId", "ServiceName", "ResourceGroup")]),
     "dataset.grouping"),
    (with_dataset(aggregation=[1]), "dataset.aggregation"),
    (with_dataset(aggregation={}), "dataset.aggregation"),
    (with_dataset(aggregation={"c": 1}), "dataset.aggregation.c"),
    (with_dataset(aggregation={"c": {"name": "Cost", "function": "Max"}}), "dataset.aggregation.c.function"),
    (with_dataset(aggregation={"c": {"name": ["Cost"], "function": "Sum"}}), "dataset.aggregation.c.name"),
    (with_dataset(granularity="Monthly"), "dataset.granularity"),
    (with_dataset(granularity=1), "dataset.granularity"),
    (with_dataset(filter=5), "dataset.filter"),
    (with_dataset(filter="ResourceGroup eq 'rg'"), "dataset.filter"),
    (with_dataset(filter={}), "dataset.filter"),
    (with_dataset(filter={"and": [{"dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["rg"]}}]}),
     "dataset.filter.and"),
    (with_dataset(filter={"dimensions": {"name": "ResourceGroup", "operator": "In", "values": "rg"}}),
     "dataset.filter.dimensions.values"),
    (with_dataset(filter={"dimensions": {"name": "ResourceGroup", "operator": "Eq", "values": ["rg"]}}),
     "dataset.filter.dimensions.operator"),
    (with_dataset(filter={"dimensions": {"name": "Colour", "operator": "In", "values": ["rg"]}}),
     "dataset.filter.dimensions.name"),
    (with_dataset(filter={"tags": {"name": "env", "operator": "In", "values": ["a"]},
                          "dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["rg"]}}),
     "dataset.filter"),
    (with_dataset(filter={"or": [{"tags": {"name": 5, "operator": "In", "values": ["a"]}}, {"not": 1}]}),
     "dataset.filter.or[0].tags.name"),
    (with_dataset(configuration={"columns": ["Cost"]}), "dataset.configuration"),
    ({**GOOD_QUERY, "dataset": []}, "dataset"),
    ({**GOOD_QUERY, "timePeriod": 5}, "timePeriod"),
    ({**GOOD_QUERY, "timePeriod": None}, "timePeriod"),
    (period("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"), "timePeriod.to"),
    (period("2026-01-01T00:00:00Z", "2027-01-01T00:00:01Z"), "timePeriod"),
    (period("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"), "timePeriod"),
    (period("yesterday", "2026-01-02T00:00:00Z"), "timePeriod.from"),
    (period("2026-01-01T00:00:00", "2026-01-02T00:00:00Z"), "timePeriod.from"),
    (period("2026-01-01T00:00:00Z", 20260102), "timePeriod.to"),
    ({**GOOD_QUERY, "timeframe": "MonthToDate"}, "timePeriod"),
    ({k: v for k, v in GOOD_QUERY.items() if k != "timeframe"}, "timeframe"),
    ({**GOOD_QUERY, "timeframe": "Yesterday"}, "timeframe"),
    ({**GOOD_QUERY, "timeframe": ["Custom"]}, "timeframe"),
    ({**GOOD_QUERY, "type": 5}, "type"),
    ({**GOOD_QUERY, "type": "Forecast"}, "type"),
    ({**GOOD_QUERY, "colour": "blue"}, "colour"),
    ([GOOD_QUERY], "body"),
]


def test_malformed_cost_queries_are_400_with_a_target(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    before = world(http)
    for body, target in MALFORMED_QUERIES:
        r = http.post(QUERY, params=QV, json=body)
        err = assert_arm_error(r, 400, "BadRequest", target)
        assert err["message"].startswith("Invalid query definition: "), err
    assert world(http) == before
    assert http.post(QUERY, params=QV, json=GOOD_QUERY).status_code == 200




def good_query_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Valid query bodies (query_bodies() spoils some)."""
    comparison = st.fixed_dictionaries({
        "name": st.sampled_from(("ResourceGroup", "ResourceId", "resourcegroup", "env")),
        "operator": st.sampled_from(("In", "in")), "values": st.sampled_from((["rg"], ["rg", "other"]))})
    leaf = st.one_of(st.fixed_dictionaries({"dimensions": comparison}), st.fixed_dictionaries({"tags": comparison}))
    filters = st.recursive(leaf, lambda inner: st.one_of(
        st.fixed_dictionaries({"and": st.lists(inner, min_size=2, max_size=3)}),
        st.fixed_dictionaries({"or": st.lists(inner, min_size=2, max_size=3)})), max_leaves=4)
    dataset = st.fixed_dictionaries({
        "granularity": st.sampled_from(("Daily", "None", "daily")),
        "aggregation": st.just({"c": {"name": "Cost", "function": "Sum"}}),
        "grouping": st.sampled_from(([{"type": "Dimension", "name": "ResourceId"}], []))},
        optional={"filter": filters})
    return st.fixed_dictionaries({
        "type": st.sampled_from(("ActualCost", "Usage", "usage", "AmortizedCost")), "timeframe": st.just("Custom"),
        "timePeriod": st.sampled_from(({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
                                       {"from": "2025-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"})),
        "dataset": dataset})


# where good_query_bodies() may be spoilt: a field replaced by any JSON, or left out
SPOILABLE = (("type",), ("timeframe",), ("timePeriod",), ("timePeriod", "from"), ("dataset",),
             ("dataset", "granularity"), ("dataset", "aggregation"), ("dataset", "grouping"), ("dataset", "filter"))


@st.composite
def query_bodies(draw: st.DrawFn) -> Any:
    """Query bodies biased towards valid ones, so that both answers (200) and refusals (4xx) are
    reached: a valid body, one with a field spoilt, or any JSON at all."""
    if not draw(st.booleans()):
        return draw(good_query_bodies())
    if draw(st.booleans()):
        return draw(JSON)
    body = draw(good_query_bodies())
    *parents, key = draw(st.sampled_from(SPOILABLE))
    holder = body
    for p in parents:
        holder = holder[p] = dict(holder[p])
    if draw(st.booleans()):
        holder.pop(key, None)
    else:
        holder[key] = draw(JSON)
    return body


def test_any_query_body_is_answered_or_refused_never_5xx(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    seen: dict[int, int] = {}

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(body=query_bodies())
    def check(body: Any) -> None:
        before = world(http)
        for scope in (f"/subscriptions/{SUB}", f"/subscriptions/{SUB}/resourceGroups/rg"):
            r = http.post(f"{scope}/providers/Microsoft.CostManagement/query", params=QV, json=body)
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code == 200 or 400 <= r.status_code < 500, (body, r.status_code, r.text)
            if r.status_code == 200:
                assert set(r.json()["properties"]) == {"nextLink", "columns", "rows"}
            else:
                assert is_arm_envelope(r.content), r.text
        assert world(http) == before

    check()
    assert seen.get(200) and any(400 <= s < 500 for s in seen), seen  # both kinds were reached


def cost_client(azvm: AzvmServer) -> Any:
    from azure.mgmt.costmanagement import CostManagementClient

    return CostManagementClient(StaticTokenCredential(), **azvm.client_kwargs())  # type: ignore[arg-type]


def sdk_query(client: Any, start: str, end: str, **dataset: Any) -> Any:
    from azure.mgmt.costmanagement.models import (
        QueryAggregation,
        QueryDataset,
        QueryDefinition,
        QueryTimePeriod,
    )

    return client.query.usage(f"/subscriptions/{SUB}", QueryDefinition(
        type="ActualCost", timeframe="Custom",
        time_period=QueryTimePeriod(from_property=to_datetime(parse_iso(start)), to=to_datetime(parse_iso(end))),
        dataset=QueryDataset(granularity="Daily",
                             aggregation={"totalCost": QueryAggregation(name="Cost", function="Sum")}, **dataset)))


def test_sdk_query_window_is_checked_and_stops_at_now(azvm: AzvmServer, http: httpx.Client) -> None:
    from azure.core.exceptions import HttpResponseError

    one_vm(azvm, hours=30)
    client = cost_client(azvm)
    before = world(http)
    for start, end, words in [("2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z", "cannot exceed 1 year"),
                              ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "before")]:
        with pytest.raises(HttpResponseError) as caught:
            sdk_query(client, start, end)
        assert caught.value.status_code == 400 and words in str(caught.value.message)
    assert world(http) == before
    now = azvm.now()
    asked_future = sdk_query(client, T0, "2026-12-31T23:59:59Z")
    up_to_now = sdk_query(client, T0, now)
    assert asked_future.rows == up_to_now.rows and asked_future.rows
    assert {r[2] for r in asked_future.rows} == {20260101, 20260102}  # 30 hours: no day after today
    one_year = sdk_query(client, "2025-03-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert one_year.rows == up_to_now.rows


def two_groups(azvm: AzvmServer, http: httpx.Client) -> tuple[set[str], Callable[[Any], set[str]]]:
    """vm1 in rg, vm2 (tagged env=prod) in other; the resource ids of a query, and a query by filter."""
    one_vm(azvm)
    cc = azvm.compute_client()
    azvm.resource_client().resource_groups.create_or_update("other", {"location": "eastus"})
    make_network(azvm, "vm2", rg="other")
    cc.virtual_machines.begin_create_or_update("other", "vm2", {**vm_body("vm2", rg="other"),
                                                                "tags": {"env": "prod"}}).result()
    azvm.advance(3600)

    def ids(flt: Any) -> set[str]:
        r = http.post(QUERY, params=QV, json=with_dataset(granularity="None", filter=flt))
        assert r.status_code == 200, r.text
        cols = [c["name"] for c in r.json()["properties"]["columns"]]
        return {row[cols.index("ResourceId")] for row in r.json()["properties"]["rows"]}

    return ids(None), ids


def test_query_dimension_filter_selects_rows(azvm: AzvmServer, http: httpx.Client) -> None:
    everything, ids = two_groups(azvm, http)
    in_rg = ids({"dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["RG"]}})
    assert in_rg and in_rg == {i for i in everything if "/resourcegroups/rg/" in i}
    assert ids({"dimensions": {"name": "resourceid", "operator": "in", "values": [VM_ID.upper()]}}) == {VM_ID.lower()}
    assert ids({"tags": {"name": "nothing", "operator": "In", "values": ["prod"]}}) == set()


def test_query_tag_filter_selects_rows(azvm: AzvmServer, http: httpx.Client) -> None:
    everything, ids = two_groups(azvm, http)
    in_rg = {i for i in everything if "/resourcegroups/rg/" in i}
    prod = ids({"tags": {"name": "Env", "operator": "In", "values": ["prod"]}})
    assert prod == {i for i in everything if i.endswith("/virtualmachines/vm2")}
    both = ids({"or": [{"tags": {"name": "env", "operator": "In", "values": ["prod"]}},
                       {"dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["rg"]}}]})
    assert both == in_rg | prod
    assert ids({"and": [{"tags": {"name": "env", "operator": "In", "values": ["prod"]}},
                        {"dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["rg"]}}]}) == set()


def test_rule_sets_are_chosen_by_name_only_over_http(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    before = world(http)
    messages = set()
    for rules in ("/dev/zero", "/etc/passwd", "/no/such/file.json", "docs-2021.json", "../rules", "DOCS-2021"):
        r = http.get("/azvm/billing", params={"rules": rules})
        err = assert_arm_error(r, 400, "InvalidParameter", "rules")
        messages.add(err["message"].replace(rules, "<value>"))
    assert len(messages) == 1, messages  # nothing tells which files exist
    assert "docs-2018, docs-2021, azure-2023" in messages.pop()
    assert http.get("/azvm/billing", params={"rules": "docs-2018"}).json()["ruleSet"] == "docs-2018"
    assert world(http) == before


def test_explaining_an_unknown_vm_is_404(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    before = world(http)
    for vm in (VM_ID.replace("vm1", "vm9"), "not an id", "\x00"):
        assert_arm_error(http.get("/azvm/billing/explain", params={"id": vm}), 404, "ResourceNotFound", "id")
    assert_arm_error(http.get("/azvm/billing/explain"), 400, "InvalidParameter", "id")
    assert http.get("/azvm/billing/explain", params={"id": VM_ID.upper()}).status_code == 200
    assert world(http) == before


def test_bad_windows_and_parameters_are_400(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    before = world(http)
    for params, target in [({"from": "yesterday"}, "from"), ({"to": "2026-01-01"}, "to"),
                           ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
                           ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
                           ({"to": "9999-12-31T23:59:59-01:00"}, "to"), ({"groupBy": "colour"}, "groupBy")]:
        for path in ("billing", "billing/what-if", "billing/cost-details"):
            if target == "groupBy" and path != "billing":
                continue
            assert_arm_error(http.get(f"/azvm/{path}", params=params), 400, "InvalidParameter", target)
    assert_arm_error(http.get("/azvm/billing/nothing"), 404, "NotFound")
    assert world(http) == before


def test_a_window_into_the_future_bills_up_to_now_and_says_so(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm)
    now = http.get("/azvm/clock").json()["now"]
    future = {"from": T0, "to": "2026-02-01T00:00:00Z"}
    for path, extra in (("billing", {}), ("billing/what-if", {}), ("billing/explain", {"id": VM_ID})):
        asked = http.get(f"/azvm/{path}", params={**future, **extra}).json()
        assert asked["to"] == now and asked["truncatedAtNow"] is True
        assert asked["requestedTo"] == "2026-02-01T00:00:00.0000000+00:00"
        to_now = http.get(f"/azvm/{path}", params={"from": T0, "to": now, **extra}).json()
        assert to_now["truncatedAtNow"] is False and to_now["requestedTo"] == now
        assert {k: v for k, v in asked.items() if k not in ("requestedTo", "truncatedAtNow")} == \
               {k: v for k, v in to_now.items() if k not in ("requestedTo", "truncatedAtNow")}
    bill = http.get("/azvm/billing", params=future).json()
    assert [ln["seconds"] for ln in bill["lines"] if ln["kind"] == "vm"] == [3600 + 44]  # create's 44 s, then 1 h
    default = http.get("/azvm/billing").json()
    assert default["to"] == now and default["truncatedAtNow"] is False
    later = http.get("/azvm/billing", params={"from": "2027-01-01T00:00:00Z", "to": "2027-02-01T00:00:00Z"}).json()
    assert later["lines"] == [] and later["truncatedAtNow"] is True and later["total"] == "0"
    csv = http.get("/azvm/billing/cost-details", params=future)
    assert csv.status_code == 200 and csv.headers["x-azvm-truncated-at-now"] == "true"
    assert csv.headers["x-azvm-billed-to"] == now
    assert csv.text == http.get("/azvm/billing/cost-details", params={"from": T0, "to": now}).text


def test_far_windows_are_cheap_and_day_splits_are_bounded(azvm: AzvmServer, http: httpx.Client) -> None:
    one_vm(azvm, hours=0)
    for _ in range(6):  # 600 years of one VM: more resource-days (VM and disk) than one request bills by day
        azvm.advance(100 * 365 * 86400)
    ever = {"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}
    before = world(http)
    for path, params in [("billing", {"groupBy": "day"}), ("billing/cost-details", {})]:
        err = assert_arm_error(http.get(f"/azvm/{path}", params={**ever, **params}), 400, "InvalidParameter", "from")
        assert f"at most {MAX_DAY_CELLS}" in err["message"] and "Narrow the window" in err["message"]
    assert world(http) == before
    for group_by in ("vm", "state", "meter"):  # not split by day: the work is one pass over the history
        r = http.get("/azvm/billing", params={**ever, "groupBy": group_by})
        assert r.status_code == 200 and r.json()["truncatedAtNow"] is True
    assert http.get("/azvm/billing/what-if", params=ever).status_code == 200
    assert http.get("/azvm/billing/explain", params={**ever, "id": VM_ID}).status_code == 200
    a_year = http.get("/azvm/billing", params={"from": T0, "to": "2027-01-01T00:00:00Z", "groupBy": "day"})
    assert a_year.status_code == 200 and len({ln["group"] for ln in a_year.json()["lines"]}) == 365


class Gate:
    """Holds BillingService.bill inside the server until released, to prove the server answers
    other requests meanwhile (no timing: events only)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def bill(self, real: Any) -> Any:
        def held(svc: BillingService, *args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.release.wait(60), "the gate was never released"
            return real(svc, *args, **kwargs)
        return held


ONE_DAY_QUERY = {"type": "ActualCost", "timeframe": "Custom",
         "timePeriod": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
         "dataset": {"granularity": "None", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}}}


@pytest.mark.parametrize("kind", ["azvm-billing", "cost-query"])
def test_other_requests_are_served_while_a_bill_is_computed(
        azvm: AzvmServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    one_vm(azvm)
    gate = Gate()
    method = "bill" if kind == "azvm-billing" else "records"
    monkeypatch.setattr(BillingService, method, gate.bill(getattr(BillingService, method)))
    answer: dict[str, httpx.Response] = {}

    def slow_bill() -> None:
        with http_client(base_url=azvm.endpoint, verify=tls_context(str(azvm.cert)), timeout=60) as c:
            if kind == "azvm-billing":
                answer["bill"] = c.get("/azvm/billing", params={"groupBy": "state"})
            else:
                answer["bill"] = c.post(f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/query",
                                        params={"api-version": "2023-03-01"}, json=ONE_DAY_QUERY)

    billing = threading.Thread(target=slow_bill)
    billing.start()
    try:
        assert gate.entered.wait(60), "the bill never started"
        # the bill is being computed (held in the gate); the server still answers reads and writes
        assert http.get("/azvm/health").status_code == 200
        assert http.post("/azvm/clock", json={"advanceSeconds": 60}).status_code == 200
        rg = azvm.resource_client().resource_groups.create_or_update("rg2", {"location": "eastus"})
        assert rg.name == "rg2"
        assert "bill" not in answer and billing.is_alive()
    finally:
        gate.release.set()
        billing.join(60)
    assert answer["bill"].status_code == 200, answer["bill"].text
    if kind == "azvm-billing":
        assert answer["bill"].json()["groupBy"] == "state"
    else:
        assert answer["bill"].json()["properties"]["rows"]


def test_prepare_query_reads_first_then_computes_without_the_store(
        azvm: AzvmServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the cost-query route runs: validation and the read at once, the bill as pure work later
    (here over a store that refuses every call once read)."""
    everything, _ids = two_groups(azvm, http)
    store = azvm.emulator.store
    now = parse_iso(azvm.now())
    with pytest.raises(ArmError) as bad:
        BillingService().prepare_query(store, f"/subscriptions/{SUB}", with_dataset(grouping=5), now)
    assert bad.value.target == "dataset.grouping"
    body = with_dataset(granularity="None", filter={
        "or": [{"tags": {"name": "env", "operator": "In", "values": ["prod"]}},
               {"dimensions": {"name": "ResourceGroup", "operator": "In", "values": ["nothing"]}}]})
    work = BillingService().prepare_query(store, f"/subscriptions/{SUB}", body, now)
    for name in ("usage_rows", "disk_rows", "vm_tags"):
        monkeypatch.setattr(store, name, lambda *a, **k: pytest.fail("the work read the store"))
    answer = work()
    monkeypatch.undo()
    cols = [c["name"] for c in answer["properties"]["columns"]]
    assert {row[cols.index("ResourceId")] for row in answer["properties"]["rows"]} == {
        i for i in everything if i.endswith("/virtualmachines/vm2")}
