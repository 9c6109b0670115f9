"""Resource Health for VMs through the official azure-mgmt-resourcehealth client: the status
follows the power state (Available running, Unavailable deallocated by the user), the lists at
subscription and group scope, Azure's refusals; the mapping itself for every power state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resourcehealth import ResourceHealthMgmtClient

from azvm.domain.states import PowerState, Prov
from azvm.service import health
from azvm.testing import AzvmServer, StaticTokenCredential, azvm_server
from tests.conftest import http_client

SUB = "00000000-0000-0000-0000-000000000000"
AVAILABLE_SUMMARY = "There aren't any known Azure platform problems affecting this virtual machine."
DEALLOCATED_SUMMARY = ("This virtual machine is stopping and deallocating as requested by an authorized user or"
                       " process")


def client(azvm: AzvmServer, credential: Any = None) -> Any:
    return ResourceHealthMgmtClient(credential or StaticTokenCredential(azvm.arm_token), azvm.subscription_id,
                                    **azvm.client_kwargs())


def vm_uri(azvm: AzvmServer, name: str = "vm1", rg: str = "rg") -> str:
    return (f"/subscriptions/{azvm.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Compute"
            f"/virtualMachines/{name}")


# -- the mapping ------------------------------------------------------------------------------------
@pytest.mark.parametrize("power,state,title", [
    (PowerState.RUNNING, "Available", "Available"),
    (PowerState.STARTING, "Unavailable", "Starting"),
    (PowerState.STOPPING, "Unavailable", "Stopping"),
    (PowerState.STOPPED, "Unavailable", "Stopped"),
    (PowerState.DEALLOCATING, "Unavailable", "Stopped and deallocating"),
    (PowerState.DEALLOCATED, "Unavailable", "Stopped and deallocating"),
    (PowerState.UNKNOWN, "Unknown", "Unknown"),
])
def test_every_power_state_has_a_status(power: PowerState, state: str, title: str) -> None:
    a = health.availability(power, Prov.SUCCEEDED)
    assert (a.state.value, a.title) == (state, title)
    assert a.summary
    if state == "Unavailable":
        assert a.reason_type == a.context == "Customer Initiated"
        assert "as requested by an authorized user or process" in a.summary
    else:
        assert a.reason_type == ""


def test_mapping_texts_are_azures() -> None:
    assert health.availability(PowerState.RUNNING).summary == AVAILABLE_SUMMARY
    assert health.availability(PowerState.DEALLOCATED).summary == DEALLOCATED_SUMMARY
    assert health.availability(PowerState.UNKNOWN).summary == \
        "We are currently unable to determine the health of this virtual machine"
    assert health.availability(PowerState.STARTING, Prov.CREATING).title == "Setting up"
    # an OS-provisioning failure leaves the VM running: still Available
    assert health.availability(PowerState.RUNNING, Prov.FAILED) == health.AVAILABLE
    assert set(health.AvailabilityState) == {health.AvailabilityState(v) for v in
                                             ("Available", "Unavailable", "Degraded", "Unknown")}


# -- through the SDK --------------------------------------------------------------------------------
def test_status_follows_the_power_state(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    rh = client(azvm)
    uri = vm_uri(azvm)
    cur = rh.availability_statuses.get_by_resource(uri)
    assert cur.id == f"{uri}/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
    assert (cur.name, cur.type, cur.location) == ("current", "Microsoft.ResourceHealth/AvailabilityStatuses", "eastus")
    assert cur.properties.availability_state == "Available"
    assert cur.properties.summary == AVAILABLE_SUMMARY
    assert cur.properties.reported_time is not None and cur.properties.occured_time is not None
    assert cur.properties.occured_time <= cur.properties.reported_time

    compute = azvm.compute_client()
    compute.virtual_machines.begin_deallocate("rg", "vm1").result()
    cur = rh.availability_statuses.get_by_resource(uri, expand="recommendedactions")
    p = cur.properties
    assert (p.availability_state, p.title, p.summary) == ("Unavailable", "Stopped and deallocating",
                                                          DEALLOCATED_SUMMARY)
    assert (p.reason_type, p.context, p.reason_chronicity) == ("Customer Initiated", "Customer Initiated",
                                                               "Persistent")
    assert p.recommended_actions and "click Start" in p.recommended_actions[0].action
    deallocated_since = p.occured_time

    compute.virtual_machines.begin_start("rg", "vm1").result()
    p = rh.availability_statuses.get_by_resource(uri).properties
    assert p.availability_state == "Available" and p.summary == AVAILABLE_SUMMARY
    assert p.occured_time > deallocated_since


def test_power_off_reads_stopped(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    azvm.compute_client().virtual_machines.begin_power_off("rg", "vm1").result()
    p = client(azvm).availability_statuses.get_by_resource(vm_uri(azvm)).properties
    assert (p.availability_state, p.title, p.reason_type) == ("Unavailable", "Stopped", "Customer Initiated")


def test_lists_at_every_scope(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    azvm.create_vm("db", resource_group="data")
    azvm.compute_client().virtual_machines.begin_deallocate("data", "db").result()
    rh = client(azvm)
    in_sub = {s.id.split("/")[8]: s.properties.availability_state
              for s in rh.availability_statuses.list_by_subscription_id()}
    assert in_sub == {"vm1": "Available", "db": "Unavailable"}
    in_rg = [s.id for s in rh.availability_statuses.list_by_resource_group("rg")]
    assert in_rg == [f"{vm_uri(azvm)}/providers/Microsoft.ResourceHealth/availabilityStatuses/current"]
    one = list(rh.availability_statuses.list(vm_uri(azvm, "db", "data"), expand="recommendedactions"))
    assert [s.properties.availability_state for s in one] == ["Unavailable"]


def test_lists_page(azvm: AzvmServer) -> None:
    for i in range(3):
        azvm.create_vm(f"vm{i}")
    with http_client(azvm) as http:
        r = http.get(f"/subscriptions/{azvm.subscription_id}/providers/Microsoft.ResourceHealth/availabilityStatuses",
                     params={"api-version": "2025-05-01", "$top": "2"})
        assert r.status_code == 200, r.text
        first = r.json()
        assert len(first["value"]) == 2 and first["nextLink"]
        rest = http.get(first["nextLink"]).json()
        assert len(rest["value"]) == 1 and "nextLink" not in rest
    names = [s.id.split("/")[8] for s in client(azvm).availability_statuses.list_by_subscription_id()]
    assert sorted(names) == ["vm0", "vm1", "vm2"]


def test_refusals(azvm: AzvmServer) -> None:
    azvm.create_vm("vm1")
    rh = client(azvm)
    with pytest.raises(ResourceNotFoundError):
        rh.availability_statuses.get_by_resource(vm_uri(azvm, "nope"))
    with pytest.raises(ResourceNotFoundError):
        list(rh.availability_statuses.list_by_resource_group("no-such-group"))
    with http_client(azvm) as http:
        url = f"{vm_uri(azvm)}/providers/Microsoft.ResourceHealth/availabilityStatuses/current"
        r = http.get(url, params={"api-version": "2019-01-01"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "NoRegisteredProviderFound"
        assert http.get(url, params={"api-version": "2022-10-01"}).status_code == 200
    with pytest.raises(HttpResponseError) as e:
        list(rh.availability_statuses.list_by_subscription_id(filter="something eq 'x'"))
    assert e.value.status_code == 400


# -- authorization ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict() -> Iterator[AzvmServer]:
    sub = f"/subscriptions/{SUB}"
    principals = [{"clientId": "owner", "secret": "s", "roleAssignments": [{"role": "Owner", "scope": sub}]},
                  {"clientId": "reader", "secret": "s", "roleAssignments": [{"role": "Reader", "scope": sub}]},
                  {"clientId": "nobody", "secret": "s", "roleAssignments": []},
                  {"clientId": "ops", "secret": "s", "admin": True}]
    with azvm_server(auth="strict", principals=principals) as server:
        yield server


def test_a_reader_reads_health_in_strict_mode(strict: AzvmServer) -> None:
    strict.reset()
    strict.arm_token = strict.token_for("owner")
    strict.create_vm("vm1")
    rh = client(strict, StaticTokenCredential(strict.token_for("reader")))
    assert rh.availability_statuses.get_by_resource(vm_uri(strict)).properties.availability_state == "Available"
    assert len(list(rh.availability_statuses.list_by_subscription_id())) == 1
    nobody = client(strict, StaticTokenCredential(strict.token_for("nobody")))
    with pytest.raises(HttpResponseError) as e:
        nobody.availability_statuses.get_by_resource(vm_uri(strict))
    assert e.value.status_code == 403
