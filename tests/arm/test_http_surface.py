"""The raw HTTP surface of the ARM dialect: api-versions, casing, LRO headers, errors, the control API.

Raw `httpx` because the SDK cannot send malformed requests. Expectations come from the recordings of
the real service in shared/conformance/recorded/ (named per test) and SPEC.md section 5.
"""

from __future__ import annotations

import copy
import functools
import json
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SUB, http_client, make_network, nic_id, vm_body

from azvm.arm.versions import COMPUTE_VERSIONS
from azvm.testing import AzvmServer

V = COMPUTE_VERSIONS[-1]
P = {"api-version": V}
RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VMS = f"{RG}/providers/Microsoft.Compute/virtualMachines"
LIST_ALL = f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
MISSING_API_VERSION = "The api-version query parameter (?api-version=) is required for all requests."
JSON = {"content-type": "application/json"}


def vm(name: str = "vm1") -> str:
    return f"{VMS}/{name}"


# -- helpers ---------------------------------------------------------------------------------------


def assert_request_id(r: httpx.Response) -> None:
    assert r.headers.get("x-ms-request-id"), f"{r.request.method} {r.request.url}: no x-ms-request-id"


def assert_arm_error(r: httpx.Response, status: int, code: str, target: str | None = None) -> dict[str, Any]:
    """The ARM envelope {"error": {"code", "message", "target"?, "details"?}} with this status and code."""
    assert r.status_code == status, (r.status_code, r.text)
    assert_request_id(r)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) <= {"code", "message", "target", "details"}, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    if target is not None:
        assert err.get("target") == target, err
    return err


def is_arm_envelope(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(doc, dict)
        and set(doc) == {"error"}
        and isinstance(doc["error"], dict)
        and isinstance(doc["error"].get("code"), str)
        and isinstance(doc["error"].get("message"), str)
    )


def retry_delay_seconds(r: httpx.Response) -> float:
    """The poll delay the response asks for; fails when it asks for none."""
    if "retry-after-ms" in r.headers:
        return int(r.headers["retry-after-ms"]) / 1000
    assert "retry-after" in r.headers, dict(r.headers)
    return float(r.headers["retry-after"])


@functools.lru_cache
def tls_context(cert: str) -> ssl.SSLContext:
    # the same as httpx.Client(verify=cert), which httpx 0.28 deprecates (warnings are errors here)
    return ssl.create_default_context(cafile=cert)


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(base_url=azvm.endpoint, verify=tls_context(str(azvm.cert)), timeout=30) as client:
        yield client


@pytest.fixture
def rg(http: httpx.Client) -> str:
    r = http.put(RG, params=P, json={"location": "eastus"})
    assert r.status_code == 201, r.text
    return RG


def wait_op(http: httpx.Client, op_url: str) -> dict[str, Any]:
    """Poll an Azure-AsyncOperation URL to a terminal status (time skipping on: each poll jumps the clock)."""
    for _ in range(50):
        r = http.get(op_url)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "InProgress":
            return r.json()
    raise AssertionError(f"operation {op_url} never ended")


def create_vm(
    http: httpx.Client, name: str = "vm1", body: dict[str, Any] | None = None, *, settle: bool = True
) -> httpx.Response:
    make_network(http, name)
    r = http.put(vm(name), params=P, json=body or vm_body(name))
    assert r.status_code == 201, r.text
    if settle:
        assert wait_op(http, r.headers["azure-asyncoperation"])["status"] == "Succeeded"
    return r


def advance_until_done(azvm: AzvmServer, http: httpx.Client, op_url: str) -> dict[str, Any]:
    for _ in range(120):
        doc = http.get(op_url).json()
        if doc["status"] != "InProgress":
            return doc
        azvm.advance(5)
    raise AssertionError(f"operation {op_url} never ended")


def assert_vm_absent(http: httpx.Client, name: str) -> None:
    assert_arm_error(http.get(vm(name), params=P), 404, "ResourceNotFound")


# -- api-version -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", COMPUTE_VERSIONS)
def test_every_published_compute_version_is_served(http: httpx.Client, rg: str, version: str) -> None:
    create_vm(http, settle=False)
    r = http.get(vm(), params={"api-version": version})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "vm1"
    r = http.get(LIST_ALL, params={"api-version": version})
    assert r.status_code == 200, r.text
    assert [v["name"] for v in r.json()["value"]] == ["vm1"]
    r = http.get(VMS, params={"api-version": version})
    assert r.status_code == 200 and len(r.json()["value"]) == 1


@pytest.mark.parametrize("version", ["2019-07-02", "2030-01-01", "2024-11-01-preview", "2024-11-1", "latest"])
@pytest.mark.parametrize("path", [vm(), LIST_ALL, VMS])
def test_unknown_compute_version_is_no_registered_provider(
    http: httpx.Client, rg: str, path: str, version: str
) -> None:
    create_vm(http, settle=False)
    err = assert_arm_error(http.get(path, params={"api-version": version}), 400, "NoRegisteredProviderFound")
    assert f"'{version}'" in err["message"]
    for v in COMPUTE_VERSIONS:
        assert v in err["message"], f"{v} not listed as supported"


def test_unknown_version_on_put_writes_nothing(http: httpx.Client, rg: str) -> None:
    r = http.put(vm("vm2"), params={"api-version": "2019-07-02"}, json=vm_body("vm2"))
    assert_arm_error(r, 400, "NoRegisteredProviderFound")
    assert_vm_absent(http, "vm2")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", vm()),
        ("GET", LIST_ALL),
        ("GET", VMS),
        ("GET", RG),
        ("PUT", vm("vm2")),
        ("POST", vm() + "/start"),
        ("DELETE", vm()),
        ("GET", f"/subscriptions/{SUB}/resourcegroups"),
    ],
)
@pytest.mark.parametrize("query", ["", "?api-version=", "?other=1"])
def test_missing_api_version(http: httpx.Client, rg: str, method: str, path: str, query: str) -> None:
    create_vm(http, settle=False)
    r = http.request(method, path + query, json=vm_body("vm2") if method == "PUT" else None)
    err = assert_arm_error(r, 400, "MissingApiVersionParameter")
    assert err["message"] == MISSING_API_VERSION
    assert_vm_absent(http, "vm2")


