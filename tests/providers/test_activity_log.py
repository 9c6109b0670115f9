"""The Activity Log (Microsoft.Insights/eventtypes/management/values) through the official
azure-mgmt-monitor client against a real server: events derived from the VMs' histories, one per
phase of each operation, the `$filter` grammar, `$select`, paging, and never an event from the future."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.monitor import MonitorManagementClient

from azvm import testing as azvm_testing
from azvm.testing import AzvmServer

SUB = azvm_testing.DEFAULT_SUBSCRIPTION
VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
WINDOW = "eventTimestamp ge '2026-01-01T00:00:00Z' and eventTimestamp le '2026-01-02T00:00:00Z'"


@pytest.fixture
def monitor(azvm: AzvmServer) -> MonitorManagementClient:
    return MonitorManagementClient(azvm_testing.StaticTokenCredential(), azvm.subscription_id, **azvm.client_kwargs())


@pytest.fixture
def compute(azvm: AzvmServer) -> ComputeManagementClient:
    return ComputeManagementClient(azvm_testing.StaticTokenCredential(), azvm.subscription_id, **azvm.client_kwargs())


def events(monitor: MonitorManagementClient, flt: str = WINDOW, select: str | None = None) -> list[Any]:
    return list(monitor.activity_logs.list(filter=flt, select=select))


def summary(evs: list[Any]) -> list[tuple[str, str]]:
    """(operation, status), oldest first (Azure lists newest first)."""
    return [(e.operation_name.value.rsplit("/", 2)[-2 if e.operation_name.value.endswith("action") else -1],
             e.status.value) for e in reversed(evs)]


@pytest.fixture
def lifecycle(azvm: AzvmServer, compute: ComputeManagementClient) -> None:
    azvm.create_vm("vm1")
    azvm.advance(60)
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    azvm.advance(60)
    compute.virtual_machines.begin_start("rg", "vm1").result()


@pytest.mark.usefixtures("lifecycle")
def test_vm_operations_give_one_event_per_phase_in_time_order(monitor: MonitorManagementClient) -> None:
    evs = events(monitor)
    assert summary(evs) == [("write", "Started"), ("write", "Accepted"), ("write", "Succeeded"),
                            ("deallocate", "Started"), ("deallocate", "Accepted"), ("deallocate", "Succeeded"),
                            ("start", "Started"), ("start", "Accepted"), ("start", "Succeeded")]
    times = [e.event_timestamp for e in evs]
    assert times == sorted(times, reverse=True)
    start = [e for e in evs if e.operation_name.value == "Microsoft.Compute/virtualMachines/start/action"]
    assert {e.correlation_id for e in start} == {start[0].correlation_id}
    assert {e.operation_id for e in start} == {start[0].operation_id}
    assert len({e.event_data_id for e in evs}) == len(evs)
    done, accepted, begun = start
    assert begun.event_name.value == "BeginRequest" and done.event_name.value == "EndRequest"
    assert accepted.sub_status.value == "Accepted"
    assert accepted.sub_status.localized_value == "Accepted (HTTP Status Code: 202)"
    assert done.operation_name.localized_value == "Start Virtual Machine"
    assert done.category.value == "Administrative" and done.level == "Informational"
    assert done.resource_id == VM and done.resource_group_name == "rg"
    assert done.resource_provider_name.value == "Microsoft.Compute"
    assert done.resource_type.value == "Microsoft.Compute/virtualMachines"
    assert done.authorization.action == done.operation_name.value and done.authorization.scope == VM
    assert done.http_request.method == "POST" and done.caller == "azvm@azvm.local"
    assert done.id.startswith(f"{VM}/events/{done.event_data_id}/ticks/")
    assert done.submission_timestamp == done.event_timestamp > begun.event_timestamp
    create = [e for e in evs if e.operation_name.value.endswith("/write")]
    assert create[1].sub_status.value == "Created" and create[1].http_request.method == "PUT"


@pytest.mark.usefixtures("lifecycle")
def test_filters(monitor: MonitorManagementClient) -> None:
    every = events(monitor)
    assert len(events(monitor, WINDOW + " and resourceGroupName eq 'RG'")) == len(every)
    assert events(monitor, WINDOW + " and resourceGroupName eq 'other'") == []
    assert len(events(monitor, WINDOW + f" and resourceUri eq '{VM.lower()}'")) == len(every)
    assert len(events(monitor, WINDOW + f" and resourceId eq '{VM}'")) == len(every)
    assert len(events(monitor, WINDOW + " and resourceProvider eq 'Microsoft.Compute'")) == len(every)
    corr = every[0].correlation_id
    same = events(monitor, WINDOW + f" and correlationId eq '{corr}'")
    assert summary(same) == [("start", "Started"), ("start", "Accepted"), ("start", "Succeeded")]
    assert [e.status.value for e in events(monitor, WINDOW + " and status eq 'Succeeded'")] == ["Succeeded"] * 3
    assert len(events(monitor, WINDOW + " and caller eq 'azvm@azvm.local' and status eq 'Started'")) == 3
    # az's own spelling: unquoted naive times (UTC)
    az = ("eventTimestamp ge 2026-01-01T00:00:00.000000 and eventTimestamp le 2026-01-02T00:00:00"
          " and resourceGroupName eq 'rg'")
    assert len(events(monitor, az)) == len(every)
    before = "eventTimestamp ge '2025-12-31T00:00:00Z' and eventTimestamp le '2025-12-31T23:59:59Z'"
    assert events(monitor, before) == []


@pytest.mark.usefixtures("lifecycle")
def test_select_trims_the_fields(monitor: MonitorManagementClient) -> None:
    evs = events(monitor, select="operationName, status")
    assert len(evs) == 9
    assert evs[0].operation_name.value.endswith("/start/action") and evs[0].status.value == "Succeeded"
    assert evs[0].correlation_id is None and evs[0].resource_id is None and evs[0].caller is None


@pytest.mark.parametrize(("flt", "named"), [
    ("eventTimestamp ge '2026-01-01T00:00:00Z'", "eventTimestamp le"),
    ("resourceGroupName eq 'rg'", "eventTimestamp ge"),
    (WINDOW + " or resourceGroupName eq 'rg'", "or resourceGroupName"),
    (WINDOW + " and location eq 'eastus'", "location"),
    (WINDOW + " and status ne 'Failed'", "status ne"),
    ("eventTimestamp ge 'yesterday' and eventTimestamp le '2026-01-02T00:00:00Z'", "yesterday"),
    ("eventTimestamp ge '2025-01-01T00:00:00Z' and eventTimestamp le '2026-01-02T00:00:00Z'", "90 days"),
])
def test_malformed_filters_are_400(monitor: MonitorManagementClient, flt: str, named: str) -> None:
    with pytest.raises(HttpResponseError) as e:
        events(monitor, flt)
    assert e.value.status_code == 400
    assert e.value.error is not None and e.value.error.code == "BadRequest"
    assert named in e.value.message


def test_a_missing_filter_and_an_unknown_select_are_400(azvm: AzvmServer) -> None:
    path = f"/subscriptions/{SUB}/providers/microsoft.insights/eventtypes/management/values"
    for query in ("", f"&$filter={WINDOW}&$select=operationName,nonsense"):
        with pytest.raises(urllib.error.HTTPError) as e:
            azvm.arm("GET", f"{azvm.endpoint}{path}?api-version=2015-04-01{query.replace(' ', '%20')}")
        assert e.value.code == 400
        assert b'"BadRequest"' in e.value.read()
        e.value.close()


def test_events_never_show_the_future(azvm: AzvmServer, compute: ComputeManagementClient,
                                      monitor: MonitorManagementClient) -> None:
    azvm.create_vm("vm1")
    azvm.set_time_skipping(False)
    try:
        compute.virtual_machines.begin_deallocate("rg", "vm1", polling=False).result()  # accepted, not waited for
        assert summary(events(monitor))[-2:] == [("deallocate", "Started"), ("deallocate", "Accepted")]
        azvm.advance(3600)
        assert summary(events(monitor))[-1] == ("deallocate", "Succeeded")
    finally:
        azvm.set_time_skipping(True)


def test_paging_with_next_link(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    for i in range(67):  # 1 + 67 operations, 3 events each: more than one page of 200
        azvm.arm("POST", f"{VM}/{'deallocate' if i % 2 == 0 else 'start'}")
    path = f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"
    flt = WINDOW.replace(" ", "%20").replace("'", "%27")
    first = azvm.arm("GET", f"{azvm.endpoint}{path}?api-version=2015-04-01&$filter={flt}")
    assert len(first["value"]) == 200 and "nextLink" in first
    rest = azvm.arm("GET", first["nextLink"])
    assert len(rest["value"]) == 204 - 200 and "nextLink" not in rest
    ids = [e["eventDataId"] for e in first["value"] + rest["value"]]
    assert len(set(ids)) == 204
    mon = MonitorManagementClient(azvm_testing.StaticTokenCredential(), SUB, **azvm.client_kwargs())
    assert len(list(mon.activity_logs.list(filter=WINDOW))) == 204


def token(**claims: Any) -> str:
    """A bearer token as an Azure client sends it (open mode reads its claims without checking it)."""
    import jwt

    return jwt.encode({"aud": "https://management.azure.com/", "tid": "t", **claims}, "k" * 32, algorithm="HS256")


def test_each_event_names_the_caller_its_token_named(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    as_alice = ComputeManagementClient(azvm_testing.StaticTokenCredential(token(upn="alice@contoso.com")),
                                       azvm.subscription_id, **azvm.client_kwargs())
    app = "3f2a1c9e-0000-4000-8000-00000000a99a"
    as_app = ComputeManagementClient(azvm_testing.StaticTokenCredential(token(appid=app, oid="o")),
                                     azvm.subscription_id, **azvm.client_kwargs())
    as_alice.virtual_machines.begin_deallocate("rg", "vm1").result()
    as_app.virtual_machines.begin_start("rg", "vm1").result()
    monitor = MonitorManagementClient(azvm_testing.StaticTokenCredential(), azvm.subscription_id,
                                      **azvm.client_kwargs())
    by_op = {(e.operation_name.value.rsplit("/", 2)[-2], e.status.value): e for e in events(monitor)}
    alice, started = by_op[("deallocate", "Succeeded")], by_op[("start", "Started")]
    assert alice.caller == "alice@contoso.com"
    assert alice.claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] == "alice@contoso.com"
    assert started.caller == app and started.claims["appid"] == app
    mine = events(monitor, WINDOW + " and caller eq 'ALICE@contoso.com'")
    assert {e.status.value for e in mine} == {"Started", "Accepted", "Succeeded"}


def test_a_deployments_resources_are_written_as_its_caller(azvm: AzvmServer) -> None:
    from azure.mgmt.resource.deployments import DeploymentsMgmtClient

    azvm.arm("PUT", f"/subscriptions/{SUB}/resourcegroups/rg", {"location": "eastus"})
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": [
                    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "net",
                     "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                                          "subnets": [{"name": "s", "properties": {
                                                              "addressPrefix": "10.0.0.0/24"}}]}},
                    {"type": "Microsoft.Network/networkInterfaces", "apiVersion": "2024-05-01", "name": "nic",
                     "location": "eastus", "dependsOn": ["Microsoft.Network/virtualNetworks/net"],
                     "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {
                         "id": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'net', 's')]"}}}]}},
                    {"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2024-11-01", "name": "vm1",
                     "location": "eastus", "dependsOn": ["Microsoft.Network/networkInterfaces/nic"],
                     "properties": {"hardwareProfile": {"vmSize": "Standard_B2s"},
                                    "storageProfile": {"imageReference": {
                                        "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                        "sku": "22_04-lts-gen2", "version": "latest"}},
                                    "osProfile": {"computerName": "vm1", "adminUsername": "u",
                                                  "adminPassword": "Passw0rd!Passw0rd!"},
                                    "networkProfile": {"networkInterfaces": [
                                        {"id": "[resourceId('Microsoft.Network/networkInterfaces', 'nic')]"}]}}}]}
    bob = azvm_testing.StaticTokenCredential(token(upn="bob@contoso.com"))
    deployments = DeploymentsMgmtClient(bob, azvm.subscription_id, **azvm.client_kwargs())
    deployments.deployments.begin_create_or_update("rg", "d", {"properties": {"template": template,
                                                                               "mode": "Incremental"}}).result()
    monitor = MonitorManagementClient(azvm_testing.StaticTokenCredential(), azvm.subscription_id,
                                      **azvm.client_kwargs())
    created = [e for e in events(monitor) if e.operation_name.value.endswith("virtualMachines/write")]
    assert created and {e.caller for e in created} == {"bob@contoso.com"}


def test_a_listing_reads_every_page_as_of_its_first(azvm: AzvmServer) -> None:
    """Operations made while a client pages through a listing neither shift its pages (no event twice,
    none skipped) nor join it; a new listing shows them; a listing continued after a reset of the
    world shows nothing of the world that was (its pages are kept by the process: never across a reset)."""
    azvm.create_vm("vm1")
    for i in range(67):
        azvm.arm("POST", f"{VM}/{'deallocate' if i % 2 == 0 else 'start'}")
    path = f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"
    flt = WINDOW.replace(" ", "%20").replace("'", "%27")
    url = f"{azvm.endpoint}{path}?api-version=2015-04-01&$filter={flt}"
    first = azvm.arm("GET", url)
    assert len(first["value"]) == 200 and "nextLink" in first
    for i in range(5):  # 15 newer events, each after the first page's instant
        azvm.advance(60)
        azvm.arm("POST", f"{VM}/{'deallocate' if i % 2 == 0 else 'start'}")
    rest = azvm.arm("GET", first["nextLink"])
    ids = [e["eventDataId"] for e in first["value"] + rest["value"]]
    assert len(ids) == len(set(ids)) == 204 and "nextLink" not in rest
    times = [e["eventTimestamp"] for e in first["value"] + rest["value"]]
    assert times == sorted(times, reverse=True)
    again = azvm.arm("GET", url)
    more = azvm.arm("GET", again["nextLink"])
    assert len(again["value"]) + len(more["value"]) == 204 + 15
    assert {e["eventDataId"] for e in again["value"] + more["value"]} >= set(ids)
    azvm.reset()
    assert azvm.arm("GET", again["nextLink"])["value"] == []


@pytest.mark.parametrize("token", ["bm9wZQ", "MTIzNA", "QDEyMw"])  # "nope", "1234", "@123": no instant@key
def test_a_skip_token_that_is_not_one_is_a_400(azvm: AzvmServer, token: str) -> None:
    path = f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values"
    flt = WINDOW.replace(" ", "%20").replace("'", "%27")
    with pytest.raises(urllib.error.HTTPError) as e:
        azvm.arm("GET", f"{azvm.endpoint}{path}?api-version=2015-04-01&$filter={flt}&$skiptoken={token}")
    assert e.value.code == 400
    body = e.value.read()
    e.value.close()
    assert b'"InvalidParameter"' in body and b"skip token" in body
