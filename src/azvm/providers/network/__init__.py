"""Microsoft.Network: its resource types, one module each; this file registers them."""

from __future__ import annotations

from ...arm.app import ArmApi
from ...arm.routes import Router
from ...service.compute import ComputeService
from ...service.resources import ResourceType
from ..resources import ProviderType
from .network_interfaces import NETWORK_INTERFACES
from .network_security_groups import NETWORK_SECURITY_GROUPS, SECURITY_RULES
from .public_ip_addresses import PUBLIC_IP_ADDRESSES
from .virtual_networks import SUBNETS, VIRTUAL_NETWORKS

# plain (tracked) types: the engine gives them their routes (azvm.providers.generic)
PLAIN_TYPES: list[ResourceType] = [VIRTUAL_NETWORKS, SUBNETS, NETWORK_SECURITY_GROUPS, SECURITY_RULES,
                                   PUBLIC_IP_ADDRESSES, NETWORK_INTERFACES]


def register(api: ArmApi, router: Router, service: ComputeService) -> list[ProviderType]:
    """Routes beyond the plain engine's; returns the provider types they add to the provider listing."""
    return []