@pytest.mark.parametrize("version", ["2019-01-01", "2024-11-01", "2014-04-01-preview", "2099-12-31"])
def test_resource_group_routes_accept_any_well_formed_version(http: httpx.Client, version: str) -> None:
    q = {"api-version": version}
    assert http.put(RG, params=q, json={"location": "eastus"}).status_code == 201
    assert http.get(RG, params=q).status_code == 200
    assert http.head(RG, params=q).status_code == 204
    assert http.get(f"/subscriptions/{SUB}/resourcegroups", params=q).status_code == 200


@pytest.mark.parametrize("version", ["latest", "2024-11", "2024-11-01-foo", "20241101", "v1"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_resource_group_routes_reject_malformed_version(
    http: httpx.Client, method: str, version: str
) -> None:
    r = http.request(
        method, RG, params={"api-version": version}, json={"location": "eastus"} if method == "PUT" else None
    )
    err = assert_arm_error(r, 400, "InvalidApiVersionParameter")
    assert f"'{version}'" in err["message"]
    assert http.head(RG, params=P).status_code == 404  # the rejected PUT created nothing


# -- casing and // ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/subscriptions/{SUB}/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/vm1",
        f"/subscriptions/{SUB}/resourceGroups/RG/providers/microsoft.compute/virtualmachines/VM1",
    ],
)
def test_paths_are_case_insensitive(http: httpx.Client, rg: str, path: str) -> None:
    create_vm(http)
    r = http.get(path, params=P)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == f"{VMS}/vm1"
    r = http.post(path + "/POWEROFF", params=P)
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    "name,value",
    [
        ("$expand", "instanceView"),
        ("$expand", "instanceview"),
        ("$expand", "INSTANCEVIEW"),
        ("$Expand", "instanceView"),
        ("$EXPAND", "instanceview"),
    ],
)
def test_expand_instance_view_in_any_case(http: httpx.Client, rg: str, name: str, value: str) -> None:
    create_vm(http)
    r = http.get(vm(), params={**P, name: value})
    assert r.status_code == 200, r.text
    statuses = r.json()["properties"]["instanceView"]["statuses"]
    assert [s["code"] for s in statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    r = http.get(VMS, params={**P, name: value})
    assert "instanceView" in r.json()["value"][0]["properties"]


def test_expand_with_unknown_value(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    assert_arm_error(
        http.get(vm(), params={**P, "$expand": "everything"}), 400, "InvalidParameter", "$expand"
    )
    assert_arm_error(http.get(VMS, params={**P, "$expand": "userData"}), 400, "InvalidParameter", "$expand")


@pytest.mark.parametrize("param", ["API-VERSION", "Api-Version", "api-Version"])
def test_api_version_parameter_name_is_case_insensitive(http: httpx.Client, rg: str, param: str) -> None:
    create_vm(http)
    assert http.get(vm(), params={param: V}).status_code == 200
    assert http.get(LIST_ALL, params={param: V}).status_code == 200
    assert http.get(RG, params={param: V}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"//subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        f"/subscriptions/{SUB}//resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers//Microsoft.Compute///virtualMachines/vm1/",
    ],
)
def test_doubled_slashes_collapse(azvm: AzvmServer, http: httpx.Client, rg: str, path: str) -> None:
    create_vm(http)
    url = azvm.endpoint + path  # absolute, so that nothing between us and the server rewrites the path
    r = http.get(url, params=P)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "vm1"
    r = http.post(url.rstrip("/") + "//restart", params=P)
    assert r.status_code == 202, r.text


# -- long-running operations -------------------------------------------------------------------------


def test_create_answers_201_with_async_operation_only(azvm: AzvmServer, http: httpx.Client, rg: str) -> None:
    """sdk_vm_create_put_201.json, sdk_async_operation_status_create.json."""
    azvm.set_time_skipping(False)
    make_network(http, "vm1")
    r = http.put(vm(), params=P, json=vm_body())
    assert r.status_code == 201, r.text
    assert_request_id(r)
    assert "location" not in r.headers  # older SDKs would read the VM from it
    assert r.headers["azure-asyncnotification"] == "Enabled"
    op_url = r.headers["azure-asyncoperation"]
    parts = urlsplit(op_url)
    assert parts.path.startswith(
        f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/"
    )
    assert dict(parse_qsl(parts.query))["api-version"] == V
    assert 0 < retry_delay_seconds(r) <= 1
    body = r.json()
    assert body["properties"]["provisioningState"] == "Creating"
    assert "adminPassword" not in body["properties"]["osProfile"]

    first = http.get(op_url)
    assert first.status_code == 200
    assert_request_id(first)
    doc = first.json()
    assert doc["status"] == "InProgress" and doc["name"] == parts.path.rsplit("/", 1)[1]
    assert doc["startTime"] and "endTime" not in doc
    assert retry_delay_seconds(first) > 0

    done = advance_until_done(azvm, http, op_url)
    assert done["status"] == "Succeeded" and done["name"] == doc["name"]
    assert done["startTime"] == doc["startTime"] and done["endTime"] >= done["startTime"]
    assert "error" not in done
    assert http.get(vm(), params=P).json()["properties"]["provisioningState"] == "Succeeded"


def test_put_on_existing_vm_answers_200_updating(http: httpx.Client, rg: str) -> None:
    """cli_vm_resize_put_200_2025.json."""
    create_vm(http)
    body = vm_body(size="Standard_D4s_v3")
    r = http.put(vm(), params=P, json=body)
    assert r.status_code == 200, r.text
    assert_request_id(r)
    assert "azure-asyncoperation" in r.headers and "location" not in r.headers
    assert r.json()["properties"]["provisioningState"] == "Updating"
    assert r.json()["properties"]["hardwareProfile"]["vmSize"] == "Standard_D4s_v3"
    assert wait_op(http, r.headers["azure-asyncoperation"])["status"] == "Succeeded"
    assert http.get(vm(), params=P).json()["properties"]["provisioningState"] == "Succeeded"


def test_put_answer_carries_etag_header_equal_to_body(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    r = http.put(vm(), params=P, json=vm_body(size="Standard_D4s_v3"))
    assert r.status_code == 200
    assert r.headers.get("etag") == r.json()["etag"]


def test_patch_answers_200_updating_without_async_headers(http: httpx.Client, rg: str) -> None:
    """sdk_vm_patch_200_updating.json: no Azure-AsyncOperation, no Location; the SDK polls the body."""
    create_vm(http)
    r = http.patch(vm(), params=P, json={"tags": {"env": "test"}})
    assert r.status_code == 200, r.text
    assert_request_id(r)
    assert "azure-asyncoperation" not in r.headers and "location" not in r.headers
    assert r.json()["properties"]["provisioningState"] == "Updating"
    assert r.json()["tags"] == {"env": "test"}
    for _ in range(20):  # time skipping: a GET of a VM being updated jumps to the next phase
        if http.get(vm(), params=P).json()["properties"]["provisioningState"] == "Succeeded":
            break
    else:
        raise AssertionError("PATCH never succeeded")


def _stop(http: httpx.Client) -> None:
    r = http.post(vm() + "/powerOff", params=P)
    assert r.status_code == 202
    wait_op(http, r.headers["azure-asyncoperation"])


ACTIONS: list[tuple[str, str, Callable[[httpx.Client], None] | None]] = [
    ("POST", "/start", _stop),
    ("POST", "/powerOff", None),
    ("POST", "/powerOff?skipShutdown=true", None),
    ("POST", "/deallocate", None),
    ("POST", "/restart", None),
    ("POST", "/redeploy", None),
    ("POST", "/reapply", None),
    ("DELETE", "", None),
    ("DELETE", "?forceDeletion=true", None),
]


@pytest.mark.parametrize("method,suffix,prepare", ACTIONS, ids=[f"{m} {s or '/'}" for m, s, _ in ACTIONS])
def test_actions_answer_202_with_both_headers_and_poll_to_the_end(
    azvm: AzvmServer,
    http: httpx.Client,
    rg: str,
    method: str,
    suffix: str,
    prepare: Callable[[httpx.Client], None] | None,
) -> None:
    """sdk_vm_power_actions_202.json, sdk_vm_deallocate_delete_generalize.json,
    cli_redeploy_202_headers_2025.json."""
    create_vm(http)
    if prepare:
        prepare(http)
    azvm.set_time_skipping(False)
    path, _, query = (vm() + suffix).partition("?")
    r = http.request(method, path, params={**dict(parse_qsl(query)), **P})
    assert r.status_code == 202, r.text
    assert_request_id(r)
    assert r.content == b"" and r.headers["content-length"] == "0"
    assert r.headers["azure-asyncnotification"] == "Enabled"
    async_url, location = r.headers["azure-asyncoperation"], r.headers["location"]
    a, loc = urlsplit(async_url), urlsplit(location)
    assert (loc.scheme, loc.netloc, loc.path) == (a.scheme, a.netloc, a.path)
    assert "/providers/Microsoft.Compute/locations/eastus/operations/" in a.path
    assert sorted(parse_qsl(loc.query)) == sorted([*parse_qsl(a.query), ("monitor", "true")])
    assert 0 < retry_delay_seconds(r) <= 1

    monitor = http.get(location)
    assert monitor.status_code == 202 and monitor.content == b""
    assert_request_id(monitor)
    assert urlsplit(monitor.headers["location"]).path == a.path
    op = http.get(async_url)
    assert op.status_code == 200
    doc = op.json()
    assert doc["status"] == "InProgress" and doc["name"] == a.path.rsplit("/", 1)[1]
    assert doc["startTime"] and "endTime" not in doc

    done = advance_until_done(azvm, http, async_url)
    assert done["status"] == "Succeeded", done
    assert set(done) == {"name", "status", "startTime", "endTime"}
    final = http.get(location)
    assert final.status_code == 200 and final.content == b""
    assert_request_id(final)
    if method == "DELETE":
        assert_vm_absent(http, "vm1")


def test_operation_resource_always_answers_200(azvm: AzvmServer, http: httpx.Client, rg: str) -> None:
    azvm.set_time_skipping(False)
    r = create_vm(http, settle=False)
    url = r.headers["azure-asyncoperation"]
    seen = []
    for _ in range(30):
        resp = http.get(url)
        assert resp.status_code == 200
        seen.append(resp.json()["status"])
        azvm.advance(3)
    assert seen[0] == "InProgress" and seen[-1] == "Succeeded"
    assert set(seen) == {"InProgress", "Succeeded"}
    # the operation id is found under any casing and any location segment of the route
    upper = http.get(url.replace("/operations/", "/OPERATIONS/"))
    assert upper.status_code == 200 and upper.json()["status"] == "Succeeded"


def test_unknown_operation_is_404(http: httpx.Client) -> None:
    url = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/nope"
    assert_arm_error(http.get(url, params=P), 404, "NotFound")
    assert_arm_error(http.get(url, params={**P, "monitor": "true"}), 404, "NotFound")


def test_preempted_operation_ends_canceled(azvm: AzvmServer, http: httpx.Client, rg: str) -> None:
    create_vm(http)
    azvm.set_time_skipping(False)
    first = http.post(vm() + "/powerOff", params=P)
    assert first.status_code == 202
    second = http.post(vm() + "/deallocate", params=P)
    assert second.status_code == 202
    doc = http.get(first.headers["azure-asyncoperation"]).json()
    assert doc["status"] == "Canceled" and doc["error"]["code"] == "OperationPreempted"
    assert "endTime" in doc


def test_every_response_has_a_request_id(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    responses = [
        http.get(vm(), params=P),
        http.get(vm("nope"), params=P),
        http.head(RG, params=P),
        http.head(RG + "x", params=P),
        http.delete(vm("nope"), params=P),
        http.get("/nowhere"),
        http.get(vm()),
        http.get(LIST_ALL, params=P),
        http.get(vm() + "/instanceView", params=P),
        http.get("/azvm/health"),
        http.post(vm() + "/restart", params=P),
        http.get("/metadata/endpoints"),
    ]
    ids = [r.headers.get("x-ms-request-id") for r in responses]
    assert all(ids), [
        (r.request.url, r.status_code) for r in responses if not r.headers.get("x-ms-request-id")
    ]
    assert len(set(ids)) == len(ids)


def test_get_vm_has_an_etag_that_moves_with_the_model(http: httpx.Client, rg: str) -> None:
    """cli_vm_get_expand_instanceview_running_2025.json: top-level etag '"5"'."""
    create_vm(http)
    e1 = http.get(vm(), params=P).json()["etag"]
    assert e1.startswith('"') and e1.endswith('"') and len(e1) > 2
    r = http.patch(vm(), params=P, json={"tags": {"a": "b"}})
    assert r.status_code == 200
    e2 = http.get(vm(), params=P).json()["etag"]
    assert e2 != e1


# -- request errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"{", b'{"location": "eastus",}', b"{'a': 1}", b"\xff\xfe", b"nul"])
def test_malformed_json_on_put_vm(http: httpx.Client, rg: str, content: bytes) -> None:
    assert_arm_error(http.put(vm(), params=P, content=content, headers=JSON), 400, "InvalidRequestContent")
    assert_vm_absent(http, "vm1")


@pytest.mark.parametrize("content", [b"{", b'{"location": }', b"<xml/>"])
def test_malformed_json_on_put_resource_group(http: httpx.Client, content: bytes) -> None:
    assert_arm_error(http.put(RG, params=P, content=content, headers=JSON), 400, "InvalidRequestContent")
    assert http.head(RG, params=P).status_code == 404


def test_empty_body_on_put_vm(http: httpx.Client, rg: str) -> None:
    assert_arm_error(http.put(vm(), params=P, content=b"", headers=JSON), 400, "InvalidRequestContent")
    assert_arm_error(http.put(vm(), params=P, content=b"  \n", headers=JSON), 400, "InvalidRequestContent")
    assert_vm_absent(http, "vm1")


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"null", b"1", b"true", b"[{}]"])
def test_non_object_json_body(http: httpx.Client, rg: str, content: bytes) -> None:
    assert_arm_error(http.put(vm(), params=P, content=content, headers=JSON), 400, "InvalidParameter", "body")
    assert_vm_absent(http, "vm1")
    assert_arm_error(
        http.put(RG + "2", params=P, content=content, headers=JSON), 400, "InvalidRequestContent"
    )
    assert http.head(RG + "2", params=P).status_code == 404


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"null", b"1"])
def test_non_object_json_body_on_patch(http: httpx.Client, rg: str, content: bytes) -> None:
    create_vm(http)
    assert_arm_error(http.patch(vm(), params=P, content=content, headers=JSON), 400, "InvalidRequestContent")


