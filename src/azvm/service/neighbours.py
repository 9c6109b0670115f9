"""What a VM does to the resources around it: its managed disks and its network interfaces.

A VM's create (and each update) makes the Disk resources that its model names and that do not exist
yet (the OS disk `FromImage`, data disks `Empty`), attaches existing ones (`managedBy`, checked
first: a disk attached to another live VM is refused), and marks its network interfaces as used by
it (`properties.virtualMachine`). A disk or NIC that an update drops is released at once. When the
VM's deletion completes, each disk and NIC goes as its `deleteOption` says: `Delete` deletes it,
`Detach` (the default, as for VMs created through the API) releases it; both are versions dated at
the instant the VM is gone, so reads before that still see them attached.

Checks run before the VM's operation is appended (a refusal writes nothing); writes run after it,
in the same request (all or nothing). A type that is not registered (the service used without the
ARM edge) is left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clock import iso
from ..domain.errors import ArmError, InvalidParameter, NotFound
from ..domain.resource_id import ResourceId
from . import catalog
from .ports import ResourceRow
from .resources import Resources

DISK_TYPE = "Microsoft.Compute/disks"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
PUBLIC_IP_TYPE = "Microsoft.Network/publicIPAddresses"

SKU_TIERS = {"standard_lrs": ("Standard_LRS", "Standard"), "premium_lrs": ("Premium_LRS", "Premium"),
             "standardssd_lrs": ("StandardSSD_LRS", "Standard"), "ultrassd_lrs": ("UltraSSD_LRS", "Ultra"),
             "premium_zrs": ("Premium_ZRS", "Premium"), "standardssd_zrs": ("StandardSSD_ZRS", "Standard"),
             "premiumv2_lrs": ("PremiumV2_LRS", "Premium")}
GIB = 1024 ** 3

# Premium SSD performance tiers: (largest size in GiB, tier, IOPS, MB/s), from Microsoft's published
# table "Premium SSD size" (learn.microsoft.com/azure/virtual-machines/disks-types)
_PREMIUM = ((4, "P1", 120, 25), (8, "P2", 120, 25), (16, "P3", 120, 25), (32, "P4", 120, 25), (64, "P6", 240, 50),
            (128, "P10", 500, 100), (256, "P15", 1100, 125), (512, "P20", 2300, 150), (1024, "P30", 5000, 200),
            (2048, "P40", 7500, 250), (4096, "P50", 7500, 250), (8192, "P60", 16000, 500),
            (16384, "P70", 18000, 750), (32767, "P80", 20000, 900))


def sku_of(name: Any) -> dict[str, str]:
    """A disk SKU object from its name; raises InvalidParameter-like 400 for an unknown one."""
    found = SKU_TIERS.get(str(name).lower()) if isinstance(name, str) else None
    if found is None:
        raise InvalidParameter(f"The value '{name}' of parameter 'sku.name' is not allowed. Allowed values are"
                               f" '{', '.join(v[0] for v in SKU_TIERS.values())}'.", target="sku.name")
    return {"name": found[0], "tier": found[1]}


def performance(sku: str, size_gb: int) -> dict[str, Any]:
    """diskIOPSReadWrite, diskMBpsReadWrite (and the tier of a Premium SSD) for a size."""
    if sku.lower().startswith("premium"):
        for top, tier, iops, mbps in _PREMIUM:
            if size_gb <= top:
                return {"diskIOPSReadWrite": iops, "diskMBpsReadWrite": mbps, "tier": tier}
    return {"diskIOPSReadWrite": 500, "diskMBpsReadWrite": 60}


def disk_model(rid: ResourceId, *, location: str, sku: str, size_gb: int, creation: dict[str, Any],
               now_us: int, unique_id: str, os_type: str | None = None, hyper_v: str | None = None,
               managed_by: str | None = None, tags: dict[str, str] | None = None,
               zones: list[str] | None = None) -> dict[str, Any]:
    """A Disk resource's stored model (Microsoft.Compute/disks, as the 2024-03-02 examples show it)."""
    model: dict[str, Any] = {"id": str(rid), "name": rid.name, "type": DISK_TYPE, "location": location}
    if tags:
        model["tags"] = dict(tags)
    if managed_by:
        model["managedBy"] = managed_by
    model["sku"] = sku_of(sku)
    if zones:
        model["zones"] = list(zones)
    props: dict[str, Any] = {}
    if os_type:
        props["osType"] = os_type
    if hyper_v:
        props["hyperVGeneration"] = hyper_v
    props["creationData"] = creation
    props["diskSizeGB"] = size_gb
    props.update(performance(model["sku"]["name"], size_gb))
    props["encryption"] = {"type": "EncryptionAtRestWithPlatformKey"}
    props["networkAccessPolicy"] = "AllowAll"
    props["publicNetworkAccess"] = "Enabled"
    props["timeCreated"] = iso(now_us)
    props["diskSizeBytes"] = size_gb * GIB
    props["uniqueId"] = unique_id
    model["properties"] = props
    return model


