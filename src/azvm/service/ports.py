"""The ports the service needs; azvm.store implements them (SQLite, memory; PostgreSQL next)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..billing import UsageColumns
from ..domain.history import Operation
from ..domain.usage import DiskRow, UsageRow


@dataclass(frozen=True)
class VmRow:
    """The head of a VM's history: enough to answer reads at the current time without a replay."""

    key: str  # the resource id, lower case
    sub: str
    rg: str  # as the user spelled it at creation
    name: str
    location: str
    version: int  # number of operations in the stream
    model: dict[str, Any]
    last: Operation
    gone_us: int | None  # when the VM is gone (its last operation is a delete), else None


@dataclass(frozen=True)
class GroupRow:
    key: str  # "/subscriptions/{s}/resourcegroups/{name}" lower case
    sub: str
    name: str
    location: str
    tags: dict[str, str]
    created_us: int
    delete_op: str | None = None
    delete_at_us: int | None = None
    gone_us: int | None = None


@dataclass(frozen=True)
class ResourceRow:
    """One version of a plain (tracked) resource: its stored model at a time.

    A resource's history is its versions, oldest first; the head is the newest. A deletion is a
    version with `gone_us` set (possibly in the future: a resource group's deletion removes its
    resources once its VMs are gone).
    """

    key: str  # the resource id, lower case
    sub: str
    rg: str  # as the user spelled it at creation
    type: str  # e.g. "Microsoft.Network/virtualNetworks" (canonical spelling)
    name: str
    location: str
    version: int
    body: dict[str, Any]  # the stored model (id, name, type, location, tags, properties, ...)
    etag: str
    at_us: int  # when this version was written
    created_us: int
    op_id: str  # the operation that wrote this version
    gone_us: int | None = None

    def live_at(self, t_us: int) -> bool:
        return self.gone_us is None or self.gone_us > t_us


class Store(Protocol):
    # whether another process may have committed since the previous request began (what a process
    # shares through the store, its clock, fault rules and deployments' schedule, is re-read then)
    foreign_writes: bool

    def get_vm(self, key: str) -> VmRow | None: ...
    def load_history(self, key: str) -> list[Operation]: ...
    def append(self, row: VmRow, op: Operation, *, expected_version: int, id_counter: int | None) -> None:
        """Append `op` as version expected_version+1 of row.key and make `row` the head, atomically.
        Raises ConcurrencyError if the stream is no longer at expected_version."""
    def list_vms(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[VmRow]: ...
    def vm_heads(self, *, sub: str, rg: str | None, location: str | None, live_at_us: int,
                 after_key: str | None, limit: int) -> list[tuple[str, int]]:
        """(key, version) of what list_vms would return, without reading the VMs themselves: within
        one generation (meta `generation`, new on every reset), a version names one head."""
    def iter_phases(self, live_at_us: int) -> Iterator[tuple[str, list[Any]]]: ...
    def iter_histories(self, prefix: str | None = None) -> Iterator[tuple[str, list[Operation]]]:
        """Every VM's history by key; `prefix` keeps the keys that start with it (one subscription)."""
    def usage_rows(self) -> list[UsageRow]:
        """Every VM's billing states over time, sorted by VM then time (azvm.domain.usage)."""
    def disk_rows(self) -> list[DiskRow]: ...
    def vm_tags(self) -> dict[str, dict[str, str]]: ...
    def find_operation(self, op_id: str) -> tuple[str, Operation, Operation | None] | None: ...
    def put_group(self, row: GroupRow, *, id_counter: int | None = None) -> None: ...
    def get_group(self, key: str) -> GroupRow | None: ...
    def list_groups(self, sub: str) -> list[GroupRow]: ...
    def find_group_by_op(self, op_id: str) -> GroupRow | None: ...
    def get_resource(self, key: str) -> ResourceRow | None: ...
    def put_resource(self, row: ResourceRow, *, expected_version: int, id_counter: int | None = None) -> None:
        """Append `row` as version expected_version+1 of row.key and make it the head, atomically.
        Raises ConcurrencyError if the resource is no longer at expected_version."""
    def resource_history(self, key: str) -> list[ResourceRow]: ...
    def resource_versions(self, types: Sequence[str]) -> list[ResourceRow]:
        """Every version of every resource of these types (case-insensitive), deleted ones included,
        by key then version (what the billing meter reads: disks, public IPs, NICs)."""
    def list_resources(self, *, sub: str, rg: str | None, type: str | None, live_at_us: int,
                       after_key: str | None, limit: int, prefix: str | None = None) -> list[ResourceRow]:
        """Heads live at `live_at_us`, by key; `type` compares case-insensitively; `prefix` keeps the
        keys that start with it (a parent's children)."""
    def find_resource_op(self, op_id: str) -> ResourceRow | None: ...
    def referrers(self, target_key: str) -> list[str]:
        """Keys of the resources any version of which referred to `target_key` (a superset of those
        that do now: callers read each one's current model)."""
    def get_meta(self, name: str) -> str | None: ...
    def set_meta(self, name: str, value: str) -> None: ...
    def compare_and_set_meta(self, name: str, expected: str | None, value: str) -> bool:
        """Set `name` to `value` if it still reads `expected` (None: absent), atomically across
        processes; False (and nothing written) if another writer changed it first."""
    def reset(self) -> None: ...
    def request(self) -> AbstractContextManager[None]:
        """Scope the writes of one request: all of them, or none if it fails."""
    def pending(self) -> bool:
        """Whether writes wait for a group commit (see SqliteStore.group_commit)."""
    def commit(self) -> None: ...
    def close(self) -> None: ...

    # -- the billing projection as columns ---------------------------------------------------------
    def usage_columns(self) -> UsageColumns:
        """`usage_rows` as columns (azvm.billing.UsageColumns: one stream per VM, by time, with no
        tuple per row): what the billing meter reads."""
