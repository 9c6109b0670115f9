"""The platform image catalog: `locations/{location}/publishers/...` (Microsoft.Compute).

Paths and shapes as in azure-rest-api-specs `virtualMachineImage.json` (VirtualMachineImages_ListPublishers,
_ListOffers, _ListSkus, _List, _Get) and `virtualMachineExtensionImage.json` (VirtualMachineExtensionImages_
ListTypes, _ListVersions, _Get): lists are bare JSON arrays of `{location, name, id}`, ids spelled as
Compute spells them (`/Subscriptions/{s}/Providers/Microsoft.Compute/Locations/{l}/Publishers/...`). The
data is `src/azvm/data/images.json` (azvm.service.catalog), the same that validates a VM's imageReference.

A version list with `$expand=properties` (or `properties/imageDeprecationStatus`, which `az vm image list
--all` sends) carries each version's properties: az reads `architecture` and `imageDeprecationStatus`
from that list (`load_images_thru_services`, azure-cli 2.91.0 command_modules/vm/_actions.py) and
filters `--architecture` on it, so the list must carry them. `az vm extension set` without `--version`
lists the publishers, the publisher's extension types and the type's versions, and takes the newest
(`_normalize_extension_version`, custom.py).
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
EXT_TYPES = PUBS + "/{publisherName}/artifacttypes/vmextension/types"
EXT_VERSIONS = EXT_TYPES + "/{type}/versions"


def _not_found(kind: str = "VMImage") -> NotFound:
    return NotFound(f"Artifact: {kind} was not found.", code="NotFound")


def _base(p: Params) -> str:
    return f"/Subscriptions/{p['subscriptionId']}/Providers/Microsoft.Compute/Locations/{p['location']}/Publishers"


def _item(p: Params, name: str, path: str) -> dict[str, Any]:
    return {"location": p["location"], "name": name, "id": f"{_base(p)}/{path}"}


def _image(p: Params) -> catalog.Image:
    img = catalog.image(p["publisherName"], p["offer"], p["skus"])
    if img is None:
        raise _not_found()
    return img


def _extension(p: Params) -> catalog.ExtensionImage:
    ext = catalog.extension(p["publisherName"], p["type"])
    if ext is None:
        raise _not_found("VMExtension")
    return ext


def _ordered(req: Req, versions: tuple[str, ...]) -> list[str]:
    """A version list as `$orderby` and `$top` ask (oldest first by default); `$filter` is not served."""
    if req.q("$filter"):
        raise ArmError(f"The $filter '{str(req.q('$filter'))[:100]}' is not supported on this list.",
                       code="InvalidParameter", target="$filter")
    names = list(versions)
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
    return names


def _expand_properties(req: Req) -> bool:
    expand = (req.q("$expand") or "").strip()
    if expand and expand.lower().split("/", 1)[0] != "properties":
        raise ArmError(f"The value '{expand[:100]}' of query parameter '$expand' is not allowed. Allowed values are"
                       " 'properties' and 'properties/imageDeprecationStatus'.", code="InvalidParameter",
                       target="$expand")
    return bool(expand)


def _properties(img: catalog.Image) -> dict[str, Any]:
    """A version's properties (VirtualMachineImageProperties), as its GET and an expanded list show them."""
    return {
        "hyperVGeneration": img.hyper_v_generation,
        "osDiskImage": {"operatingSystem": img.os_type, "sizeInGb": img.size_gb,
                        "sizeInBytes": img.size_gb * 1024 ** 3},
        "dataDiskImages": [],
        "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
        "disallowed": {"vmDiskType": "Unmanaged"},
        "architecture": "Arm64" if "arm64" in img.sku.lower() else "x64",
        "imageDeprecationStatus": {"imageState": "Active"},
    }


def _extension_properties(ext: catalog.ExtensionImage) -> dict[str, Any]:
    return {"operatingSystem": ext.operating_system, "computeRole": ext.compute_role,
            "handlerSchema": ext.handler_schema, "vmScaleSetEnabled": ext.vm_scale_set_enabled,
            "supportsMultipleExtensions": ext.supports_multiple_extensions}


class Images:
    def __init__(self, api: ArmApi) -> None:
        self.api = api

    def routes(self) -> list[RouteRow]:
        c = "compute"
        return [("GET", PUBS, self.publishers, c, TYPE), ("GET", OFFERS, self.offers, c, TYPE),
                ("GET", SKUS, self.skus, c, TYPE), ("GET", VERSIONS, self.versions, c, TYPE),
                ("GET", VERSIONS + "/{version}", self.version, c, TYPE),
                ("GET", EXT_TYPES, self.extension_types, c, TYPE),
                ("GET", EXT_VERSIONS, self.extension_versions, c, TYPE),
                ("GET", EXT_VERSIONS + "/{version}", self.extension_version, c, TYPE)]

    def publishers(self, req: Req, p: Params) -> Response:
        return json_response([_item(p, pub, pub) for pub in catalog.publishers()])

    def offers(self, req: Req, p: Params) -> Response:
        found = catalog.offers(p["publisherName"])
        if found is None:
            raise _not_found()
        name = catalog.publisher(p["publisherName"])
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
        expand = _expand_properties(req)
        base = f"{img.publisher}/ArtifactTypes/VMImage/Offers/{img.offer}/Skus/{img.sku}/Versions"
        items = [_item(p, v, f"{base}/{v}") for v in _ordered(req, img.versions)]
        if expand:
            items = [{**i, "properties": _properties(img)} for i in items]
        return json_response(items)

    def version(self, req: Req, p: Params) -> Response:
        img = _image(p)
        v = img.latest if p["version"].lower() == "latest" else p["version"]
        if v not in img.versions:
            raise _not_found()
        body = _item(p, v, f"{img.publisher}/ArtifactTypes/VMImage/Offers/{img.offer}/Skus/{img.sku}/Versions/{v}")
        body["properties"] = _properties(img)
        return json_response(body)

    # -- extension handlers --------------------------------------------------------------------------
    def extension_types(self, req: Req, p: Params) -> Response:
        found = catalog.extension_types(p["publisherName"])
        if found is None:
            raise _not_found("VMExtension")
        return json_response([{**_item(p, e.type, f"{e.publisher}/ArtifactTypes/VMExtension/Types/{e.type}"),
                               "properties": _extension_properties(e)} for e in found])

    def extension_versions(self, req: Req, p: Params) -> Response:
        ext = _extension(p)
        base = f"{ext.publisher}/ArtifactTypes/VMExtension/Types/{ext.type}/Versions"
        return json_response([_item(p, v, f"{base}/{v}") for v in _ordered(req, ext.versions)])

    def extension_version(self, req: Req, p: Params) -> Response:
        ext = _extension(p)
        if p["version"] not in ext.versions:
            raise _not_found("VMExtension")
        body = _item(p, p["version"], f"{ext.publisher}/ArtifactTypes/VMExtension/Types/{ext.type}/Versions/"
                                      f"{p['version']}")
        body["properties"] = _extension_properties(ext)
        return json_response(body)


__all__ = ["Images"]
