"""The platform image catalog (`src/azvm/data/images.json`): what a VM's imageReference may name.

Names compare case-insensitively, as Compute compares them; `latest` is the newest version (versions
compare as dotted numbers). Every image is offered in every region azvm knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..domain.errors import NotFound


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


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def _load() -> list[Image]:
    doc = json.loads(resources.files("azvm.data").joinpath("images.json").read_text("utf-8"))
    return [Image(i["publisher"], i["offer"], i["sku"], i["osType"], i["hyperVGeneration"], int(i["sizeInGb"]),
                  tuple(sorted(i["versions"], key=_version_key))) for i in doc["images"]]


IMAGES: tuple[Image, ...] = tuple(_load())
_BY_KEY = {(i.publisher.lower(), i.offer.lower(), i.sku.lower()): i for i in IMAGES}


class PlatformImageNotFound(NotFound):
    code = "PlatformImageNotFound"


def publishers() -> list[str]:
    return sorted({i.publisher for i in IMAGES}, key=str.lower)


def offers(publisher: str) -> list[str] | None:
    found = sorted({i.offer for i in IMAGES if i.publisher.lower() == publisher.lower()}, key=str.lower)
    return found or None


def skus(publisher: str, offer: str) -> list[Image] | None:
    found = [i for i in IMAGES if i.publisher.lower() == publisher.lower() and i.offer.lower() == offer.lower()]
    return sorted(found, key=lambda i: i.sku.lower()) or None


def image(publisher: str, offer: str, sku: str) -> Image | None:
    return _BY_KEY.get((publisher.lower(), offer.lower(), sku.lower()))


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


__all__ = ["IMAGES", "Image", "PlatformImageNotFound", "image", "offers", "publishers", "resolve", "skus"]
