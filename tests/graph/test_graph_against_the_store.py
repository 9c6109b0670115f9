"""A property: for random filters over a fleet in random states, Resource Graph (through the official
client) answers exactly the VMs that the same filter keeps when computed directly from the store —
the VMs' heads and their states at the simulated now, read with no KQL and no rendering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm.testing import AzvmServer, azvm_server

GROUPS = ("Web", "data", "Batch")
SIZES = ("Standard_B2s", "Standard_D2s_v3")
TEAMS = ("red", "blue")
# (name, group, size, team or None, what is done to it after creation)
ACTIONS = ("none", "powerOff", "deallocate")
FLEET = [(f"{g.lower()}{i}", g, SIZES[i % 2], TEAMS[i % 2] if i % 3 else None, ACTIONS[i % 3])
         for g in GROUPS for i in range(4)]


@pytest.fixture(scope="module")
def fleet() -> Iterator[AzvmServer]:
    with azvm_server() as server:
        server.reset()
        for name, group, size, team, _ in FLEET:
            server.create_vm(name, resource_group=group, size=size, tags={"team": team} if team else None)
        compute = server.compute_client()
        for name, group, _size, _team, action in FLEET:
            if action == "powerOff":
                compute.virtual_machines.begin_power_off(group, name).result()
            elif action == "deallocate":
                compute.virtual_machines.begin_deallocate(group, name).result()
        yield server


def from_the_store(server: AzvmServer) -> list[dict[str, Any]]:
    """Each VM as the store holds it now: its head's model and its phase's power state."""
    svc = server.emulator.service
    now = svc.now()
    rows = svc.store.list_vms(sub=server.subscription_id, rg=None, location=None, live_at_us=now, after_key=None,
                              limit=10_000)
    out = []
    for row in rows:
        st_ = svc.get_state_row(row)
        assert st_ is not None
        out.append({"id": str(row.model["id"]).lower(), "name": row.name, "rg": row.rg,
                    "size": row.model["properties"]["hardwareProfile"]["vmSize"],
                    "team": (row.model.get("tags") or {}).get("team"), "power": st_.phase.power.value})
    return out


# each clause: (KQL, the same test in Python over a store row)
def clauses() -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        st.sampled_from(GROUPS + ("WEB", "nowhere")).map(
            lambda g: (f"resourceGroup =~ '{g}'", lambda r, g=g: r["rg"].lower() == g.lower())),
        st.sampled_from(SIZES).map(
            lambda s: (f"properties.hardwareProfile.vmSize == '{s}'", lambda r, s=s: r["size"] == s)),
        st.sampled_from(("running", "stopped", "deallocated")).map(
            lambda p: (f"tostring(properties.extended.instanceView.powerState.code) == 'PowerState/{p}'",
                       lambda r, p=p: r["power"] == p)),
        st.sampled_from(("web", "a1", "3", "x")).map(
            lambda t: (f"name contains '{t}'", lambda r, t=t: t in r["name"].lower())),
        st.sampled_from(TEAMS).map(
            lambda t: (f"tostring(tags['team']) == '{t}'", lambda r, t=t: r["team"] == t)),
        st.just(("isempty(tostring(tags.team))", lambda r: r["team"] is None)),
    )


def filters() -> st.SearchStrategy[tuple[str, Any]]:
    def combine(parts: list[tuple[str, Any]], ops: list[str]) -> tuple[str, Any]:
        text, test = parts[0]
        for (t2, f2), op in zip(parts[1:], ops, strict=False):
            text = f"({text}) {op} ({t2})"
            test = (lambda a, b: lambda r: a(r) and b(r))(test, f2) if op == "and" else \
                (lambda a, b: lambda r: a(r) or b(r))(test, f2)
        return text, test
    return st.lists(clauses(), min_size=1, max_size=3).flatmap(
        lambda parts: st.lists(st.sampled_from(("and", "or")), min_size=len(parts) - 1,
                               max_size=len(parts) - 1).map(lambda ops: combine(parts, ops)))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters())
def test_graph_keeps_what_the_same_filter_keeps_in_the_store(fleet: AzvmServer, flt: tuple[str, Any]) -> None:
    text, test = flt
    stored = from_the_store(fleet)
    assert len(stored) == len(FLEET)
    client = ResourceGraphClient(fleet.credential(), **fleet.client_kwargs())
    answer = client.resources(QueryRequest(
        query=f"Resources | where type =~ 'microsoft.compute/virtualmachines' | where {text} | project id"))
    assert {str(row["id"]).lower() for row in answer.data} == {r["id"] for r in stored if test(r)}, text
