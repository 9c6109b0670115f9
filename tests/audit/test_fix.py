"""`--fix`: exactly the VMs Stopped (allocated), billed and not excluded end deallocated; a failing
deallocation is reported and the others go on; nothing happens without a yes; the dry run says
what it would do."""

from __future__ import annotations

from pathlib import Path

from tests.audit.conftest import audit, audit_cli, endpoint_args

from azvm.testing import AzvmServer


def fleet(azvm: AzvmServer) -> None:
    """keep1 (tag keep=yes), prod1 (group prod), plain1, plain2, broken1: stopped; run1 running; gone1
    deallocated."""
    azvm.create_vm("keep1", tags={"keep": "yes"})
    azvm.create_vm("prod1", resource_group="prod")
    for name in ("plain1", "plain2", "broken1", "run1", "gone1"):
        azvm.create_vm(name)
    compute = azvm.compute_client()
    for rg, name in (("rg", "keep1"), ("prod", "prod1"), ("rg", "plain1"), ("rg", "plain2"), ("rg", "broken1")):
        compute.virtual_machines.begin_power_off(rg, name).result()
    compute.virtual_machines.begin_deallocate("rg", "gone1").result()


def power_states(azvm: AzvmServer) -> dict[str, str]:
    compute = azvm.compute_client()
    return {vm.name: next(s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/"))
            for vm in compute.virtual_machines.list_all(status_only="true")}


BEFORE = {"keep1": "PowerState/stopped", "prod1": "PowerState/stopped", "plain1": "PowerState/stopped",
          "plain2": "PowerState/stopped", "broken1": "PowerState/stopped", "run1": "PowerState/running",
          "gone1": "PowerState/deallocated"}


def test_fix_deallocates_exactly_the_stopped_billed_vms_not_excluded_and_goes_on_past_a_failure(
        azvm_now: AzvmServer, tmp_path: Path) -> None:
    fleet(azvm_now)
    azvm_now.inject_fault(kind="operation", op="deallocate", name="broken1", code="InternalOperationError")
    a = audit(azvm_now, tmp_path, "--fix", "--yes", "--exclude-tag", "keep=yes", "--exclude-group", "prod")
    assert power_states(azvm_now) == {**BEFORE, "plain1": "PowerState/deallocated",
                                      "plain2": "PowerState/deallocated"}
    results = {r["name"]: r for r in a.report["fix"]["results"]}
    assert sorted(results) == ["broken1", "plain1", "plain2"]
    assert results["plain1"]["ok"] and results["plain2"]["ok"] and not results["broken1"]["ok"]
    assert results["broken1"]["error"]["code"] == "InternalOperationError"
    assert "internal error" in results["broken1"]["error"]["message"]
    assert a.vm("keep1")["excluded"] == "tag keep=yes" and a.vm("prod1")["excluded"] == "group prod"
    totals = a.report["totals"]
    assert totals["saved"] == results["plain1"]["savingIfDeallocated"] * 2
    assert totals["remainingWaste"] == results["broken1"]["savingIfDeallocated"] > 0
    assert a.code == 3  # broken1's waste remains
    assert a.vm("broken1")["fix"].startswith("failed") and a.vm("plain1")["fix"] == "deallocated"
    # the excluded VMs are priced but count in no total
    assert totals["waste"] == 3 * results["plain1"]["savingIfDeallocated"]


def test_a_failed_deallocation_alone_makes_the_audit_incomplete(azvm_now: AzvmServer, tmp_path: Path) -> None:
    azvm_now.create_vm("broken1")
    azvm_now.compute_client().virtual_machines.begin_power_off("rg", "broken1").result()
    azvm_now.inject_fault(kind="operation", op="deallocate", name="broken1")
    assert audit(azvm_now, tmp_path, "--fix", "--yes", "--threshold", "1000").code == 4


def test_without_fix_nothing_changes_and_the_dry_run_says_what_would_be_done(azvm_now: AzvmServer) -> None:
    fleet(azvm_now)
    r = audit_cli(*endpoint_args(azvm_now), "--exclude-tag", "keep", "--no-progress")
    assert r.returncode == 3, r.stderr
    assert power_states(azvm_now) == BEFORE
    assert "Dry run: --fix would deallocate 4 VM(s) (prod1, broken1, plain1, plain2)" in r.stdout  # by id
    assert "Excluded: 1 VM(s) (keep1: tag keep=yes)" in r.stdout


def test_fix_asks_first_and_a_no_deallocates_nothing(azvm_now: AzvmServer) -> None:
    fleet(azvm_now)
    r = audit_cli(*endpoint_args(azvm_now), "--fix", "--exclude-group", "prod", "--exclude-tag", "keep=yes",
                  "--no-progress", stdin="n\n")
    assert r.returncode == 3, r.stderr
    assert "--fix will deallocate 3 VM(s)" in r.stderr and "Deallocate them? [y/N]" in r.stderr
    assert "Nothing deallocated." in r.stderr
    assert power_states(azvm_now) == BEFORE


def test_fix_with_a_yes_at_the_prompt_deallocates_and_sums_up(azvm_now: AzvmServer) -> None:
    fleet(azvm_now)
    r = audit_cli(*endpoint_args(azvm_now), "--fix", "--exclude-group", "prod", "--exclude-tag", "keep=yes",
                  "--no-progress", stdin="y\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert power_states(azvm_now) == {**BEFORE, "plain1": "PowerState/deallocated",
                                      "plain2": "PowerState/deallocated", "broken1": "PowerState/deallocated"}
    assert "Fix: deallocated 3 of 3 VM(s), saving 91.10 USD/month." in r.stdout  # 3 x B2s: 3 x 0.0416 x 730


def test_the_progress_display_shows_on_a_terminal_and_not_with_no_progress(azvm_now: AzvmServer) -> None:
    azvm_now.create_vm("vm1")
    azvm_now.compute_client().virtual_machines.begin_power_off("rg", "vm1").result()
    terminal = {"FORCE_COLOR": "1"}  # rich takes stderr for a terminal
    r = audit_cli(*endpoint_args(azvm_now), "--format", "json", "--threshold", "100", env=terminal)
    assert r.returncode == 0 and "reading subscriptions" in r.stderr and "deallocating" not in r.stderr
    r = audit_cli(*endpoint_args(azvm_now), "--fix", "--yes", "--format", "json", env=terminal)
    assert r.returncode == 0 and "deallocating" in r.stderr
    r = audit_cli(*endpoint_args(azvm_now), "--no-progress", "--format", "json", env=terminal)
    assert r.returncode == 0 and r.stderr == ""
