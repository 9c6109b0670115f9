"""One engine for plain (tracked) resources: PUT creates or replaces, GET, PATCH, DELETE, lists.

A resource type is described by a `ResourceType`: its name, how a request body becomes the stored
model (validation and defaults, with Azure's error codes), how the model is shown, and what must
hold before it may be deleted. The engine does the rest the same way for every type: ids, names
and locations, tags, etags with If-Match/If-None-Match, resource groups, paging, and storage in
the durable history (each write a new version of the resource, so any past time can be read).

Plain resources provision at once (their operations are Succeeded when accepted); a resource
group's deletion removes them when its VMs are gone.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import ArmError, ConcurrencyError, Conflict, NotFound, PreconditionFailed, ResourceGroupNotFound
from ..domain.resource_id import ResourceId, references
from ..ids import IdSource
from .ports import GroupRow, ResourceRow, Store
from .validation import _obj, check_location, check_tags

Normalize = Callable[["Resources", ResourceId, dict[str, Any], "ResourceRow | None"], dict[str, Any]]
Render = Callable[["Resources", ResourceRow, int], dict[str, Any]]
Check = Callable[["Resources", ResourceRow], None]


def _body(body: Any) -> dict[str, Any]:
    """A request body, which must be a JSON object."""
    if not isinstance(body, dict):
        raise ArmError("The request content was invalid and could not be deserialized: the body must be a"
                       " JSON object.", code="InvalidRequestContent")
    return body


def _default_render(ctx: Resources, row: ResourceRow, now: int) -> dict[str, Any]:
    return ctx.base_body(row, now)


@dataclass(frozen=True)
class ResourceType:
    """What is particular to one type; everything else is the engine's."""

    type: str  # "Microsoft.Network/virtualNetworks", or a child: "Microsoft.Network/virtualNetworks/subnets"
    family: str  # its api-version family (azvm.arm.versions)
    normalize: Normalize  # body -> the stored model's "properties" (plus any top-level fields it sets)
    render: Render = _default_render
    check_delete: Check | None = None  # raise to refuse a deletion (a resource in use)
    on_delete: Check | None = None  # cascade (children go with their parent)
    etag_in_body: bool = True  # Microsoft.Network shows `etag` in the body
    location_from_parent: bool = False  # child resources carry no location of their own
    top_level: tuple[str, ...] = ("sku", "zones", "extendedLocation")  # top-level fields kept from a PUT
    name_check: Callable[[str], None] | None = None
    put_status: tuple[int, int] = (201, 200)  # a PUT's answer: (created, replaced); Compute disks answer 202
    # a plain type: served by the generic routes, shown in the generic lists (/resources, Resource Graph);
    # deployments are stored by the engine but have routes of their own and are listed nowhere else
    generic: bool = True

    @property
    def is_child(self) -> bool:
        return self.type.count("/") > 1

    @property
    def namespace(self) -> str:
        return self.type.split("/", 1)[0]


