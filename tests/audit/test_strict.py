"""An audit signed in as a principal that may read one subscription of two (`--auth strict`): the
other is reported unreadable, with ARM's 403, and the first is audited all the same; with no
`--subscription`, the audit covers what the credential sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.audit.conftest import SUB, audit, audit_cli, endpoint_args, identity_env, wall_now_iso

from azvm.testing import AzvmServer, azvm_server

OTHER = "11111111-1111-1111-1111-111111111111"


def principals() -> list[dict[str, Any]]:
    return [
        {"clientId": "auditor", "secret": "auditor-secret",
         "roleAssignments": [{"role": "Reader", "scope": f"/subscriptions/{SUB}"}]},
        {"clientId": "fixer", "secret": "fixer-secret",
         "roleAssignments": [{"role": "Contributor", "scope": f"/subscriptions/{SUB}"}]},
        {"clientId": "ops", "secret": "ops-secret", "admin": True,
         "roleAssignments": [{"role": "Owner", "scope": f"/subscriptions/{SUB}"},
                             {"role": "Owner", "scope": f"/subscriptions/{OTHER}"}]},
    ]


@pytest.fixture(scope="module")
def strict_server() -> Iterator[AzvmServer]:
    with azvm_server(auth="strict", principals=principals(), start_time=wall_now_iso()) as server:
        yield server


@pytest.fixture
def strict(strict_server: AzvmServer) -> AzvmServer:
    """Two subscriptions, made by the owner of both: a running and a stopped VM in SUB, a stopped one in OTHER."""
    strict_server.reset(start_time=wall_now_iso())
    strict_server.arm_token = strict_server.token_for("ops")
    strict_server.create_vm("vm1")
    strict_server.create_vm("vm2")
    strict_server.compute_client().virtual_machines.begin_power_off("rg", "vm2").result()
    strict_server.subscription_id = OTHER
    try:
        strict_server.create_vm("other1")
        strict_server.compute_client().virtual_machines.begin_power_off("rg", "other1").result()
    finally:
        strict_server.subscription_id = SUB
    return strict_server


def test_an_unreadable_subscription_is_reported_and_the_others_are_audited(strict: AzvmServer, tmp_path: Path) -> None:
    a = audit(strict, tmp_path, "--subscription", SUB, "--subscription", OTHER, "--threshold", "1000")
    subs = {s["id"]: s for s in a.report["subscriptions"]}
    assert subs[SUB]["error"] is None and subs[SUB]["vms"] == 2
    assert subs[OTHER]["error"]["code"] == "AuthorizationFailed (403)"
    assert "does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read'" in \
        subs[OTHER]["error"]["message"]
    assert sorted(v["name"] for v in a.report["vms"]) == ["vm1", "vm2"]
    assert a.vm("vm2")["category"] == "stopped-billed"
    assert a.code == 4  # no waste above the threshold, but the audit is incomplete


def test_without_subscriptions_the_audit_covers_what_the_credential_sees(strict: AzvmServer, tmp_path: Path) -> None:
    a = audit(strict, tmp_path)
    assert [s["id"] for s in a.report["subscriptions"]] == [SUB]
    assert a.code == 3 and a.names(category="stopped-billed") == ["vm2"]


def test_a_reader_cannot_fix_and_is_told_so_vm_by_vm(strict: AzvmServer) -> None:
    r = audit_cli(*endpoint_args(strict), "--fix", "--yes", "--no-progress", "--format", "json")
    assert r.returncode == 3, r.stderr
    assert '"code": "AuthorizationFailed (403)"' in r.stdout
    # a Contributor can
    r = audit_cli(*endpoint_args(strict), "--fix", "--yes", "--no-progress", env=identity_env("fixer", "fixer-secret"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Fix: deallocated 1 of 1 VM(s)" in r.stdout


@pytest.mark.parametrize("which", [["--subscription", SUB], []])
def test_a_secret_azvm_does_not_know_is_reported_with_exit_code_4(strict: AzvmServer, which: list[str]) -> None:
    r = audit_cli(*endpoint_args(strict), *which, "--no-progress", env=identity_env("auditor", "wrong-secret"))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "could not be read: ClientAuthenticationError" in r.stdout and not r.stderr