def attached_vm(res: Resources, row: ResourceRow) -> str | None:
    """The live VM that a disk is attached to (its managedBy), or None."""
    vm = row.body.get("managedBy")
    if not vm or res.vm_power(str(vm)) is None:
        return None
    return str(vm)


def _nic_user(row: ResourceRow) -> str:
    """The VM id a network interface names as its user ("" if none), live or not."""
    return str(((row.body.get("properties") or {}).get("virtualMachine") or {}).get("id") or "")


def nic_vm(res: Resources, row: ResourceRow) -> str | None:
    """The live VM that uses a network interface, or None."""
    vm = _nic_user(row)
    if not vm or res.vm_power(str(vm)) is None:
        return None
    return str(vm)


@dataclass(frozen=True)
class DiskRef:
    id: ResourceId
    create_option: str  # FromImage, Empty, Attach
    delete_option: str  # Delete, Detach
    size_gb: int
    sku: str
    os_type: str | None = None
    image: dict[str, Any] | None = None
    hyper_v: str | None = None


def disk_refs(model: dict[str, Any]) -> list[DiskRef]:
    storage = model.get("properties", {}).get("storageProfile", {})
    out: list[DiskRef] = []
    os_disk = storage.get("osDisk") or {}
    disks = ([(os_disk, True)] if os_disk else []) + [(d, False) for d in storage.get("dataDisks") or []]
    for d, is_os in disks:
        md = d.get("managedDisk") or {}
        if not md.get("id") or d.get("toBeDetached"):
            continue
        img = storage.get("imageReference") if is_os else None
        hyper_v = None
        if isinstance(img, dict) and img.get("publisher"):
            found = catalog.image(str(img.get("publisher")), str(img.get("offer")), str(img.get("sku")))
            hyper_v = found.hyper_v_generation if found is not None else None
        out.append(DiskRef(ResourceId.parse(str(md["id"]), target="managedDisk.id"), str(d.get("createOption")),
                           str(d.get("deleteOption") or "Detach"), int(d.get("diskSizeGB") or 0),
                           str(md.get("storageAccountType") or "Standard_LRS"),
                           str(d.get("osType")) if is_os and d.get("osType") else None,
                           dict(img) if isinstance(img, dict) else None, hyper_v))
    return out


def nic_refs(model: dict[str, Any]) -> list[tuple[ResourceId, str]]:
    """(NIC id, deleteOption) of each network interface a VM model references."""
    net = model.get("properties", {}).get("networkProfile") or {}
    out = []
    for n in net.get("networkInterfaces") or []:
        if isinstance(n, dict) and isinstance(n.get("id"), str):
            opt = (n.get("properties") or {}).get("deleteOption") or "Detach"
            out.append((ResourceId.parse(n["id"], target="networkProfile.networkInterfaces.id"), str(opt)))
    return out


Write = Callable[[], None]


