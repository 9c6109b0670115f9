"""Validation of VM and resource-group requests: ARM errors with a target, never a partial write."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from ..domain.errors import ArmError, InvalidParameter

_VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]|[A-Za-z0-9]")
_RG_NAME = re.compile(r"[-\w._()]{0,89}[-\w_()]")

SIZES: dict[str, tuple[int, int, int, int]] = {
    s[0].lower(): (s[1], s[2], s[3], s[4])
    for s in json.loads(resources.files("azvm.data").joinpath("vm_sizes.json").read_text("utf-8"))["sizes"]
}
SIZE_NAMES: dict[str, str] = {
    s[0].lower(): s[0]
    for s in json.loads(resources.files("azvm.data").joinpath("vm_sizes.json").read_text("utf-8"))["sizes"]
}

REGIONS = frozenset("""
eastus eastus2 westus westus2 westus3 centralus northcentralus southcentralus westcentralus canadacentral
canadaeast brazilsouth northeurope westeurope uksouth ukwest francecentral germanywestcentral
switzerlandnorth norwayeast swedencentral polandcentral italynorth spaincentral eastasia southeastasia
japaneast japanwest koreacentral koreasouth australiaeast australiasoutheast australiacentral
australiacentral2 centralindia southindia westindia uaenorth southafricanorth qatarcentral israelcentral
mexicocentral newzealandnorth
""".split())


def printable(value: str, limit: int = 100) -> str:
    """A caller's value as a message may show it: control characters escaped, long values cut."""
    v = value if len(value) <= limit else value[:limit] + "..."
    return v if v.isprintable() else v.encode("unicode_escape").decode("ascii")


def normalize_location(value: str) -> str:
    return value.replace(" ", "").lower()


def check_vm_name(name: str) -> None:
    if not _VM_NAME.fullmatch(name) or name.endswith("."):
        raise InvalidParameter(
            f"The resource name '{name}' is invalid. A virtual machine name must be 1 to 64 characters"
            " long, may contain letters, digits, underscores, periods and hyphens, must begin with a"
            " letter or digit and end with a letter, digit or underscore.", target="name")


def check_group_name(name: str) -> None:
    """ARM's resource-group rule: 1-90 letters, digits, underscores, parentheses, hyphens, periods
    (Unicode letters and digits allowed), not ending in a period
    (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)."""
    if not _RG_NAME.fullmatch(name) or name.endswith("."):
        raise ArmError(f"Resource group '{printable(name)}' is invalid. It must be 1 to 90 characters of letters,"
                       " digits, underscores, parentheses, hyphens and periods, and not end in a period.",
                       code="InvalidResourceGroupName", target="resourceGroupName")


def _obj(value: Any, target: str, *, required: bool = False) -> dict[str, Any]:
    if value is None:
        if required:
            raise InvalidParameter(f"Required parameter '{target}' is missing (null).", target=target)
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"The value of parameter '{target}' must be an object.", target=target)
    return value


