"""10,000 VMs in the browser: the first render's time is printed (a figure, not an assertion: see
benchmarks/bench_dashboard.py), only the rows in view are in the DOM, and a change patches its row
in place without re-rendering the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from azvm.testing import AzvmServer, azvm_server

from .fleetgen import populate

N = 10_000


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[AzvmServer, list[str]]]:
    with azvm_server() as server:
        ids = populate(server.emulator.service, N)
        yield server, ids


def render_figures(b: Any) -> dict[str, Any]:
    b.open("#/fleet")
    b.wait(lambda d: b.js("return document.documentElement.dataset.fleetRendered") == str(N), "10,000 rows rendered",
           timeout=60)
    return dict(b.js("return window.azvmDashboard.metrics()"))


def test_ten_thousand_vms_render_virtualized_and_patch_in_place(big: tuple[AzvmServer, list[str]],
                                                                 browser_factory: Any) -> None:
    server, ids = big
    b = browser_factory(server)
    m = render_figures(b)
    print(f"\ndashboard, {N:,} VMs: first render {m['firstRenderMs']:.0f} ms after the snapshot arrived,"
          f" {m['sinceNavigationMs']:.0f} ms after navigation; {m['rowsInDom']} rows in the DOM")
    assert m["rows"] == N
    in_dom = b.js("return document.querySelectorAll('.vbody .vrow').length")
    assert 10 <= in_dom < 100  # virtualized: the rows in view and a few more, not 10,000
    assert b.css("#fleet-table").get_attribute("aria-rowcount") == str(N + 1)
    assert b.text("#fleet-summary").startswith("10,000 VMs")

    # scroll to the end: the last VM by name is drawn at the bottom, still with few rows in the DOM
    b.js("const body = document.querySelector('.vbody'); body.scrollTop = body.scrollHeight")
    last = sorted(ids, key=lambda i: i.rsplit("/", 1)[1])[-1]
    b.wait(lambda d: b.js("return [...document.querySelectorAll('.vbody .vrow')].some(e => !e.hidden &&"
                          " e.dataset.id === arguments[0])", last), "the last row drawn")
    assert b.js("return document.querySelectorAll('.vbody .vrow').length") < 100

    # a change to one VM patches that row: the same elements stay, only its cells change
    target = b.js("return [...document.querySelectorAll('.vbody .vrow')].filter(e => !e.hidden)[5].dataset.id")
    b.js("window.__rows = [...document.querySelectorAll('.vbody .vrow')];"
         " window.__rows.forEach(e => { e.__mark = e.dataset.id; });")
    rg, name = target.split("/")[4], target.rsplit("/", 1)[1]
    state = server.compute_client().virtual_machines.instance_view(rg, name).statuses[1].code
    action = "start" if state != "PowerState/running" else "powerOff"
    server.arm("POST", f"{target}/{action}")  # waits for the end (time skipping)
    want = "VM running" if action == "start" else "VM stopped"
    b.wait(lambda d: b.js("const e = [...document.querySelectorAll('.vbody .vrow')].find(e => e.dataset.id ==="
                          " arguments[0]); return e && e.querySelector('.c-power').textContent", target).endswith(want),
           "the changed row patched")
    kept = b.js("const now = [...document.querySelectorAll('.vbody .vrow')];"
                " return {same: now.length === window.__rows.length && now.every((e, i) => e === window.__rows[i]),"
                " moved: now.filter(e => !e.hidden && e.__mark !== e.dataset.id).length}")
    assert kept == {"same": True, "moved": 0}  # the same row elements, each still showing its VM
    assert b.errors() == []
