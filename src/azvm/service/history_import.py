"""Importing a big CSV history fast, with Apache Arrow's CSV reader when it is installed
(`pip install azvm[fast-import]`).

Arrow parses the file in C++ on every core and dictionary-encodes the repeated columns, so the
values are validated once per distinct value instead of once per row. Whenever anything is not
exactly as expected (a bad value, an unparsable time, an odd header), it steps aside and the
standard reader (azvm.billing.read_history_csv) reads the file and reports every problem with its
line number. Both give the same rows; tests/billing/test_fast_import.py checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import billing as b
from ..billing.history import HISTORY_COLUMNS

_VM_PATH = "/providers/microsoft.compute/virtualmachines/"
_OS = {"linux": "Linux", "windows": "Windows"}


def arrow_available() -> bool:
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


def read_history(path: str | Path) -> list[b.StateChange]:
    """The rows of a history file (CSV or JSON), grouped by VM and in time order."""
    p = Path(path)
    if p.suffix.lower() == ".csv" and arrow_available():
        rows = _read_csv_arrow(p)
        if rows is not None:
            return rows
    return b.read_history(p)


def read_timeline(path: str | Path) -> list[tuple[str, int, str, str, str, str]]:
    """The same rows as plain tuples in StateChange's field order (what the meter reads; no
    per-row object beyond the tuple)."""
    p = Path(path)
    if p.suffix.lower() == ".csv" and arrow_available():
        rows = _read_csv_arrow(p, plain=True)
        if rows is not None:
            return rows  # type: ignore[return-value]
    return list(b.read_history(p))


def _columns(p: Path) -> dict[str, str] | None:
    with p.open(encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n")
    if '"' in header:
        return None
    names = header.split(",")
    found: dict[str, str] = {}
    for field, accepted in HISTORY_COLUMNS.items():
        hits = [n for n in names if n.strip().lower() in accepted]
        if len(hits) != 1:
            return None
        found[field] = hits[0]
    return found


def _read_csv_arrow(p: Path, *, plain: bool = False) -> list[b.StateChange] | None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    cols = _columns(p)
    if cols is None:
        return None
    try:
        table = pcsv.read_csv(p, convert_options=pcsv.ConvertOptions(
            include_columns=list(cols.values()),
            column_types={cols["time"]: pa.timestamp("us", tz="UTC"),
                          **{cols[f]: pa.dictionary(pa.int32(), pa.string())
                             for f in ("vm_id", "size", "region", "os", "power_state")}},
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None  # the standard reader says what is wrong, line by line
    values: dict[str, list[Any]] = {}
    vm_index = None
    vm_keys: list[str] = []
    for field, check in (("vm_id", _vm), ("size", _word), ("region", _word), ("os", _os), ("power_state", _state)):
        col = table.column(cols[field]).combine_chunks()
        good = [check(v) for v in col.dictionary.to_pylist()]
        if any(g is None for g in good) or col.null_count:
            return None
        values[field] = [good[i] for i in col.indices.to_pylist()]
        if field == "vm_id":
            vm_index, vm_keys = col.indices, [str(g).lower() for g in good]
    times = table.column(cols["time"]).combine_chunks()
    if times.null_count:
        return None
    at_col = times.cast(pa.int64())
    at = at_col.to_pylist()
    columns = (values["vm_id"], at, values["power_state"], values["size"], values["region"], values["os"])
    if plain:
        rows: list[Any] = list(zip(*columns, strict=True))
    else:
        new, cls = tuple.__new__, b.StateChange
        rows = [new(cls, t) for t in zip(*columns, strict=True)]
    assert vm_index is not None
    grouped = (len(set(vm_keys)) == len(vm_keys) and len(rows) > 0 and _runs(pc, vm_index) == len(vm_keys)
               and _ordered_within_runs(pc, vm_index, at_col))
    if grouped or _grouped_and_ordered(rows):
        return rows
    return sorted(rows, key=lambda r: (r[0].lower(), r[1]))


def _runs(pc: Any, idx: Any) -> int:
    """How many runs of equal VM index the column has (== distinct VMs when rows come grouped)."""
    if len(idx) < 2:
        return len(idx)
    return int(pc.sum(pc.not_equal(idx.slice(1), idx.slice(0, len(idx) - 1))).as_py() or 0) + 1


def _ordered_within_runs(pc: Any, idx: Any, at: Any) -> bool:
    if len(idx) < 2:
        return True
    n = len(idx)
    ok = pc.or_(pc.not_equal(idx.slice(1), idx.slice(0, n - 1)), pc.greater_equal(at.slice(1), at.slice(0, n - 1)))
    return bool(pc.all(ok).as_py())


def _grouped_and_ordered(rows: list[b.StateChange]) -> bool:
    from ..billing.history import _grouped_and_ordered as check

    return check(rows)


def _vm(v: Any) -> str | None:
    if isinstance(v, str) and v.strip().lower().startswith("/subscriptions/") and _VM_PATH in v.lower():
        return v.strip()
    return None


def _word(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _os(v: Any) -> str | None:
    return _OS.get(v.strip().lower()) if isinstance(v, str) else None


def _state(v: Any) -> str | None:
    return b.normalize_power_state(v) if isinstance(v, str) else None
