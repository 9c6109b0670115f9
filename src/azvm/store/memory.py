"""The in-memory store: the same contract as SQLite, nothing on disk (`azvm serve --in-memory`)."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..billing import UsageColumns
from ..domain.errors import ConcurrencyError
from ..domain.history import Operation
from ..domain.resource_id import references
from ..domain.usage import USAGE_STATES, DiskRow, UsageRow, disk_rows, usage_rows
from ..service.ports import GroupRow, ResourceRow, VmRow


class MemoryStore:

    foreign_writes = False  # no other process can write it
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._vms: dict[str, VmRow] = {}
            self._keys: list[str] = []  # sorted: listing pages by key without sorting every time
            self._ops: dict[str, list[Operation]] = {}
            self._op_index: dict[str, tuple[str, int]] = {}
            self._groups: dict[str, GroupRow] = {}
            self._generation = getattr(self, "_generation", 0) + 1
            self._meta: dict[str, str] = {"generation": str(self._generation)}  # new on every reset
            self._res: dict[str, list[ResourceRow]] = {}
            self._res_keys: list[str] = []
            self._res_ops: dict[str, tuple[str, int]] = {}
            self._refs: dict[str, set[str]] = {}

    def get_vm(self, key: str) -> VmRow | None:
        return self._vms.get(key)

    def load_history(self, key: str) -> list[Operation]:
        return list(self._ops.get(key, ()))

    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int | None) -> None:
        with self._lock:
            ops = self._ops.setdefault(row.key, [])
            if len(ops) != expected_version:
                raise ConcurrencyError(row.key)
            if op.op_id in self._op_index:
                raise ValueError(f"duplicate operation id {op.op_id}")
            ops.append(op)
            self._op_index[op.op_id] = (row.key, len(ops) - 1)
            if row.key not in self._vms:
                insort(self._keys, row.key)
            self._vms[row.key] = row
            if id_counter is not None:
                self._meta["id_counter"] = str(id_counter)

    def list_vms(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[VmRow]:
        rgl = rg.lower() if rg is not None else None
        keys = self._keys
        i = 0 if after_key is None else bisect_right(keys, after_key)
        out: list[VmRow] = []
        while i < len(keys) and len(out) < limit:
            r = self._vms[keys[i]]
            i += 1
            if r.sub == sub and (r.gone_us is None or r.gone_us > live_at_us) \
                    and (rgl is None or r.rg.lower() == rgl) and (location is None or r.location == location):
                out.append(r)
        return out

    def vm_heads(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[tuple[str, int]]:
        rows = self.list_vms(sub=sub, rg=rg, location=location, live_at_us=live_at_us, after_key=after_key,
                             limit=limit)
        return [(r.key, r.version) for r in rows]

    def iter_phases(self, live_at_us: int) -> Iterator[tuple[str, list[Any]]]:
        for key, r in list(self._vms.items()):
            if r.gone_us is None or r.gone_us > live_at_us:
                yield key, [list(p) for p in r.last.phases]

    def iter_histories(self, prefix: str | None = None) -> Iterator[tuple[str, list[Operation]]]:
        for key in sorted(self._ops):
            if prefix is None or key.startswith(prefix):
                yield key, list(self._ops[key])

    def usage_rows(self) -> list[UsageRow]:
        out: list[UsageRow] = []
        for key in sorted(self._ops):
            out.extend(usage_rows(self._ops[key]))
        return out

    def vm_tags(self) -> dict[str, dict[str, str]]:
        return {str(r.model.get("id")): dict(r.model["tags"]) for r in self._vms.values() if r.model.get("tags")}

    def disk_rows(self) -> list[DiskRow]:
        out: list[DiskRow] = []
        for key in sorted(self._ops):
            out.extend(sorted(disk_rows(self._ops[key]), key=lambda d: (d[4], d[1])))
        return out

    def find_operation(self, op_id: str) -> tuple[str, Operation, Operation | None] | None:
        hit = self._op_index.get(op_id)
        if hit is None:
            return None
        key, i = hit
        ops = self._ops[key]
        return key, ops[i], ops[i + 1] if i + 1 < len(ops) else None

    def put_group(self, row: GroupRow, *, id_counter: int | None = None) -> None:
        with self._lock:
            self._groups[row.key] = row
            if id_counter is not None:
                self._meta["id_counter"] = str(id_counter)

    def get_group(self, key: str) -> GroupRow | None:
        return self._groups.get(key)

    def list_groups(self, sub: str) -> list[GroupRow]:
        return [g for k, g in sorted(self._groups.items()) if g.sub == sub]

    def find_group_by_op(self, op_id: str) -> GroupRow | None:
        for g in self._groups.values():
            if g.delete_op == op_id:
                return g
        return None

    # -- plain resources ---------------------------------------------------------------------
    def get_resource(self, key: str) -> ResourceRow | None:
        versions = self._res.get(key)
        return versions[-1] if versions else None

    def put_resource(self, row: ResourceRow, *, expected_version: int, id_counter: int | None = None) -> None:
        with self._lock:
            versions = self._res.setdefault(row.key, [])
            if len(versions) != expected_version:
                raise ConcurrencyError(row.key)
            if not versions:
                insort(self._res_keys, row.key)
            versions.append(row)
            self._res_ops[row.op_id] = (row.key, len(versions) - 1)
            for target in references(row.body):
                self._refs.setdefault(target, set()).add(row.key)
            if id_counter is not None:
                self._meta["id_counter"] = str(id_counter)

    def resource_history(self, key: str) -> list[ResourceRow]:
        return list(self._res.get(key, ()))

    def resource_versions(self, types: Sequence[str]) -> list[ResourceRow]:
        wanted = {t.lower() for t in types}
        with self._lock:
            return [r for k in self._res_keys for r in self._res[k] if r.type.lower() in wanted]

    def list_resources(self, *, sub: str, rg: str | None, type: str | None, live_at_us: int,
                       after_key: str | None, limit: int, prefix: str | None = None) -> list[ResourceRow]:
        sub_l, rg_l, type_l = sub.lower(), rg.lower() if rg is not None else None, type.lower() if type else None
        keys = self._res_keys
        i = bisect_right(keys, after_key) if after_key is not None else 0
        if prefix is not None:
            i = max(i, bisect_left(keys, prefix))  # keys under a prefix are contiguous
        out: list[ResourceRow] = []
        while i < len(keys) and len(out) < limit:
            k = keys[i]
            i += 1
            if prefix is not None and not k.startswith(prefix):
                break
            r = self._res[k][-1]
            if r.sub.lower() == sub_l and r.live_at(live_at_us) and (rg_l is None or r.rg.lower() == rg_l) \
                    and (type_l is None or r.type.lower() == type_l):
                out.append(r)
        return out

    def referrers(self, target_key: str) -> list[str]:
        return sorted(self._refs.get(target_key, ()))

    def find_resource_op(self, op_id: str) -> ResourceRow | None:
        hit = self._res_ops.get(op_id)
        return self._res[hit[0]][hit[1]] if hit else None

    def get_meta(self, name: str) -> str | None:
        return self._meta.get(name)

    def set_meta(self, name: str, value: str) -> None:
        self._meta[name] = value

    def compare_and_set_meta(self, name: str, expected: str | None, value: str) -> bool:
        """Set `name` to `value` if it still reads `expected` (None: absent); False if it does not."""
        with self._lock:
            if self._meta.get(name) != expected:
                return False
            self._meta[name] = value
            return True

    def request(self) -> AbstractContextManager[None]:
        return nullcontext()

    def pending(self) -> bool:
        return False

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass

    # -- the billing projection as columns (azvm.billing.UsageColumns) -----------------------------
    def usage_columns(self) -> UsageColumns:
        return UsageColumns.from_rows(self.usage_rows(), USAGE_STATES)
