"""The template functions azvm evaluates, by ARM's (case-insensitive) names.

Semantics from MicrosoftDocs azure-docs, articles/azure-resource-manager/templates/template-functions-{array,
comparison,date,deployment,logical,numeric,object,resource,scope,string}.md; where a page states a case rule it is
followed (contains: strings case-sensitive, object keys case-insensitive; indexOf, lastIndexOf, startsWith, endsWith:
case-insensitive). Functions that read the deployment (parameters, reference, copyIndex, ...) go through `Host`, which
azvm.templates.template implements for the place the expression stands.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from .dotnet import format_composite, format_datetime
from .expressions import ExpressionError, type_name
from .hashing import guid, unique_string

# environment() for AzureCloud, as template-functions-deployment.md shows it "when deployed to global Azure".
AZURE_CLOUD: dict[str, Any] = {
    "name": "AzureCloud",
    "gallery": "https://gallery.azure.com/",
    "graph": "https://graph.windows.net/",
    "portal": "https://portal.azure.com",
    "graphAudience": "https://graph.windows.net/",
    "activeDirectoryDataLake": "https://datalake.azure.net/",
    "batch": "https://batch.core.windows.net/",
    "media": "https://rest.media.azure.net",
    "sqlManagement": "https://management.core.windows.net:8443/",
    "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/master/arm-compute/"
                       "quickstart-templates/aliases.json",
    "resourceManager": "https://management.azure.com/",
    "authentication": {
        "loginEndpoint": "https://login.microsoftonline.com/",
        "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
        "tenant": "common",
        "identityProvider": "AAD",
    },
    "suffixes": {
        "acrLoginServer": ".azurecr.io",
        "azureDatalakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
        "azureDatalakeStoreFileSystem": "azuredatalakestore.net",
        "azureFrontDoorEndpointSuffix": "azurefd.net",
        "keyvaultDns": ".vault.azure.net",
        "sqlServerHostname": ".database.windows.net",
        "storage": "core.windows.net",
    },
}


class Host(Protocol):
    """What the functions read from the deployment, for the place the expression stands."""

    def parameter(self, name: str) -> Any: ...
    def variable(self, name: str) -> Any: ...
    def copy_index(self, loop: str | None) -> int: ...
    def reference(self, target: str, api_version: str | None, full: bool) -> Any: ...
    def resource_group(self) -> dict[str, Any]: ...
    def subscription(self) -> dict[str, Any]: ...
    def deployment(self) -> dict[str, Any]: ...
    def tenant_id(self) -> str: ...
    def subscription_id(self) -> str: ...
    def group_name(self) -> str | None: ...
    def new_guid(self) -> str: ...
    def now(self) -> datetime: ...


Function = Callable[[Host, list[Any]], Any]
FUNCTIONS: dict[str, Function] = {}


def _fn(*names: str) -> Callable[[Function], Function]:
    def register(f: Function) -> Function:
        for name in names:
            FUNCTIONS[name.lower()] = f
        return f
    return register


# -- argument checks --------------------------------------------------------------------------------------------

def arity(name: str, args: Sequence[Any], low: int, high: int | None = None) -> None:
    top = low if high is None else high
    if low <= len(args) <= top:
        return
    if top == low:
        want = f"exactly {low}"
    elif high == 10**9:
        want = f"at least {low}"
    else:
        want = f"between {low} and {top}"
    raise ExpressionError(f"The template language function '{name}' expects {want} parameter(s); "
                          f"{len(args)} were provided.")


MANY = 10**9


def _bad_type(name: str, position: int, want: str, value: Any) -> ExpressionError:
    return ExpressionError(f"The template language function '{name}' expects its parameter {position} to be of type "
                           f"'{want}'. The provided value is of type '{type_name(value)}'.")


def _str(name: str, args: Sequence[Any], i: int) -> str:
    value = args[i]
    if not isinstance(value, str):
        raise _bad_type(name, i + 1, "String", value)
    return value


def _int(name: str, args: Sequence[Any], i: int) -> int:
    value = args[i]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_type(name, i + 1, "Integer", value)
    return value


def _list(name: str, args: Sequence[Any], i: int) -> list[Any]:
    value = args[i]
    if not isinstance(value, list):
        raise _bad_type(name, i + 1, "Array", value)
    return value


def _bool(name: str, args: Sequence[Any], i: int) -> bool:
    value = args[i]
    if not isinstance(value, bool):
        raise _bad_type(name, i + 1, "Boolean", value)
    return value


def to_text(value: Any) -> str:
    """string(): strings as they are, JSON for objects and arrays, .NET's True/False (template-functions-string.md)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def same(a: Any, b: Any) -> bool:
    """equals(): deep, type-aware equality (1 is not '1', true is not 1); object keys case-insensitive."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        la = {k.lower(): v for k, v in a.items()}
        lb = {k.lower(): v for k, v in b.items()}
        return la.keys() == lb.keys() and all(same(la[k], lb[k]) for k in la)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


# -- deployment values ------------------------------------------------------------------------------------------

@_fn("parameters")
def _parameters(host: Host, args: list[Any]) -> Any:
    arity("parameters", args, 1)
    return host.parameter(_str("parameters", args, 0))


@_fn("variables")
def _variables(host: Host, args: list[Any]) -> Any:
    arity("variables", args, 1)
    return host.variable(_str("variables", args, 0))


@_fn("deployment")
def _deployment(host: Host, args: list[Any]) -> Any:
    arity("deployment", args, 0)
    return host.deployment()


@_fn("environment")
def _environment(host: Host, args: list[Any]) -> Any:
    arity("environment", args, 0)
    return json.loads(json.dumps(AZURE_CLOUD))


@_fn("resourceGroup")
def _resource_group(host: Host, args: list[Any]) -> Any:
    arity("resourceGroup", args, 0)
    return host.resource_group()


@_fn("subscription")
def _subscription(host: Host, args: list[Any]) -> Any:
    arity("subscription", args, 0)
    return host.subscription()


@_fn("tenant")
def _tenant(host: Host, args: list[Any]) -> Any:
    arity("tenant", args, 0)
    tenant = host.tenant_id()
    return {"id": f"/tenants/{tenant}", "tenantId": tenant}


@_fn("copyIndex")
def _copy_index(host: Host, args: list[Any]) -> Any:
    arity("copyIndex", args, 0, 2)
    loop: str | None = None
    offset = 0
    if args and isinstance(args[0], str):
        loop = args[0]
        if len(args) == 2:
            offset = _int("copyIndex", args, 1)
    elif args:
        if len(args) == 2:
            raise _bad_type("copyIndex", 1, "String", args[0])
        offset = _int("copyIndex", args, 0)
    return host.copy_index(loop) + offset


@_fn("newGuid")
def _new_guid(host: Host, args: list[Any]) -> Any:
    arity("newGuid", args, 0)
    return host.new_guid()


@_fn("utcNow")
def _utc_now(host: Host, args: list[Any]) -> Any:
    arity("utcNow", args, 0, 1)
    pattern = _str("utcNow", args, 0) if args else "yyyyMMddTHHmmssZ"
    return format_datetime(host.now(), pattern)


# -- resource ids -----------------------------------------------------------------------------------------------

def interleave(type_: str, names: Sequence[str], fn: str) -> str:
    """`ns/t1/t2` and names (n1, n2) as `ns/t1/n1/t2/n2`; a `providers` type segment takes a namespace name
    (extension types such as `Microsoft.Compute/virtualMachines/providers/roleAssignments`)."""
    segments = [s for s in type_.split("/") if s]
    if len(segments) < 2:
        raise ExpressionError(f"The template language function '{fn}' was given the resource type '{type_}', which "
                              "is not of the form '{namespace}/{type}'.")
    if len(names) != len(segments) - 1:
        raise ExpressionError(f"The template language function '{fn}': the resource type '{type_}' requires "
                              f"'{len(segments) - 1}' resource name argument(s); {len(names)} were given.")
    out = [segments[0]]
    for segment, name in zip(segments[1:], names, strict=True):
        if segment.lower() == "providers":
            out.extend(["providers", name])
        else:
            out.extend([segment, name])
    return "/".join(out)


def _split_names(args: Sequence[Any], fn: str) -> tuple[list[str], str, list[str]]:
    """(leading scope arguments, type, names): the type is the first argument with a '/'."""
    texts = [_str(fn, args, i) for i in range(len(args))]
    for i, text in enumerate(texts):
        if "/" in text:
            return texts[:i], text, [segment for name in texts[i + 1:] for segment in name.split("/")]
    raise ExpressionError(f"The template language function '{fn}' expects a resource type of the form "
                          "'{namespace}/{type}' among its parameters.")


@_fn("resourceId")
def _resource_id(host: Host, args: list[Any]) -> Any:
    arity("resourceId", args, 2, MANY)
    lead, type_, names = _split_names(args, "resourceId")
    if len(lead) > 2:
        raise ExpressionError("The template language function 'resourceId' takes at most a subscription id and a "
                              "resource group name before the resource type.")
    sub = lead[0] if len(lead) == 2 else host.subscription_id()
    group = lead[-1] if lead else host.group_name()
    tail = interleave(type_, names, "resourceId")
    if group is None:
        return f"/subscriptions/{sub}/providers/{tail}"
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{tail}"


@_fn("subscriptionResourceId")
def _subscription_resource_id(host: Host, args: list[Any]) -> Any:
    arity("subscriptionResourceId", args, 2, MANY)
    lead, type_, names = _split_names(args, "subscriptionResourceId")
    if len(lead) > 1:
        raise ExpressionError("The template language function 'subscriptionResourceId' takes at most a subscription "
                              "id before the resource type.")
    sub = lead[0] if lead else host.subscription_id()
    return f"/subscriptions/{sub}/providers/{interleave(type_, names, 'subscriptionResourceId')}"


@_fn("tenantResourceId")
def _tenant_resource_id(host: Host, args: list[Any]) -> Any:
    arity("tenantResourceId", args, 2, MANY)
    lead, type_, names = _split_names(args, "tenantResourceId")
    if lead:
        raise ExpressionError("The template language function 'tenantResourceId' expects the resource type first.")
    return f"/providers/{interleave(type_, names, 'tenantResourceId')}"


@_fn("extensionResourceId")
def _extension_resource_id(host: Host, args: list[Any]) -> Any:
    arity("extensionResourceId", args, 3, MANY)
    scope = _str("extensionResourceId", args, 0).rstrip("/")
    _, type_, names = _split_names(args[1:], "extensionResourceId")
    return f"{scope}/providers/{interleave(type_, names, 'extensionResourceId')}"


@_fn("reference")
def _reference(host: Host, args: list[Any]) -> Any:
    arity("reference", args, 1, 3)
    target = _str("reference", args, 0)
    api = _str("reference", args, 1) if len(args) > 1 and args[1] is not None else None
    full = False
    if len(args) == 3:
        mode = _str("reference", args, 2)
        if mode.lower() != "full":
            raise ExpressionError("The template language function 'reference' expects its third parameter to be "
                                  f"'Full'; it was '{mode}'.")
        full = True
    return host.reference(target, api, full)


# -- logical and comparison -------------------------------------------------------------------------------------

@_fn("true")
def _true(host: Host, args: list[Any]) -> Any:
    arity("true", args, 0)
    return True


@_fn("false")
def _false(host: Host, args: list[Any]) -> Any:
    arity("false", args, 0)
    return False


@_fn("null")
def _null(host: Host, args: list[Any]) -> Any:
    arity("null", args, 0)
    return None


@_fn("and")
def _and(host: Host, args: list[Any]) -> Any:
    arity("and", args, 2, MANY)
    return all([_bool("and", args, i) for i in range(len(args))])


@_fn("or")
def _or(host: Host, args: list[Any]) -> Any:
    arity("or", args, 2, MANY)
    return any([_bool("or", args, i) for i in range(len(args))])


@_fn("not")
def _not(host: Host, args: list[Any]) -> Any:
    arity("not", args, 1)
    return not _bool("not", args, 0)


@_fn("equals")
def _equals(host: Host, args: list[Any]) -> Any:
    arity("equals", args, 2)
    return same(args[0], args[1])


def _ordered(name: str, args: list[Any]) -> tuple[Any, Any]:
    arity(name, args, 2)
    a, b = args
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    if numbers or (isinstance(a, str) and isinstance(b, str)):
        return a, b
    raise ExpressionError(f"The template language function '{name}' expects two integers or two strings; it was "
                          f"given '{type_name(a)}' and '{type_name(b)}'.")


@_fn("less")
def _less(host: Host, args: list[Any]) -> Any:
    a, b = _ordered("less", args)
    return bool(a < b)


@_fn("lessOrEquals")
def _less_or_equals(host: Host, args: list[Any]) -> Any:
    a, b = _ordered("lessOrEquals", args)
    return bool(a <= b)


@_fn("greater")
def _greater(host: Host, args: list[Any]) -> Any:
    a, b = _ordered("greater", args)
    return bool(a > b)


@_fn("greaterOrEquals")
def _greater_or_equals(host: Host, args: list[Any]) -> Any:
    a, b = _ordered("greaterOrEquals", args)
    return bool(a >= b)


@_fn("coalesce")
def _coalesce(host: Host, args: list[Any]) -> Any:
    arity("coalesce", args, 1, MANY)
    return next((a for a in args if a is not None), None)


# -- conversions ------------------------------------------------------------------------------------------------

@_fn("bool")
def _to_bool(host: Host, args: list[Any]) -> Any:
    arity("bool", args, 1)
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ExpressionError(f"The template language function 'bool' cannot convert '{to_text(value)}' to a boolean.")


def _number(name: str, args: list[Any], cast: Callable[[Any], int | float], what: str) -> int | float:
    """int() and float(): numbers and numeric text; a float only becomes an int when it is whole."""
    arity(name, args, 1)
    value = args[0]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if cast is float or isinstance(value, int) or value.is_integer():
            return cast(value)
    elif isinstance(value, str):
        try:
            return cast(value.strip())
        except ValueError:
            pass
    raise ExpressionError(f"The template language function '{name}' cannot convert '{to_text(value)}' to {what}.")


@_fn("int")
def _to_int(host: Host, args: list[Any]) -> Any:
    return _number("int", args, int, "an integer")


@_fn("float")
def _to_float(host: Host, args: list[Any]) -> Any:
    return _number("float", args, float, "a number")


@_fn("string")
def _string(host: Host, args: list[Any]) -> Any:
    arity("string", args, 1)
    return to_text(args[0])


@_fn("json")
def _json(host: Host, args: list[Any]) -> Any:
    arity("json", args, 1)
    text = _str("json", args, 0)
    try:
        return json.loads(text)
    except ValueError:
        raise ExpressionError(f"The template language function 'json' was given text that is not JSON: '{text}'.")\
            from None


@_fn("array")
def _array(host: Host, args: list[Any]) -> Any:
    arity("array", args, 1)
    return args[0] if isinstance(args[0], list) else [args[0]]


@_fn("createArray")
def _create_array(host: Host, args: list[Any]) -> Any:
    return list(args)


@_fn("createObject")
def _create_object(host: Host, args: list[Any]) -> Any:
    if len(args) % 2:
        raise ExpressionError("The template language function 'createObject' expects an even number of parameters "
                              "(property names and values).")
    return {_str("createObject", args, i): args[i + 1] for i in range(0, len(args), 2)}


# -- strings ----------------------------------------------------------------------------------------------------

@_fn("concat")
def _concat(host: Host, args: list[Any]) -> Any:
    if not args:
        return ""
    if isinstance(args[0], list):
        out: list[Any] = []
        for i, arg in enumerate(args):
            if arg is None:
                continue
            if not isinstance(arg, list):
                raise _bad_type("concat", i + 1, "Array", arg)
            out.extend(arg)
        return out
    for i, arg in enumerate(args):
        if isinstance(arg, list | dict):
            raise _bad_type("concat", i + 1, "String", arg)
    return "".join(to_text(a) for a in args)


@_fn("format")
def _format(host: Host, args: list[Any]) -> Any:
    arity("format", args, 1, MANY)
    return format_composite(_str("format", args, 0), args[1:])


@_fn("toLower")
def _to_lower(host: Host, args: list[Any]) -> Any:
    arity("toLower", args, 1)
    return _str("toLower", args, 0).lower()


@_fn("toUpper")
def _to_upper(host: Host, args: list[Any]) -> Any:
    arity("toUpper", args, 1)
    return _str("toUpper", args, 0).upper()


@_fn("trim")
def _trim(host: Host, args: list[Any]) -> Any:
    arity("trim", args, 1)
    return _str("trim", args, 0).strip()


@_fn("substring")
def _substring(host: Host, args: list[Any]) -> Any:
    arity("substring", args, 1, 3)
    text = _str("substring", args, 0)
    start = _int("substring", args, 1) if len(args) > 1 else 0
    length = _int("substring", args, 2) if len(args) > 2 else len(text) - start
    if start < 0 or length < 0 or start + length > len(text):
        # template-functions-string.md quotes this message.
        raise ExpressionError("The index and length parameters must refer to a location within the string. The "
                              f"index parameter: '{start}', the length parameter: '{length}', the length of the "
                              f"string parameter: '{len(text)}'.")
    return text[start:start + length]


@_fn("replace")
def _replace(host: Host, args: list[Any]) -> Any:
    arity("replace", args, 3)
    old = _str("replace", args, 1)
    if not old:
        raise ExpressionError("The template language function 'replace' cannot replace an empty string.")
    return _str("replace", args, 0).replace(old, _str("replace", args, 2))


@_fn("split")
def _split(host: Host, args: list[Any]) -> Any:
    arity("split", args, 2)
    text = _str("split", args, 0)
    delimiters = args[1] if isinstance(args[1], list) else [args[1]]
    parts = [text]
    for i, delimiter in enumerate(delimiters):
        if not isinstance(delimiter, str) or not delimiter:
            raise _bad_type("split", 2, "String", delimiter if i == 0 else args[1])
        parts = [piece for part in parts for piece in part.split(delimiter)]
    return parts


@_fn("join")
def _join(host: Host, args: list[Any]) -> Any:
    arity("join", args, 2)
    items = _list("join", args, 0)
    return _str("join", args, 1).join(to_text(item) for item in items)


@_fn("startsWith")
def _starts_with(host: Host, args: list[Any]) -> Any:
    arity("startsWith", args, 2)
    return _str("startsWith", args, 0).lower().startswith(_str("startsWith", args, 1).lower())


@_fn("endsWith")
def _ends_with(host: Host, args: list[Any]) -> Any:
    arity("endsWith", args, 2)
    return _str("endsWith", args, 0).lower().endswith(_str("endsWith", args, 1).lower())


def _find(name: str, args: list[Any], last: bool) -> int:
    arity(name, args, 2)
    if isinstance(args[0], list):
        positions = [i for i, item in enumerate(args[0]) if same(item, args[1])]
        return (positions[-1] if last else positions[0]) if positions else -1
    text, part = _str(name, args, 0).lower(), _str(name, args, 1).lower()
    return text.rfind(part) if last else text.find(part)


@_fn("indexOf")
def _index_of(host: Host, args: list[Any]) -> Any:
    return _find("indexOf", args, last=False)


@_fn("lastIndexOf")
def _last_index_of(host: Host, args: list[Any]) -> Any:
    return _find("lastIndexOf", args, last=True)


@_fn("padLeft")
def _pad_left(host: Host, args: list[Any]) -> Any:
    arity("padLeft", args, 2, 3)
    value = args[0]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad_type("padLeft", 1, "String", value)
    pad = _str("padLeft", args, 2) if len(args) == 3 else " "
    if len(pad) != 1:
        raise ExpressionError("The template language function 'padLeft' expects a single padding character.")
    return str(value).rjust(_int("padLeft", args, 1), pad)


@_fn("base64")
def _base64(host: Host, args: list[Any]) -> Any:
    arity("base64", args, 1)
    return base64.b64encode(_str("base64", args, 0).encode("utf-8")).decode("ascii")


def _unbase64(name: str, text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ExpressionError(f"The template language function '{name}' was given text that is not base64: "
                              f"'{text}'.") from None


@_fn("base64ToString")
def _base64_to_string(host: Host, args: list[Any]) -> Any:
    arity("base64ToString", args, 1)
    return _unbase64("base64ToString", _str("base64ToString", args, 0))


@_fn("base64ToJson")
def _base64_to_json(host: Host, args: list[Any]) -> Any:
    arity("base64ToJson", args, 1)
    return _json(host, [_unbase64("base64ToJson", _str("base64ToJson", args, 0))])


@_fn("dataUri")
def _data_uri(host: Host, args: list[Any]) -> Any:
    arity("dataUri", args, 1)
    encoded = base64.b64encode(_str("dataUri", args, 0).encode("utf-8")).decode("ascii")
    return f"data:text/plain;charset=utf8;base64,{encoded}"


@_fn("dataUriToString")
def _data_uri_to_string(host: Host, args: list[Any]) -> Any:
    arity("dataUriToString", args, 1)
    text = _str("dataUriToString", args, 0)
    head, sep, body = text.partition(",")
    if not text.startswith("data:") or not sep:
        raise ExpressionError(f"The template language function 'dataUriToString' was given '{text}', which is not a "
                              "data URI.")
    if head.endswith(";base64"):
        return _unbase64("dataUriToString", body)
    return urllib.parse.unquote(body)


@_fn("uri")
def _uri(host: Host, args: list[Any]) -> Any:
    arity("uri", args, 2)
    return urllib.parse.urljoin(_str("uri", args, 0), _str("uri", args, 1))


@_fn("uriComponent")
def _uri_component(host: Host, args: list[Any]) -> Any:
    arity("uriComponent", args, 1)
    return urllib.parse.quote(_str("uriComponent", args, 0), safe="")


@_fn("uriComponentToString")
def _uri_component_to_string(host: Host, args: list[Any]) -> Any:
    arity("uriComponentToString", args, 1)
    return urllib.parse.unquote(_str("uriComponentToString", args, 0))


@_fn("uniqueString")
def _unique_string(host: Host, args: list[Any]) -> Any:
    arity("uniqueString", args, 1, MANY)
    return unique_string(*(_str("uniqueString", args, i) for i in range(len(args))))


@_fn("guid")
def _guid(host: Host, args: list[Any]) -> Any:
    arity("guid", args, 1, MANY)
    return guid(*(_str("guid", args, i) for i in range(len(args))))


# -- arrays and objects -----------------------------------------------------------------------------------------

@_fn("length")
def _length(host: Host, args: list[Any]) -> Any:
    arity("length", args, 1)
    if isinstance(args[0], str | list | dict):
        return len(args[0])
    raise _bad_type("length", 1, "Array, Object or String", args[0])


@_fn("empty")
def _empty(host: Host, args: list[Any]) -> Any:
    arity("empty", args, 1)
    value = args[0]
    if value is None:
        return True
    if isinstance(value, str | list | dict):
        return len(value) == 0
    raise _bad_type("empty", 1, "Array, Object or String", value)


@_fn("contains")
def _contains(host: Host, args: list[Any]) -> Any:
    arity("contains", args, 2)
    container, item = args
    if isinstance(container, str):
        return to_text(item) in container
    if isinstance(container, dict):
        key = to_text(item).lower()
        return any(k.lower() == key for k in container)
    if isinstance(container, list):
        return any(same(x, item) for x in container)
    raise _bad_type("contains", 1, "Array, Object or String", container)


def _ends(name: str, args: list[Any], last: bool) -> Any:
    arity(name, args, 1)
    value = args[0]
    if isinstance(value, str | list):
        if not value:
            return "" if isinstance(value, str) else None
        return value[-1] if last else value[0]
    raise _bad_type(name, 1, "Array or String", value)


@_fn("first")
def _first(host: Host, args: list[Any]) -> Any:
    return _ends("first", args, last=False)


@_fn("last")
def _last(host: Host, args: list[Any]) -> Any:
    return _ends("last", args, last=True)


def _slice(name: str, args: list[Any], take: bool) -> Any:
    arity(name, args, 2)
    value = args[0]
    if not isinstance(value, str | list):
        raise _bad_type(name, 1, "Array or String", value)
    count = max(_int(name, args, 1), 0)
    return value[:count] if take else value[count:]


@_fn("take")
def _take(host: Host, args: list[Any]) -> Any:
    return _slice("take", args, take=True)


@_fn("skip")
def _skip(host: Host, args: list[Any]) -> Any:
    return _slice("skip", args, take=False)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """union() of objects: later values win; nested objects are merged (template-functions-object.md, union)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@_fn("union")
