"""The real Azure CLI (`az`, from PyPI; ./scripts/test installs it into a cache) against a real azvm
server: signing in with a service principal and as a managed identity, the VM commands a user types,
and az's exit codes. Each command's JSON is checked against what azvm holds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer, azvm_server

from ..proxy.test_run_env import Live
from .conftest import Az, ca_of, clean_environ, cloud_register

ROOT = Path(__file__).parents[2]
TENANT = "00000000-0000-0000-0000-000000000001"
NET_API = "2024-05-01"


def readme_az_blocks() -> list[str]:
    """The shell blocks of the README's "The Azure CLI" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The Azure CLI\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


@pytest.fixture
def server() -> Any:
    with azvm_server() as s:
        yield s


def power(server: AzvmServer, rg: str, name: str) -> str:
    view = server.arm("GET", f"/subscriptions/{server.subscription_id}/resourceGroups/{rg}/providers/"
                             f"Microsoft.Compute/virtualMachines/{name}/instanceView")
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


def signed_in(az_for: Any, server: AzvmServer) -> Az:
    az: Az = az_for(server)
    az.run(*cloud_register(server))
    az.run("cloud", "set", "-n", "azvm")
    az.run("login", "--service-principal", "-u", "any-app", "-p", "any-secret", "--tenant", TENANT)
    return az


def test_the_readme_recipe_signs_in_and_lists_vms(az: Path, server: AzvmServer, tmp_path: Path) -> None:
    """The README's commands, run as written by bash (its endpoint and certificate path replaced)."""
    server.create_vm("vm1", resource_group="rg", public_ip=True)
    script = (readme_az_blocks()[0].replace("https://127.0.0.1:8443", server.endpoint)
              .replace("/path/printed/by/azvm/ca.pem", str(ca_of(server))))
    assert script.count("\naz ") >= 4 and "az login --service-principal" in script
    (tmp_path / "tmp").mkdir()
    env = {**clean_environ(), "PATH": f"{az.parent}:{clean_environ()['PATH']}", "TMPDIR": str(tmp_path / "tmp")}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    table = r.stdout.splitlines()
    row = next(line for line in table if line.startswith("vm1 "))
    assert "rg" in row and "VM running" in row and "eastus" in row
    profiles = list((tmp_path / "tmp").iterdir())  # `mktemp -d` made the profile there
    assert len(profiles) == 1 and (profiles[0] / "azureProfile.json").is_file()


def test_service_principal_drives_a_vm_through_its_states(az_for: Any, server: AzvmServer) -> None:
    sub = server.subscription_id
    az = signed_in(az_for, server)
    account = az.json("account", "show")
    assert account["id"] == sub and account["tenantId"] == TENANT
    assert account["user"] == {"name": "any-app", "type": "servicePrincipal"}

    group = az.json("group", "create", "-n", "rg-az", "-l", "westeurope", "--tags", "made=az")
    assert group["name"] == "rg-az" and group["properties"]["provisioningState"] == "Succeeded"
    held = server.arm("GET", f"/subscriptions/{sub}/resourcegroups/rg-az")
    assert held["location"] == "westeurope" and held["tags"] == {"made": "az"}

    vm = server.create_vm("vm1", resource_group="rg-az", location="westeurope", public_ip=True)
    net = f"/subscriptions/{sub}/resourceGroups/rg-az/providers/Microsoft.Network"
    nic = server.arm("GET", f"{net}/networkInterfaces/vm1-nic", api_version=NET_API)
    pip = server.arm("GET", f"{net}/publicIPAddresses/vm1-ip", api_version=NET_API)
    private_ip = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
    mac = nic["properties"]["macAddress"]

    listed = az.json("vm", "list", "-d")
    assert [v["id"] for v in listed] == [vm["id"]]
    for shown in (listed[0], az.json("vm", "show", "-d", "-g", "rg-az", "-n", "vm1")):
        assert shown["name"] == "vm1" and shown["resourceGroup"] == "rg-az"
        assert shown["powerState"] == "VM running" and shown["provisioningState"] == "Succeeded"
        assert shown["privateIps"] == private_ip and shown["publicIps"] == pip["properties"]["ipAddress"]
        assert shown["macAddresses"] == mac
        assert shown["hardwareProfile"]["vmSize"] == vm["properties"]["hardwareProfile"]["vmSize"]

    az.run("vm", "deallocate", "-g", "rg-az", "-n", "vm1")
    assert power(server, "rg-az", "vm1") == "PowerState/deallocated"
    view = az.json("vm", "get-instance-view", "-g", "rg-az", "-n", "vm1")
    assert [s["code"] for s in view["instanceView"]["statuses"]][-1] == "PowerState/deallocated"

    az.run("vm", "start", "-g", "rg-az", "-n", "vm1")
    assert power(server, "rg-az", "vm1") == "PowerState/running"
    view = az.json("vm", "get-instance-view", "-g", "rg-az", "-n", "vm1")
    held_view = server.arm("GET", f"{vm['id']}/instanceView")
    assert [s["code"] for s in view["instanceView"]["statuses"]] == [s["code"] for s in held_view["statuses"]]
    assert view["instanceView"]["statuses"][-1]["displayStatus"] == "VM running"

    restarted = az.json("vm", "restart", "-g", "rg-az", "-n", "vm1")  # prints the operation's status body
    assert restarted["status"] == "Succeeded" and restarted["endTime"] >= restarted["startTime"]
    stopped = az.run("vm", "stop", "-g", "rg-az", "-n", "vm1")
    assert "continue to be billed" in stopped.stderr and power(server, "rg-az", "vm1") == "PowerState/stopped"

    az.run("group", "delete", "-n", "rg-az", "--yes")
    assert az.json("group", "exists", "-n", "rg-az") is False
    assert server.arm("GET", f"/subscriptions/{sub}/resourcegroups")["value"] == []
    assert az.json("vm", "list", "-d") == []


