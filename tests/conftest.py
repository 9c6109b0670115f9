"""Shared helpers: a service over a chosen store with a manual clock, and VM bodies."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from azvm.clock import Clock, parse_iso
from azvm.ids import IdSource
from azvm.service.compute import ComputeService, Settings
from azvm.store import MemoryStore, SqliteStore
from azvm.testing import AzvmServer

SUB = "00000000-0000-0000-0000-000000000000"
START = parse_iso("2026-01-01T00:00:00Z")
NET_API = "2024-05-01"  # Microsoft.Network
DISK_API = "2023-04-02"  # Microsoft.Compute/disks


# azvm refuses ARM requests that carry no Authorization header (401 AuthenticationFailed, as on
# Azure); with --auth open any bearer token will do
AUTH_HEADERS = {"Authorization": "Bearer azvm"}


def http_client(server: AzvmServer | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client for raw requests to azvm: it sends a bearer token and, given `server`, has its
    endpoint as base URL and trusts its certificate. Other keyword arguments go to httpx.Client."""
    kwargs["headers"] = {**AUTH_HEADERS, **kwargs.get("headers", {})}
    if server is not None:
        kwargs.setdefault("base_url", server.endpoint)
        kwargs.setdefault("verify", server.ssl_context() or False)
    return httpx.Client(**kwargs)


def group_id(rg: str = "rg") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}"


def nic_id(vm: str, rg: str = "rg") -> str:
    """The network interface that `vm_body(vm)` references."""
    return f"{group_id(rg)}/providers/Microsoft.Network/networkInterfaces/{vm}-nic"


def disk_id(vm: str, rg: str = "rg") -> str:
    """The OS disk that `vm_body(vm, image=False)` attaches."""
    return f"{group_id(rg)}/providers/Microsoft.Compute/disks/{vm}-osdisk"


def vm_body(name: str = "vm1", *, image: bool = True, hibernation: bool = False, size: str = "Standard_D2s_v3",
            location: str = "eastus", windows: bool = False, rg: str = "rg") -> dict[str, Any]:
    """A VM `name` from an image, or attaching its OS disk (`image=False`); through a server, what it
    references must exist first: `make_network(client, name, attach=not image)`."""
    props: dict[str, Any] = {"hardwareProfile": {"vmSize": size},
                             "networkProfile": {"networkInterfaces": [{"id": nic_id(name, rg)}]}}
    if image:
        props["storageProfile"] = {"imageReference": (
            {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2022-datacenter",
             "version": "latest"} if windows else
            {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"})}
        props["osProfile"] = {"computerName": "vm", "adminUsername": "azure", "adminPassword": "Passw0rd!!"}
    else:
        props["storageProfile"] = {"osDisk": {"createOption": "Attach", "osType": "Linux",
                                              "managedDisk": {"id": disk_id(name, rg)}}}
    if hibernation:
        props["additionalCapabilities"] = {"hibernationEnabled": True}
    return {"location": location, "properties": props}


def network_puts(*vms: str, rg: str = "rg", attach: bool = False,
                 location: str = "eastus") -> list[tuple[str, dict[str, Any], str]]:
    """(path, body, api-version) of the PUTs that make what `vm_body(vm)` of each of `vms` references: a
    virtual network `vnet` (10.0.0.0/16) with subnet `default`, a NIC `{vm}-nic` each and, with `attach`,
    an empty 32 GB Linux disk `{vm}-osdisk` each. The resource group must exist."""
    vnet = f"{group_id(rg)}/providers/Microsoft.Network/virtualNetworks/vnet"
    puts = [(vnet, {"location": location, "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}, NET_API)]
    for vm in vms:
        puts.append((nic_id(vm, rg), {"location": location, "properties": {"ipConfigurations": [
            {"name": "ipconfig1", "properties": {"subnet": {"id": f"{vnet}/subnets/default"}}}]}}, NET_API))
        if attach:
            puts.append((disk_id(vm, rg), {"location": location, "sku": {"name": "Premium_LRS"}, "properties": {
                "creationData": {"createOption": "Empty"}, "diskSizeGB": 32, "osType": "Linux"}}, DISK_API))
    return puts


def make_network(client: httpx.Client | AzvmServer, *vms: str, rg: str = "rg", attach: bool = False,
                 location: str = "eastus") -> None:
    """Make what VMs `vms` reference (`network_puts`) through a test's client: an httpx client (with
    its base_url), or the `azvm` fixture's server."""
    for path, body, version in network_puts(*vms, rg=rg, attach=attach, location=location):
        if isinstance(client, httpx.Client):
            r = client.put(path, params={"api-version": version}, json=body)
            assert r.status_code in (200, 201, 202), r.text
        else:
            client.arm("PUT", path, body, api_version=version)


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
    s.groups.create_or_update(SUB, "rg", {"location": "eastus"})
    return s


# where ./scripts/test installs the Azure CLI (azure-cli in a venv of its own, reused between runs)
AZ_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "azvm-test" / "azure-cli"


def find_az() -> tuple[Path | None, str]:
    """The real Azure CLI for the tests that run it, or None and why there is none: AZVM_TEST_AZ (set by
    ./scripts/test to the az it installed; `skip` for none), else that install if it is there, else `az`
    on PATH."""
    given = os.environ.get("AZVM_TEST_AZ", "")
    if given == "skip":
        return None, "AZVM_TEST_AZ=skip"
    if given:
        return (Path(given), "") if os.access(given, os.X_OK) else (None, f"AZVM_TEST_AZ={given} is not a program")
    if (AZ_CACHE / "azvm-installed-version").is_file() and os.access(AZ_CACHE / "bin" / "az", os.X_OK):
        return AZ_CACHE / "bin" / "az", ""
    on_path = shutil.which("az")
    if on_path:
        return Path(on_path), ""
    return None, os.environ.get("AZVM_TEST_AZ_MISSING") or (
        "the Azure CLI (az) is not installed: ./scripts/test installs it into a cache")


@pytest.fixture(scope="session")
def az() -> Path:
    """The path of the real `az` (find_az); the test skips, saying why, when there is none."""
    path, why = find_az()
    if path is None:
        pytest.skip(why)
    return path


# where ./scripts/test installs the Azure SDK for JavaScript (npm packages, reused between runs)
NODE_CACHE = AZ_CACHE.parent / "node"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The node_modules that holds @azure/identity and @azure/arm-* for the Node test: AZVM_TEST_NODE_MODULES
    (set by ./scripts/test to the ones it installed; `skip` for none), else that install if it is there.
    The test skips, saying why, when there are none or no `node`."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    given = os.environ.get("AZVM_TEST_NODE_MODULES", "")
    if given == "skip":
        pytest.skip("AZVM_TEST_NODE_MODULES=skip")
    if given:
        if not (Path(given) / "@azure" / "identity").is_dir():
            pytest.skip(f"AZVM_TEST_NODE_MODULES={given} holds no @azure/identity")
        return Path(given)
    if (NODE_CACHE / "azvm-installed-packages").is_file():
        return NODE_CACHE / "node_modules"
    pytest.skip(os.environ.get("AZVM_TEST_NODE_MISSING")
                or "the Azure SDK for JavaScript is not installed: ./scripts/test installs it into a cache")