def _union(host: Host, args: list[Any]) -> Any:
    arity("union", args, 2, MANY)
    if all(isinstance(a, dict) for a in args):
        merged: dict[str, Any] = {}
        for arg in args:
            merged = _merge(merged, arg)
        return merged
    if all(isinstance(a, list) for a in args):
        out: list[Any] = []
        for arg in args:
            for item in arg:
                if not any(same(item, seen) for seen in out):
                    out.append(item)
        return out
    raise ExpressionError("The template language function 'union' expects all its parameters to be arrays or all "
                          "to be objects.")


@_fn("intersection")
def _intersection(host: Host, args: list[Any]) -> Any:
    arity("intersection", args, 2, MANY)
    first, rest = args[0], args[1:]
    if isinstance(first, dict) and all(isinstance(a, dict) for a in rest):
        return {k: v for k, v in first.items() if all(k in other and same(other[k], v) for other in rest)}
    if isinstance(first, list) and all(isinstance(a, list) for a in rest):
        out: list[Any] = []
        for item in first:
            if all(any(same(item, x) for x in other) for other in rest) and not any(same(item, x) for x in out):
                out.append(item)
        return out
    raise ExpressionError("The template language function 'intersection' expects all its parameters to be arrays "
                          "or all to be objects.")


@_fn("items")
def _items(host: Host, args: list[Any]) -> Any:
    arity("items", args, 1)
    value = args[0]
    if not isinstance(value, dict):
        raise _bad_type("items", 1, "Object", value)
    # "The items function sorts the objects in the alphabetical order" (template-functions-object.md).
    return [{"key": k, "value": value[k]} for k in sorted(value, key=str.lower)]


