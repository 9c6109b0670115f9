"""Every route of the table, with arbitrary text in every path segment, header and query parameter
and arbitrary bodies: the answer is a success or the ARM error envelope, never a 5xx or a dropped
connection, and whenever it is an error nothing was written (issue: no write without a
well-formed answer)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SUB, http_client, make_network, vm_body

from azvm.testing import AzvmServer, azvm_server

TABLES = ("ops", "vms", "groups", "resources", "resource_versions")

# a value that reaches the handler for each parameter name, beside arbitrary text (VM vm1 exists, with its NIC)
VALID = {"subscriptionId": SUB, "resourceGroupName": "rg", "location": "eastus", "vmName": "vm1",
         "resourceName": "r1", "childName": "c1", "operationId": "5d2e3f4a-0000-4000-8000-000000000001",
         "resourceProviderNamespace": "Microsoft.Compute", "path": "health"}
QUERY_NAMES = ["api-version", "$expand", "$filter", "$top", "$skiptoken", "statusOnly", "monitor",
               "forceDeletion", "skipShutdown", "hibernate", "rules", "from", "to", "id"]
HEADER_NAMES = ["if-match", "if-none-match", "content-type", "origin", "x-ms-client-request-id", "accept"]
VERSIONS = ["2024-11-01", "2025-04-01", "2024-05-01", "2023-04-02", "2021-07-01"]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=30)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(scalars,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=12)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=60),
    json_values.map(lambda v: httpx.Request("POST", "http://x", json=v).content),
    st.fixed_dictionaries({"location": st.sampled_from(["eastus", "moon", ""]),
                           "properties": json_values, "tags": json_values}).map(
        lambda v: httpx.Request("POST", "http://x", json=v).content),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzvmServer]:
    data = tmp_path_factory.mktemp("fuzz")
    with azvm_server(data_dir=str(data), tls=False) as s:
        yield s


def fingerprint(db_path: Path) -> tuple[Any, ...]:
    """What the store holds: every table's row count and newest versions (read on a connection of
    its own, so it sees only what was committed)."""
    con = sqlite3.connect(db_path)
    try:
        out = []
        for t in TABLES:
            out.append(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
        out.append(tuple(con.execute("SELECT key, version FROM vms ORDER BY key").fetchall()))
        out.append(tuple(con.execute("SELECT key, version, gone_us FROM resources ORDER BY key").fetchall()))
        out.append(tuple(con.execute("SELECT key, location, delete_op FROM groups ORDER BY key").fetchall()))
        return tuple(out)
    finally:
        con.close()


def routes(server: AzvmServer) -> list[tuple[str, tuple[str, ...]]]:
    app: Any = server.emulator.app
    while not hasattr(app, "api"):  # under the host guard
        app = app.app
    table = app.api.router.table
    # the identity provider's endpoints answer in OAuth's shape, not ARM's (tests/identity)
    return sorted({(r.method, r.segments) for r in table if not r.handler.__module__.startswith("azvm.identity")})


@st.composite
def requests(draw: st.DrawFn, table: list[tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
    method, segs = draw(st.sampled_from(table))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"]))
    parts = []
    for s in segs:
        if s.startswith("{"):
            name = s.strip("{}*")
            odd = text.filter(lambda t: t not in ("", ".", ".."))
            value = VALID.get(name, "x") if draw(st.booleans()) else draw(odd)
            parts.append(quote(value, safe=""))
        else:
            parts.append(s if draw(st.integers(0, 4)) else s.upper())
    query = {}
    if draw(st.integers(0, 4)):
        query["api-version"] = draw(st.sampled_from(VERSIONS))
    for name in draw(st.lists(st.sampled_from(QUERY_NAMES), max_size=3)):
        query[name] = draw(text)
    headers = {name: draw(header_text).strip(" \t").encode("latin-1")
               for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=2))}
    body = draw(bodies) if method in ("PUT", "POST", "PATCH") else None
    if body is not None and "content-type" not in headers:
        headers["content-type"] = b"application/json"
    return {"method": method, "url": "/" + "/".join(parts), "params": query, "headers": headers, "content": body}


def test_every_route_answers_arbitrary_input_with_success_or_the_arm_envelope(server: AzvmServer) -> None:
    table = routes(server)
    db = Path(server.emulator.options.resolved_data_dir) / "azvm.sqlite3"
    http = http_client(base_url=server.endpoint, timeout=30)
    try:
        _fuzz(http, table, db)
    finally:
        http.close()


def _fuzz(http: httpx.Client, table: list[tuple[str, tuple[str, ...]]], db: Path) -> None:
    assert http.put(f"/subscriptions/{SUB}/resourceGroups/rg", params={"api-version": "2024-11-01"},
                    json={"location": "eastus"}).status_code in (200, 201)
    make_network(http, "vm1")
    vm1 = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
    assert http.put(vm1, params={"api-version": "2024-11-01"}, json=vm_body()).status_code == 201
    seen: dict[int, int] = {}

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(requests(table))
    def check(req: dict[str, Any]) -> None:
        before = fingerprint(db)
        r = http.request(req["method"], req["url"], params=req["params"], headers=req["headers"],
                         content=req["content"])
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (req, r.status_code, r.text)
        if r.status_code >= 400:
            if req["method"] != "HEAD" and r.content:
                err = r.json()["error"]
                assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str), r.text
                assert r.headers["content-type"].startswith("application/json")
            assert fingerprint(db) == before, (req, r.status_code, r.text)

    check()
    assert any(s < 300 for s in seen) and any(400 <= s < 500 for s in seen), seen  # both kinds were reached


@pytest.mark.parametrize("size", [70_000, 200_000])
def test_an_over_long_url_gets_the_arm_envelope(server: AzvmServer, size: int) -> None:
    """URLs that the HTTP parser itself refuses (64 KB and more): the ARM envelope, not plain text."""
    import json
    import socket

    port = int(server.endpoint.rsplit(":", 1)[1])
    db = Path(server.emulator.options.resolved_data_dir) / "azvm.sqlite3"
    before = fingerprint(db)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sk:
        path = f"/subscriptions/{SUB}/resourcegroups/{'a' * size}?api-version=2024-11-01"
        sk.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\ncontent-length: 2\r\n\r\n{{}}".encode())
        data = b""
        while chunk := sk.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "InvalidRequestFormat"
    assert fingerprint(db) == before
