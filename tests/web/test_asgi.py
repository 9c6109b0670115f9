"""The dashboard's HTTP surface without a browser: the page and its assets, the reads, the event
stream, and the screening it shares with the ARM edge."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from azvm.testing import AzvmServer, azvm_server
from azvm.web.fleet import COLUMNS
from tests.conftest import http_client

WEB = Path(__file__).resolve().parents[2] / "src" / "azvm" / "web"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
SUB = "00000000-0000-0000-0000-000000000000"


def vm_path(name: str, rg: str = "rg") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def test_the_page_and_every_asset_it_names_are_served_from_the_package(azvm: AzvmServer) -> None:
    with http_client(azvm) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        csp = page.headers["content-security-policy"]
        # the page runs its own scripts only and reaches nothing but its own server
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert c.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
        head = c.head("/")
        assert head.status_code == 200 and head.content == b""
        names = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.text)
        assert "/ui/static/vendor/chart.umd.min.js" in names and "/ui/static/app.js" in names
        modules = {"/ui/static/app.js"}
        for name in names:
            r = c.get(name)
            assert r.status_code == 200, name
        # every module the page imports, transitively, is there too (no network, no build step)
        todo = list(modules)
        while todo:
            js = c.get(todo.pop()).text
            for imported in re.findall(r'from "\./([^"]+)"', js):
                url = f"/ui/static/{imported}"
                if url not in modules:
                    modules.add(url)
                    todo.append(url)
                    r = c.get(url)
                    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript"), url
        assert len(modules) >= 7


def test_the_vendored_chart_library_is_the_one_the_docs_pin() -> None:
    vendored = (WEB / "static" / "vendor" / "chart.umd.min.js").read_bytes()
    docs = DOCS.read_text()
    version = re.search(r"Chart\.js \*\*(\d+\.\d+\.\d+)\*\*", docs)
    assert version is not None and f"Chart.js v{version.group(1)}".encode() in vendored[:200]
    assert hashlib.sha256(vendored).hexdigest() in docs
    assert (WEB / "static" / "vendor" / "LICENSE.md").read_text().startswith("The MIT License")


def test_refusals_are_arm_envelopes_and_foreign_pages_are_screened_out(azvm: AzvmServer) -> None:
    with http_client(azvm) as c:
        r = c.post("/ui/api/fleet", json={})
        assert r.status_code == 405 and r.json()["error"]["code"] == "MethodNotAllowed"
        r = c.get("/ui/static/nothing.js")
        assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
        r = c.get("/ui/api/timeline")
        assert r.status_code == 400 and r.json()["error"]["target"] == "id"
        r = c.get("/ui/api/timeline", params={"id": vm_path("nope")})
        assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
        head = c.head("/ui/events")  # no stream: the headers a GET would start with
        assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")
        assert head.content == b""
        r = c.get("/ui/events", headers={"Host": "evil.example"})  # DNS rebinding
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidHost"
        r = c.get("/ui/api/fleet", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "InvalidOrigin"
        # the ARM API is untouched by the layer in front of it
        assert c.get(f"/subscriptions/{SUB}/resourcegroups", params={"api-version": "2021-04-01"}).status_code == 200
        assert c.get("/azvm/health").json()["status"] == "ok"


@pytest.fixture
def docs2018() -> Iterator[AzvmServer]:
    with azvm_server(billing_rules="docs-2018") as server:
        yield server


@pytest.mark.parametrize("rules", ["docs-2021", "docs-2018"])
def test_fleet_rows_agree_with_the_sdk_and_the_bill(rules: str, azvm: AzvmServer, docs2018: AzvmServer) -> None:
    server = azvm if rules == "docs-2021" else docs2018
    for name in ("run", "stop", "gone"):
        server.create_vm(name)
    server.arm("POST", vm_path("stop") + "/powerOff")
    server.arm("POST", vm_path("gone") + "/deallocate?hibernate=false")
    server.advance(3 * 3600)
    compute = server.compute_client()
    with http_client(server) as c:
        fleet = c.get("/ui/api/fleet").json()
        explained = {name: c.get("/azvm/billing/explain", params={"id": vm_path(name)}).json()
                     for name in ("run", "stop", "gone")}
    assert fleet["ruleSet"] == rules and fleet["clock"]["now"] == server.now()
    rows = {r["name"]: r for r in fleet["value"]}
    assert all(list(r) == list(COLUMNS) for r in rows.values())  # what the event stream's columns name
    for name, row in rows.items():
        iv = compute.virtual_machines.instance_view("rg", name)
        assert row["provisioningCode"] == iv.statuses[0].code
        assert [row["powerState"], row["displayStatus"]] == [iv.statuses[1].code, iv.statuses[1].display_status]
        assert row["provisioningState"] == compute.virtual_machines.get("rg", name).provisioning_state
        total = sum(float(i["amount"] or 0) for i in explained[name]["intervals"])
        assert row["cost"] == f"{total:.2f}"
    assert rows["run"]["billed"] is True and rows["gone"]["billed"] is False
    assert rows["stop"]["billingState"] == "stopped"
    assert rows["stop"]["billed"] is (rules == "docs-2021")  # "stopped (allocated)": billed since 2021
    assert float(rows["run"]["cost"]) > 0


def test_a_vms_timeline_has_its_phases_operations_and_faults(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    azvm.guest_shutdown(vm_path("vm1"))  # running, stopping, stopped: no API call
    azvm.advance(600)
    azvm.inject_fault(kind="operation", op="start", name="vm1", code="AllocationFailed", count=1)
    with pytest.raises(HttpResponseError):  # the start fails as the fault says
        azvm.compute_client().virtual_machines.begin_start("rg", "vm1").result()
    azvm.advance(600)
    with http_client(azvm) as c:
        tl = c.get("/ui/api/timeline", params={"id": vm_path("vm1")}).json()
        history = c.get("/azvm/history", params={"id": vm_path("vm1")}).json()
    assert [m["operation"] for m in tl["markers"] if "fault" not in m] == [op["name"] for op in history["operations"]]
    failed = [m for m in tl["markers"] if "fault" in m or "error" in m]
    assert failed and any(m.get("fault") == "AllocationFailed" or m.get("error", {}).get("code") == "AllocationFailed"
                          for m in failed)
    spans = tl["spans"]
    assert spans[0]["billingState"] == "creating" and spans[0]["startMicroseconds"] < spans[-1]["endMicroseconds"]
    assert all(a["endMicroseconds"] == b["startMicroseconds"] for a, b in zip(spans, spans[1:], strict=False))
    assert spans[-1]["endMicroseconds"] == tl["nowMicroseconds"]
    assert {"running", "stopping", "stopped"} <= {s["billingState"] for s in spans}


def events(stream: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) of a server-sent event stream's lines."""
    name, data = "message", []
    for line in stream:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            body = json.loads("\n".join(data))
            if "columns" in body:  # rows as the field names once, then each row's values
                body["value"] = [dict(zip(body["columns"], values, strict=True)) for values in body["rows"]]
            yield name, body
            name, data = "message", []


