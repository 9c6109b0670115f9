"""Bring your own history: CSV and JSON readers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from azvm.billing import (
    HistoryError,
    StateChange,
    normalize_power_state,
    read_history,
    read_history_csv,
    read_history_json,
)

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
T = 1_714_521_600  # 2024-05-01T00:00:00Z


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("running", "running"),
        ("PowerState/running", "running"),
        ("VM running", "running"),
        ("POWERSTATE/DEALLOCATED", "deallocated"),
        ("vm stopped", "stopped"),
        ("deleted", "deleted"),
        ("HibernationState/Hibernated", "hibernated"),
        (" Starting ", "starting"),
        ("asleep", None),
    ],
)
def test_power_state_spellings(raw: str, state: str | None) -> None:
    assert normalize_power_state(raw) == state


def test_csv_with_iso_and_epoch_times_is_sorted() -> None:
    text = (
        "ResourceId,size,location,os,time,power_state\n"
        f"{VM},Standard_D2s_v3,eastus,linux,2024-05-01T01:00:00+01:00,VM deallocated\n"
        f"{VM},Standard_D2s_v3,eastus,Linux,{T - 7200}.5,PowerState/running\n"
    )
    rows = read_history_csv(io.StringIO(text))
    assert rows == [
        StateChange(VM, (T - 7200) * 1_000_000 + 500_000, "running", "Standard_D2s_v3", "eastus", "Linux"),
        StateChange(VM, T * 1_000_000, "deallocated", "Standard_D2s_v3", "eastus", "Linux"),
    ]


def test_csv_errors_are_all_reported_with_line_field_and_expectation() -> None:
    text = (
        "vm_id,size,region,os,time,power_state\n"
        f"{VM},Standard_D2s_v3,eastus,Linux,2024-05-01T00:00:00Z,running\n"
        f"{VM},Standard_D2s_v3,eastus,Linux,yesterday,running\n"
        f"{VM},Standard_D2s_v3,eastus,Solaris,2024-05-01T00:00:00Z,asleep\n"
        f"{VM},Standard_D2s_v3,eastus,Linux,2024-05-01T00:00:00,running\n"
        "not-an-id,Standard_D2s_v3,eastus,Linux,2024-05-01T00:00:00Z,running\n"
    )
    with pytest.raises(HistoryError) as info:
        read_history_csv(io.StringIO(text))
    got = [(p.line, p.field) for p in info.value.problems]
    assert got == [(3, "time"), (4, "os"), (4, "power_state"), (5, "time"), (6, "vm_id")]
    message = str(info.value)
    assert (
        'line 3, field "time": expected an ISO 8601 time with a zone, or epoch seconds, got "yesterday"'
        in message
    )
    assert 'line 5, field "time"' in message  # no zone


def test_error_limit() -> None:
    text = "vm_id,size,region,os,time,power_state\n" + f"{VM},S,eastus,Linux,bad,running\n" * 50
    with pytest.raises(HistoryError) as info:
        read_history_csv(io.StringIO(text), max_errors=5)
    assert len(info.value.problems) == 5 and info.value.more


def test_missing_columns() -> None:
    with pytest.raises(HistoryError) as info:
        read_history_csv(io.StringIO("vm_id,size,time\n"))
    assert {p.field for p in info.value.problems} == {"region", "os", "power_state"}
    assert all(p.line == 1 for p in info.value.problems)


def test_json_array_and_json_lines(tmp_path: Path) -> None:
    items = [
        {
            "vm_id": VM,
            "size": "Standard_B1s",
            "region": "westus2",
            "os": "Windows",
            "time": T,
            "power_state": "running",
        },
        {
            "ResourceId": VM,
            "size": "Standard_B1s",
            "location": "westus2",
            "os": "Windows",
            "time": "2024-05-01T02:00:00Z",
            "power_state": "deleted",
        },
    ]
    p = tmp_path / "h.json"
    p.write_text(json.dumps(items))
    rows = read_history(p)
    assert [x.state for x in rows] == ["running", "deleted"] and rows[0].at_us == T * 1_000_000
    jl = tmp_path / "h.jsonl"
    jl.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    assert read_history(jl) == rows


def test_json_errors_name_the_item() -> None:
    doc = json.dumps(
        [{"vm_id": VM, "size": "S", "region": "eastus", "os": "Linux", "time": "x", "power_state": "on"}]
    )
    with pytest.raises(HistoryError) as info:
        read_history_json(io.StringIO(doc))
    assert [str(p).split(":")[0] for p in info.value.problems] == [
        'item 1, field "time"',
        'item 1, field "power_state"',
    ]


def test_csv_file_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text(f"vm_id,size,region,os,time,power_state\n{VM},Standard_B1s,eastus,Linux,{T},running\n")
    assert read_history(p) == [StateChange(VM, T * 1_000_000, "running", "Standard_B1s", "eastus", "Linux")]