@_fn("objectKeys")
def _object_keys(host: Host, args: list[Any]) -> Any:
    arity("objectKeys", args, 1)
    value = args[0]
    if not isinstance(value, dict):
        raise _bad_type("objectKeys", 1, "Object", value)
    return list(value)


@_fn("range")
def _range(host: Host, args: list[Any]) -> Any:
    arity("range", args, 2)
    start, count = _int("range", args, 0), _int("range", args, 1)
    if count < 0 or count > 10000:
        raise ExpressionError("The template language function 'range' expects a count between 0 and 10000.")
    return list(range(start, start + count))


def _numbers(name: str, args: list[Any]) -> list[int | float]:
    arity(name, args, 1, MANY)
    values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not values:
        raise ExpressionError(f"The template language function '{name}' expects at least one number.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad_type(name, 1, "Integer", value)
    return list(values)


@_fn("min")
def _min(host: Host, args: list[Any]) -> Any:
    return min(_numbers("min", args))


@_fn("max")
def _max(host: Host, args: list[Any]) -> Any:
    return max(_numbers("max", args))


# -- numbers ----------------------------------------------------------------------------------------------------

def _two(name: str, args: list[Any]) -> tuple[int, int]:
    arity(name, args, 2)
    return _int(name, args, 0), _int(name, args, 1)


@_fn("add")
def _add(host: Host, args: list[Any]) -> Any:
    a, b = _two("add", args)
    return a + b


@_fn("sub")
def _sub(host: Host, args: list[Any]) -> Any:
    a, b = _two("sub", args)
    return a - b


@_fn("mul")
def _mul(host: Host, args: list[Any]) -> Any:
    a, b = _two("mul", args)
    return a * b


@_fn("div")
def _div(host: Host, args: list[Any]) -> Any:
    a, b = _two("div", args)
    if b == 0:
        raise ExpressionError("The template language function 'div' cannot divide by zero.")
    quotient = abs(a) // abs(b)  # integer division truncates toward zero, as in .NET
    return quotient if (a >= 0) == (b > 0) else -quotient


@_fn("mod")
def _mod(host: Host, args: list[Any]) -> Any:
    a, b = _two("mod", args)
    if b == 0:
        raise ExpressionError("The template language function 'mod' cannot divide by zero.")
    remainder = abs(a) % abs(b)  # the remainder takes the dividend's sign, as in .NET
    return remainder if a >= 0 else -remainder