def test_the_event_stream_sends_a_snapshot_then_only_what_changed(azvm: AzvmServer) -> None:
    for name in ("a", "b"):
        azvm.create_vm(name)
    with http_client(azvm, timeout=30) as c, c.stream("GET", "/ui/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        stream = events(r.iter_lines())
        kind, snap = next(stream)
        assert kind == "snapshot" and sorted(v["name"] for v in snap["value"]) == ["a", "b"]
        azvm.arm("POST", vm_path("b") + "/deallocate")  # waits for the end: time skipping moves the clock
        kind, patch = next(stream)
        while not any(v["powerState"] == "PowerState/deallocated" for v in patch["value"]):
            kind, patch = next(stream)
        assert kind == "patch" and [v["name"] for v in patch["value"]] == ["b"]  # a did not change
        assert patch["clock"]["now"] == azvm.now() and patch["removed"] == []
        azvm.advance(3600)  # a's cost moves, b's does not (deallocated)
        kind, patch = next(stream)
        assert [v["name"] for v in patch["value"]] == ["a"] and patch["value"][0]["cost"] != "0.00"
        azvm.arm("DELETE", vm_path("a"))
        kind, patch = next(stream)
        while not patch["removed"]:
            kind, patch = next(stream)
        assert [rid.lower() for rid in patch["removed"]] == [vm_path("a").lower()]


def test_a_viewer_of_the_page_does_not_spend_read_faults(azvm: AzvmServer) -> None:
    """The dashboard shows each VM as it is: a power-unknown read fault is left for the client under test."""
    azvm.create_vm("vm1")
    azvm.inject_fault(kind="power-unknown", name="vm1", count=1)
    with http_client(azvm) as c:
        for _ in range(3):
            assert c.get("/ui/api/fleet").json()["value"][0]["powerState"] == "PowerState/running"
    iv = azvm.compute_client().virtual_machines.instance_view("rg", "vm1")
    assert iv.statuses[1].code == "PowerState/unknown"  # still there for the SDK's read


def test_quoted_ids_and_unknown_reads(azvm: AzvmServer) -> None:
    with httpx.Client(base_url=azvm.endpoint, verify=azvm.ssl_context() or False) as c:
        assert c.get(f"/ui/api/timeline?id={quote(vm_path('x'), safe='')}").status_code == 404
        assert c.get("/ui/api/nothing").json()["error"]["code"] == "NotFound"
