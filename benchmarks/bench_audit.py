"""How long `azvm audit` takes over a thousand VMs.

A server (in this process) gets N VMs (default 1,000) in one subscription, each with its NIC, OS
disk and, one in four, a public IP; then 30 % are powered off, 20 % deallocated and 10 % shut down
from their guest. The audit then runs as a user runs it, `python -m azvm audit --format json`, in a
process of its own (interpreter start and imports included), and again with 5 % of the power
states missing from every list (so Resource Graph answers for them) and with Azure's rate limits on.

The subscription's Activity Log over the audit's window is also read alone, page by page, as the
audit reads it (a listing's pages come from one ordered list: its time grows with the events, not
with their square).

    python benchmarks/bench_audit.py [--vms 1000] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azvm.clock import US, iso, now_wall_us
from azvm.testing import AzvmServer, azvm_server

NET_API = "2024-05-01"


def populate(azvm: AzvmServer, n: int, threads: int) -> float:
    t0 = time.perf_counter()
    sub = f"/subscriptions/{azvm.subscription_id}"
    rg = f"{sub}/resourceGroups/rg"
    net = f"{rg}/providers/Microsoft.Network"
    azvm.arm("PUT", rg, {"location": "eastus"})
    azvm.arm("PUT", f"{net}/virtualNetworks/vnet", {"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
        "subnets": [{"name": f"s{i}", "properties": {"addressPrefix": f"10.{i}.0.0/16"}} for i in range(8)]}},
        api_version=NET_API)

    def make(i: int) -> None:
        name = f"vm{i:05d}"
        ipconfig: dict[str, Any] = {"subnet": {"id": f"{net}/virtualNetworks/vnet/subnets/s{i % 8}"}}
        if i % 4 == 0:
            pip = f"{net}/publicIPAddresses/{name}-ip"
            azvm.arm("PUT", pip, {"location": "eastus", "sku": {"name": "Standard"},
                                  "properties": {"publicIPAllocationMethod": "Static"}}, api_version=NET_API)
            ipconfig["publicIPAddress"] = {"id": pip}
        nic = f"{net}/networkInterfaces/{name}-nic"
        azvm.arm("PUT", nic, {"location": "eastus", "properties": {
            "ipConfigurations": [{"name": "ipconfig1", "properties": ipconfig}]}}, api_version=NET_API)
        azvm.arm("PUT", f"{rg}/providers/Microsoft.Compute/virtualMachines/{name}", {
            "location": "eastus", "properties": {
                "hardwareProfile": {"vmSize": ("Standard_B2s", "Standard_D2s_v3", "Standard_E2s_v5")[i % 3]},
                "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                      "sku": "server", "version": "latest"},
                                   "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"}},
                "osProfile": {"computerName": name, "adminUsername": "azureuser",
                              "adminPassword": "Passw0rd!Passw0rd!"},
                "networkProfile": {"networkInterfaces": [{"id": nic}]}}})
        vm = f"{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        k = i % 10
        if k < 3:
            azvm.arm("POST", f"{vm}/powerOff")
        elif k < 5:
            azvm.arm("POST", f"{vm}/deallocate")
        elif k == 5:
            azvm.guest_shutdown(vm)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(make, range(n)))
    azvm.advance(600)
    return time.perf_counter() - t0


def read_activity_log(azvm: AzvmServer) -> tuple[float, int, int]:
    """(seconds, events, pages): the subscription's Activity Log over the audit's window, page by page."""
    from urllib.parse import quote

    from azvm.audit.activity import LOG_DAYS, activity_filter
    from azvm.audit.collect import DAY_US
    from azvm.clock import parse_iso

    now = parse_iso(azvm.now())
    flt = quote(activity_filter(now - LOG_DAYS * DAY_US, now + DAY_US))
    t0 = time.perf_counter()
    body = azvm.arm("GET", f"/subscriptions/{azvm.subscription_id}/providers/Microsoft.Insights/eventtypes/management"
                           f"/values?$filter={flt}", api_version="2015-04-01")
    events, pages = len(body["value"]), 1
    while "nextLink" in body:
        body = azvm.arm("GET", body["nextLink"])
        events, pages = events + len(body["value"]), pages + 1
    return time.perf_counter() - t0, events, pages


def run_audit(azvm: AzvmServer) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001", "AZURE_CLIENT_ID": "bench",
           "AZURE_CLIENT_SECRET": "bench"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "azvm", "audit", "--endpoint", azvm.endpoint, "--ca-bundle",
                        str(azvm.cert), "--format", "json", "--no-progress"], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        raise SystemExit(f"audit failed ({r.returncode}): {r.stderr}")
    return elapsed, json.loads(r.stdout)


def show(label: str, elapsed: float, report: dict[str, Any]) -> None:
    sources: dict[str, int] = {}
    for vm in report["vms"]:
        sources[vm["powerStateSource"]] = sources.get(vm["powerStateSource"], 0) + 1
    t = report["totals"]
    print(f"{label:<44} {elapsed:6.2f} s  {len(report['vms'])} VMs, {report['requests']['requests']} requests,"
          f" {t['stoppedBilled']} stopped-billed, waste {t['waste']:.2f} {report['currency']}/month,"
          f" sources {dict(sorted(sources.items()))}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=1000)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args(argv)
    start = iso(now_wall_us() // US * US)
    with azvm_server(start_time=start) as azvm:
        made = populate(azvm, args.vms, args.threads)
        print(f"populated {args.vms} VMs in {made:.1f} s")
        took, events, pages = read_activity_log(azvm)
        print(f"{'Activity Log, the audit window, every page':<44} {took:6.2f} s  {events:,} events in {pages} pages")
        for label in ("audit", "audit (again)"):
            elapsed, report = run_audit(azvm)
            show(label, elapsed, report)
        azvm.inject_fault(kind="power-missing", name="vm*[0-4]0", probability=1)  # names ending 00, 10, ..., 40
        elapsed, report = run_audit(azvm)
        show("audit, 5 % of power states missing", elapsed, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