def _str(value: Any, target: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidParameter(f"Required parameter '{target}' is missing (null).", target=target)
        return None
    if not isinstance(value, str) or (required and not value):
        raise InvalidParameter(f"The value of parameter '{target}' must be a non-empty string.", target=target)
    return value


def check_tags(tags: Any) -> dict[str, str]:
    t = _obj(tags, "tags")
    if len(t) > 50:
        raise InvalidParameter("A resource can have at most 50 tags.", target="tags")
    for k, v in t.items():
        if not isinstance(v, str):
            raise InvalidParameter(f"The value of tag '{k}' must be a string.", target=f"tags.{k}")
        if len(k) > 512 or len(v) > 256:
            raise InvalidParameter(f"Tag '{k[:40]}' is too long (name <= 512, value <= 256).", target="tags")
    return dict(t)


def check_location(value: Any, type_name: str = "Microsoft.Compute/virtualMachines") -> str:
    loc = _str(value, "location", required=True)
    assert loc is not None
    norm = normalize_location(loc)
    if norm not in REGIONS:
        raise ArmError(f"The provided location '{printable(loc, 60)}' is not available for resource type "
                       f"'{type_name}'. List of available regions for the resource type is "
                       f"'{','.join(sorted(REGIONS))}'.", code="LocationNotAvailableForResourceType",
                       target="location")
    return norm


def check_size(value: Any) -> str:
    size = _str(value, "hardwareProfile.vmSize", required=True)
    assert size is not None
    if size.lower() not in SIZES:
        raise InvalidParameter(
            f"The requested VM size {size} is not available in the current region. The sizes available"
            f" in the current region are: {', '.join(sorted(SIZE_NAMES.values()))}.", target="vmSize")
    return SIZE_NAMES[size.lower()]


def without_nulls(value: Any) -> Any:
    """A JSON value with its null-valued object members left out: a property sent as null is one not
    sent (what `az vm create` relies on: its template has `"osDisk": {"name": null, ...}` and
    `"deleteOption": null`, and the VM it makes has Azure's defaults there; az-vm-create.md §4.1)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def check_vm_body(body: Any, *, existing: bool) -> dict[str, Any]:
    """Validate a PUT body; returns its properties (null members left out). Raises InvalidParameter
    (400) with a target."""
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object describing the virtual machine.",
                               target="body")
    props: dict[str, Any] = without_nulls(_obj(body.get("properties"), "properties", required=not existing))
    hw = _obj(props.get("hardwareProfile"), "hardwareProfile", required=not existing)
    if not existing or "vmSize" in hw:  # a PUT on an existing VM keeps what it omits
        check_size(hw.get("vmSize"))
    storage = _obj(props.get("storageProfile"), "storageProfile", required=not existing)
    os_disk = _obj(storage.get("osDisk"), "storageProfile.osDisk")
    image = _obj(storage.get("imageReference"), "storageProfile.imageReference")
    create_option = _str(os_disk.get("createOption"), "storageProfile.osDisk.createOption") or (
        "FromImage" if image else None)
    if not existing:
        if create_option is None:
            raise InvalidParameter("Required parameter 'storageProfile.osDisk.createOption' is missing (null).",
                                   target="storageProfile.osDisk.createOption")
        if create_option.lower() not in ("fromimage", "attach"):
            raise InvalidParameter(f"The value '{create_option}' of parameter 'osDisk.createOption' is not"
                                   " allowed. Allowed values are 'FromImage', 'Attach'.",
                                   target="storageProfile.osDisk.createOption")
        if create_option.lower() == "fromimage":
            if not image:
                raise InvalidParameter("Required parameter 'storageProfile.imageReference' is missing (null).",
                                       target="storageProfile.imageReference")
            if not image.get("id") and not image.get("sharedGalleryImageId") and not image.get(
                    "communityGalleryImageId"):
                for f in ("publisher", "offer", "sku"):
                    _str(image.get(f), f"storageProfile.imageReference.{f}", required=True)
            osp = _obj(props.get("osProfile"), "osProfile", required=True)
            _str(osp.get("adminUsername"), "osProfile.adminUsername", required=True)
            cn = _str(osp.get("computerName"), "osProfile.computerName")
            if cn is not None and len(cn) > 64:
                raise InvalidParameter("The computer name must be at most 64 characters (15 on Windows).",
                                       target="osProfile.computerName")
        else:
            if props.get("osProfile") is not None:
                raise InvalidParameter("Parameter 'osProfile' is not allowed.", target="osProfile")
            md = _obj(os_disk.get("managedDisk"), "storageProfile.osDisk.managedDisk")
            if not md.get("id") and not os_disk.get("vhd"):
                raise InvalidParameter("Required parameter 'storageProfile.osDisk.managedDisk.id' is missing"
                                       " (null).", target="storageProfile.osDisk.managedDisk.id")
            os_type = _str(os_disk.get("osType"), "storageProfile.osDisk.osType", required=True)
            if os_type not in ("Linux", "Windows"):
                raise InvalidParameter(f"The value '{os_type}' of parameter 'osDisk.osType' is not allowed."
                                       " Allowed values are 'Windows', 'Linux'.",
                                       target="storageProfile.osDisk.osType")
    _obj(os_disk.get("managedDisk"), "storageProfile.osDisk.managedDisk")
    check_os_disk(os_disk)
    osp_any = props.get("osProfile")
    if isinstance(osp_any, dict):
        for conf in ("linuxConfiguration", "windowsConfiguration"):
            _obj(osp_any.get(conf), f"osProfile.{conf}")
    check_data_disks(storage.get("dataDisks"))
    check_subobjects(props)
    net = _obj(props.get("networkProfile"), "networkProfile", required=not existing)
    check_network_profile(net, required=not existing or "networkInterfaces" in net)
    check_tags(body.get("tags"))
    resources_ = body.get("resources")
    if resources_ is not None and not isinstance(resources_, list):
        raise InvalidParameter("The value of parameter 'resources' must be an array.", target="resources")
    return props


def check_network_profile(net: dict[str, Any], *, required: bool) -> None:
    """networkInterfaces: a list of `{id}` objects (on a create and on an update alike)."""
    nics = net.get("networkInterfaces")
    if required and not nics and not net.get("networkInterfaceConfigurations"):
        raise InvalidParameter("Required parameter 'networkProfile.networkInterfaces' is missing (null).",
                               target="networkProfile.networkInterfaces")
    if nics is None:
        return
    if not isinstance(nics, list):
        raise InvalidParameter("'networkProfile.networkInterfaces' must be an array.",
                               target="networkProfile.networkInterfaces")
    for i, nic in enumerate(nics):
        nic = _obj(nic, f"networkProfile.networkInterfaces[{i}]", required=True)
        _str(nic.get("id"), f"networkProfile.networkInterfaces[{i}].id", required=True)
        nprops = _obj(nic.get("properties"), f"networkProfile.networkInterfaces[{i}].properties")
        check_delete_option(nprops.get("deleteOption"), f"networkProfile.networkInterfaces[{i}].properties"
                                                         ".deleteOption")
        if nprops.get("primary") is not None and not isinstance(nprops.get("primary"), bool):
            raise InvalidParameter("The value of 'primary' must be a boolean.",
                                   target=f"networkProfile.networkInterfaces[{i}].properties.primary")


def check_delete_option(value: Any, target: str) -> None:
    if value is not None and (not isinstance(value, str) or value.lower() not in ("delete", "detach")):
        raise InvalidParameter(f"The value '{value}' of parameter '{target}' is not allowed. Allowed values are"
                               " 'Delete', 'Detach'.", target=target)


# properties of a VM that are objects: a PUT or PATCH must not put anything else there
OBJECT_PROPERTIES = ("hardwareProfile", "storageProfile", "osProfile", "networkProfile", "additionalCapabilities",
                     "diagnosticsProfile", "securityProfile", "billingProfile", "scheduledEventsProfile",
                     "capacityReservation", "applicationProfile", "availabilitySet", "proximityPlacementGroup",
                     "host", "hostGroup", "virtualMachineScaleSet")


def check_os_disk(os_disk: dict[str, Any]) -> None:
    size = os_disk.get("diskSizeGB")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 4095):
        raise InvalidParameter("The value of 'osDisk.diskSizeGB' must be an integer from 1 to 4095.",
                               target="storageProfile.osDisk.diskSizeGB")
    os_type = os_disk.get("osType")
    if os_type is not None and os_type not in ("Linux", "Windows"):
        raise InvalidParameter(f"The value '{os_type}' of parameter 'osDisk.osType' is not allowed."
                               " Allowed values are 'Windows', 'Linux'.", target="storageProfile.osDisk.osType")
    for key in ("name", "createOption", "caching", "deleteOption"):
        if os_disk.get(key) is not None and not isinstance(os_disk.get(key), str):
            raise InvalidParameter(f"The value of 'osDisk.{key}' must be a string.",
                                   target=f"storageProfile.osDisk.{key}")
    check_delete_option(os_disk.get("deleteOption"), "storageProfile.osDisk.deleteOption")


def check_subobjects(props: dict[str, Any]) -> None:
    for k in OBJECT_PROPERTIES:
        _obj(props.get(k), k)
    for k in ("osDisk", "imageReference"):
        _obj((props.get("storageProfile") or {}).get(k), f"storageProfile.{k}")


def check_data_disks(data_disks: Any) -> None:
    if data_disks is None:
        return
    if not isinstance(data_disks, list):
        raise InvalidParameter("The value of parameter 'storageProfile.dataDisks' must be an array.",
                               target="storageProfile.dataDisks")
    luns: set[int] = set()
    for i, d in enumerate(data_disks):
        d = _obj(d, f"storageProfile.dataDisks[{i}]", required=True)
        _obj(d.get("managedDisk"), f"storageProfile.dataDisks[{i}].managedDisk")
        lun = d.get("lun")
        if not isinstance(lun, int) or isinstance(lun, bool) or not 0 <= lun <= 63:
            raise InvalidParameter(f"Required parameter 'dataDisks[{i}].lun' must be an integer from 0 to 63.",
                                   target=f"storageProfile.dataDisks[{i}].lun")
        if lun in luns:
            raise InvalidParameter(f"Data disk LUN {lun} is used more than once.",
                                   target=f"storageProfile.dataDisks[{i}].lun")
        luns.add(lun)
        co = d.get("createOption")
        if co is not None and (not isinstance(co, str) or co.lower() not in ("empty", "attach", "fromimage", "copy",
                                                                            "restore")):
            raise InvalidParameter(f"The value '{co}' of parameter 'dataDisks[{i}].createOption' is not allowed."
                                   " Allowed values are 'Empty', 'Attach', 'FromImage'.",
                                   target=f"storageProfile.dataDisks[{i}].createOption")
        if isinstance(co, str) and co.lower() == "attach" and not (d.get("managedDisk") or {}).get("id") \
                and not d.get("vhd"):
            raise InvalidParameter(f"Required parameter 'dataDisks[{i}].managedDisk.id' is missing (null).",
                                   target=f"storageProfile.dataDisks[{i}].managedDisk.id")
        check_delete_option(d.get("deleteOption"), f"storageProfile.dataDisks[{i}].deleteOption")
        for key in ("name", "caching"):
            if d.get(key) is not None and not isinstance(d.get(key), str):
                raise InvalidParameter(f"The value of 'dataDisks[{i}].{key}' must be a string.",
                                       target=f"storageProfile.dataDisks[{i}].{key}")
        md = d.get("managedDisk") or {}
        if md.get("id") is not None and not isinstance(md.get("id"), str):
            raise InvalidParameter(f"The value of 'dataDisks[{i}].managedDisk.id' must be a string.",
                                   target=f"storageProfile.dataDisks[{i}].managedDisk.id")
        size = d.get("diskSizeGB")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 65536):
            raise InvalidParameter(f"The value of 'dataDisks[{i}].diskSizeGB' must be an integer from 1 to 65536.",
                                   target=f"storageProfile.dataDisks[{i}].diskSizeGB")
