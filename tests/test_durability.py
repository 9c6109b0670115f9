"""Nothing acknowledged is lost: a real server process killed with SIGKILL mid-stream, and an LRO
resumed from its continuation token after a server restart."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from azvm.testing import azvm_server
from tests.conftest import SUB, http_client, make_network, vm_body

API = "api-version=2026-04-01"


def start_server(data_dir: Path, port: int = 0, *extra: str, seed: int | None = 5) -> tuple[subprocess.Popen[str], str]:
    """A real `azvm serve` on a manual clock at 2026-01-01 (`extra`: more options); (process, base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "azvm", "serve", "--data-dir", str(data_dir), "--no-tls", "--port", str(port),
         "--manual-clock", "--start-time", "2026-01-01T00:00:00Z", "--time-skipping", "off",
         *(("--seed", str(seed)) if seed is not None else ()), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+) ready", line)
    assert m, f"server did not start: {line!r}{proc.stdout.read() if proc.poll() is not None else ''}"
    return proc, m.group(1)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def history(client: httpx.Client, base: str, names: list[str]) -> dict[str, Any]:
    out = {}
    for n in names:
        vid = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{n}"
        r = client.get(f"{base}/azvm/history", params={"id": vid})
        out[n] = r.json() if r.status_code == 200 else None
    return out


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path) -> None:
    proc, base = start_server(tmp_path)
    acked: list[tuple[str, str]] = []  # (vm, operation id) of every 2xx answer
    names = [f"vm{i}" for i in range(8)]
    halt = threading.Event()

    def writer() -> None:
        with http_client(base_url=base, timeout=10) as c:
            c.put(f"{base}/subscriptions/{SUB}/resourcegroups/rg?{API}", json={"location": "eastus"})
            make_network(c, *names)
            i = 0
            while not halt.is_set() and i < 100_000:
                name = names[i % len(names)]
                url = f"{base}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}"
                try:
                    if i < len(names):
                        r = c.put(f"{url}?{API}", json=vm_body(name))
                    else:
                        action = ["powerOff", "start", "deallocate", "start", "restart"][(i // len(names)) % 5]
                        r = c.post(f"{url}/{action}?{API}")
                        if i % 7 == 0:
                            c.post(f"{base}/azvm/clock", json={"advanceSeconds": 13})
                except httpx.HTTPError:
                    return  # the server died: this request was never acknowledged
                if r.status_code in (200, 201, 202):
                    op_id = r.headers["azure-asyncoperation"].split("/operations/")[1].split("?")[0]
                    acked.append((name, op_id))
                i += 1

    t = threading.Thread(target=writer)
    t.start()
    while len(acked) < 300 and t.is_alive():
        t.join(0.05)
    stop(proc, signal.SIGKILL)
    halt.set()
    t.join()
    assert len(acked) >= 300

    proc2, base2 = start_server(tmp_path)
    try:
        with http_client(timeout=10) as c:
            for name, op_id in acked:
                r = c.get(f"{base2}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/"
                          f"{op_id}?{API}")
                assert r.status_code == 200, (name, op_id, r.text)
                assert r.json()["name"] == op_id
            first = history(c, base2, names)
            for n in names:
                ids = [o["id"] for o in first[n]["operations"]]
                assert [op for vm, op in acked if vm == n] == ids[: len([1 for vm, _ in acked if vm == n])]
    finally:
        stop(proc2)
    proc3, base3 = start_server(tmp_path)
    try:
        with http_client(timeout=10) as c:
            assert history(c, base3, names) == first  # every state at every time, identical
    finally:
        stop(proc3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_lro_resumes_from_continuation_token_after_restart(tmp_path: Path) -> None:
    port = free_port()
    cert_dir = str(tmp_path / "cert")
    kw: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "port": port, "cert_dir": cert_dir,
                          "time_skipping": False}
    with azvm_server(**kw) as first:
        first.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
        compute = first.compute_client()
        first.set_time_skipping(True)
        make_network(first, "vm1")
        compute.virtual_machines.begin_create_or_update("rg", "vm1", vm_body()).result()
        first.set_time_skipping(False)
        poller = compute.virtual_machines.begin_deallocate("rg", "vm1")
        token = poller.continuation_token()
        first.advance(5)
    with azvm_server(**kw) as second:
        compute = second.compute_client()
        iv = compute.virtual_machines.instance_view("rg", "vm1")
        assert [s.code for s in iv.statuses] == ["ProvisioningState/updating", "PowerState/deallocating"]
        second.set_time_skipping(True)
        compute.virtual_machines.begin_deallocate("rg", "vm1", continuation_token=token).result()
        iv = compute.virtual_machines.instance_view("rg", "vm1")
        assert [s.code for s in iv.statuses] == ["ProvisioningState/succeeded", "PowerState/deallocated"]
        assert second.now() == "2026-01-01T00:01:07.0000000+00:00"  # 44 s create + 23 s deallocate


@pytest.mark.parametrize("speed", [1.0])
def test_clock_never_goes_backwards_across_restart(tmp_path: Path, speed: float) -> None:
    proc, base = start_server(tmp_path)
    with http_client(timeout=10) as c:
        c.post(f"{base}/azvm/clock", json={"advanceSeconds": 3600})
        before = c.get(f"{base}/azvm/clock").json()["nowMicroseconds"]
        r = c.post(f"{base}/azvm/clock", json={"set": "2025-01-01T00:00:00Z"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidParameter"
    stop(proc)
    proc2, base2 = start_server(tmp_path)
    try:
        with http_client(timeout=10) as c:
            assert c.get(f"{base2}/azvm/clock").json()["nowMicroseconds"] == before
    finally:
        stop(proc2)


def test_two_server_processes_share_one_world(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "azvm", "serve", "--data-dir", str(tmp_path), "--no-tls", "--port", str(port),
         "--manual-clock", "--start-time", "2026-01-01T00:00:00Z", "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with http_client(base_url=base, timeout=10) as c:
            for _ in range(400):
                try:
                    if c.get(f"{base}/azvm/health").status_code == 200:
                        break
                except httpx.TransportError:
                    threading.Event().wait(0.05)  # a real process starting: wall time is unavoidable here
            c.post(f"{base}/azvm/clock", json={"advanceSeconds": 3600})
            c.put(f"{base}/subscriptions/{SUB}/resourcegroups/rg?{API}", json={"location": "eastus"})
            make_network(c, "vm1")
            vm = f"{base}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
            assert c.put(f"{vm}?{API}", json=vm_body()).status_code == 201
            clocks, views = set(), set()
            for _ in range(24):  # new connections: both workers answer
                with http_client(timeout=10) as fresh:
                    clocks.add(fresh.get(f"{base}/azvm/clock").json()["now"])
                    views.add(fresh.get(f"{vm}/instanceView?{API}").json()["statuses"][1]["code"])
            assert clocks == {"2026-01-01T01:00:00.0000000+00:00"}
            assert views == {"PowerState/starting"}
    finally:
        stop(proc)
