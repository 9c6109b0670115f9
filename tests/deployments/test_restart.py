"""A deployment survives `kill -9` of its server: what it had done is kept, and what it had still to do
happens after the restart, at the simulated instants it was due (a real server process, its store on
disk, the manual clock moved through the control API)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from tests.conftest import SUB, http_client
from tests.test_durability import start_server, stop

HERE = Path(__file__).parent
API = "api-version=2025-04-01"
RG = f"/subscriptions/{SUB}/resourcegroups/rg"
DEPLOYMENT = f"{RG}/providers/Microsoft.Resources/deployments"
PARAMS = {"adminUsername": {"value": "azureuser"}, "adminPasswordOrKey": {"value": "ssh-rsa AAAAB3Nza azureuser"}}


def deployment(c: Any, base: str, name: str) -> dict[str, Any]:
    r = c.get(f"{base}{DEPLOYMENT}/{name}?{API}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def operations(c: Any, base: str, name: str) -> dict[str, dict[str, Any]]:
    r = c.get(f"{base}{RG}/deployments/{name}/operations?{API}")
    assert r.status_code == 200, r.text
    return {o["properties"]["targetResource"]["resourceName"]: o for o in r.json()["value"]}


def test_a_deployment_goes_on_after_kill_9(tmp_path: Path) -> None:
    template = json.loads((HERE / "vm_quickstart.json").read_text())
    proc, base = start_server(tmp_path)
    with http_client(timeout=10) as c:
        assert c.put(f"{base}{RG}?{API}", json={"location": "eastus"}).status_code == 201
        body = {"properties": {"template": template, "parameters": PARAMS, "mode": "Incremental"}}
        r = c.put(f"{base}{DEPLOYMENT}/early?{API}", json=body)
        assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Accepted"
        assert "operationStatuses" in r.headers["Azure-AsyncOperation"]
        c.post(f"{base}/azvm/clock", json={"advanceSeconds": 1})
        late = {"properties": {**body["properties"], "parameters": {
            **PARAMS, "vmName": {"value": "lateVM"}, "virtualNetworkName": {"value": "vNet2"}}}}
        r = c.put(f"{base}{DEPLOYMENT}/late?{API}", json=late)  # accepted, its first wave not yet due
        assert r.status_code == 201
        assert deployment(c, base, "early")["properties"]["provisioningState"] == "Running"
        before = operations(c, base, "early")
        assert before["quickVM"]["properties"]["provisioningState"] == "Running"
    stop(proc, signal.SIGKILL)

    proc, base = start_server(tmp_path)
    try:
        with http_client(timeout=10) as c:
            assert deployment(c, base, "early")["properties"]["provisioningState"] == "Running"
            assert deployment(c, base, "late")["properties"]["provisioningState"] == "Accepted"
            after = operations(c, base, "early")
            assert after["quickVM"]["operationId"] == before["quickVM"]["operationId"]
            c.post(f"{base}/azvm/clock", json={"advanceSeconds": 900})
            early, late = deployment(c, base, "early"), deployment(c, base, "late")
            assert early["properties"]["provisioningState"] == "Succeeded"
            assert late["properties"]["provisioningState"] == "Succeeded"
            # each went through its steps at its own instants: the late one a second after the early one
            e_ops, l_ops = operations(c, base, "early"), operations(c, base, "late")
            first, second = e_ops["quickVM"]["properties"], l_ops["lateVM"]["properties"]
            assert first["provisioningState"] == second["provisioningState"] == "Succeeded"
            assert first["duration"] == second["duration"]  # the same plan, whatever the restart
            assert first["timestamp"] < second["timestamp"]
            vm = c.get(f"{base}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/"
                       "quickVM/instanceView?api-version=2024-11-01").json()
            assert [s["code"] for s in vm["statuses"]] == ["ProvisioningState/succeeded", "PowerState/running"]
    finally:
        stop(proc)
