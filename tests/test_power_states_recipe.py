"""The documents' recipe for reading power states (examples/power_states.py), written for Azure with
the official SDK, run unchanged against azvm with the rare paths made to happen: a power state missing
from list-all once (a retry finds it), and missing on every list (Resource Graph answers)."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.mgmt.resourcegraph import ResourceGraphClient

from azvm.testing import AzvmServer

RECIPE = Path(__file__).parents[1] / "examples" / "power_states.py"


@cache
def recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("power_states_recipe", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves its annotations through it
    spec.loader.exec_module(module)
    return module


def read(azvm: AzvmServer) -> dict[str, Any]:
    graph = ResourceGraphClient(azvm.credential(), **azvm.client_kwargs())
    states = recipe().read_power_states(azvm.compute_client(), graph, azvm.subscription_id)
    return {p.name: (p.power_state, p.source) for p in states}


def fleet(azvm: AzvmServer) -> None:
    for name in ("vma", "vmb", "vmc"):
        azvm.create_vm(name)
    compute = azvm.compute_client()
    compute.virtual_machines.begin_power_off("rg", "vmb").result()
    compute.virtual_machines.begin_deallocate("rg", "vmc").result()


def test_every_power_state_comes_from_the_list_when_nothing_goes_wrong(azvm: AzvmServer) -> None:
    fleet(azvm)
    assert read(azvm) == {"vma": ("PowerState/running", "list"), "vmb": ("PowerState/stopped", "list"),
                          "vmc": ("PowerState/deallocated", "list")}


def test_a_power_state_missing_once_is_found_by_listing_again(azvm: AzvmServer) -> None:
    fleet(azvm)
    azvm.inject_fault(kind="power-missing", name="vmb", count=1)
    assert read(azvm)["vmb"] == ("PowerState/stopped", "list retry 1")


def test_a_power_state_missing_from_every_list_comes_from_resource_graph(azvm: AzvmServer) -> None:
    fleet(azvm)
    azvm.inject_fault(kind="power-missing", name="vm[bc]", probability=1)
    states = read(azvm)
    assert states["vma"] == ("PowerState/running", "list")
    assert states["vmb"] == ("PowerState/stopped", "resource graph")
    assert states["vmc"] == ("PowerState/deallocated", "resource graph")
