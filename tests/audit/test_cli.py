"""`azvm audit` as a user runs it: its outputs (table, JSON, CSV, a self-contained HTML page), the
threshold that gates a pipeline, its price sheets (unpriced items said to be so), bad input (one
line, exit 2), and code written for Azure under `azvm run` (no endpoint, no certificate option)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from tests.audit.conftest import audit, audit_cli, endpoint_args, wall_now_iso

from azvm.proxy.environment import ServerInfo, write_state
from azvm.proxy.relay import start_proxy
from azvm.testing import AzvmServer, azvm_server
from azvm.tls import authority_path


def fleet(azvm: AzvmServer) -> None:
    azvm.create_vm("web1", resource_group="web", public_ip=True)
    azvm.create_vm("web2", resource_group="web")
    azvm.create_vm("db1", resource_group="data", data_disks=1)
    compute = azvm.compute_client()
    compute.virtual_machines.begin_power_off("web", "web2").result()
    compute.virtual_machines.begin_power_off("data", "db1").result()


def test_the_table_names_each_vm_and_sums_up(azvm_now: AzvmServer) -> None:
    fleet(azvm_now)
    r = audit_cli(*endpoint_args(azvm_now), "--no-progress")
    assert r.returncode == 3 and r.stderr == ""
    for text in ("web/web1", "web/web2", "data/db1", "running", "stopped", "would deallocate",
                 "Waste: 60.74 USD/month from 2 VM(s) Stopped (allocated) and billed"):
        assert text in r.stdout, text


def test_json_and_csv_say_the_same(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    a = audit(azvm_now, tmp_path)
    r = audit_cli(*endpoint_args(azvm_now), "--format", "csv", "--no-progress")
    rows = {row["Name"]: row for row in csv.DictReader(io.StringIO(r.stdout))}
    assert sorted(rows) == ["db1", "web1", "web2"]
    for name, row in rows.items():
        vm = a.vm(name)
        assert row["PowerState"] == vm["powerState"] and row["PowerStateSource"] == vm["powerStateSource"]
        assert Decimal(row["Monthly"]) == round(vm["monthly"], 2)
        assert Decimal(row["SavingIfDeallocated"]) == round(vm["savingIfDeallocated"], 2)
        assert row["Since"] == vm["since"] and row["Currency"] == "USD"
    assert rows["web2"]["Fix"] == "would deallocate" and rows["web1"]["Fix"] == ""
    assert a.report["byGroup"][0]["group"].endswith("/data")  # the larger waste (db1's disks are idle too)


def test_the_html_page_is_self_contained_with_its_chart_of_waste_by_group(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    page = tmp_path / "audit.html"
    r = audit_cli(*endpoint_args(azvm_now), "--format", "html", "--output", str(page), "--no-progress")
    assert r.returncode == 3 and r.stdout == ""
    text = page.read_text()
    assert "Chart.js v4.6.1" in text  # the vendored library, inlined
    assert not re.search(r"<script[^>]+src=|<link|<img|<iframe|@import|url\(", text)  # nothing fetched
    data = json.loads(re.search(r'<script type="application/json" id="audit-data">(.*?)</script>', text, re.S)
                      .group(1).replace("<\\/", "</"))
    groups = {g["group"].rsplit("/", 1)[1]: g for g in data["byGroup"]}
    assert set(groups) == {"web", "data"} and groups["web"]["waste"] == data["totals"]["waste"] / 2
    assert 'new Chart(document.getElementById("waste-chart")' in text


def test_the_threshold_gates_on_the_monthly_waste(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)  # waste: 2 x B2s stopped, 60.736 a month
    assert audit(azvm_now, tmp_path, "--threshold", "60.73").code == 3
    assert audit(azvm_now, tmp_path, "--threshold", "60.736").code == 0
    assert audit(azvm_now, tmp_path, "--threshold", "100", "--exclude-group", "web").code == 0


def test_a_saved_price_sheet_and_what_it_does_not_price(azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    sheet = tmp_path / "prices.json"
    sheet.write_text(json.dumps({"BillingCurrency": "EUR", "Items": [
        {"currencyCode": "EUR", "retailPrice": 0.05, "armRegionName": "eastus", "armSkuName": "Standard_B2s",
         "productName": "Virtual Machines BS Series", "serviceName": "Virtual Machines", "meterName": "B2s",
         "type": "Consumption", "unitOfMeasure": "1 Hour", "effectiveStartDate": "2024-01-01T00:00:00Z"}]}))
    a = audit(azvm_now, tmp_path, "--prices", str(sheet))
    assert a.report["currency"] == "EUR" and a.report["prices"] == str(sheet)
    assert a.vm("web2")["savingIfDeallocated"] == Decimal("36.5")  # 0.05 x 730
    db1 = a.vm("db1")
    assert {(u["kind"], u["meter"]) for u in db1["unpriced"]} == {("disk", "S4 LRS Disk")}
    assert all(u["reason"] == "no Consumption price for S4 LRS Disk in eastus" for u in db1["unpriced"])
    assert db1["monthly"] == db1["compute"] == Decimal("36.5")  # the unpriced disks are not a silent zero...
    assert a.report["totals"]["unpriced"] == 5  # ...they are counted: 3 OS disks, 1 data disk, web1's address
    assert [u["meter"] for u in a.vm("web1")["unpriced"]] == ["S4 LRS Disk", "Standard IPv4 Static Public IP"]


@pytest.mark.parametrize("args, says", [
    (["--threshold", "-1"], "argument --threshold: '-1': expected an amount, at least 0"),
    (["--subscription", "nope"], "argument --subscription/-s: 'nope': expected a subscription id (GUID)"),
    (["--endpoint", "ftp://x"], "argument --endpoint: 'ftp://x': expected an https:// URL of an ARM endpoint"),
    (["--prices", "/nonexistent.json"], "argument --prices: '/nonexistent.json': no such file"),
    (["--rules", "docs-1999"], "argument --rules: 'docs-1999': no such file"),
    (["--exclude-tag", "=x"], "argument --exclude-tag: '=x': no tag name"),
    (["--concurrency", "0"], "argument --concurrency: '0': expected an integer from 1 to 64"),
    (["--format", "pdf"], "argument --format/-f: invalid choice: 'pdf'"),
    (["--prices", __file__, "--live-prices"], "argument --live-prices: not allowed with argument --prices"),
    (["--endpoint", "https://127.0.0.1:1"], "argument --endpoint: 'https://127.0.0.1:1':"),
])
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], says: str) -> None:
    r = audit_cli(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("azvm: ") and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr


def test_a_bad_price_sheet_or_rule_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for flag in ("--prices", "--rules"):
        r = audit_cli(flag, str(bad))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"argument {flag}: '{bad}'" in r.stderr, r.stderr


def test_python_m_azvm_audit_is_the_same_command(azvm_now: AzvmServer) -> None:
    fleet(azvm_now)
    import subprocess

    r = subprocess.run([sys.executable, "-m", "azvm.audit", *endpoint_args(azvm_now), "-f", "json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and json.loads(r.stdout)["totals"]["stoppedBilled"] == 2


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[AzvmServer, Path]]:
    """An azvm server and its HTTPS proxy, found by `azvm run` through the data directory."""
    data = tmp_path / "data"
    with azvm_server(cert_dir=str(data), start_time=wall_now_iso()) as s:
        assert s.cert is not None and s.emulator.key is not None
        proxy = start_proxy(s.cert, s.emulator.key, int(s.endpoint.rsplit(":", 1)[1]))
        write_state(data, ServerInfo(s.endpoint, proxy.url, str(authority_path(data)), os.getpid()))
        try:
            yield s, data
        finally:
            proxy.stop()


def test_under_azvm_run_the_audit_needs_no_endpoint(live: tuple[AzvmServer, Path]) -> None:
    import subprocess

    server, data = live
    fleet(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_") and k != "REQUESTS_CA_BUNDLE"}
    r = subprocess.run([sys.executable, "-m", "azvm", "run", "--data-dir", str(data), "--", sys.executable, "-m",
                        "azvm", "audit", "--format", "json", "--no-progress"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 3, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert sorted(v["name"] for v in report["vms"]) == ["db1", "web1", "web2"]
    assert [s["id"] for s in report["subscriptions"]] == [server.subscription_id]
