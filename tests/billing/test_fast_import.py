"""The Arrow fast path of the CSV import gives exactly the rows of the standard reader, and steps
aside (so that every problem is reported with its line) whenever the input is not clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm import billing as b
from azvm.service import history_import as hi

pytest.importorskip("pyarrow")

VM = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
      "Microsoft.Compute/virtualMachines/")
TIMES = ["2026-01-01T00:00:00Z", "2026-01-01T01:30:00+00:00", "2026-01-01T02:00:00.5Z", "2026-01-01T05:00:00+02:00",
         "2026-01-02T00:00:00.123456Z", "2026-01-01T03:00:00-01:30"]
STATES = ["running", "PowerState/running", "VM stopped", "deallocated", "PowerState/Deallocating", "STOPPING",
          "hibernated", "deleted", "creating", "Starting"]


def write(path: Path, header: str, rows: list[tuple[str, ...]]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "C"]), st.sampled_from(["Standard_B1s", "Standard_D2s_v3"]),
                          st.sampled_from(["eastus", "westeurope"]), st.sampled_from(["Linux", "windows"]),
                          st.sampled_from(TIMES), st.sampled_from(STATES)), min_size=1, max_size=30),
       st.sampled_from(["vm_id,size,region,os,time,power_state", "ResourceId,VmSize,Location,OsType,Timestamp,State"]))
def test_the_fast_path_reads_what_the_standard_reader_reads(tmp_path: Path, rows: list[tuple[str, ...]],
                                                            header: str) -> None:
    path = write(tmp_path / "h.csv", header, [(VM + vm, *rest) for vm, *rest in rows])
    fast = hi._read_csv_arrow(path)
    assert fast is not None
    standard = b.read_history_csv(path)
    # both are grouped by VM and in time order; the VM order may differ (the meter needs grouping only)
    def by_vm(rs: list[b.StateChange]) -> dict[str, list[b.StateChange]]:
        out: dict[str, list[b.StateChange]] = {}
        for r in rs:
            out.setdefault(r.vm_id.lower(), []).append(r)
        return out
    assert by_vm(fast) == by_vm(standard)
    assert all(type(r) is b.StateChange for r in fast)


@pytest.mark.parametrize("bad", [
    ("x", "Standard_B1s", "eastus", "Linux", "2026-01-01T00:00:00Z", "running"),  # not a VM id
    (VM + "a", "Standard_B1s", "eastus", "Linux", "2026-01-01T00:00:00", "running"),  # no zone
    (VM + "a", "Standard_B1s", "eastus", "Linux", "yesterday", "running"),
    (VM + "a", "Standard_B1s", "eastus", "Solaris", "2026-01-01T00:00:00Z", "running"),
    (VM + "a", "Standard_B1s", "eastus", "Linux", "2026-01-01T00:00:00Z", "flying"),
    (VM + "a", "", "eastus", "Linux", "2026-01-01T00:00:00Z", "running"),
])
def test_bad_input_is_left_to_the_standard_reader(tmp_path: Path, bad: tuple[str, ...]) -> None:
    good = (VM + "a", "Standard_B1s", "eastus", "Linux", "2026-01-01T00:00:00Z", "running")
    path = write(tmp_path / "h.csv", "vm_id,size,region,os,time,power_state", [good, bad])
    assert hi._read_csv_arrow(path) is None
    with pytest.raises(b.HistoryError) as e:
        hi.read_history(path)
    assert [p.line for p in e.value.problems] == [3]


def test_epoch_seconds_go_through_the_standard_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "vm_id,size,region,os,time,power_state",
                 [(VM + "a", "Standard_B1s", "eastus", "Linux", "1767225600", "running")])
    assert hi._read_csv_arrow(path) is None
    assert hi.read_history(path)[0].at_us == 1767225600 * 1_000_000


def test_plain_rows_for_the_meter_equal_the_named_ones(tmp_path: Path) -> None:
    rows = [(VM + vm, "Standard_B1s", "eastus", "Linux", t, s)
            for vm, t, s in [("a", TIMES[0], "running"), ("a", TIMES[1], "stopped"), ("b", TIMES[0], "running"),
                             ("A", TIMES[2], "deallocated")]]
    path = write(tmp_path / "h.csv", "vm_id,size,region,os,time,power_state", rows)
    plain = hi.read_timeline(path)
    named = hi.read_history(path)
    assert [tuple(r) for r in named] == plain and all(type(r) is tuple for r in plain)
    # VM "A" is "a" (ids compare case-insensitively): its row is grouped with "a"'s, in time order
    assert [r[2] for r in plain if r[0].lower().endswith("/a")] == ["running", "stopped", "deallocated"]
