"""Microsoft.Network: its resource types, one module each; this file registers them."""

from __future__ import annotations

from ...arm.app import ArmApi
from ...arm.routes import Router
from ...service.compute import ComputeService
from ...service.resources import ResourceType
from ..resources import ProviderType

# plain (tracked) types: the engine gives them their routes (azvm.providers.generic)
PLAIN_TYPES: list[ResourceType] = []


def register(api: ArmApi, router: Router, service: ComputeService) -> list[ProviderType]:
    """Routes beyond the plain engine's; returns the provider types they add to the provider listing."""
    return []