@dataclass
class Resources:
    store: Store
    now: Callable[[], int]
    ids: IdSource
    types: dict[str, ResourceType] = field(default_factory=dict)  # by lower-case type
    group_reader: Callable[[str, str], GroupRow | None] | None = None  # (sub, rg) -> a live group
    page_size: int = 100
    # a VM's power state now (a PowerState value such as "running", "deallocated"), None if no such
    # VM: what a plain resource shows may depend on it (a Dynamic public IP has no address while
    # its VM is deallocated); set by the VM service
    vm_power: Callable[[str], str | None] = lambda _id: None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()

    def register(self, spec: ResourceType) -> ResourceType:
        self.types[spec.type.lower()] = spec
        return spec

    def spec(self, type_: str) -> ResourceType | None:
        return self.types.get(type_.lower())

    # -- groups ------------------------------------------------------------------------------------
    def require_group(self, sub: str, rg: str | None) -> GroupRow:
        g = self.group_reader(sub, rg) if self.group_reader is not None and rg is not None else None
        if g is None:
            raise ResourceGroupNotFound(f"Resource group '{rg}' could not be found.")
        return g

    # -- reads -------------------------------------------------------------------------------------
    def find(self, rid: ResourceId | str, at_us: int | None = None) -> ResourceRow | None:
        """The resource live at `at_us` (default now), or None."""
        key = rid.key if isinstance(rid, ResourceId) else rid.lower()
        now = self.now() if at_us is None else at_us
        row = self.store.get_resource(key)
        if row is None:
            return None
        if row.at_us > now:  # a read of the past: replay
            for old in reversed(self.store.resource_history(key)):
                if old.at_us <= now:
                    return old if old.live_at(now) else None
            return None
        return row if row.live_at(now) else None

    def get(self, rid: ResourceId) -> ResourceRow:
        row = self.find(rid)
        if row is None:
            self.require_group(rid.subscription, rid.resource_group)
            parent = rid.parent
            if parent is not None and self.find(parent) is None:
                raise self.not_found(parent)
            raise self.not_found(rid)
        return row

    @staticmethod
    def not_found(rid: ResourceId) -> NotFound:
        what = "/".join((rid.namespace, *rid.types)) + "/" + "/".join(rid.names)
        return NotFound(f"The Resource '{what}' under resource group '{rid.resource_group}' was not found."
                        " For more details please go to https://aka.ms/ARMResourceNotFoundFix")

    def page(self, *, sub: str, rg: str | None = None, type_: str | None = None, after: str | None = None,
             limit: int | None = None, prefix: str | None = None) -> tuple[list[ResourceRow], str | None]:
        """A page of live resources, and the key to continue after (None at the end)."""
        if rg is not None:
            self.require_group(sub, rg)
        lim = limit or self.page_size
        rows = self.store.list_resources(sub=sub, rg=rg, type=type_, live_at_us=self.now(), after_key=after,
                                         limit=lim + 1, prefix=prefix)
        rows = self._current(rows)
        if len(rows) > lim:
            return rows[:lim], rows[lim - 1].key
        return rows, None

    def _current(self, rows: list[ResourceRow]) -> list[ResourceRow]:
        """Heads as they are now: a head dated in the future (what a VM's deletion will do to its disks
        and NICs) is shown as the version in force."""
        now = self.now()
        if all(r.at_us <= now for r in rows):
            return rows
        out: list[ResourceRow] = []
        for r in rows:
            cur = self.find(r.key) if r.at_us > now else r
            if cur is not None:
                out.append(cur)
        return out

    def children(self, parent: ResourceRow | ResourceId, child_type: str) -> list[ResourceRow]:
        """Live children of one type (a virtual network's subnets), in key order."""
        pkey = parent.key
        key_type = child_type.rsplit("/", 1)[-1].lower()
        sub = parent.sub if isinstance(parent, ResourceRow) else parent.subscription
        return list(self._all(sub=sub, type_=child_type, prefix=f"{pkey}/{key_type}/"))

    def iter_type(self, sub: str, type_: str) -> Iterator[ResourceRow]:
        return self._all(sub=sub, type_=type_)

    def _all(self, *, sub: str, rg: str | None = None, type_: str | None = None,
             prefix: str | None = None) -> Iterator[ResourceRow]:
        """Every live head that the store lists for these arguments, read 500 at a time."""
        after: str | None = None
        while True:
            rows = self.store.list_resources(sub=sub, rg=rg, type=type_, live_at_us=self.now(), after_key=after,
                                             limit=500, prefix=prefix)
            yield from rows
            if len(rows) < 500:
                return
            after = rows[-1].key

    def referrers(self, target: ResourceRow | ResourceId | str, type_: str | None = None) -> list[ResourceRow]:
        """The live resources (of `type_`, if given) whose model refers to `target` now."""
        key = target.key if isinstance(target, (ResourceRow, ResourceId)) else target.lower()
        out = []
        for source in self.store.referrers(key):
            row = self.find(source)
            if row is not None and (type_ is None or row.type.lower() == type_.lower()) \
                    and key in references(row.body):
                out.append(row)
        return out

    def operation(self, op_id: str) -> ResourceRow | None:
        return self.store.find_resource_op(op_id)

    # -- rendering -----------------------------------------------------------------------------------
    def base_body(self, row: ResourceRow, now: int) -> dict[str, Any]:
        b = copy.deepcopy(row.body)
        spec = self.spec(row.type)
        out: dict[str, Any] = {"name": b.pop("name", row.name), "id": b.pop("id", None)}
        if spec is None or spec.etag_in_body:
            out["etag"] = row.etag
        out["type"] = b.pop("type", row.type)
        for k in ("location", "tags"):
            if k in b:
                out[k] = b.pop(k)
        props = b.pop("properties", {})
        props["provisioningState"] = "Deleting" if row.gone_us is not None else "Succeeded"
        out.update(b)
        out["properties"] = props
        return out

    def render(self, row: ResourceRow, now: int | None = None) -> dict[str, Any]:
        spec = self.spec(row.type)
        t = self.now() if now is None else now
        return spec.render(self, row, t) if spec is not None else self.base_body(row, t)

    # -- writes --------------------------------------------------------------------------------------
    @staticmethod
    def check_preconditions(row: ResourceRow | None, if_match: str | None, if_none_match: str | None) -> None:
        if if_none_match is not None and if_none_match.strip() == "*" and row is not None:
            raise PreconditionFailed("The resource already exists and If-None-Match is '*'.",
                                     target="If-None-Match")
        if if_match is not None:
            wanted = [t.strip() for t in if_match.split(",")]
            if row is None or ("*" not in wanted and row.etag not in wanted):
                raise PreconditionFailed("The etag given in If-Match does not match the resource's current etag.",
                                         target="If-Match")

    def put(self, rid: ResourceId, body: Any, *, if_match: str | None = None,
            if_none_match: str | None = None) -> tuple[ResourceRow, bool]:
        """Create (True) or replace (False) a resource from a PUT body."""
        spec = self._spec_for(rid)
        body = _body(body)
        self.require_group(rid.subscription, rid.resource_group)
        if spec.name_check is not None:
            spec.name_check(rid.name)
        with self._lock:
            old = self.find(rid)
            self.check_preconditions(old, if_match, if_none_match)
            model = self.model_from(spec, rid, body, old)
            return self.write(rid, model, old), old is None

    def model_from(self, spec: ResourceType, rid: ResourceId, body: dict[str, Any],
                   old: ResourceRow | None) -> dict[str, Any]:
        """The stored model of a PUT: validated, with the engine's fields and the type's defaults."""
        if spec.location_from_parent:
            parent = rid.parent
            prow = self.find(parent) if parent is not None else None
            if prow is None:
                assert parent is not None
                raise self.not_found(parent)
            location = prow.location
        else:
            location = check_location(body.get("location"))
            if old is not None and old.location != location:
                raise ArmError(f"Changing property 'location' is not allowed: the resource '{rid.name}' is in"
                               f" '{old.location}'.", code="InvalidResourceLocation", target="location")
        props = _obj(body.get("properties"), "properties")
        stored: dict[str, Any] = {"id": str(rid) if old is None else old.body.get("id", str(rid)),
                                  "name": rid.name if old is None else old.name, "type": spec.type}
        if not spec.location_from_parent:
            stored["location"] = location
        tags = check_tags(body.get("tags"))
        if tags and not spec.is_child:
            stored["tags"] = tags
        for k in spec.top_level:
            if body.get(k) is not None:
                stored[k] = copy.deepcopy(body[k])
        stored["properties"] = copy.deepcopy(props)
        stored["properties"].pop("provisioningState", None)
        return spec.normalize(self, rid, stored, old)

    def write(self, rid: ResourceId, model: dict[str, Any], old: ResourceRow | None, *,
              gone_us: int | None = None, at_us: int | None = None) -> ResourceRow:
        """Store a new version of the resource (its model as given)."""
        spec = self._spec_for(rid)
        now = self.now() if at_us is None else at_us
        if old is None:
            old = self.store.get_resource(rid.key)  # a deleted one: its versions go on
            created = now
            name, rg = rid.name, rid.resource_group or ""
        else:
            created, name, rg = old.created_us, old.name, old.rg
        if old is not None and not old.live_at(now):
            created, name, rg = now, rid.name, rid.resource_group or ""
        location = str(model.get("location") or (old.location if old else ""))
        if spec.location_from_parent and rid.parent is not None:
            prow = self.find(rid.parent)
            location = prow.location if prow is not None else location
        row = ResourceRow(rid.key, rid.subscription, rg, spec.type, name, location,
                          (old.version if old else 0) + 1, model, f'W/"{self.ids.uuid()}"', now, created,
                          self.ids.operation_id(), gone_us)
        try:
            self.store.put_resource(row, expected_version=old.version if old else 0,
                                    id_counter=self.ids.counter if self.ids.seed is not None else None)
        except ConcurrencyError:
            raise Conflict("The resource changed while the request was processed; retry it.") from None
        return row

    def patch(self, rid: ResourceId, body: Any, *, if_match: str | None = None) -> ResourceRow:
        """PATCH: tags replace the tags; properties merge into the model, validated as a PUT."""
        spec = self._spec_for(rid)
        body = _body(body)
        with self._lock:
            old = self.get(rid)
            self.check_preconditions(old, if_match, None)
            merged: dict[str, Any] = {"location": old.location, **copy.deepcopy(old.body)}
            if "tags" in body:
                merged["tags"] = body["tags"]
            if body.get("properties") is not None:
                merged["properties"] = {**merged.get("properties", {}), **_obj(body["properties"], "properties")}
            for k in spec.top_level:
                if body.get(k) is not None:
                    merged[k] = body[k]
            model = self.model_from(spec, rid, merged, old)
            return self.write(rid, model, old)

    def delete(self, rid: ResourceId, *, if_match: str | None = None, at_us: int | None = None,
               check: bool = True) -> ResourceRow | None:
        """Delete a resource (and, through the type's on_delete, what goes with it); None if absent."""
        spec = self._spec_for(rid)
        with self._lock:
            row = self.find(rid)
            if row is None:
                self.require_group(rid.subscription, rid.resource_group)
                if if_match is not None:
                    self.check_preconditions(None, if_match, None)
                return None
            self.check_preconditions(row, if_match, None)
            if check and spec.check_delete is not None:
                spec.check_delete(self, row)
            if spec.on_delete is not None:
                spec.on_delete(self, row)
            when = self.now() if at_us is None else at_us
            return self.write(rid, row.body, row, gone_us=when)

    def delete_group_resources(self, sub: str, rg: str, at_us: int) -> None:
        """A resource group's deletion: every resource in it goes at `at_us` (after its VMs)."""
        for r in self._all(sub=sub, rg=rg):
            if r.gone_us is None:
                self.write(ResourceId.parse(str(r.body.get("id"))), r.body, r, gone_us=at_us)

    def _spec_for(self, rid: ResourceId) -> ResourceType:
        spec = self.spec(rid.type)
        if spec is None:
            raise ArmError(f"The resource type '{rid.type}' is not served by azvm.", code="InvalidResourceType")
        return spec


__all__ = ["ResourceType", "Resources"]
