"""Resource groups: create or update, read, list, and delete (with everything in them, as one
long-running operation that ends when the last of its VMs is gone)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..domain.errors import OperationNotAllowed, ResourceGroupNotFound
from ..ids import IdSource
from .clock import ClockKeeper
from .ports import GroupRow, Store
from .validation import check_group_name, check_location, check_tags


def group_key(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}".lower()


def _being_deleted(name: str) -> OperationNotAllowed:
    return OperationNotAllowed(f"The resource group '{name}' is in deprovisioning state and cannot perform this"
                               " operation.", code="ResourceGroupBeingDeleted")


class ResourceGroups:
    def __init__(self, store: Store, time: ClockKeeper, ids: IdSource, lock: threading.RLock) -> None:
        self.store = store
        self.time = time
        self.ids = ids
        self._lock = lock
        # set by the composition: deletes a group's VMs and plain resources, returns when they are gone
        self.empty: Callable[[str, str], int] = lambda _sub, _rg: self.time.now()

    def live(self, sub: str, rg: str) -> GroupRow | None:
        g = self.store.get_group(group_key(sub, rg))
        if g is None or (g.gone_us is not None and g.gone_us <= self.time.now()):
            return None
        return g

    def require(self, sub: str, rg: str) -> GroupRow:
        g = self.live(sub, rg)
        if g is None:
            raise ResourceGroupNotFound(f"Resource group '{rg}' could not be found.")
        return g

    def require_writable(self, sub: str, rg: str) -> GroupRow:
        g = self.require(sub, rg)
        if g.delete_op is not None:
            raise _being_deleted(g.name)
        return g

    def create_or_update(self, sub: str, rg: str, body: Any) -> tuple[GroupRow, bool]:
        check_group_name(rg)
        if not isinstance(body, dict):
            raise OperationNotAllowed("The request body must be a JSON object.", code="InvalidRequestContent")
        with self._lock:
            now = self.time.now()
            old = self.live(sub, rg)
            if old is not None and old.delete_op is not None:
                raise _being_deleted(rg)
            loc = check_location(body.get("location"))
            tags = check_tags(body.get("tags"))
            if old is not None and old.location != loc:
                raise OperationNotAllowed(
                    f"Invalid resource group location '{loc}'. The Resource group already exists in location"
                    f" '{old.location}' in resource group '{rg}'. A resource group cannot be created in a"
                    " different location.", code="InvalidResourceGroupLocation", target="location")
            row = GroupRow(group_key(sub, rg), sub, old.name if old else rg, loc, tags,
                           old.created_us if old else now)
            self.store.put_group(row)
            return row, old is None

    def list(self, sub: str) -> list[GroupRow]:
        now = self.time.now()
        return [g for g in self.store.list_groups(sub) if g.gone_us is None or g.gone_us > now]

    def delete(self, sub: str, rg: str) -> str:
        """Delete a group and everything in it; returns the operation's id."""
        with self._lock:
            g = self.require(sub, rg)
            if g.delete_op is not None:
                return g.delete_op
            gone = self.empty(sub, rg)
            op_id = self.ids.operation_id()
            self.store.put_group(GroupRow(g.key, g.sub, g.name, g.location, g.tags, g.created_us, op_id,
                                          self.time.now(), gone), id_counter=self.ids.counter)
            return op_id

    def operation(self, op_id: str) -> tuple[GroupRow, bool] | None:
        """(group, done) for a group deletion, with time skipping on an unfinished one."""
        g = self.store.find_group_by_op(op_id)
        if g is None or g.gone_us is None:
            return None
        if self.time.now() < g.gone_us and self.time.state.skip:
            self.time.skip_to(g.gone_us)
        return g, self.time.now() >= g.gone_us


__all__ = ["ResourceGroups", "group_key"]
