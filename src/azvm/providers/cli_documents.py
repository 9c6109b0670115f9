"""Documents that the Azure CLI fetches outside ARM, served by azvm so that `az` needs nothing else.

The image-alias document: `az vm create --image Ubuntu2204` and `az vm image list` read the aliases
from the cloud's `vmImageAliasDoc` endpoint (`load_images_from_aliases_doc`, azure-cli 2.91.0
command_modules/vm/_actions.py: one plain GET, no token, no api-version; az reads
`outputs.aliases.value`). For Azure that is https://azcliprod.blob.core.windows.net/cli/vm/aliases.json;
for azvm it is `{endpoint}/metadata/cli/vm/aliases.json`, named by `az cloud register
--endpoint-vm-image-alias-doc`. Unset, az warns (`'endpoint_vm_image_alias_doc' isn't configured`)
and uses the copy built into it; unreachable or not 200, it warns (`Failed to retrieve image alias
doc`) and does the same. The document is `src/azvm/data/aliases.json` (that built-in copy of 2.91.0),
and every image it names is in azvm's catalog. The path sits under `/metadata/`, which ARM serves
without authentication, as it does the cloud's endpoints document.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..arm.http import Req, Response, json_response
from ..arm.routes import Params, RouteRow

ALIASES_PATH = "/metadata/cli/vm/aliases.json"


def aliases_document() -> dict[str, Any]:
    """The image-alias document as azvm serves it (an ARM template whose output `aliases` maps each
    OS to `{alias: {publisher, offer, sku, version, architecture}}`)."""
    doc: dict[str, Any] = json.loads(resources.files("azvm.data").joinpath("aliases.json").read_text("utf-8"))
    return doc


_ALIASES = aliases_document()


def aliases(req: Req, p: Params) -> Response:
    return json_response(_ALIASES)


def routes() -> list[RouteRow]:
    return [("GET", ALIASES_PATH, aliases, None, None)]


__all__ = ["ALIASES_PATH", "aliases_document", "routes"]
