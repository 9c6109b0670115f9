"""One contract for every plain (tracked) resource type, run over every registered type through
raw HTTP against a real server: create and replace, read, tags, etags and preconditions, lists
with paging, delete, bad input with nothing written, and survival of `kill -9`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from azvm.testing import AzvmServer, azvm_server
from tests.conftest import http_client

SUB = "00000000-0000-0000-0000-000000000000"
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VERSIONS = {"network": "2024-05-01", "disks": "2023-04-02", "compute": "2024-11-01", "skus": "2021-07-01"}

Prepare = Callable[[httpx.Client], None]


def _put(http: httpx.Client, path: str, body: dict[str, Any], version: str) -> None:
    r = http.put(path, params={"api-version": version}, json=body)
    assert r.status_code in (200, 201), r.text


def _vnet(http: httpx.Client) -> None:
    subnet = {"name": "s", "properties": {"addressPrefix": "10.1.0.0/24"}}
    _put(http, f"{RG}/providers/Microsoft.Network/virtualNetworks/base", {
        "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
                                             "subnets": [subnet]}}, "2024-05-01")


def _nsg(http: httpx.Client) -> None:
    _put(http, f"{RG}/providers/Microsoft.Network/networkSecurityGroups/base", {"location": "eastus"}, "2024-05-01")


SUBNET_ID = f"{RG}/providers/Microsoft.Network/virtualNetworks/base/subnets/s"

# type -> (the collection path under the group, an example body, what must exist first)
EXAMPLES: dict[str, tuple[str, dict[str, Any], Prepare | None]] = {
    "Microsoft.Network/virtualNetworks": (
        f"{RG}/providers/Microsoft.Network/virtualNetworks",
        {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}, None),
    "Microsoft.Network/virtualNetworks/subnets": (
        f"{RG}/providers/Microsoft.Network/virtualNetworks/base/subnets",
        {"properties": {"addressPrefix": "10.1.{n}.0/24"}}, _vnet),
    "Microsoft.Network/networkSecurityGroups": (
        f"{RG}/providers/Microsoft.Network/networkSecurityGroups", {"location": "eastus"}, None),
    "Microsoft.Network/networkSecurityGroups/securityRules": (
        f"{RG}/providers/Microsoft.Network/networkSecurityGroups/base/securityRules",
        {"properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow",
                        "priority": "{p}", "direction": "Inbound"}}, _nsg),
    "Microsoft.Network/publicIPAddresses": (
        f"{RG}/providers/Microsoft.Network/publicIPAddresses",
        {"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}},
        None),
    "Microsoft.Network/networkInterfaces": (
        f"{RG}/providers/Microsoft.Network/networkInterfaces",
        {"location": "eastus", "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": SUBNET_ID}}}]}}, _vnet),
    "Microsoft.Compute/disks": (
        f"{RG}/providers/Microsoft.Compute/disks",
        {"location": "eastus", "sku": {"name": "Standard_LRS"},
         "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 32}}, None),
    "Microsoft.Compute/availabilitySets": (
        f"{RG}/providers/Microsoft.Compute/availabilitySets",
        {"location": "eastus", "sku": {"name": "Aligned"},
         "properties": {"platformFaultDomainCount": 2, "platformUpdateDomainCount": 5}}, None),
}


# types whose model has no provisioningState (AvailabilitySetProperties in the Compute spec)
NO_PROVISIONING_STATE = {"Microsoft.Compute/availabilitySets"}
# types whose model has no etag (Disk and AvailabilitySet in the Compute spec): If-Match has nothing to match
NO_ETAG = {"Microsoft.Compute/availabilitySets", "Microsoft.Compute/disks"}


def _types() -> list[str]:
    with azvm_server(tls=False) as s:
        return sorted(spec.type for spec in s.emulator.service.resources.types.values() if spec.generic)


PLAIN = _types()


def _fill(body: Any, n: int) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, n) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, n) for v in body]
    if body == "{p}":
        return 100 + n
    if isinstance(body, str):
        return body.replace("{n}", str(n))
    return body


@pytest.fixture(scope="module")
def server() -> Iterator[AzvmServer]:
    with azvm_server(tls=False) as s:
        yield s


@pytest.fixture
def http(server: AzvmServer) -> Iterator[httpx.Client]:
    server.reset()
    with http_client(base_url=server.endpoint, timeout=30) as c:
        _put(c, RG, {"location": "eastus"}, "2024-11-01")
        yield c


def test_every_plain_type_has_an_example() -> None:
    assert PLAIN, "no plain resource type is registered"
    assert sorted(set(PLAIN) - set(EXAMPLES)) == []


def _setup(http: httpx.Client, server: AzvmServer, type_: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    coll, body, prepare = EXAMPLES[type_]
    if prepare is not None:
        prepare(http)
    spec = server.emulator.service.resources.spec(type_)
    assert spec is not None
    return coll, body, {"api-version": VERSIONS[spec.family]}


@pytest.mark.parametrize("type_", PLAIN)
def test_create_read_replace_tags_and_delete(http: httpx.Client, server: AzvmServer, type_: str) -> None:
    coll, body, p = _setup(http, server, type_)
    spec = server.emulator.service.resources.spec(type_)
    assert spec is not None
    one = f"{coll}/r1"
    created = http.put(one, params=p, json=_fill(body, 1))
    assert created.status_code == spec.put_status[0], created.text  # as the type's spec answers
    b = created.json()
    assert b["id"].lower() == one.lower() and b["name"] == "r1" and b["type"].lower() == type_.lower()
    if type_ in NO_PROVISIONING_STATE:
        assert "provisioningState" not in b["properties"]
    else:
        assert b["properties"]["provisioningState"] == "Succeeded"
    assert "azure-asyncoperation" in created.headers
    op = http.get(created.headers["azure-asyncoperation"])
    assert op.status_code == 200 and op.json()["status"] == "Succeeded"
    got = http.get(one.upper().replace("SUBSCRIPTIONS", "subscriptions"), params=p)  # any casing
    assert got.status_code == 200 and got.json()["id"] == b["id"]
    again = http.put(one, params=p, json=_fill(body, 1))
    assert again.status_code == spec.put_status[1]
    if "location" in body:  # tracked: tags by PATCH
        patched = http.patch(one, params=p, json={"tags": {"env": "test"}})
        assert patched.status_code == 200 and patched.json()["tags"] == {"env": "test"}
        assert http.get(one, params=p).json()["tags"] == {"env": "test"}
    deleted = http.delete(one, params=p)
    assert deleted.status_code in (200, 202), deleted.text
    if deleted.status_code == 202:
        assert http.get(deleted.headers["location"]).status_code in (200, 204)
    missing = http.get(one, params=p)
    assert missing.status_code == 404 and missing.json()["error"]["code"] in ("ResourceNotFound", "NotFound")
    assert http.delete(one, params=p).status_code == 204


@pytest.mark.parametrize("type_", PLAIN)
def test_etag_preconditions(http: httpx.Client, server: AzvmServer, type_: str) -> None:
    coll, body, p = _setup(http, server, type_)
    one = f"{coll}/r1"
    first = http.put(one, params=p, json=_fill(body, 1)).json()
    got = http.get(one, params=p).json()
    if type_ in NO_ETAG:
        assert "etag" not in got and "etag" not in first, got
    else:
        assert isinstance(got.get("etag"), str) and got["etag"], got
    exists = http.put(one, params=p, json=_fill(body, 1), headers={"If-None-Match": "*"})
    assert exists.status_code == 412 and exists.json()["error"]["code"] == "PreconditionFailed"
    stale = http.put(one, params=p, json=_fill(body, 1), headers={"If-Match": 'W/"stale"'})
    assert stale.status_code == 412
    assert http.delete(one, params=p, headers={"If-Match": 'W/"stale"'}).status_code == 412
    assert http.get(one, params=p).status_code == 200  # nothing written by the refusals
    if type_ not in NO_ETAG:
        matched = http.put(one, params=p, json=_fill(body, 1), headers={"If-Match": got["etag"]})
        assert matched.status_code in (200, 202), matched.text


@pytest.mark.parametrize("type_", PLAIN)
def test_lists_page_with_next_link(http: httpx.Client, server: AzvmServer, type_: str) -> None:
    coll, body, p = _setup(http, server, type_)
    for i in range(1, 4):
        assert http.put(f"{coll}/r{i}", params=p, json=_fill(body, i)).status_code in (200, 201, 202)
    names: list[str] = []
    r = http.get(coll, params={**p, "$top": "1"}).json()
    if type_.count("/") == 1:
        assert len(r["value"]) == 1 and r.get("nextLink"), r
    else:  # a child collection (subnets, security rules) is listed from its parent whole, as on Azure: no paging
        assert len(r["value"]) >= 3 and not r.get("nextLink"), r
    while True:
        names += [v["name"] for v in r["value"]]
        if not r.get("nextLink"):
            break
        r = http.get(r["nextLink"]).json()
    assert {"r1", "r2", "r3"} <= set(names)
    if type_.count("/") == 1:
        sub_list = http.get(f"/subscriptions/{SUB}/providers/{type_}", params=p).json()["value"]
        assert {"r1", "r2", "r3"} <= {v["name"] for v in sub_list}
        generic = http.get(f"{RG}/resources", params={"api-version": "2024-11-01",
                                                       "$filter": f"resourceType eq '{type_}'"}).json()["value"]
        assert {"r1", "r2", "r3"} <= {v["name"] for v in generic}


BAD_BODIES = [
    ("not an object", [1, 2]),
    ("properties not an object", {"location": "eastus", "properties": 5}),
    ("tags not an object", {"location": "eastus", "tags": "x"}),
]


@pytest.mark.parametrize("type_", PLAIN)
@pytest.mark.parametrize("label,bad", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_400_and_writes_nothing(http: httpx.Client, server: AzvmServer, type_: str, label: str,
                                             bad: Any) -> None:
    coll, body, p = _setup(http, server, type_)
    r = http.put(f"{coll}/bad", params=p, json=bad)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"]
    assert http.get(f"{coll}/bad", params=p).status_code == 404


@pytest.mark.parametrize("type_", [t for t in PLAIN if "location" in EXAMPLES.get(t, ("", {}, None))[1]])
def test_location_is_required_and_known(http: httpx.Client, server: AzvmServer, type_: str) -> None:
    coll, body, p = _setup(http, server, type_)
    for loc in (None, "moon"):
        b = {k: v for k, v in _fill(body, 1).items() if k != "location"}
        if loc is not None:
            b["location"] = loc
        r = http.put(f"{coll}/bad", params=p, json=b)
        assert r.status_code == 400 and r.json()["error"]["target"] == "location", r.text
    assert http.get(f"{coll}/bad", params=p).status_code == 404


def test_a_group_delete_removes_every_plain_resource(http: httpx.Client, server: AzvmServer) -> None:
    made = []
    for type_ in PLAIN:
        coll, body, p = _setup(http, server, type_)
        assert http.put(f"{coll}/g1", params=p, json=_fill(body, 7)).status_code in (200, 201, 202)
        made.append((f"{coll}/g1", p))
    r = http.delete(RG, params={"api-version": "2024-11-01"})
    assert r.status_code == 202
    for _ in range(100):  # time skipping moves the clock
        polled = http.get(r.headers["location"])
        if polled.status_code != 202:
            break
    assert polled.status_code == 200, polled.text
    for path, p in made:
        assert http.get(path, params=p).status_code == 404


def test_plain_resources_survive_kill_9(tmp_path: Path) -> None:
    """A real `azvm serve` killed with SIGKILL right after acknowledging: every resource is there."""
    data = tmp_path / "data"
    env = {**os.environ, "AZVM_DATA_DIR": str(data)}
    args = [sys.executable, "-m", "azvm.cli", "serve", "--no-tls", "--port", "0", "--manual-clock"]

    def start() -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "http://" in line:
                url = line[line.index("http://"):].split()[0].rstrip("/")
                return proc, url
        raise AssertionError("the server did not start")

    proc, url = start()
    made = []
    try:
        with http_client(base_url=url, timeout=30) as http:
            _put(http, RG, {"location": "eastus"}, "2024-11-01")
            for type_ in PLAIN:
                coll, body, prepare = EXAMPLES[type_]
                if prepare is not None:
                    prepare(http)
                family = next(f for t, f in _FAMILIES.items() if t == type_)
                p = {"api-version": VERSIONS[family]}
                assert http.put(f"{coll}/k1", params=p, json=_fill(body, 9)).status_code in (200, 201, 202)
                made.append((f"{coll}/k1", p))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    proc, url = start()
    try:
        with http_client(base_url=url, timeout=30) as http:
            for path, p in made:
                assert http.get(path, params=p).status_code == 200, path
    finally:
        proc.terminate()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _families() -> dict[str, str]:
    with azvm_server(tls=False) as s:
        return {spec.type: spec.family for spec in s.emulator.service.resources.types.values() if spec.generic}


_FAMILIES = _families()
