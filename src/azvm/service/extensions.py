"""VM extensions (`virtualMachines/{vm}/extensions/{name}`), kept in the VM's model (`resources`).

An extension is part of its VM, as on Azure: adding, changing or removing one is an update of the
VM (the VM reads Updating meanwhile), and the extension reads Creating (or Updating) until that
update ends. Each stored extension carries `_at` (when it was last written) and `_created` (when it
was added), which the wire layer uses to tell its provisioning state and never shows.
`protectedSettings` are accepted and never stored nor returned. The publisher, type and
typeHandlerVersion must name a handler of the catalog (azvm.service.catalog.check_extension), as
Compute refuses a PUT of one it does not have.
"""

from __future__ import annotations

import copy
from typing import Any

from ..domain.errors import InvalidParameter
from . import catalog

EXTENSION_TYPE = "Microsoft.Compute/virtualMachines/extensions"
PRIVATE = ("_at", "_created")
_BOOLS = ("autoUpgradeMinorVersion", "enableAutomaticUpgrade", "suppressFailures")
_STRINGS = ("publisher", "type", "typeHandlerVersion", "forceUpdateTag")


def name_of(body: Any, i: int) -> str:
    """The name of an extension nested in a VM's PUT body (a template may write "vm/ext")."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        raise InvalidParameter(f"Required parameter 'resources[{i}].name' is missing (null).",
                               target=f"resources[{i}].name")
    return str(body["name"]).rsplit("/", 1)[-1]


def find(model: dict[str, Any], name: str) -> dict[str, Any] | None:
    for e in model.get("resources") or []:
        if str(e.get("name", "")).lower() == name.lower():
            return dict(e)
    return None


def _check_properties(props: Any, *, full: bool) -> dict[str, Any]:
    if props is None and not full:
        return {}
    if not isinstance(props, dict):
        raise InvalidParameter("Required parameter 'properties' is missing (null)." if props is None else
                               "The value of parameter 'properties' must be an object.", target="properties")
    out = copy.deepcopy(props)
    for k in _STRINGS:
        v = out.get(k)
        if v is None:
            if full and k != "forceUpdateTag":
                raise InvalidParameter(f"Required parameter '{k}' is missing (null).", target=f"properties.{k}")
        elif not isinstance(v, str) or not v:
            raise InvalidParameter(f"The value of parameter '{k}' must be a non-empty string.",
                                   target=f"properties.{k}")
    for k in _BOOLS:
        if out.get(k) is not None and not isinstance(out[k], bool):
            raise InvalidParameter(f"The value of parameter '{k}' must be a boolean.", target=f"properties.{k}")
    if out.get("settings") is not None and not isinstance(out["settings"], dict | str):
        raise InvalidParameter("The value of parameter 'settings' must be an object.", target="properties.settings")
    for k in ("protectedSettings", "protectedSettingsFromKeyVault", "provisioningState", "instanceView"):
        out.pop(k, None)  # secrets are never kept; the rest is computed
    if all(isinstance(out.get(k), str) for k in ("publisher", "type", "typeHandlerVersion")):
        catalog.check_extension(out["publisher"], out["type"], out["typeHandlerVersion"])
    return out


def _tags(value: Any) -> dict[str, str] | None:
    from .validation import check_tags

    return check_tags(value) if value is not None else None


def put(vm: dict[str, Any], current: list[dict[str, Any]], name: str, body: Any, now: int, *,
        full: bool = True) -> list[dict[str, Any]]:
    """The VM's extensions after a PUT of one (created, or replaced as a whole). Nested in a VM's own
    body (`full=False`, as templates write them), an extension's properties are checked but not required."""
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object describing the extension.", target="body")
    props = _check_properties(body.get("properties"), full=full)
    old = next((e for e in current if str(e.get("name", "")).lower() == name.lower()), None)
    ext: dict[str, Any] = {"name": old["name"] if old else name,
                           "id": f"{vm['id']}/extensions/{old['name'] if old else name}",
                           "type": EXTENSION_TYPE, "location": vm.get("location")}
    tags = _tags(body.get("tags"))
    if tags:
        ext["tags"] = tags
    ext["properties"] = props
    ext["_at"] = now
    ext["_created"] = old["_created"] if old and "_created" in old else now
    if old is None:
        return [*current, ext]
    return [ext if e is old else e for e in current]


def patch(vm: dict[str, Any], current: list[dict[str, Any]], name: str, body: Any, now: int) -> list[dict[str, Any]]:
    """The VM's extensions after a PATCH of one (its properties merged; tags replaced when given)."""
    if not isinstance(body, dict):
        raise InvalidParameter("The request body must be a JSON object describing the extension.", target="body")
    old = next(e for e in current if str(e.get("name", "")).lower() == name.lower())
    merged = {**old.get("properties", {}), **_check_properties(body.get("properties"), full=False)}
    new = copy.deepcopy(old)
    new["properties"] = _check_properties(merged, full=True)
    if "tags" in body:
        tags = _tags(body.get("tags"))
        if tags:
            new["tags"] = tags
        else:
            new.pop("tags", None)
    new["_at"] = now
    return [new if e is old else e for e in current]


def remove(current: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in current if str(e.get("name", "")).lower() != name.lower()]


__all__ = ["EXTENSION_TYPE", "PRIVATE", "find", "name_of", "patch", "put", "remove"]
