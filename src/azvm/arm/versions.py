"""api-versions by family: each route names the family whose published versions it accepts.

The lists are the folder names of azure-rest-api-specs (`src/azvm/data/api_versions.json` cites
them). ARM's own routes (subscriptions, resource groups, generic resource lists) accept any
well-formed version, as ARM does for the versions it routes itself.
"""

from __future__ import annotations

import json
import re
from importlib import resources

from ..domain.errors import ArmError
from ..service.validation import printable

_DATA: dict[str, list[str]] = {
    k: v for k, v in json.loads(resources.files("azvm.data").joinpath("api_versions.json").read_text("utf-8")).items()
    if not k.startswith("_")
}

# Every published (non-preview) Microsoft.Compute api-version for virtualMachines
COMPUTE_VERSIONS = tuple(_DATA["Microsoft.Compute/virtualMachines"])

# family -> the versions it accepts; "arm": any well-formed version
FAMILIES: dict[str, tuple[str, ...]] = {
    "compute": COMPUTE_VERSIONS,
    "disks": tuple(_DATA["Microsoft.Compute/disks"]),
    "skus": tuple(_DATA["Microsoft.Compute/skus"]),
    "network": tuple(_DATA["Microsoft.Network"]),
    "insights": tuple(_DATA["Microsoft.Insights/eventtypes"]),
    "resourcehealth": tuple(_DATA["Microsoft.ResourceHealth"]),
    "deployments": tuple(_DATA["Microsoft.Resources/deployments"]),
    "resourcegraph": tuple(_DATA["Microsoft.ResourceGraph"]),
}
_SETS = {k: frozenset(v) for k, v in FAMILIES.items()}
_WELL_FORMED = re.compile(r"\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?")


class ApiVersionPolicy:
    def __init__(self, *, any_version: bool = False) -> None:
        self.any_version = any_version

    def check(self, version: str | None, *, family: str, type_name: str | None = None,
              location: str = "global") -> None:
        if version is None or version == "":
            raise ArmError("The api-version query parameter (?api-version=) is required for all requests.",
                           code="MissingApiVersionParameter")
        accepted = _SETS.get(family)
        if accepted is None or self.any_version:
            if not _WELL_FORMED.fullmatch(version):
                raise ArmError(f"The api-version '{printable(version, 40)}' is invalid. The supported versions are"
                               f" '{','.join(reversed(COMPUTE_VERSIONS))}'.", code="InvalidApiVersionParameter")
            return
        if version not in accepted:
            versions = FAMILIES[family]
            raise ArmError(
                f"No registered resource provider found for location '{location}' and API version"
                f" '{printable(version, 40)}' for type '{type_name}'. The supported api-versions are"
                f" '{', '.join(versions)}'. The supported locations are 'eastus, eastus2, westus,"
                " westus2, westus3, centralus, northeurope, westeurope, uksouth, southeastasia, eastasia,"
                " japaneast, australiaeast, ...'.", code="NoRegisteredProviderFound")


__all__ = ["COMPUTE_VERSIONS", "FAMILIES", "ApiVersionPolicy"]