def test_non_object_json_body_on_patch_of_missing_vm(http: httpx.Client, rg: str) -> None:
    assert_arm_error(http.patch(vm(), params=P, content=b"[]", headers=JSON), 404, "ResourceNotFound")


def test_body_over_4_mb_is_413(http: httpx.Client, rg: str) -> None:
    body = vm_body()
    body["tags"] = {"pad": "x" * 200}
    big = json.dumps({**body, "padding": "x" * (4 * 1024 * 1024)}).encode()
    assert_arm_error(http.put(vm(), params=P, content=big, headers=JSON), 413, "RequestEntityTooLarge")
    assert_vm_absent(http, "vm1")


def test_chunked_body_over_4_mb_is_413(http: httpx.Client, rg: str) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the server must count as it reads
        yield b'{"padding": "'
        for _ in range(5):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    r = http.put(vm(), params=P, content=chunks(), headers=JSON)
    assert_arm_error(r, 413, "RequestEntityTooLarge")
    assert_vm_absent(http, "vm1")


def test_body_just_under_4_mb_is_read(http: httpx.Client, rg: str) -> None:
    body = vm_body()
    raw = json.dumps(body).encode()
    pad = 4 * 1024 * 1024 - len(raw) - 64
    padded = json.dumps({**body, "padding": "x" * pad}).encode()
    assert len(padded) <= 4 * 1024 * 1024
    make_network(http, "vm1")
    assert http.put(vm(), params=P, content=padded, headers=JSON).status_code == 201


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_wrong_content_type(http: httpx.Client, rg: str, ctype: str) -> None:
    content = json.dumps(vm_body()).encode()
    r = http.put(vm(), params=P, content=content, headers={"content-type": ctype})
    assert_arm_error(r, 415, "UnsupportedMediaType")
    assert_vm_absent(http, "vm1")
    r = http.put(RG + "2", params=P, content=b'{"location": "eastus"}', headers={"content-type": ctype})
    assert_arm_error(r, 415, "UnsupportedMediaType")


