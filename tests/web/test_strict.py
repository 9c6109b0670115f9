"""`--auth strict`: the page shows and asks nothing without a token; it signs in at azvm's own token
endpoint with a client id and secret and sends the token on every request, the event stream included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from azvm.testing import AzvmServer, azvm_server

SUB = "00000000-0000-0000-0000-000000000000"
PRINCIPALS = {"principals": [
    {"clientId": "ops", "secret": "ops-secret", "admin": True,
     "roleAssignments": [{"role": "Owner", "scope": f"/subscriptions/{SUB}"}]},
    {"clientId": "viewer", "secret": "viewer-secret",
     "roleAssignments": [{"role": "Reader", "scope": f"/subscriptions/{SUB}"}]},
]}


@pytest.fixture(scope="module")
def strict() -> Iterator[AzvmServer]:
    with azvm_server(auth="strict", principals=PRINCIPALS) as server:
        server.arm_token = server.token_for("ops")
        server.create_vm("app-1")
        yield server


def client(server: AzvmServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.endpoint, verify=server.ssl_context() or False, headers=headers)


def test_the_dashboard_reads_need_what_the_control_api_needs(strict: AzvmServer) -> None:
    with client(strict) as anonymous:
        assert anonymous.get("/").status_code == 200  # the page itself: it asks for credentials
        assert anonymous.get("/ui/config").json()["auth"] == "strict"
        for path in ("/ui/api/fleet", "/ui/events", f"/ui/api/timeline?id=/subscriptions/{SUB}"):
            r = anonymous.get(path)
            assert r.status_code == 401, path
            assert r.json()["error"]["code"] == "AuthenticationFailed"
    with client(strict, strict.token_for("viewer")) as reader:  # a Reader of ARM, no admin
        r = reader.get("/ui/api/fleet")
        assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed"
    with client(strict, "not-a-token") as forged:
        assert forged.get("/ui/api/fleet").json()["error"]["code"] == "InvalidAuthenticationToken"
    with client(strict, strict.token_for("ops")) as admin:
        rows = admin.get("/ui/api/fleet").json()["value"]
        assert [r["name"] for r in rows] == ["app-1"]


def test_the_page_asks_for_credentials_and_then_shows_the_fleet(strict: AzvmServer, browser_factory: Any) -> None:
    b = browser_factory(strict)
    b.open("#/fleet")
    b.wait(lambda d: b.js("return document.getElementById('signin').open"), "the sign-in dialog")
    assert b.js("return document.getElementById('main').hidden") is True
    assert b.js("return document.querySelectorAll('.vbody .vrow[data-id]').length") == 0
    assert b.js("return document.querySelector('.clock').hidden") is True
    b.css("#signin-client").send_keys("ops")
    b.css("#signin-secret").send_keys("wrong")
    b.click("#signin-submit")
    b.wait(lambda d: b.text("#signin-error"), "the token endpoint's refusal")
    assert "AADSTS7000215" in b.text("#signin-error")  # Entra ID's "invalid client secret"
    b.css("#signin-secret").clear()
    b.css("#signin-secret").send_keys("ops-secret")
    b.click("#signin-submit")
    b.wait(lambda d: b.js("return document.querySelectorAll('.vbody .vrow[data-id]').length") == 1, "the fleet")
    assert b.js("return document.getElementById('signin').open") is False
    # the token is azvm's, for ARM's audience, and works for the explorer's ARM reads too
    token = b.js("return window.azvmDashboard.api.token")
    with client(strict, token) as c:
        assert c.get(f"/subscriptions/{SUB}/resourcegroups", params={"api-version": "2021-04-01"}).status_code == 200
    b.click("#sign-out")
    b.wait(lambda d: b.js("return document.getElementById('signin').open"))
    assert b.js("return document.getElementById('main').hidden") is True
    assert all(" 401 " in e for e in b.errors())  # only the wrong secret's answer
