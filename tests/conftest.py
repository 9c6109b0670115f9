"""Shared helpers: a service over a chosen store with a manual clock, and VM bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from azvm.clock import Clock, parse_iso
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, Settings
from azvm.store import MemoryStore, SqliteStore

SUB = "00000000-0000-0000-0000-000000000000"
START = parse_iso("2026-01-01T00:00:00Z")
NIC = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic0"


def vm_body(*, image: bool = True, hibernation: bool = False, size: str = "Standard_D2s_v3",
            location: str = "eastus", windows: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"hardwareProfile": {"vmSize": size},
                             "networkProfile": {"networkInterfaces": [{"id": NIC}]}}
    if image:
        props["storageProfile"] = {"imageReference": (
            {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter",
             "version": "latest"} if windows else
            {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"})}
        props["osProfile"] = {"computerName": "vm", "adminUsername": "azure", "adminPassword": "Passw0rd!!"}
    else:
        props["storageProfile"] = {"osDisk": {"createOption": "Attach", "osType": "Linux", "managedDisk": {
            "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/osdisk"}}}
    if hibernation:
        props["additionalCapabilities"] = {"hibernationEnabled": True}
    return {"location": location, "properties": props}


def make_service(store: Any, *, seed: int = 7) -> ComputeService:
    svc = ComputeService(store, Clock.manual(START, skip=False), IdSource(seed), Settings())
    return svc


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    made: list[Any] = []

    def factory() -> Any:
        s = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / f"s{len(made)}.sqlite3")
        made.append(s)
        return s

    yield factory
    for s in made:
        s.close()


@pytest.fixture
def svc() -> ComputeService:
    s = make_service(MemoryStore())
    s.create_or_update_group(SUB, "rg", {"location": "eastus"})
    return s
