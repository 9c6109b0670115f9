"""The use cases, named like the SDK's methods. Commands append to the history; reads compute
from it and the clock, and never write (except time skipping, which moves the clock)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock, iso
from ..domain.errors import (
    ArmError,
    ConcurrencyError,
    InvalidParameter,
    NotFound,
    OperationNotAllowed,
    VmNotFound,
)
from ..domain.history import (
    US,
    FaultKind,
    History,
    Operation,
    OperationView,
    Phase,
    Refused,
    operation_status,
    phase_at,
    plan,
)
from ..domain.resource_id import ResourceId
from ..domain.states import OperationStatus, PowerState
from ..domain.table import TABLE, Op, Situation, Table
from ..ids import IdSource
from . import callers, catalog, extensions
from .clock import ClockKeeper
from .faults import Faults
from .groups import ResourceGroups
from .neighbours import DISK_TYPE, Neighbours
from .ports import ResourceRow, Store, VmRow
from .resources import Resources
from .throttling import Throttler
from .validation import (
    check_data_disks,
    check_location,
    check_network_profile,
    check_os_disk,
    check_size,
    check_subobjects,
    check_tags,
    check_vm_body,
    check_vm_name,
    normalize_location,
)

VM_TYPE = "Microsoft.Compute/virtualMachines"


def vm_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{VM_TYPE}/{name}"


@dataclass(frozen=True)
class VmState:
    """A VM at a time: its head row and the phase in force."""

    row: VmRow
    phase: Phase
    at_us: int


@dataclass
class Settings:
    profile: str = "azure"
    page_size: int = 100
    shared_clock: bool = False  # several processes over one store: adopt the stored clock on each request
    rate_limits: str = "off"  # "azure": ARM's and Compute's rate limits (service.throttling)


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` over `base`: objects merge, lists and values replace, null and empty leftovers (a
    re-PUT's `capacityReservation: {}`) change nothing."""
    out = dict(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        elif v is not None and v != {}:
            out[k] = v
    return out


@dataclass
class ComputeService:
    store: Store
    clock: Clock
    ids: IdSource
    settings: Settings = field(default_factory=Settings)
    table: Table = TABLE

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.time = ClockKeeper(self.clock, self.store, shared=self.settings.shared_clock, lock=self._lock)
        self.faults = Faults.restore(self.store)  # the rules in force, where their sequences stand
        self.faults.shared = self.settings.shared_clock
        self.throttler = Throttler(self.settings.rate_limits)  # the buckets, refilled over simulated time
        self.groups = ResourceGroups(self.store, self.time, self.ids, self._lock)
        self.groups.empty = self._empty_group
        self.resources = Resources(self.store, self.now, self.ids, group_reader=self.groups.live,
                                   page_size=self.settings.page_size, vm_power=self._vm_power)
        self.neighbours = Neighbours(self.resources, self.ids.uuid)
        counter = self.store.get_meta("id_counter")
        if counter is not None:
            self.ids.counter = max(self.ids.counter, int(counter))

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> int:
        return self.clock.now_us()  # the clock is read here, and moved only through self.time

    def _vm_power(self, vm_id: str) -> str | None:
        row = self.store.get_vm(vm_id.lower())
        st = self.get_state_row(row) if row is not None else None
        return st.phase.power if st is not None else None

    def _empty_group(self, sub: str, rg: str) -> int:
        """A group's deletion: its VMs are deleted (each through its plan), then, once the last is
        gone, every plain resource in it; returns when all is gone."""
        end = self.now()
        after: str | None = None
        while True:
            rows = self.store.list_vms(sub=sub, rg=rg, location=None, live_at_us=self.now(), after_key=after,
                                       limit=500)
            if not rows:
                break
            for r in rows:
                st = self.get_state_row(r)
                if st is None:
                    continue
                if st.phase.situation != Situation.DELETING:
                    op, _row = self._command(sub, r.rg, r.name, Op.DELETE)
                else:
                    op = r.last
                end = max(end, op.end_us)
            after = rows[-1].key
        gone = max(end, self.now() + 1)
        self.resources.delete_group_resources(sub, rg, gone)  # the VMs first, then what they used
        return gone

    # -- commands ----------------------------------------------------------------------------
    def _command(self, sub: str, rg: str, name: str, op: Op, *, body: dict[str, Any] | None = None,
                 patch: dict[str, Any] | None = None,
                 change: Callable[[VmRow, int], dict[str, Any]] | None = None,
                 extra_us: int = 0) -> tuple[Operation, VmRow]:
        """Decide and append one operation; returns it with the VM's new head. `change` makes the
        model of an update from the head (extensions); `extra_us` lengthens the update's plan."""
        rid = vm_id(sub, rg, name)
        key = rid.lower()
        for _attempt in range(20):
            row = self.store.get_vm(key)
            now = self.now()
            if row is not None and row.last.at_us > now:  # another process, its clock further on, wrote last:
                self.time.sync()  # adopt its clock; never decide before the operation it appended
                now = max(self.now(), row.last.at_us)
            live = row is not None and (row.gone_us is None or row.gone_us > now)
            current = phase_at(row.last, now) if live and row is not None else None
            if current is not None and current.power is None:
                current, live = None, False
            if not live and op not in (Op.CREATE, Op.CREATE_ATTACHED):
                self.groups.require(sub, rg)  # a missing group is ResourceGroupNotFound
                raise VmNotFound(f"The Resource '{VM_TYPE}/{name}' under resource group '{rg}' was not found."
                                 " For more details please go to https://aka.ms/ARMResourceNotFoundFix")
            model: dict[str, Any] | None = None
            op_eff = op
            if op in (Op.CREATE, Op.CREATE_ATTACHED):
                assert body is not None
                if live and row is not None:
                    op_eff = Op.UPDATE
                    model = self._updated_model(row, body)
                else:
                    model = self._new_model(rid, name, rg, body, now)
                    attach = model["properties"]["storageProfile"]["osDisk"].get("createOption") == "Attach"
                    op_eff = Op.CREATE_ATTACHED if attach else Op.CREATE
            elif op == Op.UPDATE and change is not None:
                assert row is not None
                model = change(row, now)
            elif op == Op.UPDATE:
                assert row is not None and patch is not None
                model = self._patched_model(row, patch)
            if op_eff == Op.HIBERNATE and row is not None:
                caps = row.model["properties"].get("additionalCapabilities") or {}
                if not caps.get("hibernationEnabled"):
                    raise OperationNotAllowed(
                        f"Operation 'deallocate' with hibernate=true is not allowed on VM '{name}' since"
                        " hibernation is not enabled on it (additionalCapabilities.hibernationEnabled).")
            ongoing = row.last if row is not None and live else None
            faults = self.faults.decide(op_eff, key)  # nothing moves unless the operation is accepted
            try:
                phases, error, preempts = plan(
                    op_eff, current, now, vm_name=name, profile=self.settings.profile,
                    extensions=len((model or (row.model if row else {})).get("resources") or []),
                    fault=faults.fault, table=self.table, ongoing=ongoing, stretch=faults.stretch)
            except Refused as r:
                raise OperationNotAllowed(r.message) from None
            if extra_us and preempts and len(phases) > 1:  # an extension installs within the update
                phases = (*phases[:-1], phases[-1]._replace(at_us=phases[-1].at_us + extra_us))
            new_model = model if model is not None else (row.model if row is not None else {})
            gone = phases[-1].at_us if phases[-1].power is None else None
            the_id = str(new_model.get("id") or rid)
            writes = []  # what the VM's disks and NICs become: checked now, written after the append
            if preempts and model is not None:
                writes = self.neighbours.plan_change(the_id, row.model if live and row is not None else None,
                                                     model, now)
            elif preempts and gone is not None and row is not None:
                writes = self.neighbours.plan_delete(the_id, row.model, gone)
            canceled = error is not None and preempts and faults.outcome is not None \
                and faults.outcome.kind == FaultKind.PREEMPTED
            operation = Operation(self.ids.operation_id(), op_eff.value, now, phases, preempts, model, error, canceled,
                                  callers.current())
            base_rg = rg if row is None or not live else row.rg
            base_name = name if row is None or not live else row.name
            new_row = VmRow(key, sub, base_rg, base_name, new_model.get("location", ""),
                            row.version + 1 if row else 1, new_model, operation, gone)
            try:
                self.store.append(new_row, operation, expected_version=row.version if row else 0,
                                  id_counter=self.ids.counter if self.ids.seed is not None else None)
            except ConcurrencyError:
                continue
            spent = self.faults.commit(faults, shaped=preempts)  # in this request's transaction
            try:
                for write in writes:
                    write()
            except BaseException:
                self.faults.undo(spent)  # the request rolls back, and the rules' state with it
                raise
            return operation, new_row
        raise OperationNotAllowed("The VM is changing too fast; retry the request.", code="Conflict")

    def _new_model(self, rid: str, name: str, rg: str, body: dict[str, Any], now: int) -> dict[str, Any]:
        check_vm_name(name)
        props = check_vm_body(body, existing=False)
        loc = check_location(body.get("location"))
        props = copy.deepcopy(props)
        props.pop("provisioningState", None)
        props.pop("instanceView", None)
        props["hardwareProfile"]["vmSize"] = check_size(props["hardwareProfile"]["vmSize"])
        storage = props.setdefault("storageProfile", {})
        image = storage.get("imageReference") or {}
        os_disk = storage.setdefault("osDisk", {})
        attach = (os_disk.get("createOption") or "FromImage").lower() == "attach"
        os_disk["createOption"] = "Attach" if attach else "FromImage"
        found = catalog.resolve(image) if image and not attach else None
        if found is not None:  # a marketplace image: it must exist; `latest` resolves to its newest version
            img, exact = found
            image = storage["imageReference"] = {**image, "version": image.get("version") or "latest",
                                                 "exactVersion": exact}
            os_disk.setdefault("osType", img.os_type)
            os_disk.setdefault("diskSizeGB", img.size_gb)
        if not os_disk.get("osType"):
            text = " ".join(str(image.get(k, "")) for k in ("publisher", "offer", "id")).lower()
            os_disk["osType"] = "Windows" if "windows" in text else "Linux"
        os_disk.setdefault("name", f"{name}_OsDisk_1_{self.ids.uuid().replace('-', '')}")
        os_disk.setdefault("caching", "ReadWrite")
        md = os_disk.setdefault("managedDisk", {})
        md.setdefault("storageAccountType", "Premium_LRS" if attach else "Standard_LRS")
        md.setdefault("id", str(ResourceId.of(ResourceId.parse(rid).subscription, rg, "Microsoft.Compute", "disks",
                                              os_disk["name"])))
        os_disk.setdefault("deleteOption", "Detach")
        os_disk.setdefault("diskSizeGB", 127 if os_disk["osType"] == "Windows" else 30)
        disks = self._complete_data_disks({"id": rid, "name": name}, storage.get("dataDisks") or [])
        storage["dataDisks"] = disks
        osp = props.get("osProfile")
        if osp is not None:
            osp = dict(osp)
            osp.pop("adminPassword", None)  # secrets are never echoed back
            osp.setdefault("computerName", name)
            if os_disk["osType"] == "Windows":
                wc = dict(osp.get("windowsConfiguration") or {})
                wc.setdefault("provisionVMAgent", True)
                wc.setdefault("enableAutomaticUpdates", True)
                osp["windowsConfiguration"] = wc
            else:
                lc = dict(osp.get("linuxConfiguration") or {})
                lc.setdefault("disablePasswordAuthentication", bool(lc.get("ssh")))
                lc.setdefault("provisionVMAgent", True)
                osp["linuxConfiguration"] = lc
            osp.setdefault("secrets", [])
            osp.setdefault("allowExtensionOperations", True)
            osp.setdefault("requireGuestProvisionSignal", True)
            props["osProfile"] = osp
        props["vmId"] = self.ids.uuid()
        props["timeCreated"] = iso(now)
        model: dict[str, Any] = {"name": name, "id": rid, "type": VM_TYPE, "location": loc}
        if body.get("tags") is not None:
            model["tags"] = dict(body["tags"])
        for k in ("zones", "identity", "plan", "extendedLocation"):
            if body.get(k) is not None:
                model[k] = body[k]
        model["properties"] = props
        if body.get("resources"):  # extensions given with the VM (as templates nest them)
            exts: list[dict[str, Any]] = []
            for i, e in enumerate(body["resources"]):
                exts = extensions.put(model, exts, extensions.name_of(e, i), e, now, full=False)
            model["resources"] = exts
        return model

    @staticmethod
    def _merge_os_disk(row: VmRow, model: dict[str, Any], storage: dict[str, Any]) -> None:
        """The OS disk can grow; what it is (name, image, OS, how it was created) cannot change."""
        current = model["properties"]["storageProfile"]
        image = storage.get("imageReference")
        if image is not None and {k: v for k, v in image.items() if k != "exactVersion"} != {
                k: v for k, v in (current.get("imageReference") or {}).items() if k != "exactVersion"}:
            raise OperationNotAllowed(f"Changing property 'imageReference' is not allowed on VM '{row.name}'.",
                                      code="PropertyChangeNotAllowed", target="storageProfile.imageReference")
        os_disk = storage.get("osDisk")
        if not isinstance(os_disk, dict):
            return
        cur = current.setdefault("osDisk", {})
        for key in ("name", "createOption", "osType"):
            if os_disk.get(key) is not None and os_disk[key] != cur.get(key):
                raise OperationNotAllowed(f"Changing property 'osDisk.{key}' is not allowed on VM '{row.name}'.",
                                          code="PropertyChangeNotAllowed", target=f"storageProfile.osDisk.{key}")
        size = os_disk.get("diskSizeGB")
        if size is not None:
            if size < int(cur.get("diskSizeGB") or 0):
                raise OperationNotAllowed(
                    f"Disk '{cur.get('name')}' cannot shrink from {cur.get('diskSizeGB')} GB to {size} GB: an OS"
                    " disk can only grow.", code="PropertyChangeNotAllowed", target="storageProfile.osDisk.diskSizeGB")
            cur["diskSizeGB"] = size
        for key in ("caching",):
            if os_disk.get(key) is not None:
                cur[key] = os_disk[key]

    def _complete_data_disks(self, model: dict[str, Any], disks_in: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Data disks as Azure returns them: names, managed disk ids and defaults filled in."""
        vm = ResourceId.parse(str(model["id"]))
        name, sub, rg = str(model["name"]), vm.subscription, vm.resource_group
        disks = []
        for i, d in enumerate(disks_in):
            d = dict(d)
            attached = self._existing_disk(d)
            if attached is not None:  # an existing disk: its name, size and SKU are the disk's
                d.setdefault("name", attached.name)
                d.setdefault("diskSizeGB", (attached.body.get("properties") or {}).get("diskSizeGB"))
                d["managedDisk"] = {"storageAccountType": (attached.body.get("sku") or {}).get("name"),
                                    **(d.get("managedDisk") or {})}
            d.setdefault("name", f"{name}_disk{i + 2}_{self.ids.uuid().replace('-', '')}")
            d.setdefault("caching", "None")
            dm = dict(d.get("managedDisk") or {})
            dm.setdefault("storageAccountType", "Standard_LRS")
            dm.setdefault("id", str(ResourceId.of(sub, rg, "Microsoft.Compute", "disks", d["name"])))
            d["managedDisk"] = dm
            d.setdefault("deleteOption", "Detach")
            d.setdefault("diskSizeGB", 1023 if d.get("createOption") == "Empty" else 32)
            d.setdefault("toBeDetached", False)
            disks.append(d)
        return disks

    def _existing_disk(self, d: dict[str, Any]) -> ResourceRow | None:
        """The Disk resource that a data disk entry attaches, if it names one that exists."""
        mid = (d.get("managedDisk") or {}).get("id")
        if not isinstance(mid, str) or self.resources.spec(DISK_TYPE) is None:
            return None
        did = ResourceId.try_parse(mid)
        return self.resources.find(did) if did is not None else None

    def _updated_model(self, row: VmRow, body: dict[str, Any]) -> dict[str, Any]:
        props = check_vm_body(body, existing=True)
        loc = body.get("location")
        if loc is not None and normalize_location(str(loc)) != row.model["location"]:
            raise OperationNotAllowed(
                f"Changing property 'location' is not allowed: the VM '{row.name}' is in"
                f" '{row.model['location']}'.", code="PropertyChangeNotAllowed", target="location")
        # Compute merges a PUT on an existing VM: what the body omits (tags included) stays as it is
        return self._merge(row, {"properties": props, "tags": body.get("tags")},
                           replace_tags=body.get("tags") is not None)

    def _patched_model(self, row: VmRow, patch: dict[str, Any]) -> dict[str, Any]:
        props = patch.get("properties")
        if props is not None and not isinstance(props, dict):
            raise InvalidParameter("The value of parameter 'properties' must be an object.", target="properties")
        if isinstance(props, dict):
            check_subobjects(props)
            storage = props.get("storageProfile") or {}
            check_data_disks(storage.get("dataDisks"))
            if isinstance(storage.get("osDisk"), dict):
                check_os_disk(storage["osDisk"])
            if isinstance(props.get("hardwareProfile"), dict) and "vmSize" in props["hardwareProfile"]:
                check_size(props["hardwareProfile"]["vmSize"])
            if isinstance(props.get("networkProfile"), dict):
                check_network_profile(props["networkProfile"], required="networkInterfaces" in props["networkProfile"])
        if patch.get("tags") is not None:
            check_tags(patch.get("tags"))
        return self._merge(row, {"properties": props or {}, "tags": patch.get("tags")},
                           replace_tags=patch.get("tags") is not None)

    def _merge(self, row: VmRow, change: dict[str, Any], *, replace_tags: bool) -> dict[str, Any]:
        model = copy.deepcopy(row.model)
        props = dict(change["properties"])
        for ro in ("vmId", "timeCreated", "provisioningState", "instanceView", "osProfile"):
            props.pop(ro, None)  # read-only, or immutable after creation
        storage = props.pop("storageProfile", None)
        model["properties"] = _deep_merge(model["properties"], props)
        if isinstance(storage, dict):
            self._merge_os_disk(row, model, storage)
        if isinstance(storage, dict) and isinstance(storage.get("dataDisks"), list):
            model["properties"]["storageProfile"]["dataDisks"] = self._complete_data_disks(
                model, storage["dataDisks"])
        if "hardwareProfile" in props:
            hw = model["properties"]["hardwareProfile"]
            hw["vmSize"] = check_size(hw.get("vmSize"))
        if replace_tags:
            if change.get("tags") is None:
                model.pop("tags", None)
            else:
                model["tags"] = dict(change["tags"])
        return model

    def create_or_update(self, sub: str, rg: str, name: str, body: Any) -> tuple[VmState, Operation, bool]:
        self.groups.require_writable(sub, rg)
        if not isinstance(body, dict):
            check_vm_body(body, existing=False)
        op, row = self._command(sub, rg, name, Op.CREATE, body=body)
        return VmState(row, phase_at(op, op.at_us), op.at_us), op, op.name != Op.UPDATE

    def update(self, sub: str, rg: str, name: str, patch: Any) -> tuple[VmState, Operation]:
        self.groups.require_writable(sub, rg)
        if not isinstance(patch, dict):
            self.require_vm(sub, rg, name, read=False)  # a missing VM is a 404 whatever the body
            raise ArmError("The request content was invalid and could not be deserialized: the body must be a"
                           " JSON object.", code="InvalidRequestContent")
        op, row = self._command(sub, rg, name, Op.UPDATE, patch=patch)
        return VmState(row, phase_at(op, op.at_us), op.at_us), op

    def action(self, sub: str, rg: str, name: str, op: Op) -> Operation:
        return self._command(sub, rg, name, op)[0]

    def act(self, sub: str, rg: str, name: str, op: Op) -> tuple[Operation, str]:
        """An action, and the VM's location (for the operation's URL)."""
        operation, row = self._command(sub, rg, name, op)
        return operation, row.location

    def start(self, sub: str, rg: str, name: str) -> Operation:
        return self.action(sub, rg, name, Op.START)

    def power_off(self, sub: str, rg: str, name: str, skip_shutdown: bool = False) -> Operation:
        return self.action(sub, rg, name, Op.POWER_OFF_SKIP if skip_shutdown else Op.POWER_OFF)

    def deallocate(self, sub: str, rg: str, name: str, hibernate: bool = False) -> Operation:
        return self.action(sub, rg, name, Op.HIBERNATE if hibernate else Op.DEALLOCATE)

    def restart(self, sub: str, rg: str, name: str) -> Operation:
        return self.action(sub, rg, name, Op.RESTART)

    def redeploy(self, sub: str, rg: str, name: str) -> Operation:
        return self.action(sub, rg, name, Op.REDEPLOY)

    def reapply(self, sub: str, rg: str, name: str) -> Operation:
        return self.action(sub, rg, name, Op.REAPPLY)

    def delete(self, sub: str, rg: str, name: str, force: bool = False) -> Operation:
        return self.action(sub, rg, name, Op.FORCE_DELETE if force else Op.DELETE)

    # -- extensions (virtualMachines/{vm}/extensions): updates of the VM ------------------------------
    def _extension_us(self) -> int:
        return round(self.table.profiles[self.settings.profile]["extension"] * US)

    @staticmethod
    def _extensions_allowed(row: VmRow, now: int) -> None:
        """Extensions change only on a running VM (a VM being created is refused by the table)."""
        ph = phase_at(row.last, now)
        if not ph.prov.startswith("creating") and ph.power not in ("running", "starting"):
            raise OperationNotAllowed("Cannot modify extensions in the VM when the VM is not running.")

    def get_extension(self, sub: str, rg: str, vm: str, name: str) -> tuple[VmState, dict[str, Any]]:
        st = self.require_vm(sub, rg, vm)
        ext = extensions.find(st.row.model, name)
        if ext is None:
            raise NotFound(f"The Resource '{VM_TYPE}/{st.row.name}/extensions/{name}' under resource group"
                           f" '{rg}' was not found. For more details please go to"
                           " https://aka.ms/ARMResourceNotFoundFix")
        return st, ext

    def put_extension(self, sub: str, rg: str, vm: str, name: str,
                      body: Any) -> tuple[VmState, Operation, dict[str, Any], bool]:
        """Create or replace an extension: an update of its VM that lasts the extension's install."""
        self.groups.require_writable(sub, rg)
        st = self.require_vm(sub, rg, vm, read=False)
        created = extensions.find(st.row.model, name) is None

        def change(row: VmRow, now: int) -> dict[str, Any]:
            self._extensions_allowed(row, now)
            model = copy.deepcopy(row.model)
            model["resources"] = extensions.put(model, list(model.get("resources") or []), name, body, now)
            return model
        op, row = self._command(sub, rg, vm, Op.UPDATE, change=change, extra_us=self._extension_us())
        st2 = VmState(row, phase_at(op, op.at_us), op.at_us)
        ext = extensions.find(row.model, name)
        assert ext is not None
        return st2, op, ext, created

    def patch_extension(self, sub: str, rg: str, vm: str, name: str,
                        body: Any) -> tuple[VmState, Operation, dict[str, Any]]:
        self.groups.require_writable(sub, rg)
        self.get_extension(sub, rg, vm, name)

        def change(row: VmRow, now: int) -> dict[str, Any]:
            self._extensions_allowed(row, now)
            model = copy.deepcopy(row.model)
            if extensions.find(model, name) is None:
                self.get_extension(sub, rg, vm, name)
            model["resources"] = extensions.patch(model, list(model.get("resources") or []), name, body, now)
            return model
        op, row = self._command(sub, rg, vm, Op.UPDATE, change=change, extra_us=self._extension_us())
        ext = extensions.find(row.model, name)
        assert ext is not None
        return VmState(row, phase_at(op, op.at_us), op.at_us), op, ext

    def delete_extension(self, sub: str, rg: str, vm: str, name: str) -> tuple[Operation, str] | None:
        """Remove an extension (an update of its VM); None when there is no such extension."""
        self.groups.require_writable(sub, rg)
        st = self.require_vm(sub, rg, vm, read=False)
        if extensions.find(st.row.model, name) is None:
            return None

        def change(row: VmRow, now: int) -> dict[str, Any]:
            self._extensions_allowed(row, now)
            model = copy.deepcopy(row.model)
            model["resources"] = extensions.remove(list(model.get("resources") or []), name)
            if not model["resources"]:
                del model["resources"]
            return model
        op, row = self._command(sub, rg, vm, Op.UPDATE, change=change, extra_us=self._extension_us())
        return op, row.location

    def guest_shutdown(self, resource_id: str) -> Operation:
        rid = ResourceId.try_parse(resource_id)
        if rid is None or rid.resource_group is None or rid.type.lower() != VM_TYPE.lower():
            raise NotFound(f"'{resource_id}' is not a virtual machine resource id.", code="InvalidResourceId",
                           target="id")
        sub, rg, name = rid.subscription, rid.resource_group, rid.name
        st = self.get_state(sub, rg, name)
        if st is None:
            raise NotFound(f"The Resource '{VM_TYPE}/{name}' under resource group '{rg}' was not found.")
        if st.phase.prov not in ("succeeded", "failed"):
            raise OperationNotAllowed(f"The guest OS of VM '{name}' cannot shut down while an operation"
                                      " is in progress on it.")
        return self._command(sub, st.row.rg, st.row.name, Op.GUEST_SHUTDOWN)[0]

    # -- reads -------------------------------------------------------------------------------
    def get_state_row(self, row: VmRow, at_us: int | None = None) -> VmState | None:
        now = self.now() if at_us is None else at_us
        if row.gone_us is not None and row.gone_us <= now:
            return None
        if now < row.last.at_us:  # a read of the past: replay the history
            return self.state_at(row.key, now)
        ph = phase_at(row.last, now)
        if ph.power is None:
            return None
        return VmState(row, ph, now)

    def get_state(self, sub: str, rg: str, name: str, at_us: int | None = None) -> VmState | None:
        row = self.store.get_vm(vm_id(sub, rg, name).lower())
        if row is None:
            return None
        return self.get_state_row(row, at_us)

    def require_vm(self, sub: str, rg: str, name: str, *, skip_update: bool = False, read: bool = True) -> VmState:
        """The VM now (404 when it is not there). `read`: what a client reads, so a read fault
        (`PowerState/unknown`) may apply; commands that look at the VM pass False."""
        st = self.get_state(sub, rg, name)
        if st is None:
            self.groups.require(sub, rg)
            raise NotFound(f"The Resource '{VM_TYPE}/{name}' under resource group '{rg}' was not found."
                           " For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        if skip_update and self.clock.state.skip and st.row.last.name == Op.UPDATE \
                and st.phase.prov == "updating":
            # a client polling an update (PATCH/PUT) by GETs of the VM is waiting on it
            self._skip_to(self._next_boundary(st.row.last, st.at_us))
            st = self.get_state(sub, rg, name) or st
        return self.as_read(st) if read and self.faults.reads_on else st

    def as_read(self, st: VmState, *, save: bool = True) -> VmState:
        """A VM as one read shows it: `PowerState/unknown` when a power-unknown fault applies to this
        read (the history is untouched: the VM is as it was, and billed as it is)."""
        if self.faults.reads_on and self.faults.on_read(FaultKind.POWER_UNKNOWN, st.row.key, save=save):
            return VmState(st.row, st.phase._replace(power=PowerState.UNKNOWN), st.at_us)
        return st

    def state_at(self, key: str, at_us: int) -> VmState | None:
        """A VM at any time, past or future, from its full history."""
        ops = self.store.load_history(key)
        h = History(ops)
        i = h.index_at(at_us)
        if i < 0:
            return None
        ph = phase_at(ops[i], at_us)
        if ph.power is None:
            return None
        model = h.model(at_us) or {}
        rid = ResourceId.try_parse(str(model.get("id", key)))
        sub, rg = (rid.subscription, rid.resource_group or "") if rid is not None else ("", "")
        row = VmRow(key, sub, rg, model.get("name", ""), model.get("location", ""), i + 1, model, ops[i], None)
        return VmState(row, ph, at_us)

    def list_vms(self, sub: str, *, rg: str | None = None, location: str | None = None,
                 after_key: str | None = None, limit: int | None = None) -> tuple[list[VmState], str | None]:
        if rg is not None:
            self.groups.require(sub, rg)
        lim = limit or self.settings.page_size
        now = self.now()
        out: list[VmState] = []
        after = after_key
        faulty = self.faults.reads_on  # read faults in force: each VM listed is one read of it
        while len(out) < lim:
            rows = self.store.list_vms(sub=sub, rg=rg, location=location, live_at_us=now, after_key=after,
                                       limit=lim - len(out))
            if not rows:
                return out, None
            for r in rows:
                st = self.get_state_row(r, now)
                if st is not None:
                    out.append(self.as_read(st, save=False) if faulty else st)
            after = rows[-1].key
            if faulty:
                self.faults.flush()
        more = self.store.list_vms(sub=sub, rg=rg, location=location, live_at_us=now, after_key=after, limit=1)
        return out, (after if more else None)

    # -- operations --------------------------------------------------------------------------
    @staticmethod
    def _next_boundary(op: Operation, now: int) -> int:
        for p in op.phases:
            if p.at_us > now:
                return p.at_us
        return op.end_us

    def _skip_to(self, us: int) -> None:
        self.time.skip_to(us)

    def operation(self, op_id: str) -> OperationView | None:
        found = self.store.find_operation(op_id)
        if found is None:
            return None
        _key, op, nxt = found
        if not op.visible:
            return None
        view = operation_status(op, nxt, self.now())
        if view.status == OperationStatus.IN_PROGRESS and self.clock.state.skip:
            self._skip_to(self._next_boundary(op, self.now()))
            view = operation_status(op, nxt, self.now())
        return view

    def reset(self, *, start_us: int | None = None, seed: int | None = None, skip: bool | None = None) -> None:
        """Empty the world. With `start_us` the clock starts afresh there (there is no history left
        for it to contradict); with `seed` ids restart from that seed."""
        with self._lock:
            self.store.reset()
            self.faults.clear(save=False)  # the store's copy went with the reset
            self.throttler.reset()
            if seed is not None:
                self.ids.seed, self.ids.counter = seed, 0
            self.time.restart(start_us=start_us, skip=skip)
