"""Resource Graph through the official azure-mgmt-resourcegraph client against a fleet in several
power states: every query of the reference list (../shared/reference/graph-health-activity.md §A.4)
runs and answers in Azure's shapes; paging with $skipToken, $top and $skip; the table format;
facets; subscription scoping; refusals; and reads limited to what a principal may see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import FacetRequest, FacetRequestOptions, QueryRequest, QueryRequestOptions

from azvm.providers.resource_graph import COLUMNS
from azvm.testing import AzvmServer, StaticTokenCredential, azvm_server
from tests.conftest import http_client

SUB = "00000000-0000-0000-0000-000000000000"
OTHER_SUB = "11111111-1111-1111-1111-111111111111"
VM_TYPE = "microsoft.compute/virtualmachines"
VMS = f"Resources | where type =~ '{VM_TYPE}'"
POWER = "tostring(properties.extended.instanceView.powerState.code)"


def client(server: AzvmServer, credential: Any = None) -> ResourceGraphClient:
    return ResourceGraphClient(credential or server.credential(), **server.client_kwargs())


def vm_id(name: str, rg: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


@pytest.fixture(scope="module")
def fleet() -> Iterator[AzvmServer]:
    """web1 running (Web), web2 stopped (Web), db1 deallocated (Data, tagged, with a data disk)."""
    with azvm_server() as server:
        server.reset()
        server.create_vm("web1", resource_group="Web", public_ip=True)
        server.create_vm("web2", resource_group="Web", size="Standard_D2s_v3")
        server.create_vm("db1", resource_group="Data", location="westus", data_disks=1, tags={"env": "prod"})
        compute = server.compute_client()
        compute.virtual_machines.begin_power_off("Web", "web2").result()
        compute.virtual_machines.begin_deallocate("Data", "db1").result()
        yield server


def query(server: AzvmServer, text: str, **options: Any) -> Any:
    opts = QueryRequestOptions(**options) if options else None
    return client(server).resources(QueryRequest(query=text, options=opts))


def data(server: AzvmServer, text: str) -> list[dict[str, Any]]:
    result = query(server, text)
    assert isinstance(result.data, list)
    return list(result.data)


# -- the reference queries, one by one ----------------------------------------------------------------------
def test_q1_count_by_power_state(fleet: AzvmServer) -> None:
    rows = data(fleet, f"Resources | where type == '{VM_TYPE}' | summarize count() by PowerState = {POWER}")
    assert sorted((r["PowerState"], r["count_"]) for r in rows) == [
        ("PowerState/deallocated", 1), ("PowerState/running", 1), ("PowerState/stopped", 1)]
    assert all(list(r) == ["PowerState", "count_"] for r in rows)


def test_q2_unnamed_conversion_takes_the_path_name(fleet: AzvmServer) -> None:
    rows = data(fleet, f"Resources | where type == '{VM_TYPE}' | summarize count() by {POWER}")
    assert {r["properties_extended_instanceView_powerState_code"] for r in rows} == {
        "PowerState/running", "PowerState/stopped", "PowerState/deallocated"}


def test_q3_power_and_availability_join(fleet: AzvmServer) -> None:
    text = (f"{VMS} | project resourceGroup, Id = tolower(id), PowerState = tostring("
            " properties.extended.instanceView.powerState.code) | join kind=leftouter ( HealthResources | where type"
            " =~ 'microsoft.resourcehealth/availabilitystatuses' | where tostring(properties.targetResourceType) =~"
            " 'microsoft.compute/virtualmachines' | project targetResourceId = tolower(tostring("
            "properties.targetResourceId)), AvailabilityState = tostring(properties.availabilityState)) on"
            " $left.Id == $right.targetResourceId | project-away targetResourceId | where PowerState !="
            " 'PowerState/deallocated'")
    rows = data(fleet, text)
    assert sorted(rows, key=lambda r: r["Id"]) == [
        {"resourceGroup": "web", "Id": vm_id("web1", "Web").lower(), "PowerState": "PowerState/running",
         "AvailabilityState": "Available"},
        {"resourceGroup": "web", "Id": vm_id("web2", "Web").lower(), "PowerState": "PowerState/stopped",
         "AvailabilityState": "Unavailable"}]


def test_q4_q5_health_resources(fleet: AzvmServer) -> None:
    health = "HealthResources | where type =~ 'microsoft.resourcehealth/availabilitystatuses'"
    counted = data(fleet, f"{health} | summarize count() by subscriptionId, AvailabilityState ="
                          " tostring(properties.availabilityState)")
    assert sorted((r["subscriptionId"], r["AvailabilityState"], r["count_"]) for r in counted) == [
        (SUB, "Available", 1), (SUB, "Unavailable", 2)]
    pairs = data(fleet, f"{health} | summarize by ResourceId = tolower(tostring(properties.targetResourceId)),"
                        " AvailabilityState = tostring(properties.availabilityState)")
    assert {r["ResourceId"]: r["AvailabilityState"] for r in pairs} == {
        vm_id("web1", "Web").lower(): "Available", vm_id("web2", "Web").lower(): "Unavailable",
        vm_id("db1", "Data").lower(): "Unavailable"}


def test_q6_a_vm_row_has_azures_shape(fleet: AzvmServer) -> None:
    (row,) = data(fleet, "Resources | where type =~ 'Microsoft.Compute/virtualMachines' and name == 'db1' | limit 1")
    assert list(row) == COLUMNS
    assert row["id"] == vm_id("db1", "Data")  # the id keeps its casing
    assert (row["type"], row["resourceGroup"], row["subscriptionId"]) == (VM_TYPE, "data", SUB)
    assert (row["kind"], row["managedBy"], row["location"], row["tags"]) == ("", "", "westus", {"env": "prod"})
    props = row["properties"]
    assert props["extended"]["instanceView"]["powerState"] == {
        "code": "PowerState/deallocated", "displayStatus": "VM deallocated", "level": "Info"}
    assert props["extended"]["instanceView"]["computerName"] == "db1"
    assert props["provisioningState"] == "Succeeded" and "instanceView" not in props
    assert props["hardwareProfile"] == {"vmSize": "Standard_B2s"}
    # Resource Graph adds the group next to every nested id
    nic = props["networkProfile"]["networkInterfaces"][0]
    assert nic["resourceGroup"] == "Data" and nic["id"].endswith("/networkInterfaces/db1-nic")
    assert props["storageProfile"]["osDisk"]["managedDisk"]["resourceGroup"] == "Data"
    assert props["storageProfile"]["dataDisks"][0]["managedDisk"]["resourceGroup"] == "Data"
    assert "adminPassword" not in json.dumps(row)

    by_location = data(fleet, f"{VMS} | summarize count() by location")
    assert sorted((r["location"], r["count_"]) for r in by_location) == [("eastus", 2), ("westus", 1)]
    nics = data(fleet, f"{VMS} | project nic = tostring(properties['networkProfile']['networkInterfaces'][0]['id'])")
    assert sorted(r["nic"].rsplit("/", 1)[1] for r in nics) == ["db1-nic", "web1-nic", "web2-nic"]


def test_q7_power_inventory(fleet: AzvmServer) -> None:
    rows = data(fleet, "resources | where type =~ 'microsoft.compute/virtualmachines' | extend powerState ="
                       f" {POWER} | project id, name, powerState, location, resourceGroup, subscriptionId, vmSize ="
                       " tostring(properties.hardwareProfile.vmSize), tags | order by id asc")
    assert [r["name"] for r in rows] == ["db1", "web1", "web2"]  # by id: .../Data/... before .../Web/...
    assert list(rows[0]) == ["id", "name", "powerState", "location", "resourceGroup", "subscriptionId", "vmSize",
                             "tags"]
    assert [(r["powerState"], r["vmSize"]) for r in rows] == [
        ("PowerState/deallocated", "Standard_B2s"), ("PowerState/running", "Standard_B2s"),
        ("PowerState/stopped", "Standard_D2s_v3")]


def test_q8_power_state_word(fleet: AzvmServer) -> None:
    code = "properties.extended.instanceView.powerState.code"
    rows = data(fleet, f"{VMS} | project name, PowerState = iff(tostring(split({code}, '/')[1]) != '',"
                       f" tostring(split({code}, '/')[1]), 'transitioning')")
    assert {r["name"]: r["PowerState"] for r in rows} == {"web1": "running", "web2": "stopped", "db1": "deallocated"}
    transitioning = data(fleet, "Resources | where type =~ 'microsoft.compute/disks' | take 1 | project PowerState ="
                                f" iff(tostring(split({code}, '/')[1]) != '', 'x', 'transitioning')")
    assert transitioning == [{"PowerState": "transitioning"}]


def test_q9_join_with_resourcecontainers(fleet: AzvmServer) -> None:
    join = ("| join kind=inner (ResourceContainers | where type == \"microsoft.resources/subscriptions\"{} |"
            " project subscriptionId) on subscriptionId | extend powerState = tostring("
            "properties.extended.instanceView.powerState.code) | summarize count() by powerState")
    in_groups = " and properties.managementGroupAncestorsChain[0].name in (\"staging\",\"prod\")"
    assert data(fleet, f"{VMS} {join.format(in_groups)}") == []  # azvm's subscriptions are in no management group
    rows = data(fleet, f"{VMS} {join.format('')}")
    assert sorted((r["powerState"], r["count_"]) for r in rows) == [
        ("PowerState/deallocated", 1), ("PowerState/running", 1), ("PowerState/stopped", 1)]


def test_q10_running_only(fleet: AzvmServer) -> None:
    rows = data(fleet, f"{VMS} | extend powerState = {POWER} | where powerState =~ 'PowerState/running' | project"
                       " name, resourceGroup, subscriptionId, location, vmSize = properties.hardwareProfile.vmSize,"
                       " osType = properties.storageProfile.osDisk.osType, powerState")
    assert rows == [{"name": "web1", "resourceGroup": "web", "subscriptionId": SUB, "location": "eastus",
                     "vmSize": "Standard_B2s", "osType": "Linux", "powerState": "PowerState/running"}]


def test_q11_stopped_or_deallocated(fleet: AzvmServer) -> None:
    rows = data(fleet, f"{VMS} | extend powerState = {POWER} | where powerState =~ 'PowerState/deallocated' or"
                       " powerState =~ 'PowerState/stopped' | project id, name, resourceGroup, location, sku.name,"
                       " powerState, tags")
    assert sorted(r["name"] for r in rows) == ["db1", "web2"]
    assert list(rows[0]) == ["id", "name", "resourceGroup", "location", "sku_name", "powerState", "tags"]
    assert all(r["sku_name"] is None for r in rows)  # a VM has no sku


def test_q12_point_lookup(fleet: AzvmServer) -> None:
    rows = data(fleet, f"resources | where ['id'] == '{vm_id('web2', 'Web')}' | project properties")
    assert rows[0]["properties"]["extended"]["instanceView"]["powerState"]["code"] == "PowerState/stopped"


# -- the other tables and types ------------------------------------------------------------------------------
def test_every_type_azvm_holds(fleet: AzvmServer) -> None:
    rows = data(fleet, "Resources | summarize count() by type")
    assert {r["type"]: r["count_"] for r in rows} == {
        VM_TYPE: 3, "microsoft.compute/disks": 4, "microsoft.network/networkinterfaces": 3,
        "microsoft.network/virtualnetworks": 2, "microsoft.network/publicipaddresses": 1}
    assert all(r["type"] == r["type"].lower() for r in rows)
    disk = data(fleet, "Resources | where type == 'microsoft.compute/disks' and name startswith 'db1_disk'")[0]
    assert disk["managedBy"] == vm_id("db1", "Data") and disk["sku"]["name"]
    assert disk["resourceGroup"] == "data"


def test_resource_containers(fleet: AzvmServer) -> None:
    rows = data(fleet, "ResourceContainers | project id, name, type, resourceGroup, subscriptionId, tags")
    assert rows[0] == {"id": f"/subscriptions/{SUB}", "name": "azvm subscription",
                       "type": "microsoft.resources/subscriptions", "resourceGroup": "", "subscriptionId": SUB,
                       "tags": None}
    groups = {r["name"]: r for r in rows[1:]}
    assert set(groups) == {"Web", "Data"}
    assert groups["Web"]["type"] == "microsoft.resources/subscriptions/resourcegroups"
    assert groups["Web"]["resourceGroup"] == "Web"  # resourcecontainers keep the group's casing
    joined = data(fleet, f"{VMS} | join kind=leftouter (resourcecontainers | where type =="
                         " 'microsoft.resources/subscriptions/resourcegroups' | project rg = tolower(name), rgName ="
                         " name) on $left.resourceGroup == $right.rg | project name, rgName")
    assert {r["name"]: r["rgName"] for r in joined} == {"web1": "Web", "web2": "Web", "db1": "Data"}


def test_state_changes_show_at_once(fleet: AzvmServer) -> None:
    compute = fleet.compute_client()
    text = f"{VMS} | where name == 'web1' | project power = {POWER}"
    compute.virtual_machines.begin_deallocate("Web", "web1").result()
    try:
        assert data(fleet, text) == [{"power": "PowerState/deallocated"}]
    finally:
        compute.virtual_machines.begin_start("Web", "web1").result()
    assert data(fleet, text) == [{"power": "PowerState/running"}]


# -- the answer: paging, formats, facets ---------------------------------------------------------------------
def test_first_page_and_skip_tokens(fleet: AzvmServer) -> None:
    text = "Resources | where name contains 'web' | project id, name, type, location"
    everything = query(fleet, text)
    assert everything.total_records == everything.count == len(everything.data) > 6
    assert everything.result_truncated == "false" and everything.skip_token is None
    first = query(fleet, text, top=3, skip=0)
    assert (first.total_records, first.count, first.result_truncated) == (everything.total_records, 3, "false")
    assert first.skip_token
    seen, token = list(first.data), first.skip_token
    while token:
        page = query(fleet, text, top=3, skip_token=token)
        assert page.count == len(page.data) <= 3
        seen += page.data
        token = page.skip_token
    assert seen == everything.data
    skipped = query(fleet, text, skip=2, top=2)
    assert skipped.data == everything.data[2:4]


def test_without_id_the_result_is_truncated(fleet: AzvmServer) -> None:
    result = query(fleet, "Resources | project name", top=2)
    assert (result.count, result.result_truncated, result.skip_token) == (2, "true", None)
    assert result.total_records > 2
    limited = query(fleet, "Resources | project id | take 3", skip=2)  # skip is ignored with take
    assert limited.count == 3


def test_raw_answer_types(fleet: AzvmServer) -> None:
    with http_client(fleet) as http:
        r = http.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2022-10-01"},
                      json={"subscriptions": [SUB], "query": "Resources | project id, name", "options": {"$top": 1}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["resultTruncated"] == "false" and isinstance(body["totalRecords"], int)
        assert body["count"] == 1 and body["$skipToken"] and body["facets"] == []
        assert list(body) == ["totalRecords", "count", "resultTruncated", "$skipToken", "facets", "data"]
        assert http.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2021-03-01"},
                         json={"query": "Resources | take 1"}).status_code == 200


def test_table_format(fleet: AzvmServer) -> None:
    result = query(fleet, f"{VMS} | summarize n = count(), sizes = make_set(tostring(properties.hardwareProfile."
                          "vmSize)), anyTags = any(tags) by location | order by location asc", result_format="table")
    assert result.data["columns"] == [{"name": "location", "type": "string"}, {"name": "n", "type": "integer"},
                                      {"name": "sizes", "type": "object"}, {"name": "anyTags", "type": "object"}]
    assert result.data["rows"][1][:2] == ["westus", 1]


def test_facets(fleet: AzvmServer) -> None:
    request = QueryRequest(query="Resources | where type =~ 'microsoft.compute/virtualmachines' | project id, name,"
                                 " location, resourceGroup",
                           facets=[FacetRequest(expression="location"),
                                   FacetRequest(expression="resourceGroup", options=FacetRequestOptions(
                                       sort_by="resourceGroup", sort_order="asc", filter="name contains 'web'",
                                       top=1)),
                                   FacetRequest(expression="nonExistingColumn")])
    result = client(fleet).resources(request)
    by_location, by_group, error = result.facets
    assert by_location.result_type == "FacetResult" and by_location.total_records == 2
    assert by_location.data == [{"location": "eastus", "count": 2}, {"location": "westus", "count": 1}]
    assert (by_group.total_records, by_group.count, by_group.data) == (1, 1, [{"resourceGroup": "web", "count": 2}])
    assert error.result_type == "FacetError"
    assert [(e.code, e.message) for e in error.errors] == [("InvalidColumnNames",
                                                            "Invalid column names: [nonExistingColumn].")]


# -- scope ------------------------------------------------------------------------------------------------------
def test_subscription_scoping(fleet: AzvmServer) -> None:
    rg = client(fleet)
    other = rg.resources(QueryRequest(query="Resources", subscriptions=[OTHER_SUB]))
    assert (other.total_records, other.data) == (0, [])
    mine = rg.resources(QueryRequest(query=VMS, subscriptions=[SUB, OTHER_SUB]))
    assert mine.total_records == 3


# -- refusals ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,code,token", [
    ("Resources | where name === 'x'", "ParserFailure", "="),
    ("Resources | parse id with * '/' x", "InvalidQueryLanguage", "parse"),
    ("Resources | where nme == 'x'", "SemanticError", None),
    ("PolicyResources | take 1", "DisallowedLogicalTableName", None),
])
def test_a_query_azvm_cannot_run_is_a_400_naming_the_part(fleet: AzvmServer, text: str, code: str,
                                                          token: str | None) -> None:
    with pytest.raises(HttpResponseError) as e:
        query(fleet, text)
    assert e.value.status_code == 400
    err = e.value.model.error
    assert err.code == "BadRequest"
    assert [d.code for d in err.details] == ["InvalidQuery", code]
    if token is not None:
        assert err.details[1].additional_properties["token"] == token
        assert err.details[1].additional_properties["line"] == 1
    else:
        assert text.split()[0] in err.details[1].message or "nme" in err.details[1].message


@pytest.mark.parametrize("body,target", [
    ({}, "query"),
    ({"query": "  "}, "query"),
    ({"query": "Resources", "options": {"$top": 0}}, "options.$top"),
    ({"query": "Resources", "options": {"$top": 1001}}, "options.$top"),
    ({"query": "Resources", "options": {"$skip": -1}}, "options.$skip"),
    ({"query": "Resources", "options": {"resultFormat": "csv"}}, "options.resultFormat"),
    ({"query": "Resources", "options": {"$skipToken": "not-a-token"}}, "options.$skipToken"),
    ({"query": "Resources", "subscriptions": ["not-a-guid"]}, "subscriptions"),
    ({"query": "Resources", "managementGroups": ["mg1"]}, "managementGroups"),
    ({"query": "Resources", "facets": [{"nope": 1}]}, "facets"),
])
def test_bad_bodies(fleet: AzvmServer, body: dict[str, Any], target: str) -> None:
    with http_client(fleet) as http:
        r = http.post("/providers/Microsoft.ResourceGraph/resources", params={"api-version": "2022-10-01"}, json=body)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "BadRequest" and err["target"] == target and err["message"]


def test_a_token_of_another_query_is_refused(fleet: AzvmServer) -> None:
    token = query(fleet, "Resources | project id", top=1).skip_token
    with pytest.raises(HttpResponseError) as e:
        query(fleet, "Resources | project id, name", top=1, skip_token=token)
    assert e.value.status_code == 400 and "another query" in str(e.value.message)


def test_api_version_is_required(fleet: AzvmServer) -> None:
    with http_client(fleet) as http:
        r = http.post("/providers/Microsoft.ResourceGraph/resources", json={"query": "Resources"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"


# -- strict mode: a principal sees what it may read -------------------------------------------------------------
def test_strict_mode_shows_only_readable_rows() -> None:
    principals = [{"clientId": "owner", "secret": "s", "roleAssignments": [{"role": "Owner",
                                                                             "scope": f"/subscriptions/{SUB}"}]},
                  {"clientId": "web-reader", "secret": "s", "roleAssignments": [
                      {"role": "Reader", "scope": f"/subscriptions/{SUB}/resourceGroups/Web"}]},
                  {"clientId": "nobody", "secret": "s", "roleAssignments": []},
                  {"clientId": "ops", "secret": "s", "admin": True}]
    with azvm_server(auth="strict", principals=principals) as server:
        server.reset()
        server.arm_token = server.token_for("owner")
        server.create_vm("web1", resource_group="Web")
        server.create_vm("db1", resource_group="Data")
        owner = client(server, StaticTokenCredential(server.token_for("owner")))
        assert owner.resources(QueryRequest(query=VMS)).total_records == 2
        reader = client(server, StaticTokenCredential(server.token_for("web-reader")))
        assert [r["name"] for r in reader.resources(QueryRequest(query=VMS)).data] == ["web1"]
        containers = reader.resources(QueryRequest(query="ResourceContainers | project name")).data
        assert containers == [{"name": "Web"}]  # not the subscription, not the other group
        nobody = client(server, StaticTokenCredential(server.token_for("nobody")))
        assert nobody.resources(QueryRequest(query="Resources")).total_records == 0
        assert nobody.resources(QueryRequest(query="Resources", subscriptions=[SUB])).total_records == 0


# -- agreement with the other read paths --------------------------------------------------------------------
def test_graph_agrees_with_list_all_and_the_generic_list(fleet: AzvmServer) -> None:
    """The power states Resource Graph shows are those of list-all with statusOnly=true, and its
    resources those of ARM's generic list (the fleet has no VM extensions)."""
    compute = fleet.compute_client()
    listed = {vm.name: next(s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/"))
              for vm in compute.virtual_machines.list_all(status_only="true")}
    graph = {r["name"]: r["power"] for r in data(fleet, f"{VMS} | project name, power = {POWER}")}
    assert graph == listed and len(graph) == 3
    generic = sorted(r.id.lower() for r in fleet.resource_client().resources.list())
    assert sorted(r["id"].lower() for r in data(fleet, "Resources | project id")) == generic


def test_vm_extensions_are_rows_of_their_own(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    ext = {"location": "eastus", "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                                "typeHandlerVersion": "2.1", "protectedSettings": {"secret": "s3"}}}
    azvm.compute_client().virtual_machine_extensions.begin_create_or_update("rg", "vm1", "script", ext).result()
    rows = data(azvm, "Resources | where type == 'microsoft.compute/virtualmachines/extensions' | project id, name,"
                      " resourceGroup, publisher = tostring(properties.publisher), state ="
                      " tostring(properties.provisioningState)")
    assert rows == [{"id": vm_id("vm1", "rg") + "/extensions/script", "name": "script", "resourceGroup": "rg",
                     "publisher": "Microsoft.Azure.Extensions", "state": "Succeeded"}]
    assert "s3" not in json.dumps(data(azvm, "Resources"))  # protected settings are never shown
