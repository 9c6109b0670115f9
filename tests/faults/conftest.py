"""What the fault tests share: a resource group with a network, VMs made through the SDK, raw requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from azvm.clock import parse_iso
from azvm.testing import AzvmServer
from tests.arm.test_http_surface import tls_context
from tests.conftest import SUB, http_client, make_network, vm_body

VMS = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
CV = {"api-version": "2024-07-01"}


def vm_id(name: str, rg: str = "rg") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


@pytest.fixture
def http(azvm: AzvmServer) -> Iterator[httpx.Client]:
    with http_client(base_url=azvm.endpoint, verify=tls_context(str(azvm.cert)), timeout=60) as client:
        yield client


@pytest.fixture
def compute(azvm: AzvmServer) -> Any:
    """A compute client over a group `rg` (its network is made for each VM by `make_vms`)."""
    azvm.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    return azvm.compute_client()


def make_vms(azvm: AzvmServer, compute: Any, *names: str, rg: str = "rg") -> None:
    make_network(azvm, *names, rg=rg)
    for name in names:
        compute.virtual_machines.begin_create_or_update(rg, name, vm_body(name, rg=rg)).result()


def codes(compute: Any, name: str, rg: str = "rg") -> list[str]:
    return [s.code for s in compute.virtual_machines.instance_view(rg, name).statuses]


def history(azvm: AzvmServer, name: str) -> list[dict[str, Any]]:
    return list(azvm.control("GET", f"history?id={vm_id(name)}")["operations"])


def seconds(op: dict[str, Any]) -> float:
    """How long an operation of the history lasted (its first phase to its last)."""
    return (parse_iso(op["phases"][-1]["at"]) - parse_iso(op["phases"][0]["at"])) / 1e6


def explain(azvm: AzvmServer, name: str) -> dict[str, Any]:
    return dict(azvm.control("GET", f"billing/explain?id={vm_id(name)}"))


def restart_outcomes(compute: Any, n: int) -> list[str]:
    """Restart vm1 of rg n times through the SDK: "ok" or the error code of each."""
    out = []
    for _ in range(n):
        try:
            compute.virtual_machines.begin_restart("rg", "vm1").result()
            out.append("ok")
        except HttpResponseError as e:
            out.append(e.error.code)
    return out
