"""Microsoft.Resources/deployments: ARM template deployments at resource-group and subscription scope.

Routes are added here as the provider grows; `build_api` includes them and lists `TYPES`.
"""

from __future__ import annotations

from ..arm.app import ArmApi
from ..arm.routes import RouteRow
from ..service.compute import ComputeService

NAMESPACE = "Microsoft.Resources"
TYPES: list[tuple[str, str]] = []  # (resource type, api-version family) for the provider listing


def routes(api: ArmApi, service: ComputeService) -> list[RouteRow]:
    return []


__all__ = ["NAMESPACE", "TYPES", "routes"]