def test_a_missing_vm_exits_3(az_for: Any, server: AzvmServer) -> None:
    az = signed_in(az_for, server)
    az.run("group", "create", "-n", "rg", "-l", "eastus")
    r = az.run("vm", "show", "-g", "rg", "-n", "nowhere", expect=3)
    assert "(ResourceNotFound)" in r.stderr and "nowhere" in r.stderr
    r = az.run("group", "delete", "-n", "no-such-group", "--yes", expect=3)
    assert "(ResourceGroupNotFound)" in r.stderr


def test_managed_identity_login(az_for: Any, server: AzvmServer) -> None:
    """Recipe B: `az login --identity` asks IDENTITY_ENDPOINT (azvm's App Service form) for a token, reads
    its tenant, and uses it on every later command."""
    az: Az = az_for(server, IDENTITY_ENDPOINT=f"{server.endpoint}/msi/token", IDENTITY_HEADER="any-header")
    del az.env["AZURE_CORE_INSTANCE_DISCOVERY"]  # not needed: no authority is contacted
    az.run(*cloud_register(server))
    az.run("cloud", "set", "-n", "azvm")
    accounts = az.json("login", "--identity")
    assert [(a["id"], a["tenantId"]) for a in accounts] == [(server.subscription_id, TENANT)]
    assert accounts[0]["user"]["type"] == "servicePrincipal"
    assert accounts[0]["user"]["assignedIdentityInfo"] == "MSI"
    assert az.json("group", "create", "-n", "rg-mi", "-l", "eastus")["name"] == "rg-mi"
    assert [g["name"] for g in az.json("group", "list")] == ["rg-mi"]


def test_the_readme_eval_azvm_env_makes_az_work_unchanged(az: Path, live: Live) -> None:
    """The README's second block: `eval "$(azvm env)"`, then `az` as on Azure, with no endpoint, no
    sign-in and no certificate setting of its own."""
    live.server.arm("PUT", f"/subscriptions/{live.server.subscription_id}/resourcegroups/rg-seen-by-az",
                    {"location": "eastus"})
    script = readme_az_blocks()[1]
    assert script.startswith('eval "$(azvm env)"\naz ')
    script = script.replace("azvm env", f"{sys.executable} -m azvm env --data-dir {live.data_dir}")
    env = {**clean_environ(), "PATH": f"{az.parent}:{clean_environ()['PATH']}"}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(line.startswith("rg-seen-by-az ") and "eastus" in line for line in r.stdout.splitlines()), r.stdout
    assert {"login.microsoftonline.com:443", "management.azure.com:443"} <= live.proxy.proxy.stats.intercepted
