"""The dashboard in a real browser, over VMs made with the official SDK: the fleet, a VM's actions and
timeline, the clock, the explorer's JSON against the API's, a 409 shown as ARM answered it, faults,
both widths, both themes."""

from __future__ import annotations

import json
import os
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from azure.core.exceptions import HttpResponseError

from azvm.testing import AzvmServer
from tests.conftest import http_client

from .conftest import PHONE, Browser

SUB = "00000000-0000-0000-0000-000000000000"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def sdk_fleet(azvm: AzvmServer, names: tuple[str, ...] = ("web-1", "web-2", "db-1")) -> dict[str, str]:
    """VMs made as a management script makes them, through the SDK clients: a group, a network, a NIC
    each (web-1 with a public IP), the VMs; db-1 then deallocated. Returns their ids by name."""
    rm, net, compute = azvm.resource_client(), azvm.network_client(), azvm.compute_client()
    rm.resource_groups.create_or_update("shop", {"location": "eastus"})
    vnet = net.virtual_networks.begin_create_or_update("shop", "vnet", {"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.1.0.0/24"}}]}}).result()
    ids = {}
    for name in names:
        ipconfig: dict[str, Any] = {"subnet": {"id": vnet.subnets[0].id}}
        if name == "web-1":
            pip = net.public_ip_addresses.begin_create_or_update("shop", f"{name}-ip", {
                "location": "eastus", "sku": {"name": "Standard"},
                "properties": {"publicIPAllocationMethod": "Static"}}).result()
            ipconfig["publicIPAddress"] = {"id": pip.id}
        nic = net.network_interfaces.begin_create_or_update("shop", f"{name}-nic", {
            "location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": ipconfig}]}
        }).result()
        vm = compute.virtual_machines.begin_create_or_update("shop", name, {
            "location": "eastus", "properties": {
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                      "sku": "server", "version": "latest"},
                                   "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"}},
                "osProfile": {"computerName": name, "adminUsername": "azureuser",
                              "adminPassword": "Passw0rd!Passw0rd!"},
                "networkProfile": {"networkInterfaces": [{"id": nic.id, "properties": {"deleteOption": "Delete"}}]}}
        }).result()
        ids[name] = vm.id
    if "db-1" in ids:
        compute.virtual_machines.begin_deallocate("shop", "db-1").result()
    return ids


def row(b: Browser, vm_id: str) -> dict[str, str] | None:
    """The fleet table's row of a VM, as shown (None when it is not in the DOM)."""
    value = b.js("""
        const el = [...document.querySelectorAll('.vbody .vrow')].find(e => !e.hidden && e.dataset.id === arguments[0]);
        if (!el) return null;
        const t = c => el.querySelector('.' + c).textContent;
        const power = el.querySelector('.c-power .state > span:last-child').textContent;  // without its glyph
        return {name: t('c-name'), power, billed: t('c-billed'), cost: t('c-cost'), prov: t('c-prov')};
    """, vm_id)
    return None if value is None else dict(value)


def open_fleet(b: Browser, ids: dict[str, str]) -> None:
    b.open("#/fleet")
    b.wait(lambda d: all(row(b, i) for i in ids.values()), "the SDK's VMs in the fleet table")
    b.js("window.__sameDocument = true")  # gone if anything reloads the page


def vm_field(b: Browser, name: str) -> str:
    return b.text(f'#vm-states [data-field="{name}"]')


