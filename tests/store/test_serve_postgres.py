"""`azvm serve --database postgresql://...`: two real server processes, each with a data directory of
its own, over one PostgreSQL database are one world — the same VMs, operations, clock and faults —
and conflicting operations on one VM from both resolve as the lifecycle rules say."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import SUB, http_client, make_network, vm_body
from tests.test_durability import start_server

API = "api-version=2026-04-01"
VM = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"


def serve(url: str, data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    return start_server(data_dir, 0, "--database", url, seed=None)  # no seed: two processes, one id source


def power(c: httpx.Client, base: str, name: str) -> str:
    view = c.get(f"{base}{VM}/{name}/instanceView?{API}").json()
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


def test_two_servers_over_one_database_are_one_world(pg_url: str, tmp_path: Path) -> None:
    a, base_a = serve(pg_url, tmp_path / "a")
    b, base_b = serve(pg_url, tmp_path / "b")
    try:
        with http_client(timeout=10) as c:
            assert c.put(f"{base_a}/subscriptions/{SUB}/resourcegroups/rg?{API}",
                         json={"location": "eastus"}).status_code == 201
            with http_client(base_url=base_a, timeout=10) as on_a:
                make_network(on_a, "vm1")
            r = c.put(f"{base_a}{VM}/vm1?{API}", json=vm_body("vm1"))
            assert r.status_code == 201, r.text
            seen = c.get(f"{base_b}{VM}/vm1?{API}")  # the other server sees it at once
            assert seen.status_code == 200 and seen.json()["properties"]["vmId"] == r.json()["properties"]["vmId"]
            assert c.post(f"{base_b}/azvm/clock", json={"advanceSeconds": 600}).status_code == 200
            assert c.get(f"{base_a}/azvm/clock").json()["now"] == c.get(f"{base_b}/azvm/clock").json()["now"]
            assert power(c, base_a, "vm1") == "PowerState/running"

            def act(base: str, action: str) -> int:
                with http_client(timeout=10) as h:
                    return h.post(f"{base}{VM}/vm1/{action}?{API}").status_code

            # one deallocates through A, the other powers off through B, both at the same simulated instant
            with ThreadPoolExecutor(2) as pool:
                codes = sorted(pool.map(lambda args: act(*args), [(base_a, "deallocate"), (base_b, "powerOff")]))
            assert codes in ([202, 202], [202, 409]), codes
            history: Any = c.get(f"{base_a}/azvm/history", params={"id": f"{VM}/vm1"}).json()
            ops = [o["name"] for o in history["operations"]]
            assert ops[0] == "create" and len(ops) == 1 + codes.count(202)
            assert c.post(f"{base_a}/azvm/clock", json={"advanceSeconds": 600}).status_code == 200
            assert power(c, base_a, "vm1") == power(c, base_b, "vm1")
            assert power(c, base_b, "vm1") in ("PowerState/deallocated", "PowerState/stopped")
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
