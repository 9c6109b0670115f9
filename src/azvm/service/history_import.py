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


def _read_csv_arrow(p: Path) -> list[b.StateChange] | None:
    import pyarrow as pa
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
    for field, check in (("vm_id", _vm), ("size", _word), ("region", _word), ("os", _os), ("power_state", _state)):
        col = table.column(cols[field]).combine_chunks()
        good = [check(v) for v in col.dictionary.to_pylist()]
        if any(g is None for g in good) or col.null_count:
            return None
        values[field] = [good[i] for i in col.indices.to_pylist()]
    times = table.column(cols["time"])
    if times.null_count:
        return None
    at = times.cast(pa.int64()).to_pylist()
    new, cls = tuple.__new__, b.StateChange
    rows = [new(cls, t) for t in zip(values["vm_id"], at, values["power_state"], values["size"], values["region"],
                                     values["os"], strict=True)]
    return rows if _grouped_and_ordered(rows) else sorted(rows, key=lambda r: (r[0].lower(), r[1]))


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
