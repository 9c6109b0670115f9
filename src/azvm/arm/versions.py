"""api-versions: the published Microsoft.Compute versions that azvm serves for virtual machines."""

from __future__ import annotations

import re

from ..domain.errors import ArmError

# Every published (non-preview) Microsoft.Compute api-version for virtualMachines, 2020-12-01 to
# 2026-04-01 (the azure-rest-api-specs folders of ComputeRP/stable; the SDK and CLI send several).
COMPUTE_VERSIONS = (
    "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01",
    "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01",
    "2025-04-01", "2025-11-01", "2026-04-01",
)
_COMPUTE = frozenset(COMPUTE_VERSIONS)
_WELL_FORMED = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?$")


class ApiVersionPolicy:
    def __init__(self, *, any_version: bool = False) -> None:
        self.any_version = any_version

    def check(self, version: str | None, *, compute_type: str | None, location: str = "global") -> None:
        """compute_type: the Microsoft.Compute resource type of the route, None for ARM's own routes."""
        if version is None or version == "":
            raise ArmError("The api-version query parameter (?api-version=) is required for all requests.",
                           code="MissingApiVersionParameter")
        if compute_type is None or self.any_version:
            if not _WELL_FORMED.match(version):
                raise ArmError(f"The api-version '{version}' is invalid. The supported versions are"
                               f" '{','.join(reversed(COMPUTE_VERSIONS))}'.", code="InvalidApiVersionParameter")
            return
        if version not in _COMPUTE:
            raise ArmError(
                f"No registered resource provider found for location '{location}' and API version"
                f" '{version}' for type '{compute_type}'. The supported api-versions are"
                f" '{', '.join(COMPUTE_VERSIONS)}'. The supported locations are 'eastus, eastus2, westus,"
                " westus2, westus3, centralus, northeurope, westeurope, uksouth, southeastasia, eastasia,"
                " japaneast, australiaeast, ...'.", code="NoRegisteredProviderFound")
