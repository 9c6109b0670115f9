"""Microsoft.Compute/skus: the resource SKUs (ResourceSkus_List, azure-rest-api-specs `skus.json`).

One entry per VM size and region, with the capabilities that clients read (vCPUs, MemoryGB,
MaxDataDiskCount, ...) from the same size data as `vmSizes` (src/azvm/data/vm_sizes.json), plus the
managed disk SKUs. `$filter=location eq 'x'` keeps one region. The family is "skus" (2017-03-30 on).

A SKU's `locationInfo[].zones` lists the region's availability zones, empty in a region without
them (az filters `vm list-skus --zone` on it: `list_skus`, azure-cli command_modules/vm/custom.py).
Which regions have zones: Microsoft's "Availability zone service and regional support" page
(learn.microsoft.com/azure/reliability/availability-zones-service-support, read 2026-12-03), whose
list of regions with zones leaves out the ones in NON_ZONAL.
"""

from __future__ import annotations

import re
from typing import Any

from ...arm.app import ArmApi
from ...arm.http import Req, Response, json_response
from ...arm.routes import Params, RouteRow
from ...domain.errors import ArmError
from ...service.neighbours import SKU_TIERS
from ...service.validation import REGIONS, SIZE_NAMES, SIZES, normalize_location
from .virtual_machines import SUB

NON_ZONAL = frozenset({"westus", "northcentralus", "westcentralus", "canadaeast", "ukwest", "koreasouth",
                       "australiasoutheast", "australiacentral", "australiacentral2", "southindia", "westindia"})
_FILTER = re.compile(r"\s*location\s+eq\s+'([^']*)'\s*", re.IGNORECASE)
_SIZE = re.compile(r"Standard_([A-Z]+)(\d+)([a-z]*)(?:_(v\d+))?")


def family(name: str) -> tuple[str, bool]:
    """The quota family of a size, as Compute names it (Standard_D2s_v3 -> standardDSv3Family), and
    whether it takes premium storage (an `s` in its suffix)."""
    m = _SIZE.fullmatch(name)
    if m is None:
        return "standardFamily", False
    series, _n, suffix, version = m.groups()
    premium = "s" in suffix
    return f"standard{series}{'S' if premium else ''}{version or ''}Family", premium


def _location_info(location: str) -> list[dict[str, Any]]:
    zones = [] if location in NON_ZONAL else ["1", "2", "3"]
    return [{"location": location, "zones": zones, "zoneDetails": []}]


def _vm_sku(key: str, location: str) -> dict[str, Any]:
    name = SIZE_NAMES[key]
    cores, memory_mb, max_disks, resource_disk_mb = SIZES[key]
    size_family, premium = family(name)
    caps = [("MaxResourceVolumeMB", resource_disk_mb), ("OSVhdSizeMB", 1047552), ("vCPUs", cores),
            ("MemoryPreservingMaintenanceSupported", "True"), ("HyperVGenerations", "V1,V2"),
            ("MemoryGB", f"{memory_mb / 1024:g}"), ("MaxDataDiskCount", max_disks),
            ("CpuArchitectureType", "x64"), ("LowPriorityCapable", "True"), ("PremiumIO", str(premium)),
            ("VMDeploymentTypes", "IaaS"), ("vCPUsAvailable", cores), ("ACUs", 100),
            ("vCPUsPerCore", 1 if cores < 2 else 2), ("EphemeralOSDiskSupported", str(premium)),
            ("EncryptionAtHostSupported", "True"), ("AcceleratedNetworkingEnabled", str(cores >= 2)),
            ("RdmaEnabled", "False"), ("MaxNetworkInterfaces", max(2, min(8, cores)))]
    return {"resourceType": "virtualMachines", "name": name, "tier": "Standard", "size": name.split("_", 1)[1],
            "family": size_family, "locations": [location],
            "locationInfo": _location_info(location),
            "capabilities": [{"name": k, "value": str(v)} for k, v in caps], "restrictions": []}


def _disk_sku(name: str, tier: str, location: str) -> dict[str, Any]:
    return {"resourceType": "disks", "name": name, "tier": tier, "size": "", "locations": [location],
            "locationInfo": _location_info(location),
            "capabilities": [{"name": "MaxSizeGiB", "value": "32767"}, {"name": "MinSizeGiB", "value": "0"}],
            "restrictions": []}


class ResourceSkus:
    def __init__(self, api: ArmApi) -> None:
        self.api = api

    def routes(self) -> list[RouteRow]:
        return [("GET", SUB + "/providers/Microsoft.Compute/skus", self.list, "skus", "skus")]

    def list(self, req: Req, p: Params) -> Response:
        flt = req.q("$filter")
        regions = sorted(REGIONS)
        if flt:
            m = _FILTER.fullmatch(flt)
            if m is None:
                raise ArmError(f"The $filter '{flt[:100]}' is not supported: only \"location eq '<region>'\" is.",
                               code="InvalidParameter", target="$filter")
            loc = normalize_location(m.group(1))
            regions = [loc] if loc in REGIONS else []
        value: list[dict[str, Any]] = []
        for loc in regions:
            value += [_vm_sku(k, loc) for k in SIZES]
            value += [_disk_sku(name, tier, loc) for name, tier in SKU_TIERS.values()]
        return json_response({"value": value})


__all__ = ["NON_ZONAL", "ResourceSkus", "family"]
