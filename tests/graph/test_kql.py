"""KQL as azvm.graph runs it, table-driven over a small fixed inventory: each operator, the string
and dynamic operators, the functions, Kusto's column names, and the errors Azure answers with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from azvm.graph import KqlError, Table, parse, run, tables_of
from azvm.graph.parser import GRAMMAR

NOW = datetime(2026, 1, 2, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000000"
COLUMNS = ["id", "name", "type", "location", "resourceGroup", "subscriptionId", "sku", "tags", "properties"]


def vm(name: str, power: str, *, rg: str = "rg", location: str = "eastus", size: str = "Standard_B2s",
       tags: dict[str, str] | None = None, nics: int = 1) -> dict[str, Any]:
    rid = f"/subscriptions/{SUB}/resourceGroups/{rg.upper()}/providers/Microsoft.Compute/virtualMachines/{name}"
    return {"id": rid,
            "name": name, "type": "microsoft.compute/virtualmachines", "location": location, "resourceGroup": rg,
            "subscriptionId": SUB, "sku": None, "tags": tags,
            "properties": {"hardwareProfile": {"vmSize": size},
                           "networkProfile": {"networkInterfaces": [{"id": f"/nics/{name}-{i}"} for i in range(nics)]},
                           "timeCreated": "2026-01-01T12:00:00Z",
                           "extended": {"instanceView": {"powerState": {"code": f"PowerState/{power}"}}}}}


ROWS = [
    vm("web1", "running", tags={"env": "prod"}, nics=2),
    vm("web2", "stopped", tags={"env": "dev"}),
    vm("db1", "deallocated", rg="data", location="westus", size="Standard_D4s_v3"),
    {"id": f"/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Compute/disks/web1-os", "name": "web1-os",
     "type": "microsoft.compute/disks", "location": "eastus", "resourceGroup": "rg", "subscriptionId": SUB,
     "sku": {"name": "Premium_LRS"}, "tags": None, "properties": {"diskSizeGB": 30}},
]
CONTAINERS = [{"id": f"/subscriptions/{SUB}", "name": "azvm subscription", "type": "microsoft.resources/subscriptions",
               "location": "", "resourceGroup": "", "subscriptionId": SUB, "sku": None, "tags": None,
               "properties": {"managementGroupAncestorsChain": [{"name": "prod"}]}},
              {"id": f"/subscriptions/{SUB}/resourceGroups/RG", "name": "RG", "location": "eastus",
               "type": "microsoft.resources/subscriptions/resourcegroups", "resourceGroup": "RG",
               "subscriptionId": SUB, "sku": None, "tags": {"owner": "ops"}, "properties": {}}]
HEALTH = [{"id": f"{r['id']}/providers/Microsoft.ResourceHealth/availabilityStatuses/current", "name": "current",
           "type": "microsoft.resourcehealth/availabilitystatuses", "location": r["location"],
           "resourceGroup": r["resourceGroup"], "subscriptionId": SUB, "sku": None, "tags": None,
           "properties": {"targetResourceType": "Microsoft.Compute/virtualMachines", "targetResourceId": r["id"],
                          "availabilityState": "Available" if "running" in str(r["properties"]) else "Unavailable"}}
          for r in ROWS if r["type"] == "microsoft.compute/virtualmachines"]
TABLES = {"Resources": lambda: Table(list(COLUMNS), ROWS),
          "ResourceContainers": lambda: Table(list(COLUMNS), CONTAINERS),
          "HealthResources": lambda: Table(list(COLUMNS), HEALTH)}


def q(text: str) -> Table:
    return run(text, TABLES, now=NOW)


def names(text: str) -> list[Any]:
    return [r["name"] for r in q(text).rows]


VM = "Resources | where type == 'microsoft.compute/virtualmachines'"


# -- filters: (predicate, names of the rows it keeps, in table order) -------------------------------------
@pytest.mark.parametrize("pred,expected", [
    ("name == 'web1'", ["web1"]),
    ("name == 'WEB1'", []),
    ("name =~ 'WEB1'", ["web1"]),
    ("name != 'web1'", ["web2", "db1", "web1-os"]),
    ("name !~ 'WEB1'", ["web2", "db1", "web1-os"]),
    ("name contains 'EB'", ["web1", "web2", "web1-os"]),
    ("name !contains 'eb'", ["db1"]),
    ("name contains_cs 'EB'", []),
    ("name has 'web1'", ["web1", "web1-os"]),  # a whole term: 'web1-os' is the terms web1 and os
    ("name has 'web'", []),
    ("name !has 'os'", ["web1", "web2", "db1"]),
    ("name hasprefix 'we'", ["web1", "web2", "web1-os"]),
    ("name hassuffix 'os'", ["web1-os"]),
    ("name startswith 'WEB'", ["web1", "web2", "web1-os"]),
    ("name !startswith 'web'", ["db1"]),
    ("name endswith '1'", ["web1", "db1"]),
    ("name !endswith '1'", ["web2", "web1-os"]),
    ("name matches regex '^web[0-9]$'", ["web1", "web2"]),
    ("name in ('web1', 'db1', 'nope')", ["web1", "db1"]),
    ("name in ('WEB1')", []),
    ("name in~ ('WEB1')", ["web1"]),
    ("name !in ('web1', 'db1')", ["web2", "web1-os"]),
    ("name !in~ ('WEB1', 'DB1')", ["web2", "web1-os"]),
    ("name has_any ('db1', 'os')", ["db1", "web1-os"]),
    ("location == 'eastus' and resourceGroup == 'rg'", ["web1", "web2", "web1-os"]),
    ("location == 'westus' or name == 'web2'", ["web2", "db1"]),
    ("not(location == 'eastus')", ["db1"]),
    ("isnull(tags)", ["db1", "web1-os"]),
    ("isnotnull(tags)", ["web1", "web2"]),
    ("isempty(tags.env)", ["db1", "web1-os"]),
    ("isnotempty(tags['env'])", ["web1", "web2"]),
    ("tags.env == 'prod'", ["web1"]),
    ("sku.name == 'Premium_LRS'", ["web1-os"]),
    ("properties.diskSizeGB > 10", ["web1-os"]),
    ("properties.diskSizeGB >= 30 and properties.diskSizeGB < 31", ["web1-os"]),
    ("array_length(properties.networkProfile.networkInterfaces) == 2", ["web1"]),
    ("properties.networkProfile.networkInterfaces[-1].id == '/nics/web1-1'", ["web1"]),
    ("tostring(properties.extended.instanceView.powerState.code) =~ 'powerstate/RUNNING'", ["web1"]),
    ("properties.extended.instanceView.powerState.code in ('PowerState/stopped', 'PowerState/deallocated')",
     ["web2", "db1"]),
    ("['name'] == 'db1'", ["db1"]),
    ("todatetime(properties.timeCreated) < ago(6h)", ["web1", "web2", "db1"]),
    ("todatetime(properties.timeCreated) > datetime(2026-01-01)", ["web1", "web2", "db1"]),
    ("strlen(name) == 3", ["db1"]),
    ("properties.missing.deeper == 'x'", []),
    ("properties.missing.deeper != 'x'", []),  # a comparison with null is null: the row is not kept
])
def test_where(pred: str, expected: list[str]) -> None:
    assert names(f"Resources | where {pred}") == expected


# -- expressions: (expression, its value on web1) ----------------------------------------------------------
@pytest.mark.parametrize("expr,value", [
    ("tostring(properties.hardwareProfile.vmSize)", "Standard_B2s"),
    ("tostring(properties.hardwareProfile)", '{"vmSize":"Standard_B2s"}'),
    ("tostring(properties.nothing)", ""),
    ("tolower(name)", "web1"),
    ("toupper(name)", "WEB1"),
    ("strcat(name, '/', location)", "web1/eastus"),
    ("split(properties.extended.instanceView.powerState.code, '/')", ["PowerState", "running"]),
    ("split(properties.extended.instanceView.powerState.code, '/')[1]", "running"),
    ("split('a/b/c', '/', 2)", ["c"]),
    ("iff(name == 'web1', 'yes', 'no')", "yes"),
    ("iif(name == 'x', 'yes', 'no')", "no"),
    ("case(name == 'x', 1, name == 'web1', 2, 3)", 2),
    ("case(name == 'x', 1, 3)", 3),
    ("coalesce(tags.owner, tags.env, 'none')", "prod"),
    ("toint('42') + 1", 43),
    ("todouble('1.5') * 2", 3.0),
    ("7 / 2", 3),
    ("-7 % 3", -1),
    ("tobool('TRUE')", True),
    ("substring(name, 1, 2)", "eb"),
    ("indexof(name, 'b')", 2),
    ("replace_string(name, 'web', 'app')", "app1"),
    ("extract('([a-z]+)([0-9]+)', 2, name)", "1"),
    ("parse_json('{\"a\": [1, 2]}').a[1]", 2),
    ("dynamic({\"a\": {\"b\": \"c\"}}).a.b", "c"),
    ("dynamic([1, -2, true, null])", [1, -2, True, None]),
    ("pack_array(name, 1)", ["web1", 1]),
    ("bag_keys(tags)", ["env"]),
    ("array_length(split('a,b', ','))", 2),
    ("gettype(properties)", "dictionary"),
    ("now()", NOW),
    ("ago(1d)", NOW - timedelta(days=1)),
    ("now() - datetime(2026-01-01)", timedelta(days=1)),
    ("@'c:\\temp'", "c:\\temp"),
    ("'it\\'s'", "it's"),
    ("tostring(1d)", "1.00:00:00"),
    ("tostring(datetime(2026-01-01T10:00:00Z))", "2026-01-01T10:00:00.0000000Z"),
])
def test_expressions(expr: str, value: Any) -> None:
    t = q(f"Resources | where name == 'web1' | project v = {expr}")
    assert t.rows == [{"v": value}]


# -- the column names Kusto gives ----------------------------------------------------------------------------
@pytest.mark.parametrize("query,columns", [
    ("project id, name", ["id", "name"]),
    ("project properties.hardwareProfile.vmSize", ["properties_hardwareProfile_vmSize"]),
    ("project sku.name, tags['env']", ["sku_name", "tags_env"]),
    ("project tostring(properties.extended.instanceView.powerState.code)",
     ["properties_extended_instanceView_powerState_code"]),
    ("project tolower(name), strcat(name, 'x')", ["Column1", "Column2"]),
    ("summarize count() by location", ["location", "count_"]),
    ("summarize count()", ["count_"]),
    ("summarize dcount(location), any(name), countif(location == 'eastus')", ["dcount_location", "any_name",
                                                                             "countif_"]),
    ("summarize make_list(name), make_set(location), min(name), max(name) by type",
     ["type", "list_name", "set_location", "min_name", "max_name"]),
    ("summarize n = count() by t = type", ["t", "n"]),
    ("summarize by location, type", ["location", "type"]),
    ("extend x = 1 | project-away properties, tags, sku", ["id", "name", "type", "location", "resourceGroup",
                                                           "subscriptionId", "x"]),
    ("project-away prop*, t*, s*", ["id", "name", "location", "resourceGroup"]),
    ("project-rename vm = name | project vm", ["vm"]),
    ("count", ["Count"]),
    ("distinct location", ["location"]),
    ("mv-expand nic = properties.networkProfile.networkInterfaces | project nic", ["nic"]),
    ("mv-expand properties.networkProfile.networkInterfaces | project properties_networkProfile_networkInterfaces",
     ["properties_networkProfile_networkInterfaces"]),
])
def test_column_names(query: str, columns: list[str]) -> None:
    assert q(f"Resources | {query}").columns == columns


def test_summarize_count_by_power_state() -> None:
    t = q(f"{VM} | summarize count() by PowerState = tostring(properties.extended.instanceView.powerState.code)")
    assert t.rows == [{"PowerState": "PowerState/running", "count_": 1},
                      {"PowerState": "PowerState/stopped", "count_": 1},
                      {"PowerState": "PowerState/deallocated", "count_": 1}]
    assert q("Resources | where name == 'none' | summarize count()").rows == [{"count_": 0}]
    assert q("Resources | where name == 'none' | summarize count() by location").rows == []


def test_summarize_aggregations() -> None:
    t = q("Resources | summarize n = count(), locations = dcount(location), names = make_list(name),"
          " big = countif(properties.diskSizeGB > 0), total = sum(properties.diskSizeGB),"
          " avg = avg(properties.diskSizeGB), first = min(name), last = max(name) by resourceGroup")
    assert t.rows == [
        {"resourceGroup": "rg", "n": 3, "locations": 1, "names": ["web1", "web2", "web1-os"], "big": 1, "total": 30,
         "avg": 30.0, "first": "web1", "last": "web2"},
        {"resourceGroup": "data", "n": 1, "locations": 1, "names": ["db1"], "big": 0, "total": None, "avg": None,
         "first": "db1", "last": "db1"}]


@pytest.mark.parametrize("query,expected", [
    ("order by name asc", ["db1", "web1", "web1-os", "web2"]),
    ("order by name", ["web2", "web1-os", "web1", "db1"]),  # descending unless told
    ("sort by location asc, name desc", ["web2", "web1-os", "web1", "db1"]),
    ("sort by tostring(tags.env) asc, name asc", ["db1", "web1-os", "web2", "web1"]),
    ("sort by tags.env asc nulls last, name asc", ["web2", "web1", "db1", "web1-os"]),
    ("sort by tags.env desc, name asc", ["web1", "web2", "db1", "web1-os"]),  # nulls last when descending
    ("top 2 by name asc", ["db1", "web1"]),
    ("top 1 by properties.diskSizeGB", ["web1-os"]),
    ("take 2", ["web1", "web2"]),
    ("limit 0", []),
    ("where name startswith 'web' | order by name asc | take 1", ["web1"]),
])
def test_order_top_take(query: str, expected: list[str]) -> None:
    assert names(f"Resources | {query}") == expected


def test_distinct_count_and_mv_expand() -> None:
    assert q("Resources | distinct location, resourceGroup").rows == [
        {"location": "eastus", "resourceGroup": "rg"}, {"location": "westus", "resourceGroup": "data"}]
    assert q("Resources | distinct location | count").rows == [{"Count": 2}]
    assert len(q("Resources | distinct *").rows) == 4
    t = q(f"{VM} | mv-expand nic = properties.networkProfile.networkInterfaces | project name, nic = tostring(nic.id)")
    assert t.rows == [{"name": "web1", "nic": "/nics/web1-0"}, {"name": "web1", "nic": "/nics/web1-1"},
                      {"name": "web2", "nic": "/nics/web2-0"}, {"name": "db1", "nic": "/nics/db1-0"}]
    limited = q(f"{VM} | mv-expand nic = properties.networkProfile.networkInterfaces limit 1 | project name")
    assert [r["name"] for r in limited.rows] == ["web1", "web2", "db1"]
    bag = q("Resources | where name == 'web1' | mv-expand tags | project tags")
    assert bag.rows == [{"tags": {"env": "prod"}}]
    empty = q("Resources | where name == 'web1' | mv-expand x = dynamic([]) | project name")
    assert empty.rows == []


def test_extend_sees_earlier_items_and_replaces_in_place() -> None:
    t = q("Resources | where name == 'web1' | extend a = 1, b = a + 1, name = toupper(name) | project name, a, b")
    assert t.rows == [{"name": "WEB1", "a": 1, "b": 2}]
    assert q("Resources | extend name = 1").columns == COLUMNS  # an existing column keeps its place


# -- joins ----------------------------------------------------------------------------------------------------
def test_join_kinds() -> None:
    health = ("(HealthResources | project targetResourceId = tolower(tostring(properties.targetResourceId)),"
              " AvailabilityState = tostring(properties.availabilityState))")
    left = "Resources | project Id = tolower(id), name"
    inner = q(f"{left} | join kind=inner {health} on $left.Id == $right.targetResourceId | project name,"
              " AvailabilityState")
    assert inner.rows == [{"name": "web1", "AvailabilityState": "Available"},
                          {"name": "web2", "AvailabilityState": "Unavailable"},
                          {"name": "db1", "AvailabilityState": "Unavailable"}]
    outer = q(f"{left} | join kind=leftouter {health} on $left.Id == $right.targetResourceId")
    assert outer.columns == ["Id", "name", "targetResourceId", "AvailabilityState"]
    assert [(r["name"], r["AvailabilityState"]) for r in outer.rows][-1] == ("web1-os", None)
    anti = q(f"{left} | join kind=leftanti {health} on $left.Id == $right.targetResourceId")
    assert [r["name"] for r in anti.rows] == ["web1-os"]
    semi = q(f"{left} | join kind=leftsemi {health} on $left.Id == $right.targetResourceId")
    assert semi.columns == ["Id", "name"] and len(semi.rows) == 3
    full = q(f"Resources | where name == 'db1' | project Id = tolower(id) | join kind=fullouter {health}"
             " on $left.Id == $right.targetResourceId")
    assert len(full.rows) == 3 and sum(r["Id"] is None for r in full.rows) == 2


def test_join_on_a_common_column_renames_the_right_one() -> None:
    t = q("Resources | join kind=leftouter (ResourceContainers | where type =~ 'microsoft.resources/subscriptions'"
          " | project subscriptionId, subName = name) on subscriptionId | project name, subName, subscriptionId1")
    assert t.rows[0] == {"name": "web1", "subName": "azvm subscription", "subscriptionId1": SUB}
    # innerunique, the default: one left row per key
    dup = q("ResourceContainers | project subscriptionId | join (Resources | project subscriptionId, name)"
            " on subscriptionId")
    assert len(dup.rows) == 4
    keyed = q("Resources | join kind=inner (ResourceContainers | where type == 'microsoft.resources/subscriptions'"
              " and properties.managementGroupAncestorsChain[0].name in ('staging', 'prod') | project subscriptionId)"
              " on subscriptionId | summarize count() by type")
    assert keyed.rows == [{"type": "microsoft.compute/virtualmachines", "count_": 3},
                          {"type": "microsoft.compute/disks", "count_": 1}]


def test_tables_are_case_insensitive_and_resources_is_the_default() -> None:
    assert names("rEsOuRcEs | take 1") == ["web1"]
    assert names("where name == 'db1'") == ["db1"]
    assert tables_of(parse("Resources | join (HealthResources) on id | join (resourcecontainers) on id")) == {
        "resources", "healthresources", "resourcecontainers"}


def test_comments_and_layout() -> None:
    text = "Resources // every resource\n| where name == 'web1' // one\n\n| project name"
    assert q(text).rows == [{"name": "web1"}]


# -- errors: Azure's envelope, naming what is wrong -----------------------------------------------------------
@pytest.mark.parametrize("query,code,token", [
    ("Resources | where name === 'x'", "ParserFailure", "="),
    ("Resources | where", "ParserFailure", "<EOF>"),
    ("Resources | project", "ParserFailure", "<EOF>"),
    ("Resources | where name == 'unterminated", "ParserFailure", "'"),
    ("Resources | Where name == 'x'", "ParserFailure", "Where"),  # KQL keywords are case-sensitive
    ("Resources | parse id with * '/' rest", "InvalidQueryLanguage", "parse"),
    ("Resources | union ResourceContainers", "InvalidQueryLanguage", "union"),
    ("Resources | mv-apply x on (take 1)", "InvalidQueryLanguage", "mv-apply"),
    ("Resources | project x = bin(1, 2)", "InvalidQueryLanguage", "bin"),
    ("let vms = Resources; vms | take 1", "InvalidQueryLanguage", "let"),
    ("union Resources, ResourceContainers", "InvalidQueryLanguage", "union"),
    ("Resources | where datetime(not a date) > now()", "ParserFailure", "datetime(not a date)"),
])
def test_parser_errors(query: str, code: str, token: str) -> None:
    with pytest.raises(KqlError) as e:
        q(query)
    body = e.value.body()["error"]
    assert body["code"] == "BadRequest"
    assert body["details"][0]["code"] == "InvalidQuery"
    assert body["details"][1]["code"] == code
    assert body["details"][1]["token"] == token
    assert token in body["details"][1]["message"] or code == "ParserFailure"


@pytest.mark.parametrize("query,message", [
    ("Resources | where nme == 'x'", "'where' operator: Failed to resolve scalar expression named 'nme'"),
    ("Resources | project name | where type == 'x'", "Failed to resolve scalar expression named 'type'"),
    ("Resources | project-away nope", "'project-away' operator: Failed to resolve scalar expression named 'nope'"),
    ("Resources | summarize count() by properties", "is of a 'dynamic' type"),
    ("Resources | summarize tolower(name)", "expects aggregation functions"),
    ("Resources | where count() > 1", "allowed only in 'summarize'"),
    ("Resources | project tolower(name, 1)", "function 'tolower' expects 1 argument(s), got 2"),
    ("Resources | project case(true, 1)", "function 'case' expects at least 3 argument(s), got 2"),
    ("Resources | take -1", "expects a constant non-negative integer"),
    ("Resources | take name", "Failed to resolve scalar expression named 'name'"),
    ("Resources | join kind=sideways (Resources) on id", "unknown join kind 'sideways'"),
    ("Resources | join (Resources) on id == name", "'on' clause"),
    ("Resources | where $left.id == 'x'", "only allowed in the 'on' clause"),
])
def test_semantic_errors(query: str, message: str) -> None:
    with pytest.raises(KqlError) as e:
        q(query)
    detail = e.value.body()["error"]["details"][1]
    assert detail["code"] == "SemanticError"
    assert message in detail["message"]


def test_unknown_table() -> None:
    with pytest.raises(KqlError) as e:
        q("SecurityResources | take 1")
    detail = e.value.body()["error"]["details"][1]
    assert detail["code"] == "DisallowedLogicalTableName"
    assert "SecurityResources" in detail["message"]


def test_the_grammar_is_lark_text() -> None:
    assert "?operator:" in GRAMMAR and "%ignore COMMENT" in GRAMMAR
