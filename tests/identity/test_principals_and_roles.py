"""The principals file, role checks, the actions derived from the route table, and the serve flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azvm import cli
from azvm.arm.routes import action_for
from azvm.identity.principals import PrincipalsError, parse_principals
from azvm.identity.roles import BUILT_IN_ROLES, permitted
from tests.identity.conftest import SUB, TENANT

G = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"


@pytest.mark.parametrize("method, template, action", [
    ("GET", f"{G}/providers/Microsoft.Compute/virtualMachines/{{vmName}}", "Microsoft.Compute/virtualMachines/read"),
    ("PUT", f"{G}/providers/Microsoft.Compute/virtualMachines/{{vmName}}", "Microsoft.Compute/virtualMachines/write"),
    ("PATCH", f"{G}/providers/Microsoft.Network/virtualNetworks/{{n}}/subnets/{{c}}",
     "Microsoft.Network/virtualNetworks/subnets/write"),
    ("DELETE", f"{G}/providers/Microsoft.Compute/disks/{{n}}", "Microsoft.Compute/disks/delete"),
    ("POST", f"{G}/providers/Microsoft.Compute/virtualMachines/{{vmName}}/start",
     "Microsoft.Compute/virtualMachines/start/action"),
    ("GET", "/subscriptions/{subscriptionId}/resourcegroups", "Microsoft.Resources/subscriptions/resourceGroups/read"),
    ("HEAD", G, "Microsoft.Resources/subscriptions/resourceGroups/read"),
    ("DELETE", G, "Microsoft.Resources/subscriptions/resourceGroups/delete"),
    ("GET", "/subscriptions", "Microsoft.Resources/subscriptions/read"),
    ("POST", "/subscriptions/{subscriptionId}/providers/Microsoft.CostManagement/query",
     "Microsoft.CostManagement/query/read"),
    ("GET", "/metadata/endpoints", None),
    ("POST", "/azvm/{path*}", "azvm/control"),
])
def test_actions_follow_from_the_route_table(method: str, template: str, action: str | None) -> None:
    assert action_for(method, template) == action


def test_roles_and_scopes() -> None:
    reader, contributor = BUILT_IN_ROLES["reader"], BUILT_IN_ROLES["contributor"]
    assert reader.permits("Microsoft.Compute/virtualMachines/read")
    assert not reader.permits("Microsoft.Compute/virtualMachines/start/action")
    assert contributor.permits("microsoft.compute/virtualmachines/write")
    assert not contributor.permits("Microsoft.Authorization/roleAssignments/write")
    p = parse_principals([{"clientId": "a", "secret": "s", "roleAssignments": [
        {"role": "Contributor", "scope": f"/subscriptions/{SUB}/resourceGroups/RG"}]}], TENANT).get("A")
    assert p is not None
    vm = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
    assert permitted(p.assignments, "Microsoft.Compute/virtualMachines/write", vm)
    assert not permitted(p.assignments, "Microsoft.Compute/virtualMachines/write", vm.replace("/rg/", "/rg2/"))
    assert not permitted(p.assignments, "Microsoft.Compute/virtualMachines/write", vm.replace("/rg/", "/rgx/"))
    assert p.subscriptions() == [SUB]


@pytest.mark.parametrize("doc, words", [
    ({"principals": {}}, "expected"),
    ([{"secret": "s"}], "clientId"),
    ([{"clientId": "a"}], "give a secret"),
    ([{"clientId": "a", "secret": "s", "roleAssignments": [{"role": "Janitor", "scope": f"/subscriptions/{SUB}"}]}],
     "Owner, Contributor or Reader"),
    ([{"clientId": "a", "secret": "s", "roleAssignments": [{"role": "Reader", "scope": "/"}]}], "scope"),
    ([{"clientId": "a", "secret": "s"}, {"clientId": "A", "secret": "t"}], "twice"),
    ([{"clientId": "a", "thumbprint": "xyz"}], "thumbprint"),
    ([{"clientId": "a", "secret": "s", "colour": "red"}], "unknown field"),
])
def test_a_bad_principals_file_is_one_clear_error(doc: object, words: str) -> None:
    with pytest.raises(PrincipalsError, match=words):
        parse_principals(doc, TENANT)


def test_serve_flags_refuse_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZVM_AUTH", "AZVM_PRINCIPALS"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    assert cli.main(["serve", "--data-dir", str(data), "--auth", "strict"]) == 2
    assert "--auth strict needs --principals" in capsys.readouterr().err
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps([{"clientId": "a"}]))
    assert cli.main(["serve", "--data-dir", str(data), "--auth", "strict", "--principals", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give a secret" in err and "--principals" in err
    assert cli.main(["serve", "--data-dir", str(data), "--auth", "closed"]) == 2
    assert "expected one of open, strict" in capsys.readouterr().err
    assert not data.exists()
