"""The platform image catalog: `locations/{location}/publishers/...` (Microsoft.Compute).

Paths and shapes as in azure-rest-api-specs `virtualMachineImage.json` (VirtualMachineImages_ListPublishers,
_ListOffers, _ListSkus, _List, _Get): lists are bare JSON arrays of `{location, name, id}`, ids spelled as
Compute spells them (`/Subscriptions/{s}/Providers/Microsoft.Compute/Locations/{l}/Publishers/...`). The
data is `src/azvm/data/images.json` (azvm.service.catalog), the same that validates a VM's imageReference.
"""

from __future__ import annotations

from typing import Any

from ...arm.app import ArmApi
from ...arm.http import Req, Response, json_response
from ...arm.routes import Params, RouteRow
from ...domain.errors import ArmError, NotFound
from ...service import catalog
from .virtual_machines import LOC

TYPE = "locations/publishers"
PUBS = LOC + "/publishers"
OFFERS = PUBS + "/{publisherName}/artifacttypes/vmimage/offers"
SKUS = OFFERS + "/{offer}/skus"
VERSIONS = SKUS + "/{skus}/versions"


def _not_found() -> NotFound:
    return NotFound("Artifact: VMImage was not found.", code="NotFound")


def _base(p: Params) -> str:
    return f"/Subscriptions/{p['subscriptionId']}/Providers/Microsoft.Compute/Locations/{p['location']}/Publishers"


def _item(p: Params, name: str, path: str) -> dict[str, Any]:
    return {"location": p["location"], "name": name, "id": f"{_base(p)}/{path}"}


def _image(p: Params) -> catalog.Image:
    img = catalog.image(p["publisherName"], p["offer"], p["skus"])
    if img is None:
        raise _not_found()
    return img


class Images:
    def __init__(self, api: ArmApi) -> None:
        self.api = api

    def routes(self) -> list[RouteRow]:
        c = "compute"
        return [("GET", PUBS, self.publishers, c, TYPE), ("GET", OFFERS, self.offers, c, TYPE),
                ("GET", SKUS, self.skus, c, TYPE), ("GET", VERSIONS, self.versions, c, TYPE),
                ("GET", VERSIONS + "/{version}", self.version, c, TYPE)]

    def publishers(self, req: Req, p: Params) -> Response:
        return json_response([_item(p, pub, pub) for pub in catalog.publishers()])

    def offers(self, req: Req, p: Params) -> Response:
        found = catalog.offers(p["publisherName"])
        if found is None:
            raise _not_found()
        pub = catalog.skus(p["publisherName"], found[0])
        name = pub[0].publisher if pub else p["publisherName"]
        return json_response([_item(p, o, f"{name}/ArtifactTypes/VMImage/Offers/{o}") for o in found])

    def skus(self, req: Req, p: Params) -> Response:
        found = catalog.skus(p["publisherName"], p["offer"])
        if found is None:
            raise _not_found()
        return json_response([{**_item(p, i.sku, f"{i.publisher}/ArtifactTypes/VMImage/Offers/{i.offer}/Skus/{i.sku}"),
                               "properties": {"automaticOSUpgradeProperties": {
                                   "automaticOSUpgradeSupported": False}}} for i in found])

    def versions(self, req: Req, p: Params) -> Response:
        img = _image(p)
        names = list(img.versions)
        order = (req.q("$orderby") or "").strip().lower()
        if order and order not in ("name", "name asc", "name desc"):
            raise ArmError(f"The value '{req.q('$orderby')}' of query parameter '$orderby' is not allowed. Allowed"
                           " values are 'name', 'name asc', 'name desc'.", code="InvalidParameter", target="$orderby")
        if order == "name desc":
            names.reverse()
        top = req.q("$top")
        if top is not None:
            if not top.isdigit():
                raise ArmError(f"The value '{top}' of query parameter '$top' must be a non-negative integer.",
                               code="InvalidParameter", target="$top")
            names = names[:int(top)]
        base = f"{img.publisher}/ArtifactTypes/VMImage/Offers/{img.offer}/Skus/{img.sku}/Versions"
        return json_response([_item(p, v, f"{base}/{v}") for v in names])

    def version(self, req: Req, p: Params) -> Response:
        img = _image(p)
        v = img.latest if p["version"].lower() == "latest" else p["version"]
        if v not in img.versions:
            raise _not_found()
        body = _item(p, v, f"{img.publisher}/ArtifactTypes/VMImage/Offers/{img.offer}/Skus/{img.sku}/Versions/{v}")
        body["properties"] = {
            "hyperVGeneration": img.hyper_v_generation,
            "osDiskImage": {"operatingSystem": img.os_type, "sizeInGb": img.size_gb},
            "dataDiskImages": [],
            "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
            "disallowed": {"vmDiskType": "Unmanaged"},
            "architecture": "Arm64" if "arm64" in img.sku.lower() else "x64",
            "imageDeprecationStatus": {"imageState": "Active"},
        }
        return json_response(body)


__all__ = ["Images"]