class Neighbours:
    """Checks and writes of a VM's disks and NICs, for one VM operation."""

    # Azure refuses a VM whose NIC or attached OS disk does not exist (400 InvalidResourceReference,
    # 404 ResourceNotFound), and so does azvm. `strict = False` (for a test that means it) tolerates a
    # missing NIC or attached OS disk instead. A NIC or disk that exists is always checked (in use
    # elsewhere: refused) and marked as used by the VM.
    strict: bool = True

    def __init__(self, res: Resources, unique_id: Callable[[], str]) -> None:
        self.res = res
        self.unique_id = unique_id

    def _has(self, type_: str) -> bool:
        return self.res.spec(type_) is not None

    # -- a create or an update ---------------------------------------------------------------------
    def plan_change(self, vm_id: str, old: dict[str, Any] | None, new: dict[str, Any], now: int) -> list[Write]:
        """Check what `new` references (raises before anything is written) and return the writes that
        bring the disks and NICs in line with it."""
        writes: list[Write] = []
        vm_key = vm_id.lower()
        if self._has(DISK_TYPE):
            old_disks = disk_refs(old) if old is not None else []
            before = {d.id.key for d in old_disks}
            wanted = disk_refs(new)
            for d in wanted:
                writes += self._disk_in(vm_id, vm_key, d, new, now, known=d.id.key in before)
            keep = {d.id.key for d in wanted}
            for d in old_disks:
                if d.id.key not in keep:
                    writes += self._release_disk(d.id, vm_key, now)
        if self._has(NIC_TYPE):
            old_nics = [r for r, _o in nic_refs(old)] if old is not None else []
            before_n = {r.key for r in old_nics}
            wanted_n = nic_refs(new)
            for rid, _opt in wanted_n:
                writes += self._nic_in(vm_id, vm_key, rid, known=rid.key in before_n)
            keep_n = {r.key for r, _o in wanted_n}
            for rid in old_nics:
                if rid.key not in keep_n:
                    writes += self._release_nic(rid, vm_key, now, delete=False)
        return writes

    def _disk_in(self, vm_id: str, vm_key: str, d: DiskRef, model: dict[str, Any], now: int, *,
                 known: bool) -> list[Write]:
        row = self.res.find(d.id)
        if row is not None and known and str(row.body.get("managedBy") or "").lower() == vm_key:
            return []  # already this (live) VM's: no need to ask whether its owner lives
        if row is not None:
            owner = attached_vm(self.res, row)
            if owner is not None and owner.lower() == vm_key:
                return []
            if owner is not None:
                raise ArmError(f"Disk '{d.id}' cannot be attached as the disk is already owned by VM '{owner}'.",
                               code="ConflictingUserInput", target="managedDisk.id")
            if not row.live_at(now):
                raise self.res.not_found(d.id)

            def attach(row: ResourceRow = row) -> None:
                body = copy.deepcopy(row.body)
                body["managedBy"] = vm_id
                self.res.write(d.id, body, row)
            return [attach]
        if known or (d.create_option.lower() == "attach" and not self.strict and d.os_type is not None):
            return []  # an OS disk attached from nowhere (see `strict`), or one a previous version of the VM knew
        if d.create_option.lower() == "attach":
            raise NotFound(f"The Resource '{DISK_TYPE}/{d.id.name}' under resource group '{d.id.resource_group}'"
                           " was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                           target="managedDisk.id")
        if d.create_option.lower() == "fromimage" and d.image is not None:
            img = {k: v for k, v in d.image.items() if k != "exactVersion"}
            if d.image.get("exactVersion") and img.get("publisher"):
                img["version"] = d.image["exactVersion"]
            creation: dict[str, Any] = {"createOption": "FromImage", "imageReference": img}
        else:
            creation = {"createOption": "Empty"}
        zones = model.get("zones")
        location = str(model.get("location", ""))

        def create() -> None:
            self.res.write(d.id, disk_model(d.id, location=location, sku=d.sku, size_gb=d.size_gb, creation=creation,
                                            now_us=self.res.now(), unique_id=self.unique_id(), os_type=d.os_type,
                                            hyper_v=d.hyper_v if d.os_type else None, managed_by=vm_id,
                                            zones=zones if isinstance(zones, list) else None), None)
        return [create]

    def _nic_in(self, vm_id: str, vm_key: str, rid: ResourceId, *, known: bool) -> list[Write]:
        row = self.res.find(rid)
        if row is None and (known or not self.strict):
            return []
        if row is None:
            raise ArmError(f"Resource {rid} referenced by resource {vm_id} was not found. Please make sure that the"
                           " referenced resource exists, and that both resources are in the same region.",
                           code="InvalidResourceReference", target="networkProfile.networkInterfaces")
        if known and _nic_user(row).lower() == vm_key:
            return []  # already used by this (live) VM
        user = nic_vm(self.res, row)
        if user is not None and user.lower() == vm_key:
            return []
        if user is not None:
            raise ArmError(f"Network Interface {rid} is used by existing resource {user}. In order to create a"
                           " new resource, delete the existing resource or update it to not use the network"
                           " interface.", code="NicInUse", target="networkProfile.networkInterfaces")

        def attach(row: ResourceRow = row) -> None:
            body = copy.deepcopy(row.body)
            body.setdefault("properties", {})["virtualMachine"] = {"id": vm_id}
            self.res.write(rid, body, row)
        return [attach]

    # -- releases ----------------------------------------------------------------------------------
    def _release_disk(self, rid: ResourceId, vm_key: str, at: int, *, delete: bool = False) -> list[Write]:
        def release() -> None:
            row = self.res.find(rid)
            if row is None or str(row.body.get("managedBy") or "").lower() != vm_key:
                return
            head = self.res.store.get_resource(rid.key) or row
            if delete:
                self.res.write(rid, row.body, head, gone_us=at, at_us=at)
                return
            body = copy.deepcopy(row.body)
            body.pop("managedBy", None)
            self.res.write(rid, body, head, at_us=at)
        return [release]

    def _release_nic(self, rid: ResourceId, vm_key: str, at: int, *, delete: bool) -> list[Write]:
        def release() -> None:
            row = self.res.find(rid)
            if row is None:
                return
            if _nic_user(row).lower() != vm_key:
                return
            head = self.res.store.get_resource(rid.key) or row
            body = copy.deepcopy(row.body)
            body.get("properties", {}).pop("virtualMachine", None)
            if delete:
                self.res.write(rid, body, head, gone_us=at, at_us=at)
                for ip, by_ref in _public_ips(body):
                    self._delete_public_ip(ip, at, by_ref)
                return
            self.res.write(rid, body, head, at_us=at)
        return [release]

    def _delete_public_ip(self, rid: ResourceId, at: int, by_ref: bool) -> None:
        """A public IP of a NIC deleted with its VM goes too when its deleteOption is Delete."""
        if not self._has(PUBLIC_IP_TYPE):
            return
        row = self.res.find(rid)
        own = str(((row.body.get("properties") or {}) if row is not None else {}).get("deleteOption") or "")
        if row is not None and (by_ref or own.lower() == "delete"):
            head = self.res.store.get_resource(rid.key) or row
            self.res.write(rid, row.body, head, gone_us=at, at_us=at)

    # -- the VM's deletion ---------------------------------------------------------------------------
    def plan_delete(self, vm_id: str, model: dict[str, Any], gone_us: int) -> list[Write]:
        """At `gone_us` each disk and NIC is deleted or released, as its deleteOption says."""
        writes: list[Write] = []
        vm_key = vm_id.lower()
        if self._has(DISK_TYPE):
            for d in disk_refs(model):
                writes += self._release_disk(d.id, vm_key, gone_us, delete=d.delete_option.lower() == "delete")
        if self._has(NIC_TYPE):
            for rid, opt in nic_refs(model):
                writes += self._release_nic(rid, vm_key, gone_us, delete=opt.lower() == "delete")
        return writes


def _public_ips(nic_body: dict[str, Any]) -> list[tuple[ResourceId, bool]]:
    """The public IPs of a NIC's ip configurations, and whether the reference says deleteOption Delete."""
    out: list[tuple[ResourceId, bool]] = []
    for conf in (nic_body.get("properties") or {}).get("ipConfigurations") or []:
        pip = ((conf or {}).get("properties") or {}).get("publicIPAddress") if isinstance(conf, dict) else None
        if not isinstance(pip, dict) or not isinstance(pip.get("id"), str):
            continue
        rid = ResourceId.try_parse(pip["id"])
        if rid is not None:
            out.append((rid, str((pip.get("properties") or {}).get("deleteOption") or "").lower() == "delete"))
    return out


__all__ = ["DISK_TYPE", "NIC_TYPE", "PUBLIC_IP_TYPE", "DiskRef", "Neighbours", "attached_vm", "disk_model",
           "disk_refs", "nic_refs", "nic_vm", "performance", "sku_of"]