def expected_compute_cost(azvm: AzvmServer, vm_id: str) -> str:
    """What the billing API says the VM's compute has cost so far, rounded once to cents."""
    explain = azvm.control("GET", f"billing/explain?id={quote(vm_id, safe='')}")
    total = sum((Decimal(i["amount"]) for i in explain["intervals"] if i["amount"] is not None), Decimal(0))
    return f"${total.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def test_the_fleet_lists_the_sdk_vms_and_a_start_from_the_page_shows_live(azvm: AzvmServer,
                                                                          browser_factory: Any) -> None:
    ids = sdk_fleet(azvm)
    b = browser_factory(azvm)
    open_fleet(b, ids)
    assert row(b, ids["web-1"]) == {"name": "web-1", "power": "VM running", "billed": "$ Billed", "cost": "$0.00",
                                    "prov": "Succeeded"}
    assert row(b, ids["db-1"])["power"] == "VM deallocated"  # type: ignore[index]
    assert row(b, ids["db-1"])["billed"] == "Not billed"  # type: ignore[index]
    assert b.text("#fleet-summary").startswith("3 VMs · 2 billed now")
    b.screenshot("fleet-desktop")

    # open db-1 with the keyboard: the table is one tab stop, arrows move, Enter opens
    b.css("#f-text").send_keys("db-")
    b.wait(lambda d: row(b, ids["web-1"]) is None, "the filter hides web-1")
    from selenium.webdriver.common.keys import Keys

    b.css("#fleet-table").send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    b.wait(lambda d: b.text("#vm-title") == "db-1", "db-1's page")
    b.wait(lambda d: "VM deallocated" in vm_field(b, "power"))

    b.click('[data-action="start"]')
    b.wait(lambda d: "accepted (202" in b.text("#vm-result"), "the start accepted")
    b.wait(lambda d: "VM starting" in vm_field(b, "power"), "Starting, pushed without a reload")
    assert azvm.compute_client().virtual_machines.instance_view("shop", "db-1").statuses[1].code == \
        "PowerState/starting"

    # an hour later, from the page's own clock controls
    before = azvm.now()
    b.js("document.getElementById('clock-step').value = '3600'")
    b.click("#clock-advance")
    b.wait(lambda d: "VM running" in vm_field(b, "power"), "Running after the clock moved")
    assert azvm.now() > before
    cost = expected_compute_cost(azvm, ids["db-1"])
    assert cost != "$0.00"
    b.wait(lambda d: vm_field(b, "cost") == cost, f"the cost so far ({cost})")
    assert vm_field(b, "billed").startswith("$ Billed")
    b.wait(lambda d: b.js("return document.getElementById('clock-now').dataset.us") ==
           str(azvm.control("GET", "clock")["nowMicroseconds"]), "the page's clock is the server's")
    # the timeline shows the start as an operation marker and the billed span
    b.wait(lambda d: "start" in b.text("#vm-spans tbody"), "the start in the timeline")
    assert "$ billed" in b.text("#vm-spans tbody")
    assert "Running" in b.text("#vm-state-table tbody")
    b.screenshot("vm-desktop")

    b.click('.tabs a[data-view="fleet"]')
    b.css("#f-text").clear()
    b.js("const e = document.getElementById('f-text'); e.value = ''; e.dispatchEvent(new Event('input'))")
    b.wait(lambda d: row(b, ids["db-1"]) is not None and row(b, ids["web-1"]) is not None)
    assert row(b, ids["db-1"])["power"] == "VM running"  # type: ignore[index]
    assert row(b, ids["db-1"])["cost"] == cost  # type: ignore[index]
    assert b.js("return window.__sameDocument") is True  # no reload at any point
    assert b.errors() == []


def test_a_refused_action_shows_the_arm_error_as_the_sdk_gets_it(azvm: AzvmServer, browser_factory: Any) -> None:
    ids = sdk_fleet(azvm, ("web-1", "db-1"))
    with pytest.raises(HttpResponseError) as refused:
        azvm.compute_client().virtual_machines.begin_power_off("shop", "db-1").result()
    assert refused.value.status_code == 409
    b = browser_factory(azvm)
    b.open(f"#/vm/{quote(ids['db-1'], safe='')}")
    b.wait(lambda d: "VM deallocated" in vm_field(b, "power"))
    b.click('[data-action="powerOff"]')
    b.wait(lambda d: "refused" in b.text("#vm-result"), "the refusal shown")
    shown = b.text("#vm-result")
    assert b.css("#vm-result").get_attribute("data-status") == "409"
    assert b.css("#vm-result").get_attribute("data-code") == refused.value.error.code == "OperationNotAllowed"
    assert refused.value.error.message in shown
    assert "VM deallocated" in vm_field(b, "power")  # a refusal changes nothing


def test_the_explorer_shows_each_resource_as_the_api_returns_it_with_links(azvm: AzvmServer,
                                                                          browser_factory: Any) -> None:
    ids = sdk_fleet(azvm, ("web-1",))
    b = browser_factory(azvm)
    b.open("#/explorer")
    # down the tree with clicks: subscription, resource group, the VM
    b.wait(lambda d: b.js("return document.querySelectorAll('#tree [role=treeitem]').length") >= 1)
    b.click("#tree [role=treeitem] .twisty")
    b.wait(lambda d: b.js("return !!document.querySelector('#tree [data-kind=\"resource group\"]')"))
    b.click('#tree [data-kind="resource group"] .twisty')
    vm_item = f'#tree [data-id="{ids["web-1"]}"] .label'
    b.wait(lambda d: b.js("return !!document.querySelector(arguments[0])", vm_item))
    b.click(vm_item)
    b.wait(lambda d: b.css("#json-view").get_attribute("data-resource") == ids["web-1"]
           and b.text("#json-view").startswith("{"))
    with http_client(azvm) as c:
        def same_as_api(resource: str = ids["web-1"]) -> bool:
            method, url = b.text("#json-url").split(" ", 1)
            assert method == "GET" and url.startswith(resource)
            shown = json.loads(b.text("#json-view"))
            return bool(shown == c.get(url).json())
        b.wait(lambda d: same_as_api(), "the VM's JSON equal to GET's")
        b.click("#tab-iv")
        b.wait(lambda d: "/instanceView?" in b.text("#json-url") and b.text("#json-view").startswith("{"))
        b.wait(lambda d: same_as_api(), "the instance view equal to the API's")
        assert json.loads(b.text("#json-view"))["statuses"][1]["code"] == "PowerState/running"

        # the VM links its NIC, the NIC its public IP and back to the VM, the IP its NIC
        nic_id = ids["web-1"].split("/providers/")[0] + "/providers/Microsoft.Network/networkInterfaces/web-1-nic"
        b.click("#tab-get")
        link = f'#json-links a[href="#/explorer/{quote(nic_id, safe="")}"]'
        b.wait(lambda d: b.js("return !!document.querySelector(arguments[0])", link), "a link to the NIC")
        b.click(link)
        b.wait(lambda d: b.css("#json-view").get_attribute("data-resource") == nic_id)
        b.wait(lambda d: same_as_api(nic_id), "the NIC's JSON equal to GET's")
        nic = json.loads(b.text("#json-view"))
        assert nic["properties"]["virtualMachine"]["id"].lower() == ids["web-1"].lower()
        related = b.text("#json-links")
        assert "web-1 (virtualMachines)" in related and "web-1-ip (publicIPAddresses)" in related
    # the tree is usable with the keyboard too: focus the selected item, go up to the group
    from selenium.webdriver.common.keys import Keys

    b.css('#tree [role="treeitem"][tabindex="0"]').send_keys(Keys.ARROW_LEFT)
    assert b.js("return document.activeElement.dataset.kind") == "resource group"
    assert b.errors() == []


