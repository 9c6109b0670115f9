"""Limits that hold everywhere: JSON nesting (one limit, at parse time, on every route that takes a
body), with nothing written when a body is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import SUB, http_client, make_network, vm_body

from azvm.testing import AzvmServer
from azvm.wire import MAX_DEPTH

RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
VNET = f"{RG}/providers/Microsoft.Network/virtualNetworks/deep"


def nested(levels: int) -> str:
    """A JSON object whose tag value nests `levels` deep in all (the body itself is level 1)."""
    return '{"location": "eastus", "tags": {"a": ' + "[" * (levels - 2) + "1" + "]" * (levels - 2) + "}}"


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(azvm, timeout=30) as c:
        assert c.put(RG, params={"api-version": "2024-11-01"}, json={"location": "eastus"}).status_code == 201
        yield c


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 255, 1_000, 5_000, 100_000])
@pytest.mark.parametrize("path,version", [(VM, "2024-11-01"), (VNET, "2024-05-01"), (RG, "2024-11-01")])
def test_deep_json_is_refused_at_parse_time_and_nothing_is_written(
        azvm: AzvmServer, http: httpx.Client, levels: int, path: str, version: str) -> None:
    make_network(azvm, "vm1")
    before = http.get(f"{RG}/resources", params={"api-version": "2024-11-01"}).json()
    r = http.put(path, params={"api-version": version}, content=nested(levels).encode(),
                 headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent", r.text
    assert http.get(f"{RG}/resources", params={"api-version": "2024-11-01"}).json() == before
    assert http.get(RG, params={"api-version": "2024-11-01"}).json().get("tags") is None


def test_deep_json_in_the_control_api_is_refused(http: httpx.Client) -> None:
    r = http.post("/azvm/faults", content=nested(1_000).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    assert http.get("/azvm/faults").json()["value"] == []


def depth(value: object) -> int:
    """How deep `value` nests, counted as the parser does: the body itself is level 1, scalars add none."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def test_nesting_at_the_limit_is_parsed(azvm: AzvmServer, http: httpx.Client) -> None:
    """A body exactly MAX_DEPTH levels deep is parsed and the VM created; one level more is refused
    (see test_deep_json_is_refused_at_parse_time_and_nothing_is_written for MAX_DEPTH + 1)."""
    make_network(azvm, "vm1")
    body = vm_body()
    deep: object = "x"
    for _ in range(MAX_DEPTH - 2):
        deep = {"k": deep}
    body["properties"]["userDataExtra"] = deep  # an unknown property: body (1), properties (2), then 3..MAX_DEPTH
    assert depth(body) == MAX_DEPTH and depth(json.loads(nested(MAX_DEPTH + 1))) == MAX_DEPTH + 1
    r = http.put(VM, params={"api-version": "2024-11-01"}, json=body)
    assert r.status_code == 201, r.text
