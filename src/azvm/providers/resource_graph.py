"""Microsoft.ResourceGraph/resources: KQL queries over everything azvm holds (issue 11, item 2).

Routes are added here as the provider grows; `build_api` includes them and lists `TYPES`.
"""

from __future__ import annotations

from ..arm.app import ArmApi
from ..arm.routes import RouteRow
from ..service.compute import ComputeService

NAMESPACE = "Microsoft.ResourceGraph"
TYPES: list[tuple[str, str]] = []  # (resource type, api-version family) for the provider listing


def routes(api: ArmApi, service: ComputeService) -> list[RouteRow]:
    return []


__all__ = ["NAMESPACE", "TYPES", "routes"]