@pytest.mark.parametrize(
    "ctype",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "text/json", "application/merge-patch+json"],
)
def test_json_content_types_accepted(http: httpx.Client, rg: str, ctype: str) -> None:
    make_network(http, "vm1")
    r = http.put(vm(), params=P, content=json.dumps(vm_body()).encode(), headers={"content-type": ctype})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere",
        "/subscriptions/{sub}/bogus",
        "/subscriptions/{sub}/resourceGroups/rg/bogus",
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g1",
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/explode",
        "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start/now",
        "/subscriptions/{sub}/providers/Microsoft.Compute/locations/eastus/bogus",
    ],
)
def test_unknown_route_is_404_with_envelope(http: httpx.Client, rg: str, path: str) -> None:
    create_vm(http)
    err = assert_arm_error(http.get(path.format(sub=SUB), params=P), 404, "NotFound")
    assert "No HTTP resource was found" in err["message"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", vm()),
        ("HEAD", vm()),
        ("PUT", vm() + "/start"),
        ("GET", vm() + "/restart"),
        ("DELETE", vm() + "/powerOff"),
        ("POST", vm() + "/instanceView"),
        ("DELETE", VMS),
        ("PUT", LIST_ALL),
        ("POST", RG),
        ("PATCH", RG),
    ],
)
def test_unsupported_method_is_405(http: httpx.Client, rg: str, method: str, path: str) -> None:
    create_vm(http)
    r = http.request(method, path, params=P)
    if method == "HEAD":
        assert r.status_code == 405 and r.content == b""
        assert_request_id(r)
        return
    err = assert_arm_error(r, 405, "MethodNotAllowed")
    assert f"'{method}'" in err["message"]
    assert http.get(vm(), params=P).json()["properties"]["provisioningState"] == "Succeeded"


@pytest.mark.parametrize("top", ["0", "1001", "abc", "-1", "1.5", "", " 1"])
@pytest.mark.parametrize("path", [LIST_ALL, VMS])
def test_invalid_top(http: httpx.Client, rg: str, path: str, top: str) -> None:
    assert_arm_error(http.get(path, params={**P, "$top": top}), 400, "InvalidParameter", "$top")


def test_invalid_top_unicode_digit(http: httpx.Client) -> None:
    assert_arm_error(http.get(LIST_ALL, params={**P, "$top": "²"}), 400, "InvalidParameter", "$top")


