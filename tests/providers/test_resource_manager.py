"""ARM's own reads over every type, through the official azure-mgmt-resource client: generic
resource lists with `$filter`, resource providers with their types and api-versions."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from azvm.arm.versions import FAMILIES
from azvm.testing import AzvmServer
from tests.conftest import http_client


def _world(azvm: AzvmServer) -> None:
    azvm.create_vm("web", resource_group="app", public_ip=True, tags={"env": "prod"})
    azvm.create_vm("db", resource_group="data", tags={"env": "test"})


def test_generic_lists_cover_every_type(azvm: AzvmServer) -> None:
    _world(azvm)
    rm = azvm.resource_client()
    everything = {(r.type, r.name) for r in rm.resources.list()}
    assert ("Microsoft.Compute/virtualMachines", "web") in everything
    assert ("Microsoft.Network/virtualNetworks", "app-vnet") in everything
    assert ("Microsoft.Network/networkInterfaces", "web-nic") in everything
    assert ("Microsoft.Network/publicIPAddresses", "web-ip") in everything
    assert any(t == "Microsoft.Compute/disks" for t, _ in everything)
    assert not any(t.count("/") > 1 for t, _ in everything)  # children (subnets) are not listed alone
    in_app = {r.name for r in rm.resources.list_by_resource_group("app")}
    assert "web" in in_app and "db" not in in_app
    ids = [r.id.lower() for r in rm.resources.list()]
    assert ids == sorted(ids)


@pytest.mark.parametrize("flt,expected", [
    ("resourceType eq 'Microsoft.Compute/virtualMachines'", {"web", "db"}),
    ("resourceType eq 'microsoft.network/publicipaddresses'", {"web-ip"}),
    ("tagName eq 'env' and tagValue eq 'prod'", {"web"}),
    ("tagName eq 'env'", {"web", "db"}),
    ("name eq 'db'", {"db"}),
])
def test_generic_list_filters(azvm: AzvmServer, flt: str, expected: set[str]) -> None:
    _world(azvm)
    assert {r.name for r in azvm.resource_client().resources.list(filter=flt)} == expected


@pytest.mark.parametrize("flt", ["resourceType ne 'x'", "bogus", "tagName eq 'a' or name eq 'b'", "name eq x"])
def test_unsupported_filters_are_400(azvm: AzvmServer, flt: str) -> None:
    with pytest.raises(HttpResponseError) as e:
        list(azvm.resource_client().resources.list(filter=flt))
    assert e.value.status_code == 400 and e.value.error.code == "InvalidFilterInQueryString"


def test_providers_list_their_types_and_api_versions(azvm: AzvmServer) -> None:
    rm = azvm.resource_client()
    namespaces = {p.namespace for p in rm.providers.list()}
    assert {"Microsoft.Compute", "Microsoft.Network"} <= namespaces
    network = rm.providers.get("Microsoft.Network")
    types = {t.resource_type: t for t in network.resource_types}
    assert {"virtualNetworks", "virtualNetworks/subnets", "networkInterfaces", "publicIPAddresses",
            "networkSecurityGroups"} <= set(types)
    assert types["virtualNetworks"].api_versions == list(reversed(FAMILIES["network"]))
    compute = {t.resource_type: t for t in rm.providers.get("Microsoft.Compute").resource_types}
    assert "2019-03-01" in compute["virtualMachines"].api_versions  # old SDKs' version is served
    assert "disks" in compute and "2017-03-30" in compute["disks"].api_versions


def test_an_unknown_provider_is_refused(azvm: AzvmServer) -> None:
    with pytest.raises(HttpResponseError) as e:
        azvm.resource_client().providers.get("Microsoft.Nothing")
    assert e.value.error.code == "InvalidResourceNamespace"


def test_old_sdk_api_versions_are_served(azvm: AzvmServer) -> None:
    """Clients pinned to old SDKs send 2019-03-01 (Compute), 2017-03-30 (disks), 2018-11-01 (Network)."""
    _world(azvm)
    base = f"/subscriptions/{azvm.subscription_id}/resourceGroups/app/providers"
    with http_client(base_url=azvm.endpoint, verify=azvm.ssl_context() or False) as http:
        vm = http.get(f"{base}/Microsoft.Compute/virtualMachines/web", params={"api-version": "2019-03-01"})
        assert vm.status_code == 200
        disk = vm.json()["properties"]["storageProfile"]["osDisk"]["name"]
        old_disk = http.get(f"{base}/Microsoft.Compute/disks/{disk}", params={"api-version": "2017-03-30"})
        assert old_disk.status_code == 200
        nic = http.get(f"{base}/Microsoft.Network/networkInterfaces/web-nic", params={"api-version": "2018-11-01"})
        assert nic.status_code == 200
        bad = http.get(f"{base}/Microsoft.Network/networkInterfaces/web-nic", params={"api-version": "2018-11-02"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "NoRegisteredProviderFound"


def test_health_and_activity_providers_are_listed(azvm: AzvmServer) -> None:
    rm = azvm.resource_client()
    health = {t.resource_type: t for t in rm.providers.get("Microsoft.ResourceHealth").resource_types}
    assert "2025-05-01" in health["availabilityStatuses"].api_versions
    insights = {t.resource_type: t for t in rm.providers.get("Microsoft.Insights").resource_types}
    assert "2015-04-01" in insights["eventtypes"].api_versions


def test_the_subscription_lists_every_region_azvm_serves(azvm: AzvmServer) -> None:
    """Subscriptions_ListLocations, which az reads when a command is given no -l."""
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from azvm.service.validation import REGIONS

    client = SubscriptionClient(azvm.credential(), **azvm.client_kwargs())
    regions = {r.name: r for r in client.subscriptions.list_locations(azvm.subscription_id)}
    assert set(regions) == set(REGIONS)
    east = regions["eastus2"]
    assert east.display_name == "East US 2" and east.regional_display_name == "(US) East US 2"
    assert regions["uaenorth"].id == f"/subscriptions/{azvm.subscription_id}/locations/uaenorth"
