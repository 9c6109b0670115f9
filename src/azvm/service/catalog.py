"""The platform image catalog (`src/azvm/data/images.json`): what a VM's imageReference may name, and
the VM extension handlers (publisher, type, versions) that `az vm extension set` looks up.

Names compare case-insensitively, as Compute compares them; `latest` is the newest version (versions
compare as dotted numbers). Every image and extension is offered in every region azvm knows. A
publisher is one name space for both kinds, as on Azure (`locations/{l}/publishers` lists both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..domain.errors import InvalidParameter, NotFound


@dataclass(frozen=True)
class Image:
    publisher: str
    offer: str
    sku: str
    os_type: str  # "Linux" or "Windows"
    hyper_v_generation: str  # "V1" or "V2"
    size_gb: int
    versions: tuple[str, ...]  # oldest first

    @property
    def latest(self) -> str:
        return self.versions[-1]


@dataclass(frozen=True)
class ExtensionImage:
    """A VM extension handler (VirtualMachineExtensionImage): what an extension's publisher and type name."""

    publisher: str
    type: str
    operating_system: str  # "Linux" or "Windows"
    compute_role: str  # "IaaS"
    handler_schema: str
    vm_scale_set_enabled: bool
    supports_multiple_extensions: bool
    versions: tuple[str, ...]  # oldest first

    @property
    def latest(self) -> str:
        return self.versions[-1]


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def _load() -> tuple[list[Image], list[ExtensionImage]]:
    doc = json.loads(resources.files("azvm.data").joinpath("images.json").read_text("utf-8"))
    images = [Image(i["publisher"], i["offer"], i["sku"], i["osType"], i["hyperVGeneration"], int(i["sizeInGb"]),
                    tuple(sorted(i["versions"], key=_version_key))) for i in doc["images"]]
    extensions = [ExtensionImage(e["publisher"], e["type"], e["operatingSystem"], e["computeRole"], e["handlerSchema"],
                                 bool(e["vmScaleSetEnabled"]), bool(e["supportsMultipleExtensions"]),
                                 tuple(sorted(e["versions"], key=_version_key))) for e in doc["extensions"]]
    return images, extensions


_IMAGES, _EXTENSIONS = _load()
IMAGES: tuple[Image, ...] = tuple(_IMAGES)
EXTENSIONS: tuple[ExtensionImage, ...] = tuple(_EXTENSIONS)
_BY_KEY = {(i.publisher.lower(), i.offer.lower(), i.sku.lower()): i for i in IMAGES}
_PUBLISHERS = {p.lower(): p for p in sorted({i.publisher for i in IMAGES} | {e.publisher for e in EXTENSIONS})}


class PlatformImageNotFound(NotFound):
    code = "PlatformImageNotFound"


class ArtifactNotFound(NotFound):
    """No extension handler of that publisher, type and version (404, as Compute answers an extension PUT)."""

    code = "ArtifactNotFound"


def publishers() -> list[str]:
    """Every publisher, of images or of extensions (or both)."""
    return sorted(_PUBLISHERS.values(), key=str.lower)


def publisher(name: str) -> str | None:
    """A publisher's name as the catalog spells it; None for one it does not know."""
    return _PUBLISHERS.get(name.lower())


def offers(publisher_name: str) -> list[str] | None:
    """A publisher's image offers: empty for a publisher of extensions only, None for an unknown one."""
    if publisher(publisher_name) is None:
        return None
    return sorted({i.offer for i in IMAGES if i.publisher.lower() == publisher_name.lower()}, key=str.lower)


def skus(publisher: str, offer: str) -> list[Image] | None:
    found = [i for i in IMAGES if i.publisher.lower() == publisher.lower() and i.offer.lower() == offer.lower()]
    return sorted(found, key=lambda i: i.sku.lower()) or None


def image(publisher: str, offer: str, sku: str) -> Image | None:
    return _BY_KEY.get((publisher.lower(), offer.lower(), sku.lower()))


def extension_types(publisher_name: str) -> list[ExtensionImage] | None:
    """A publisher's extension handlers: empty for a publisher of images only, None for an unknown one."""
    if publisher(publisher_name) is None:
        return None
    found = [e for e in EXTENSIONS if e.publisher.lower() == publisher_name.lower()]
    return sorted(found, key=lambda e: e.type.lower())


def extension(publisher_name: str, type_name: str) -> ExtensionImage | None:
    return next((e for e in EXTENSIONS if e.publisher.lower() == publisher_name.lower()
                 and e.type.lower() == type_name.lower()), None)


def check_extension(publisher_name: str, type_name: str, version: str) -> ExtensionImage:
    """The handler that an extension's publisher, type and typeHandlerVersion name. Compute takes a
    version as `major.minor` (or `major`) and runs the newest build of that major version from that
    minor on (templates ask for `1.0` of handlers at 1.33, as `az vm create --workspace` does for the
    Log Analytics agents: _template_builder.py): a full build number is refused as InvalidParameter,
    a handler or version it does not have as ArtifactNotFound. Wording as
    Compute's (the error table of learn.microsoft.com "Understand common error messages when you
    manage virtual machines in Azure"; InvalidParameter for `2.1.6`: hashicorp/terraform-provider-
    azurestack#140, chef-partners/azure-chef-extension#70)."""
    parts = version.split(".")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise InvalidParameter("The value of parameter typeHandlerVersion is invalid.", target="typeHandlerVersion")
    handler = extension(publisher_name, type_name)
    wanted = tuple(int(p) for p in parts)
    if handler is None or not any(_version_key(v)[0] == wanted[0] and _version_key(v)[:len(wanted)] >= wanted
                                  for v in handler.versions):
        raise ArtifactNotFound(f"Extension with publisher '{publisher_name}', type '{type_name}', and type handler"
                               f" version '{version}' could not be found in the extension repository.")
    return handler


def resolve(ref: dict[str, Any]) -> tuple[Image, str] | None:
    """The catalog image and exact version that a marketplace imageReference names; None for a
    reference that is not to the marketplace (a gallery or custom image id). Raises
    PlatformImageNotFound (404, as Compute answers) for an unknown image or version."""
    if ref.get("id") or ref.get("sharedGalleryImageId") or ref.get("communityGalleryImageId"):
        return None
    pub, offer, sku = (str(ref.get(k) or "") for k in ("publisher", "offer", "sku"))
    version = str(ref.get("version") or "latest")
    img = image(pub, offer, sku)
    exact: str | None = None
    if img is not None:
        if version.lower() == "latest":
            exact = img.latest
        else:
            exact = next((v for v in img.versions if v == version), None)
    if img is None or exact is None:
        raise PlatformImageNotFound(
            f"The platform image '{pub}:{offer}:{sku}:{version}' is not available. Verify that all fields in the"
            " storage profile are correct. For more details about storage profile information, please refer to"
            " https://aka.ms/storageprofile", target="imageReference")
    return img, exact


__all__ = ["EXTENSIONS", "IMAGES", "ArtifactNotFound", "ExtensionImage", "Image", "PlatformImageNotFound",
           "check_extension", "extension", "extension_types", "image", "offers", "publisher", "publishers", "resolve",
           "skus"]