def test_top_pages_with_next_link(http: httpx.Client, rg: str) -> None:
    for name in ("vm1", "vm2", "vm3"):
        create_vm(http, name, settle=False)
    names: list[str] = []
    url: str | None = f"{LIST_ALL}?api-version={V}&$top=2"
    while url:
        r = http.get(url)
        assert r.status_code == 200, r.text
        names += [v["name"] for v in r.json()["value"]]
        url = r.json().get("nextLink")
    assert sorted(names) == ["vm1", "vm2", "vm3"]


@pytest.mark.parametrize("token", ["a", "_w", "abcde", "_w_w"])
def test_bad_skiptoken(http: httpx.Client, rg: str, token: str) -> None:
    assert_arm_error(
        http.get(LIST_ALL, params={**P, "$skiptoken": token}), 400, "InvalidParameter", "$skiptoken"
    )


@pytest.mark.parametrize(
    "suffix,param", [("/powerOff", "skipShutdown"), ("/deallocate", "hibernate"), ("", "forceDeletion")]
)
@pytest.mark.parametrize("value", ["maybe", "yes", "2"])
def test_bad_boolean_query_parameter(
    http: httpx.Client, rg: str, suffix: str, param: str, value: str
) -> None:
    create_vm(http)
    method = "DELETE" if suffix == "" else "POST"
    r = http.request(method, vm() + suffix, params={**P, param: value})
    err = assert_arm_error(r, 400, "InvalidParameter", param)
    assert f"'{value}'" in err["message"]
    after = http.get(vm(), params={**P, "$expand": "instanceView"}).json()
    assert after["properties"]["instanceView"]["statuses"][1]["code"] == "PowerState/running"


def test_boolean_query_parameters_accept_any_case(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    r = http.post(vm() + "/powerOff", params={**P, "skipShutdown": "TRUE"})
    assert r.status_code == 202


@pytest.mark.parametrize(
    "name", ["a" * 65, "bad$name", "vm.", "-vm", "vm name", "vm!", "vm-", "ünïcode", "_vm"]
)
def test_invalid_vm_name(http: httpx.Client, rg: str, name: str) -> None:
    err = assert_arm_error(http.put(vm(name), params=P, json=vm_body()), 400, "InvalidParameter", "name")
    assert name in err["message"]
    assert_vm_absent(http, name)
    assert http.get(VMS, params=P).json()["value"] == []


@pytest.mark.parametrize("name", ["a" * 64, "a", "vm_", "vm-1.x_2", "1vm"])
def test_valid_vm_names(http: httpx.Client, rg: str, name: str) -> None:
    make_network(http, name)
    assert http.put(vm(name), params=P, json=vm_body(name)).status_code == 201


def _without(*keys: str) -> Callable[[dict[str, Any]], None]:
    def f(b: dict[str, Any]) -> None:
        d = b
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]

    return f


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def f(b: dict[str, Any]) -> None:
        d = b
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return f


def _attach_with_os_profile(b: dict[str, Any]) -> None:
    b.clear()
    b.update(vm_body(image=False))
    b["properties"]["osProfile"] = {"computerName": "vm", "adminUsername": "azure"}


def _duplicate_luns(b: dict[str, Any]) -> None:
    b["properties"]["storageProfile"]["dataDisks"] = [
        {"lun": 0, "createOption": "Empty", "diskSizeGB": 8},
        {"lun": 0, "createOption": "Empty", "diskSizeGB": 8},
    ]


BAD_BODIES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("no properties", _without("properties"), "InvalidParameter", "properties"),
    ("properties not an object", _set([], "properties"), "InvalidParameter", "properties"),
    ("no hardwareProfile", _without("properties", "hardwareProfile"), "InvalidParameter", "hardwareProfile"),
    (
        "no vmSize",
        _without("properties", "hardwareProfile", "vmSize"),
        "InvalidParameter",
        "hardwareProfile.vmSize",
    ),
    (
        "vmSize not a string",
        _set(2, "properties", "hardwareProfile", "vmSize"),
        "InvalidParameter",
        "hardwareProfile.vmSize",
    ),
    (
        "unknown size",
        _set("Standard_Nope_v9", "properties", "hardwareProfile", "vmSize"),
        "InvalidParameter",
        "vmSize",
    ),
    ("no networkProfile", _without("properties", "networkProfile"), "InvalidParameter", "networkProfile"),
    (
        "no NICs",
        _set([], "properties", "networkProfile", "networkInterfaces"),
        "InvalidParameter",
        "networkProfile.networkInterfaces",
    ),
    (
        "NIC without id",
        _set([{}], "properties", "networkProfile", "networkInterfaces"),
        "InvalidParameter",
        "networkProfile.networkInterfaces[0].id",
    ),
    (
        "no adminUsername",
        _without("properties", "osProfile", "adminUsername"),
        "InvalidParameter",
        "osProfile.adminUsername",
    ),
    ("no osProfile on FromImage", _without("properties", "osProfile"), "InvalidParameter", "osProfile"),
    ("osProfile on Attach", _attach_with_os_profile, "InvalidParameter", "osProfile"),
    ("no storageProfile", _without("properties", "storageProfile"), "InvalidParameter", "storageProfile"),
    (
        "image without sku",
        _without("properties", "storageProfile", "imageReference", "sku"),
        "InvalidParameter",
        "storageProfile.imageReference.sku",
    ),
    (
        "unknown createOption",
        _set({"createOption": "Copy"}, "properties", "storageProfile", "osDisk"),
        "InvalidParameter",
        "storageProfile.osDisk.createOption",
    ),
    ("duplicate LUNs", _duplicate_luns, "InvalidParameter", "storageProfile.dataDisks[1].lun"),
    (
        "LUN out of range",
        _set([{"lun": 64, "createOption": "Empty"}], "properties", "storageProfile", "dataDisks"),
        "InvalidParameter",
        "storageProfile.dataDisks[0].lun",
    ),
    (
        "dataDisks not a list",
        _set({"lun": 0}, "properties", "storageProfile", "dataDisks"),
        "InvalidParameter",
        "storageProfile.dataDisks",
    ),
    ("non-string tag", _set({"env": 1}, "tags"), "InvalidParameter", "tags.env"),
    ("tags not an object", _set(["a"], "tags"), "InvalidParameter", "tags"),
    ("no location", _without("location"), "InvalidParameter", "location"),
    ("unknown location", _set("moon", "location"), "LocationNotAvailableForResourceType", "location"),
]