def test_faults_are_listed_and_removable_and_the_clock_pauses(azvm: AzvmServer, browser_factory: Any) -> None:
    kept = azvm.inject_fault(kind="operation", op="start", name="web-*", count=2)
    gone = azvm.inject_fault(kind="power-unknown", name="db-1")
    b = browser_factory(azvm)
    b.open("#/faults")
    b.wait(lambda d: b.js("return document.querySelectorAll('#faults-table tbody tr[data-id]').length") == 2)
    assert "name=web-*" in b.text(f'#faults-table tr[data-id="{kept["id"]}"]')
    kept_button = b.css(f'#faults-table tr[data-id="{kept["id"]}"] button')
    b.click(f'#faults-table tr[data-id="{gone["id"]}"] button')
    b.wait(lambda d: b.js("return document.querySelectorAll('#faults-table tbody tr[data-id]').length") == 1)
    assert [f["id"] for f in azvm.faults()] == [kept["id"]]
    # the table redraws by id: the row that stays is the same element, so focus on it is never lost
    assert b.js("return arguments[0].isConnected", kept_button) is True

    # the manual clock: Resume runs it at the speed given, Pause stops it again
    b.wait(lambda d: b.text("#clock-pause") == "Resume")
    b.css("#clock-speed").clear()
    b.css("#clock-speed").send_keys("60")
    b.click("#clock-speed-set")
    b.wait(lambda d: azvm.control("GET", "clock")["speed"] == 60)
    b.wait(lambda d: b.text("#clock-pause") == "Pause")
    b.click("#clock-pause")
    b.wait(lambda d: azvm.control("GET", "clock")["speed"] == 0)


def test_phone_width_dark_theme_and_screenshots(azvm: AzvmServer, browser_factory: Any) -> None:
    ids = sdk_fleet(azvm)
    azvm.advance(7200)
    b = browser_factory(azvm, size=PHONE)
    open_fleet(b, ids)
    assert b.js("return document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
        "no sideways scrolling"
    # the columns a phone has no room for are hidden; name, power state, billed and cost stay
    visible = b.js("""return [...document.querySelectorAll('.vbody .vrow:not([hidden]) > div')]
        .filter(e => getComputedStyle(e).display !== 'none').slice(0, 8).map(e => e.classList[0])""")
    assert visible[:4] == ["c-name", "c-power", "c-billed", "c-cost"]
    phone = b.screenshot("fleet-phone")
    b.click("#theme")  # auto -> light
    b.click("#theme")  # light -> dark
    assert b.js("return document.documentElement.dataset.theme") == "dark"
    assert b.js("return getComputedStyle(document.body).backgroundColor") == "rgb(15, 20, 25)"
    b.open(f"#/vm/{quote(ids['web-1'], safe='')}")
    b.wait(lambda d: "$ Billed" in vm_field(b, "billed") and b.text("#vm-state-table tbody"))
    dark = b.screenshot("vm-phone-dark")
    desktop = browser_factory(azvm)
    desktop.open(f"#/vm/{quote(ids['web-1'], safe='')}")
    # its compute, its OS disk's and its public IP's meters (the neighbours are found through the ARM API)
    desktop.wait(lambda d: "Standard IPv4 Static Public IP" in desktop.text("#vm-meter-table tbody"), "the IP's meter")
    meters = desktop.text("#vm-meter-table tbody")
    assert "B2s" in meters and "disk" in meters.lower()
    open_fleet(desktop, ids)
    desktop.wait(lambda d: desktop.js("return !!Chart.getChart(document.getElementById('fleet-chart'))"))
    fleet = desktop.screenshot("fleet-desktop")
    for shot in (phone, dark, fleet):
        assert shot.stat().st_size > 10_000
    if os.environ.get("AZVM_UPDATE_SCREENSHOTS"):  # refresh the two kept in docs/img
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copy(fleet, DOCS_IMG / "dashboard-fleet-1280x800.png")
        shutil.copy(phone, DOCS_IMG / "dashboard-fleet-phone.png")
