"""Microsoft.Compute: its resource types, one module each; this file registers them."""

from __future__ import annotations

from ...arm.app import ArmApi
from ...arm.routes import Router
from ...service.compute import ComputeService
from ...service.resources import ResourceType
from ..resources import ProviderType
from .availability_sets import AVAILABILITY_SETS
from .disks import DISKS
from .extensions import Extensions
from .images import Images
from .skus import ResourceSkus

# plain (tracked) types: the engine gives them their routes (azvm.providers.generic)
PLAIN_TYPES: list[ResourceType] = [DISKS, AVAILABILITY_SETS]


def register(api: ArmApi, router: Router, service: ComputeService) -> list[ProviderType]:
    """Routes beyond the plain engine's; returns the provider types they add to the provider listing."""
    router.include(Extensions(api, service).routes())
    router.include(Images(api).routes())
    router.include(ResourceSkus(api).routes())
    ns = "Microsoft.Compute"
    return [ProviderType(ns, "virtualMachines/extensions", "compute"),
            ProviderType(ns, "locations/publishers", "compute"), ProviderType(ns, "skus", "skus")]