@pytest.mark.parametrize("mutate,code,target", [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES])
def test_invalid_vm_body_is_rejected_with_target_and_writes_nothing(
    http: httpx.Client, rg: str, mutate: Callable[[dict[str, Any]], None], code: str, target: str
) -> None:
    make_network(http, "vm1", attach=True)  # what a valid body would reference exists: the body is at fault
    body = vm_body()
    mutate(body)
    assert_arm_error(http.put(vm(), params=P, json=body), 400, code, target)
    assert_vm_absent(http, "vm1")
    assert http.get(LIST_ALL, params=P).json()["value"] == []


BAD_NESTED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "dataDisks[0].managedDisk a string",
        _set(
            [{"lun": 0, "createOption": "Empty", "managedDisk": "x"}],
            "properties",
            "storageProfile",
            "dataDisks",
        ),
        "storageProfile.dataDisks[0].managedDisk",
    ),
    (
        "osDisk.managedDisk a string",
        _set({"managedDisk": "x"}, "properties", "storageProfile", "osDisk"),
        "storageProfile.osDisk.managedDisk",
    ),
    (
        "osProfile.linuxConfiguration a string",
        _set("x", "properties", "osProfile", "linuxConfiguration"),
        "osProfile.linuxConfiguration",
    ),
]


@pytest.mark.parametrize("mutate,target", [b[1:] for b in BAD_NESTED], ids=[b[0] for b in BAD_NESTED])
def test_nested_non_objects_in_create_body(
    http: httpx.Client, rg: str, mutate: Callable[[dict[str, Any]], None], target: str
) -> None:
    make_network(http, "vm1")
    body = vm_body()
    mutate(body)
    assert_arm_error(http.put(vm(), params=P, json=body), 400, "InvalidParameter", target)


