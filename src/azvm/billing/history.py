"""Bring your own history: read state changes from CSV or JSON.

Columns (CSV header, or JSON keys; names are case-insensitive):
- ``vm_id`` (or ``ResourceId``): the ARM id of the VM;
- ``size``; ``region`` (or ``location``); ``os`` (or ``os_type``): ``Linux`` or ``Windows``;
- ``time``: ISO 8601 with a zone (``2024-05-01T10:00:00Z``) or epoch seconds (``1714557600``,
  up to 6 decimals);
- ``power_state``: ``running``, ``PowerState/running`` or ``VM running`` (any case), likewise for
  every state of `BILLING_STATES`; ``HibernationState/Hibernated`` / ``VM hibernated`` too.

Malformed rows raise one `HistoryError` listing every problem (up to a limit), each with its line
(or JSON array item), field, what was expected and what was found.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from .model import BILLING_STATES, BillingError, StateChange

__all__ = [
    "HISTORY_COLUMNS",
    "HistoryError",
    "HistoryProblem",
    "normalize_power_state",
    "parse_time_us",
    "read_history",
    "read_history_csv",
    "read_history_json",
]

#: canonical field -> accepted column names (lower case)
HISTORY_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "vm_id": ("vm_id", "resourceid", "resource_id", "vmid"),
    "size": ("size", "vmsize", "vm_size"),
    "region": ("region", "location", "resourcelocation"),
    "os": ("os", "os_type", "ostype"),
    "time": ("time", "timestamp", "at"),
    "power_state": ("power_state", "powerstate", "state"),
}

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_US = _dt.timedelta(microseconds=1)
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_STATES = frozenset(BILLING_STATES)
_VM_PATH = "/providers/microsoft.compute/virtualmachines/"


class HistoryProblem(NamedTuple):
    line: int
    field: str
    expected: str
    got: str
    unit: str = "line"  # "line" (CSV, JSON Lines) or "item" (JSON array, 1-based)

    def __str__(self) -> str:
        got = json.dumps(self.got)
        return f'{self.unit} {self.line}, field "{self.field}": expected {self.expected}, got {got}'


class HistoryError(BillingError):
    """Malformed history: `problems` lists them (at most the reader's limit; `more` says if cut)."""

    def __init__(self, problems: Iterable[HistoryProblem], more: bool = False, source: str = "") -> None:
        self.problems = tuple(problems)
        self.more = more
        self.source = source
        head = f"{source}: " if source else ""
        lines = [str(p) for p in self.problems]
        if more:
            lines.append(f"(stopped after {len(self.problems)} problems)")
        super().__init__(head + f"{len(self.problems)} malformed row field(s):\n  " + "\n  ".join(lines))


def normalize_power_state(value: str) -> str | None:
    """`running`, `PowerState/running`, `VM running` (any case) -> `running`; None if unknown."""
    v = value.strip().lower()
    for prefix in ("powerstate/", "hibernationstate/", "vm "):
        if v.startswith(prefix):
            v = v[len(prefix) :].strip()
            break
    return v if v in _STATES else None


def parse_time_us(value: Any) -> int | None:
    """Microseconds since the epoch of an ISO 8601 time with a zone, or of epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 1_000_000
    if isinstance(value, (float, Decimal)):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NUMBER.fullmatch(text):
        try:
            us = Decimal(text) * 1_000_000
        except InvalidOperation:  # pragma: no cover - the regex admits only numbers
            return None
        return int(us) if us == us.to_integral_value() else None
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None or t.utcoffset() is None:
        return None
    return (t - _EPOCH) // _US


class _Reader:
    def __init__(self, max_errors: int, unit: str) -> None:
        self.max_errors = max_errors
        self.unit = unit
        self.problems: list[HistoryProblem] = []
        self.more = False
        self.out: list[StateChange] = []
        self._vm: dict[str, str | None] = {}
        self._state: dict[str, str | None] = {}
        self._os: dict[str, str | None] = {}

    def problem(self, line: int, field: str, expected: str, got: Any) -> None:
        if len(self.problems) >= self.max_errors:
            self.more = True
            return
        self.problems.append(
            HistoryProblem(line, field, expected, "" if got is None else str(got), self.unit)
        )

    def row(self, line: int, vm_id: Any, size: Any, region: Any, os_type: Any, time: Any, state: Any) -> None:
        ok = True
        vm = self._vm.get(vm_id) if isinstance(vm_id, str) else None
        if vm is None:
            if (
                isinstance(vm_id, str)
                and vm_id.strip().lower().startswith("/subscriptions/")
                and (_VM_PATH in vm_id.lower())
            ):
                vm = self._vm[vm_id] = vm_id.strip()
            else:
                self.problem(
                    line,
                    "vm_id",
                    "an ARM virtual machine id (/subscriptions/.../virtualMachines/name)",
                    vm_id,
                )
                ok = False
        if not isinstance(size, str) or not size.strip():
            self.problem(line, "size", "a VM size such as Standard_D2s_v3", size)
            ok = False
        if not isinstance(region, str) or not region.strip():
            self.problem(line, "region", "an Azure region name such as eastus", region)
            ok = False
        os_norm = self._os.get(os_type) if isinstance(os_type, str) else None
        if os_norm is None:
            low = os_type.strip().lower() if isinstance(os_type, str) else ""
            os_norm = {"linux": "Linux", "windows": "Windows"}.get(low)
            if os_norm is None:
                self.problem(line, "os", "Linux or Windows", os_type)
                ok = False
            else:
                self._os[os_type] = os_norm
        at = parse_time_us(time)
        if at is None:
            self.problem(line, "time", "an ISO 8601 time with a zone, or epoch seconds", time)
            ok = False
        st = self._state.get(state) if isinstance(state, str) else None
        if st is None:
            st = normalize_power_state(state) if isinstance(state, str) else None
            if st is None:
                self.problem(line, "power_state", f"a power state ({', '.join(BILLING_STATES)})", state)
                ok = False
            else:
                self._state[state] = st
        if ok:
            assert vm is not None and st is not None and os_norm is not None and at is not None
            self.out.append(StateChange(vm, at, st, size.strip(), region.strip(), os_norm))

    def result(self, source: str) -> list[StateChange]:
        if self.problems:
            raise HistoryError(self.problems, self.more, source)
        if _grouped_and_ordered(self.out):
            return self.out  # as exported histories usually come: no sort needed
        lowered: dict[str, str] = {}
        for vm_id in {x.vm_id for x in self.out}:
            lowered[vm_id] = vm_id.lower()
        self.out.sort(key=lambda x: (lowered[x.vm_id], x.at_us))
        return self.out


def _grouped_and_ordered(rows: list[StateChange]) -> bool:
    """Whether rows come grouped by VM (case-insensitively) and in time order within each VM: what
    the meter needs. One pass; the same VM id object in a row is compared by identity first."""
    seen: set[str] = set()
    p_vm, p_key, p_at = "", "", 0
    for vm, at, *_ in rows:
        if vm is p_vm or vm == p_vm:
            if at < p_at:
                return False
        else:
            key = vm.lower()
            if key != p_key:
                if key in seen:
                    return False
                seen.add(key)
            elif at < p_at:
                return False
            p_vm, p_key = vm, key
        p_at = at
    return True


def _columns(names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    index: dict[str, int] = {}
    lowered = [n.strip().lower() for n in names]
    missing = []
    for field, aliases in HISTORY_COLUMNS.items():
        for alias in aliases:
            if alias in lowered:
                index[field] = lowered.index(alias)
                break
        else:
            missing.append(field)
    return index, missing


def _open(source: str | Path | TextIO) -> tuple[TextIO, str]:
    if isinstance(source, (str, Path)):
        p = Path(source)
        return p.open(encoding="utf-8-sig", newline=""), str(p)
    return source, getattr(source, "name", "")


def read_history_csv(source: str | Path | TextIO, max_errors: int = 20) -> list[StateChange]:
    """Read a CSV history (a header row, then one state change per row), sorted by (vm, time)."""
    fp, name = _open(source)
    try:
        reader = csv.reader(fp)
        header = next(reader, None)
        r = _Reader(max_errors, "line")
        if header is None:
            r.problem(1, "(header)", "a header row naming the columns", "")
            return r.result(name)
        idx, missing = _columns(header)
        for field in missing:
            r.problem(1, field, f"a column named {' or '.join(HISTORY_COLUMNS[field])}", ",".join(header))
        if missing:
            return r.result(name)
        iv, isz, irg, ios, itm, ist = (idx[f] for f in HISTORY_COLUMNS)
        width = max(idx.values()) + 1
        # fast path: caches of the values already validated (VM ids, sizes, regions, OS and states
        # repeat), ISO times parsed by datetime.fromisoformat; any miss goes through `r.row`
        vms: dict[str, str] = {}
        words: dict[str, str] = {}
        oses = {"Linux": "Linux", "Windows": "Windows", "linux": "Linux", "windows": "Windows"}
        states = {s: s for s in BILLING_STATES}
        fromiso = _dt.datetime.fromisoformat
        epoch, us = _EPOCH, _US
        new = tuple.__new__  # StateChange without the Python-level constructor (a C call)
        cls = StateChange
        out = r.out
        add = r.row
        for row in reader:
            if len(row) < width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                r.problem(reader.line_num, "(row)", f"at least {width} columns", ",".join(row))
                if r.more:
                    break
                continue
            vm_raw, size_raw, region_raw, os_raw, time_raw, state_raw = (
                row[iv],
                row[isz],
                row[irg],
                row[ios],
                row[itm],
                row[ist],
            )
            vm = vms.get(vm_raw)
            size = words.get(size_raw)
            region = words.get(region_raw)
            os_type = oses.get(os_raw)
            state = states.get(state_raw)
            at = None
            if ":" in time_raw:
                try:
                    t = fromiso(time_raw)
                    if t.tzinfo is not None:
                        at = (t - epoch) // us
                except ValueError:
                    pass
            if vm is None or size is None or region is None or os_type is None or state is None or at is None:
                before = len(out)
                add(reader.line_num, vm_raw, size_raw, region_raw, os_raw, time_raw, state_raw)
                if len(out) > before:  # valid after all: remember its values
                    last = out[-1]
                    vms[vm_raw] = last.vm_id
                    words[size_raw] = last.size
                    words[region_raw] = last.location
                    oses[os_raw] = last.os_type
                    states[state_raw] = last.state
                if r.more:
                    break
                continue
            out.append(new(cls, (vm, at, state, size, region, os_type)))
        return r.result(name)
    finally:
        if isinstance(source, (str, Path)):
            fp.close()


def _lower_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()}


def _json_row(r: _Reader, line: int, obj: Any) -> None:
    if not isinstance(obj, dict):
        r.problem(line, "(row)", "a JSON object", json.dumps(obj)[:80])
        return
    low = _lower_keys(obj)
    values = []
    for field, aliases in HISTORY_COLUMNS.items():
        for alias in aliases:
            if alias in low:
                values.append(low[alias])
                break
        else:
            values.append(None)
            r.problem(line, field, f"a key named {' or '.join(aliases)}", "")
    if None in values:
        return
    r.row(line, *values)


def read_history_json(source: str | Path | TextIO, max_errors: int = 20) -> list[StateChange]:
    """Read a JSON array of objects, or JSON Lines (one object per line), sorted by (vm, time)."""
    fp, name = _open(source)
    try:
        text = fp.read()
    finally:
        if isinstance(source, (str, Path)):
            fp.close()
    if text.lstrip().startswith("["):
        r = _Reader(max_errors, "item")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            r.unit = "line"
            r.problem(exc.lineno, "(document)", "valid JSON", exc.msg)
            return r.result(name)
        for n, obj in enumerate(doc, 1):
            _json_row(r, n, obj)
            if r.more:
                break
        return r.result(name)
    r = _Reader(max_errors, "line")
    for n, line in enumerate(io.StringIO(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            r.problem(n, "(row)", "a JSON object", line.strip()[:80] or exc.msg)
            continue
        _json_row(r, n, obj)
        if r.more:
            break
    return r.result(name)


def read_history(path: str | Path, max_errors: int = 20) -> list[StateChange]:
    """Read a history file: ``.csv`` as CSV, anything else (``.json``, ``.jsonl``) as JSON."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return read_history_csv(p, max_errors)
    return read_history_json(p, max_errors)