def test_rejected_update_leaves_the_vm_unchanged(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    before = http.get(vm(), params=P).json()
    bad = vm_body(size="Standard_Nope_v9")
    assert_arm_error(http.put(vm(), params=P, json=bad), 400, "InvalidParameter", "vmSize")
    assert_arm_error(
        http.patch(vm(), params=P, json={"properties": {"hardwareProfile": {"vmSize": "Nope"}}}),
        400,
        "InvalidParameter",
        "vmSize",
    )
    assert_arm_error(http.patch(vm(), params=P, json={"tags": {"a": 1}}), 400, "InvalidParameter", "tags.a")
    moved = vm_body(location="westus")
    assert_arm_error(http.put(vm(), params=P, json=moved), 409, "PropertyChangeNotAllowed", "location")
    assert http.get(vm(), params=P).json() == before


def test_patch_with_non_object_hardware_profile(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    r = http.patch(vm(), params=P, json={"properties": {"hardwareProfile": "x"}})
    assert_arm_error(r, 400, "InvalidParameter", "hardwareProfile")


def test_patch_with_invalid_data_disks_is_rejected(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    r = http.patch(vm(), params=P, json={"properties": {"storageProfile": {"dataDisks": [1]}}})
    assert_arm_error(r, 400, "InvalidParameter", "storageProfile.dataDisks[0]")
    assert http.get(vm() + "/instanceView", params=P).status_code == 200


def test_delete_of_a_missing_vm_is_204(http: httpx.Client, rg: str) -> None:
    r = http.delete(vm("ghost"), params=P)
    assert r.status_code == 204 and r.content == b""
    assert_request_id(r)
    assert "azure-asyncoperation" not in r.headers and "location" not in r.headers


def test_missing_resource_group(http: httpx.Client) -> None:
    msg = "Resource group 'x' could not be found."
    base = f"/subscriptions/{SUB}/resourceGroups/x"
    vm_x = f"{base}/providers/Microsoft.Compute/virtualMachines/vm1"
    for r in (
        http.get(vm_x, params=P),
        http.get(base, params=P),
        http.delete(vm_x, params=P),
        http.get(f"{base}/providers/Microsoft.Compute/virtualMachines", params=P),
        http.put(vm_x, params=P, json=vm_body()),
        http.post(vm_x + "/start", params=P),
    ):
        assert assert_arm_error(r, 404, "ResourceGroupNotFound")["message"] == msg, r.request.url
    assert_arm_error(http.get(vm_x, params=P), 404, "ResourceGroupNotFound")


def test_missing_vm_in_existing_group(http: httpx.Client, rg: str) -> None:
    for r in (
        http.get(vm(), params=P),
        http.post(vm() + "/start", params=P),
        http.get(vm() + "/instanceView", params=P),
        http.patch(vm(), params=P, json={}),
    ):
        err = assert_arm_error(r, 404, "ResourceNotFound")
        assert "'Microsoft.Compute/virtualMachines/vm1'" in err["message"] and "'rg'" in err["message"]


def test_resource_group_head(http: httpx.Client) -> None:
    r = http.head(RG, params=P)
    assert r.status_code == 404 and r.content == b""
    http.put(RG, params=P, json={"location": "eastus"})
    r = http.head(RG, params=P)
    assert r.status_code == 204 and r.content == b""
    assert http.head(RG.replace("resourceGroups/rg", "resourcegroups/RG"), params=P).status_code == 204


def test_resource_group_put_is_201_then_200(http: httpx.Client) -> None:
    assert http.put(RG, params=P, json={"location": "eastus"}).status_code == 201
    r = http.put(RG, params=P, json={"location": "East US", "tags": {"a": "b"}})
    assert r.status_code == 200 and r.json()["tags"] == {"a": "b"}
    assert_arm_error(
        http.put(RG, params=P, json={"location": "westus"}), 409, "InvalidResourceGroupLocation", "location"
    )
    assert_arm_error(http.put(RG + "2", params=P, json={}), 400, "InvalidParameter", "location")
    assert_arm_error(
        http.put(RG + "2", params=P, json={"location": "eastus", "tags": {"a": 1}}),
        400,
        "InvalidParameter",
        "tags.a",
    )
    assert_arm_error(
        http.put(RG + "bad.", params=P, json={"location": "eastus"}),
        400,
        "InvalidResourceGroupName",
        "resourceGroupName",
    )
    assert http.head(RG + "2", params=P).status_code == 404


def test_operation_not_allowed_is_409(http: httpx.Client, rg: str) -> None:
    """sdk_vm_errors_409_operation_not_allowed.json: powerOff of a deallocated VM."""
    create_vm(http)
    r = http.post(vm() + "/deallocate", params=P)
    wait_op(http, r.headers["azure-asyncoperation"])
    err = assert_arm_error(http.post(vm() + "/powerOff", params=P), 409, "OperationNotAllowed")
    assert "target" not in err and "details" not in err


# -- the control API -------------------------------------------------------------------------------


def test_health(http: httpx.Client) -> None:
    r = http.get("/azvm/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["store"] == "memory" and body["version"]
    assert body["now"].startswith("2026-01-01T00:00:00")


def test_clock_moves(http: httpx.Client) -> None:
    c = http.get("/azvm/clock").json()
    assert c["now"].startswith("2026-01-01T00:00:00") and c["manual"] is True and c["timeSkipping"] is True
    r = http.post("/azvm/clock", json={"advanceSeconds": 90})
    assert r.status_code == 200 and r.json()["now"].startswith("2026-01-01T00:01:30")
    r = http.post("/azvm/clock", json={"advanceSeconds": 0.5})
    assert r.json()["now"].startswith("2026-01-01T00:01:30.5")
    r = http.post("/azvm/clock", json={"set": "2026-02-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["now"].startswith("2026-02-01T00:00:00")
    r = http.post("/azvm/clock", json={"set": "2026-02-01T02:00:00+01:00"})
    assert r.json()["now"].startswith("2026-02-01T01:00:00")
    r = http.post("/azvm/clock", json={"timeSkipping": False})
    assert r.status_code == 200 and r.json()["timeSkipping"] is False
    try:
        r = http.post("/azvm/clock", json={"speed": 2})
        assert r.status_code == 200 and r.json()["manual"] is False and r.json()["speed"] == 2.0
    finally:  # the session's server outlives this test; `reset` does not restore the speed
        r = http.post("/azvm/clock", json={"speed": 0})
    assert r.json()["manual"] is True


@pytest.mark.parametrize(
    "body,target",
    [
        ({"advanceSeconds": -1}, "advanceSeconds"),
        ({"advanceSeconds": "ten"}, "advanceSeconds"),
        ({"advanceSeconds": True}, "advanceSeconds"),
        ({"advanceSeconds": None}, "advanceSeconds"),
        ({"set": "2025-01-01T00:00:00Z"}, "set"),
        ({"set": "2027-01-01T00:00:00"}, "set"),
        ({"set": "tomorrow"}, "set"),
        ({"set": 1767225600}, "set"),
        ({"speed": "fast"}, "speed"),
        ({"speed": -1}, "speed"),
        ({"speed": 1e9}, "speed"),
        ({}, "body"),
        ([], "body"),
        ("now", "body"),
    ],
)
def test_clock_errors(http: httpx.Client, body: Any, target: str) -> None:
    before = http.get("/azvm/clock").json()
    assert_arm_error(http.post("/azvm/clock", json=body), 400, "InvalidParameter", target)
    assert http.get("/azvm/clock").json() == before


def test_clock_bad_json(http: httpx.Client) -> None:
    assert_arm_error(http.post("/azvm/clock", content=b"{", headers=JSON), 400, "InvalidRequestContent")
    assert_arm_error(http.post("/azvm/clock", content=b"", headers=JSON), 400, "InvalidRequestContent")


def test_rejected_clock_change_moves_nothing(http: httpx.Client) -> None:
    before = http.get("/azvm/clock").json()
    assert_arm_error(
        http.post("/azvm/clock", json={"advanceSeconds": 60, "speed": "fast"}),
        400,
        "InvalidParameter",
        "speed",
    )
    assert http.get("/azvm/clock").json() == before


def test_clock_advance_overflow(http: httpx.Client) -> None:
    assert_arm_error(http.post("/azvm/clock", json={"advanceSeconds": 1e308}), 400, "InvalidParameter")


def test_reset(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    http.post("/azvm/clock", json={"advanceSeconds": 3600})
    r = http.post("/azvm/reset", json={"startTime": "2026-03-01T00:00:00Z", "seed": 5, "timeSkipping": True})
    assert r.status_code == 200
    assert r.json()["status"] == "reset" and r.json()["now"].startswith("2026-03-01T00:00:00")
    assert http.head(RG, params=P).status_code == 404
    assert http.get(LIST_ALL, params=P).json()["value"] == []
    r = http.post("/azvm/reset")  # no body at all
    assert r.status_code == 200 and r.json()["status"] == "reset"


@pytest.mark.parametrize(
    "body,target",
    [
        ({"startTime": "yesterday"}, "startTime"),
        ({"startTime": "2026-01-01T00:00:00"}, "startTime"),
        ({"startTime": 5}, "startTime"),
        ({"startTime": "2026-01-01T00:00:00Z", "seed": "x"}, "seed"),
    ],
)
def test_reset_errors(http: httpx.Client, rg: str, body: Any, target: str) -> None:
    assert_arm_error(http.post("/azvm/reset", json=body), 400, "InvalidParameter", target)
    assert http.head(RG, params=P).status_code == 204  # nothing was reset


@pytest.mark.parametrize("content", [b"[]", b"0", b"false", b'""'])
def test_reset_with_falsy_non_object_body(http: httpx.Client, rg: str, content: bytes) -> None:
    assert_arm_error(http.post("/azvm/reset", content=content, headers=JSON), 400, "InvalidParameter", "body")
    assert http.head(RG, params=P).status_code == 204


def test_reset_with_truthy_non_object_body(http: httpx.Client, rg: str) -> None:
    for content in (b"[1]", b"1", b'"x"'):
        r = http.post("/azvm/reset", content=content, headers=JSON)
        assert_arm_error(r, 400, "InvalidParameter", "body")
    assert http.head(RG, params=P).status_code == 204


@pytest.mark.parametrize("body", [{"seed": "x"}, {"seed": 1.5}])
def test_reset_bad_seed_alone_names_seed(http: httpx.Client, body: Any) -> None:
    assert_arm_error(http.post("/azvm/reset", json=body), 400, "InvalidParameter", "seed")


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"id": "bad"}, 400, "InvalidResourceId"),
        (
            {"id": nic_id("vm1")},
            400,
            "InvalidResourceId",
        ),
        ({"id": f"{VMS}/ghost"}, 404, "ResourceNotFound"),
        ({}, 400, "InvalidParameter"),
        ({"id": 5}, 400, "InvalidParameter"),
        ([], 400, "InvalidParameter"),
    ],
)
def test_guest_shutdown_errors(http: httpx.Client, rg: str, body: Any, status: int, code: str) -> None:
    err = assert_arm_error(http.post("/azvm/guest-shutdown", json=body), status, code)
    if status == 400:
        assert err["target"] == "id"


def test_guest_shutdown_and_history(http: httpx.Client, rg: str) -> None:
    create_vm(http)
    vm_id = f"{VMS}/vm1"
    r = http.post(
        "/azvm/guest-shutdown", json={"id": vm_id.upper().replace("SUBSCRIPTIONS", "subscriptions")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["startTime"] <= r.json()["endTime"]
    h = http.get("/azvm/history", params={"id": vm_id})
    assert h.status_code == 200
    ops = h.json()["operations"]
    assert len(ops) == 2 and all(op["id"] and op["acceptedAt"] and op["phases"] for op in ops)
    assert ops[-1]["phases"][-1]["statuses"][1]["code"] == "PowerState/stopped"


def test_history_errors(http: httpx.Client) -> None:
    assert_arm_error(http.get("/azvm/history"), 400, "InvalidParameter", "id")
    assert_arm_error(http.get("/azvm/history", params={"id": f"{VMS}/ghost"}), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/azvm/nothing"),
        ("DELETE", "/azvm/health"),
        ("PUT", "/azvm/clock"),
        ("GET", "/azvm/reset"),
        ("GET", "/azvm"),
    ],
)
def test_unknown_control_route(http: httpx.Client, method: str, path: str) -> None:
    assert_arm_error(http.request(method, path), 404, "NotFound")


# -- no 500 anywhere -------------------------------------------------------------------------------

ODD_BODIES = [
    None,
    b"[]",
    b'"x"',
    b"null",
    b"1",
    b"{}",
    b"{",
    b"true",
    b'{"properties": null}',
    b'{"properties": []}',
    b'{"location": 5}',
    b'{"tags": "x"}',
    b'{"properties": {"hardwareProfile": []}}',
    b'{"properties": {"storageProfile": {"dataDisks": [null]}}}',
]


def odd_requests() -> st.SearchStrategy[tuple[str, str, dict[str, str], bytes | None]]:
    segments = st.sampled_from(
        [
            "resourceGroups",
            "resourcegroups",
            "rg",
            "RG",
            "providers",
            "Microsoft.Compute",
            "virtualMachines",
            "vm1",
            "vm2",
            "start",
            "powerOff",
            "deallocate",
            "instanceView",
            "locations",
            "eastus",
            "operations",
            "operationresults",
            "vmSizes",
            "x",
            "",
            "..",
            "%2F",
            "a" * 70,
            "vm.",
            "Microsoft.Network",
            "resources",
        ]
    )
    prefixes = st.sampled_from(
        [
            f"/subscriptions/{SUB}",
            f"/subscriptions/{SUB}/resourceGroups/rg",
            VMS,
            vm(),
            f"/subscriptions/{SUB}/providers/Microsoft.Compute",
            "/subscriptions",
            "/azvm",
            "",
            "/tenants",
            "/metadata",
        ]
    )
    path = st.builds(lambda p, rest: "/".join([p, *rest]) or "/", prefixes, st.lists(segments, max_size=4))
    values = st.sampled_from(
        ["", "true", "maybe", "0", "-1", "1001", "²", "instanceView", "x" * 30, "%00", "a"]
    )
    query = st.dictionaries(
        st.sampled_from(
            [
                "api-version",
                "$top",
                "$skiptoken",
                "$expand",
                "skipShutdown",
                "hibernate",
                "statusOnly",
                "monitor",
                "forceDeletion",
                "id",
            ]
        ),
        values,
        max_size=3,
    )
    api = st.sampled_from([None, V, "2019-07-01", "2024-11-01-preview", "bogus", ""])
    body = st.sampled_from(ODD_BODIES)
    method = st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"])

    def build(
        m: str, p: str, q: dict[str, str], a: str | None, b: bytes | None
    ) -> tuple[str, str, dict[str, str], bytes | None]:
        q = dict(q)
        if a is not None:
            q["api-version"] = a
        return m, p, q, b

    return st.builds(build, method, path, query, api, body)


def check_no_500(
    http: httpx.Client, method: str, path: str, query: dict[str, str], body: bytes | None
) -> None:
    r = http.request(method, path, params=query, content=body, headers=JSON if body is not None else None)
    assert r.status_code < 500, (method, path, query, body, r.status_code, r.text)
    assert_request_id(r)
    if r.status_code >= 400 and r.content:
        assert is_arm_envelope(r.content), (method, path, query, body, r.status_code, r.text)


def fresh_world(azvm: AzvmServer, http: httpx.Client) -> None:
    azvm.reset()
    http.put(RG, params=P, json={"location": "eastus"})
    create_vm(http)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=odd_requests())
def test_odd_requests_never_500(
    azvm: AzvmServer, http: httpx.Client, req: tuple[str, str, dict[str, str], bytes | None]
) -> None:
    fresh_world(azvm, http)
    check_no_500(http, *req)


def test_odd_json_bodies_on_every_route_never_500(azvm: AzvmServer, http: httpx.Client) -> None:
    routes = [
        RG,
        vm(),
        vm("vm2"),
        vm() + "/start",
        vm() + "/powerOff",
        VMS,
        LIST_ALL,
        "/azvm/clock",
        "/azvm/reset",
        "/azvm/guest-shutdown",
        "/azvm/faults",
        f"/subscriptions/{SUB}/resourcegroups",
    ]
    for route in routes:
        fresh_world(azvm, http)
        for body in ODD_BODIES:
            for method in ("PUT", "PATCH", "POST"):
                check_no_500(http, method, route, P, copy.copy(body))
        http.post("/azvm/clock", json={"speed": 0})  # in case a body set a speed


def test_the_date_header_is_the_simulated_clock(azvm: AzvmServer, http: httpx.Client) -> None:
    """A client that reads the server's time (an audit choosing its Activity Log window) reads simulated
    time: one Date header, from the clock, on ARM's answers, errors and the dashboard alike."""
    azvm.advance(3 * 86400 + 61)
    for path in (RG, "/nowhere", "/"):
        r = http.get(path, params=P)
        assert r.headers.get_list("date") == ["Sun, 04 Jan 2026 00:01:01 GMT"], (path, r.headers)
