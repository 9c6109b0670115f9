"""A template and its parameters, prepared for deployment: checked, planned, ordered, then evaluated resource by
resource as the deployment reaches it.

`prepare()` does what ARM's pre-flight validation does (MicrosoftDocs azure-docs, articles/azure-resource-manager/
templates/syntax.md, parameters.md, variables.md, copy-resources.md, copy-properties.md, copy-variables.md,
copy-outputs.md, conditional-resource-deployment.md, resource-dependency.md, child-resource-name-type.md): parameter
values against their definitions, every variable, every resource's type, name, condition, copy loop and dependencies.
What it cannot know before resources exist (their `properties` and the outputs, where `reference()` may stand) is
evaluated later by `Prepared.evaluate` and `Prepared.outputs`.
"""

from __future__ import annotations

import copy as deepcopy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import TemplateError, validation_failed
from .expressions import (
    Call,
    ExpressionError,
    evaluate,
    expression_of,
    literal_of,
    parse,
    type_name,
    walk,
)
from .functions import FUNCTIONS, interleave, same, to_text
from .hashing import guid, template_hash

Reference = Callable[[str, str | None, bool], dict[str, Any]]

# Keys of a resource that only steer the deployment; the rest goes to the resource provider.
TEMPLATE_ONLY = frozenset({"apiversion", "dependson", "condition", "copy", "type", "name", "comments", "resources",
                           "scope", "resourcegroup", "subscriptionid"})

# Parameter types, lower-cased, and the names ARM shows for them ("Supported types are 'String,SecureString,Int,Bool,
# Array,Object,SecureObject'", Azure/bicep src/Bicep.Core.IntegrationTests/Scenarios/LocalJsonModuleTests.cs).
TYPES = {"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool", "object": "Object",
         "secureobject": "SecureObject", "array": "Array"}
SECURE = frozenset({"securestring", "secureobject"})
# "Template parameter JToken type is not valid. Expected 'String, Uri'. Actual 'Integer'." (vscode-azurearmtools
# test expectations of ARM's validation messages).
_EXPECTED = {"string": "String, Uri", "securestring": "String, Uri", "int": "Integer", "bool": "Boolean",
             "object": "Object", "secureobject": "Object", "array": "Array"}

# Functions ARM has that azvm does not evaluate: refused by name, with where they stand.
UNSUPPORTED = frozenset({
    "providers", "pickzones", "managementgroup", "managementgroupresourceid", "deployer", "getsecret",
    "datetimeadd", "datetimefromepoch", "datetimetoepoch", "filter", "map", "reduce", "sort", "toobject",
    "mapvalues", "groupby", "flatten", "tryget", "lambda", "lambdavariables", "parsecidr", "cidrsubnet",
    "cidrhost", "shallowmerge", "indexfromend", "trygetfromend", "loadtextcontent", "loadjsoncontent",
    "externalinput", "tryindexfromend",
})
_PARAMETER_DEFAULT_ONLY = frozenset({"newguid", "utcnow"})
_COPY_LIMIT = 800  # "count ... can't exceed 800" (copy-resources.md)


@dataclass(frozen=True)
class Scope:
    """Where the deployment runs."""

    subscription_id: str
    tenant_id: str
    resource_group: dict[str, Any] | None   # resourceGroup() object, or None at subscription scope
    deployment_name: str
    location: str | None = None              # the deployment's location (subscription scope)
    now: datetime | None = None              # for utcNow()
    subscription_name: str | None = None     # subscription().displayName (the subscription id when None)


@dataclass(frozen=True)
class PlannedResource:
    """One resource the deployment will PUT (copy loops expanded, nested children flattened)."""

    id: str
    type: str                      # as the template names it, nested children with their parents' types
    name: str                      # likewise: "vNet/Subnet"
    api_version: str
    depends_on: tuple[str, ...]    # ids of other resources of this deployment it waits for
    where: str                     # "resources[3]" or "resources[3] (copy 'vmcopy' index 1)"
    resource_group: str | None     # its `resourceGroup` property, if any
    template_body: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    loops: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    template_path: str = field(default="", compare=False, repr=False)


@dataclass
class _Candidate:
    """A resource of the template after expansion, deployed or not (condition false)."""

    index: int
    raw: dict[str, Any]
    path: str
    where: str
    loops: tuple[tuple[str, int], ...]
    copy_name: str | None
    type: str
    name: str
    api_version: str
    id: str
    resource_group: str | None
    deployed: bool
    depends_raw: list[str]
    parent: int | None
    batch: tuple[str, int] | None = None   # (serial loop name, batch number)
    depends: list[int] = field(default_factory=list)

    def keys(self) -> Iterator[str]:
        yield self.id.lower()
        yield f"{self.type}/{self.name}".lower()
        yield self.name.lower()
        types = self.type.split("/")
        names = self.name.split("/")
        if len(types) == len(names) + 1:
            yield interleave(self.type, names, "dependsOn").lower()
        if self.type.lower() == "microsoft.resources/resourcegroups":
            # subscriptionResourceId('Microsoft.Resources/resourceGroups', name) names a group this way
            yield f"{self.id.split('/resourceGroups/')[0]}/providers/{self.type}/{self.name}".lower()


class Prepared:
    """A template ready to deploy: its resources in template order, their waves, the parameters as ARM echoes them."""

    def __init__(self, state: _State, resources: list[PlannedResource], waves: list[list[PlannedResource]],
                 parameters: dict[str, dict[str, Any]]) -> None:
        self._state = state
        self.resources = resources
        self._waves = waves
        self.parameters = parameters
        self.template_hash = state.template_hash

    def order(self) -> list[list[PlannedResource]]:
        """Topological waves: every resource of a wave depends only on resources of earlier waves."""
        return [list(wave) for wave in self._waves]

    def evaluate(self, resource: PlannedResource, reference: Reference) -> dict[str, Any]:
        """The body to PUT at `resource.id`: the evaluated resource without its template-only keys."""
        loops = dict(resource.loops)
        default = resource.loops[-1][0] if resource.loops else None
        plain = _Context(self._state, resource.template_path, loops, default)
        with_refs = _Context(self._state, resource.template_path, loops, default, reference=reference)
        body: dict[str, Any] = {}
        for key, value in resource.template_body.items():
            if key.lower() in TEMPLATE_ONLY:
                continue
            ctx = with_refs if key.lower() == "properties" else plain
            body[key] = ctx.value(value, f"{resource.template_path}.{key}")
        return body

    def outputs(self, reference: Reference) -> dict[str, dict[str, Any]]:
        """The outputs as the deployment shows them: {"name": {"type": "String", "value": v}}."""
        out: dict[str, dict[str, Any]] = {}
        for name, definition in self._state.outputs.items():
            path = f"outputs.{name}"
            ctx = _Context(self._state, path, {}, None, reference=reference)
            kind = _type_of(definition, path, what="output")
            if "condition" in definition and not _as_bool(ctx.value(definition["condition"], f"{path}.condition"),
                                                          f"{path}.condition"):
                continue
            loop = definition.get("copy")
            if loop is not None:
                if not isinstance(loop, dict) or "input" not in loop or "count" not in loop:
                    raise TemplateError(f"The output copy loop must be an object with 'count' and 'input' ({path}).",
                                        target=f"{path}.copy")
                count = _count(ctx.value(loop["count"], f"{path}.copy.count"), f"{path}.copy.count")
                value: Any = [ctx.with_loop(_OUTPUT_LOOP, i, default=True).value(loop["input"], f"{path}.copy.input")
                              for i in range(count)]
            elif "value" in definition:
                value = ctx.value(definition["value"], f"{path}.value")
            else:
                raise TemplateError(f"The template output '{name}' has no 'value' ({path}).", target=path)
            entry: dict[str, Any] = {"type": TYPES[kind]}
            if kind not in SECURE:
                entry["value"] = value
            out[name] = entry
        return out


_OUTPUT_LOOP = "\0output"


class _State:
    """The template's definitions and the values resolved so far (parameters and variables are resolved once)."""

    def __init__(self, template: dict[str, Any], provided: dict[str, Any], scope: Scope) -> None:
        self.template = template
        self.scope = scope
        self.template_hash = template_hash(template)
        self.param_defs: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, definition in _section(template, "parameters").items():
            self.param_defs[name.lower()] = (name, definition)
        self.provided = provided
        self.provided_raw: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.var_defs: dict[str, tuple[str, Any]] = {}
        self.var_loops: dict[str, dict[str, Any]] = {}
        for name, value in _section(template, "variables").items():
            if name.lower() == "copy" and isinstance(value, list):
                for i, loop in enumerate(value):
                    self._variable_loop(loop, i)
            else:
                self.var_defs[name.lower()] = (name, value)
        self.vars: dict[str, Any] = {}
        self.resolving: set[str] = set()
        self.outputs: dict[str, Any] = _section(template, "outputs")
        self.candidates: list[_Candidate] = []
        self.lookup: dict[str, list[int]] = {}
        self.loop_members: dict[str, list[int]] = {}
        self.new_guids = 0

    def _variable_loop(self, loop: Any, i: int) -> None:
        path = f"variables.copy[{i}]"
        if not isinstance(loop, dict) or not isinstance(loop.get("name"), str) or "count" not in loop \
                or "input" not in loop:
            raise TemplateError(f"A variable copy loop needs 'name', 'count' and 'input' ({path}).", target=path)
        self.var_loops[loop["name"].lower()] = loop

    # -- parameters -------------------------------------------------------------------------------------------

    def parameter(self, name: str) -> Any:
        key = name.lower()
        if key in self.params:
            return self.params[key]
        if key not in self.param_defs:
            raise ExpressionError(f"The template parameter '{name}' is not found. Please see "
                                  "https://aka.ms/arm-template/#parameters for usage details.")
        if key in self.resolving:
            raise ExpressionError(f"The default value of the template parameter '{name}' refers to itself "
                                  "(a circular reference between parameter default values).")
        self.resolving.add(key)
        try:
            value = self._resolve_parameter(*self.param_defs[key])
        finally:
            self.resolving.discard(key)
        self.params[key] = value
        return value

    def _resolve_parameter(self, name: str, definition: dict[str, Any]) -> Any:
        path = f"parameters.{name}"
        kind = _type_of(definition, path, what="parameter")
        given = self.provided.get(name.lower())
        if given is not None:
            value = given
        elif "defaultValue" in definition:
            ctx = _Context(self, f"{path}.defaultValue", {}, None, in_default=True)
            value = ctx.value(definition["defaultValue"], f"{path}.defaultValue")
        else:
            raise validation_failed(f"The value for the template parameter '{name}' is not provided. Please see "
                                    "https://aka.ms/arm-create-parameter-file for usage details.", target=path)
        _check_parameter(name, kind, definition, value, path)
        return value

    # -- variables --------------------------------------------------------------------------------------------

    def variable(self, name: str) -> Any:
        key = name.lower()
        if key in self.vars:
            return self.vars[key]
        if key not in self.var_defs and key not in self.var_loops:
            raise ExpressionError(f"The template variable '{name}' is not found. Please see "
                                  "https://aka.ms/arm-template/#variables for usage details.")
        marker = "\0var:" + key
        if marker in self.resolving:
            raise ExpressionError(f"The template variable '{name}' refers to itself (a circular reference between "
                                  "variables).")
        self.resolving.add(marker)
        try:
            if key in self.var_defs:
                real, raw = self.var_defs[key]
                value = _Context(self, f"variables.{real}", {}, None).value(raw, f"variables.{real}")
            else:
                loop = self.var_loops[key]
                path = f"variables.copy[{loop['name']}]"
                ctx = _Context(self, path, {}, None)
                count = _count(ctx.value(loop["count"], f"{path}.count"), f"{path}.count")
                value = [ctx.with_loop(loop["name"], i).value(loop["input"], f"{path}.input") for i in range(count)]
        finally:
            self.resolving.discard(marker)
        self.vars[key] = value
        return value

    # -- resources --------------------------------------------------------------------------------------------

    def resolve(self, text: str) -> list[int]:
        """Candidates a dependsOn entry or reference() target names: an id, `type/name`, `ns/t/n` or a name."""
        if text.startswith("/"):
            return list(self.lookup.get(text.rstrip("/").lower(), []))
        found = list(self.lookup.get(text.lower(), []))
        for i in self.loop_members.get(text.lower(), []):
            if i not in found:
                found.append(i)
        return found


class _Context:
    """Where an expression stands: the copy loops around it, and what it may call (functions.Host)."""

    def __init__(self, state: _State, path: str, loops: dict[str, int], default_loop: str | None, *,
                 reference: Reference | None = None, in_default: bool = False) -> None:
        self.state = state
        self.path = path
        self.loops = {k.lower(): v for k, v in loops.items()}
        self.default_loop = default_loop
        self.reference_fn = reference
        self.in_default = in_default

    def with_loop(self, name: str, i: int, *, default: bool = False) -> _Context:
        loops = dict(self.loops)
        loops[name.lower()] = i
        return _Context(self.state, self.path, loops, name if default or self.default_loop is None
                        else self.default_loop, reference=self.reference_fn, in_default=self.in_default)

    # -- evaluation -------------------------------------------------------------------------------------------

    def value(self, value: Any, path: str) -> Any:
        """A template value with every expression in it evaluated and property copy loops expanded."""
        if isinstance(value, str):
            inner = expression_of(value)
            if inner is None:
                return literal_of(value)
            try:
                return evaluate(parse(inner), self)
            except ExpressionError as exc:
                raise TemplateError(f"{exc.message} ({path})", target=path) from None
        if isinstance(value, list):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key.lower() == "copy" and isinstance(item, list):
                    out.update(self._property_loops(item, f"{path}.copy"))
                else:
                    out[self._key(key, path)] = self.value(item, f"{path}.{key}")
            return out
        return value

    def _key(self, key: str, path: str) -> str:
        """A property name may be an expression, e.g. `"userAssignedIdentities": {"[resourceId(...)]": {}}`."""
        if expression_of(key) is None:
            return literal_of(key)
        name = self.value(key, f"{path}.{key}")
        if not isinstance(name, str):
            raise TemplateError(f"A property name must evaluate to a string; it is of type '{type_name(name)}' "
                                f"({path}.{key}).", target=f"{path}.{key}")
        return name

    def _property_loops(self, loops: list[Any], path: str) -> dict[str, Any]:
        """`"copy": [{"name", "count", "input"}]` inside properties or variables (copy-properties.md)."""
        out: dict[str, Any] = {}
        for i, loop in enumerate(loops):
            where = f"{path}[{i}]"
            if not isinstance(loop, dict) or not isinstance(loop.get("name"), str) or "count" not in loop \
                    or "input" not in loop:
                raise TemplateError(f"A property copy loop needs 'name', 'count' and 'input' ({where}).",
                                    target=where)
            count = _count(self.value(loop["count"], f"{where}.count"), f"{where}.count")
            out[loop["name"]] = [self.with_loop(loop["name"], n).value(loop["input"], f"{where}.input")
                                 for n in range(count)]
        return out


    # -- what functions read (functions.Host) ----------------------------------------------------------------

    def call(self, name: str, args: Sequence[Any], node: Call) -> Any:
        if name in _PARAMETER_DEFAULT_ONLY and not self.in_default:
            raise ExpressionError(_default_only(node.name))
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ExpressionError(unknown_function(node.name))
        return fn(self, list(args))

    def parameter(self, name: str) -> Any:
        return self.state.parameter(name)

    def variable(self, name: str) -> Any:
        return self.state.variable(name)

    def copy_index(self, loop: str | None) -> int:
        key = (loop or self.default_loop or "").lower()
        if key in self.loops:
            return self.loops[key]
        if loop is None:
            raise ExpressionError("The template function 'copyIndex' is not expected at this location. The function "
                                  "can only be used in a resource with copy specified.")
        raise ExpressionError(f"The template function 'copyIndex' names the copy loop '{loop}', which does not "
                              "surround this expression.")

    def reference(self, target: str, api_version: str | None, full: bool) -> Any:
        if self.reference_fn is None:
            raise ExpressionError(_reference_here())
        if not target.startswith("/"):
            ids = {self.state.candidates[i].id for i in self.state.resolve(target)}
            if not ids:
                raise ExpressionError(f"The resource '{target}' is not defined in the template.")
            if len(ids) > 1:
                raise ExpressionError(f"The resource name '{target}' is ambiguous in the template: give its id.")
            target = ids.pop()
        return self.reference_fn(target, api_version, full)

    def resource_group(self) -> dict[str, Any]:
        group = self.state.scope.resource_group
        if group is None:
            raise ExpressionError("The template function 'resourceGroup' is not expected at this location: the "
                                  "deployment is at subscription scope.")
        return deepcopy.deepcopy(group)

    def subscription(self) -> dict[str, Any]:
        scope = self.state.scope
        return {"id": f"/subscriptions/{scope.subscription_id}", "subscriptionId": scope.subscription_id,
                "tenantId": scope.tenant_id, "displayName": scope.subscription_name or scope.subscription_id}

    def deployment(self) -> dict[str, Any]:
        """template-functions-deployment.md: name and properties (template, templateHash, parameters, mode,
        provisioningState), and location for a deployment at subscription scope."""
        state = self.state
        out: dict[str, Any] = {
            "name": state.scope.deployment_name,
            "properties": {
                "template": deepcopy.deepcopy(state.template),
                "templateHash": state.template_hash,
                "parameters": deepcopy.deepcopy(state.provided_raw),
                "mode": "Incremental",
                "provisioningState": "Accepted",
            },
        }
        if state.scope.location is not None:
            out["location"] = state.scope.location
        return out

    def tenant_id(self) -> str:
        return self.state.scope.tenant_id

    def subscription_id(self) -> str:
        return self.state.scope.subscription_id

    def group_name(self) -> str | None:
        group = self.state.scope.resource_group
        return None if group is None else str(group.get("name"))

    def new_guid(self) -> str:
        """Deterministic here: the n-th newGuid() of a deployment is guid(subscription, group, deployment name,
        'newGuid', n), so a repeated deployment gives the same values (Azure gives fresh ones)."""
        self.state.new_guids += 1
        scope = self.state.scope
        return guid(scope.subscription_id, self.group_name() or "", scope.deployment_name, "newGuid",
                    str(self.state.new_guids))

    def now(self) -> datetime:
        if self.state.scope.now is None:
            raise ExpressionError("The template function 'utcNow' needs the deployment's time, which was not given.")
        return self.state.scope.now


def unknown_function(name: str) -> str:
    key = name.lower()
    if key.startswith("list"):
        return (f"The template function '{name}' is not supported by azvm: resource actions such as listKeys are "
                "not modelled.")
    if key in UNSUPPORTED:
        return f"The template function '{name}' is not supported by azvm."
    if "." in name:
        return f"The user-defined function '{name}' is not supported by azvm."
    return f"The template function '{name}' is not valid. Please see https://aka.ms/arm-template-expressions for " \
           "usage details."


def _default_only(name: str) -> str:
    # "You can only use this function within an expression for the default value of a parameter"
    # (template-functions-string.md newGuid, template-functions-date.md utcNow).
    return (f"The template function '{name}' is not expected at this location. It can only be used in the default "
            "value of a parameter.")


def _reference_here() -> str:
    # "The reference function can only be used in the outputs section of a template or deployment and properties
    # object of a resource definition" (template-functions-resource.md).
    return ("The template function 'reference' is not expected at this location. It can only be used in the "
            "properties of a resource and in the outputs.")


# -- checks -----------------------------------------------------------------------------------------------------

def _section(template: dict[str, Any], key: str) -> dict[str, Any]:
    value = template.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"Template validation failed: the '{key}' section must be a JSON object.", target=key)
    return value


def _get(raw: Mapping[str, Any], key: str) -> Any:
    if key in raw:
        return raw[key]
    folded = key.lower()
    return next((v for k, v in raw.items() if k.lower() == folded), None)


def _type_of(definition: Any, path: str, *, what: str) -> str:
    name = path.split(".", 1)[1]
    if not isinstance(definition, dict):
        raise TemplateError(f"Template validation failed: the template {what} '{name}' must be a JSON object.",
                            target=path)
    kind = definition.get("type")
    if not isinstance(kind, str) or kind.lower() not in TYPES:
        shown = kind if isinstance(kind, str) else str(kind).lower() if isinstance(kind, bool) else kind
        raise TemplateError(f"Template validation failed: Template {what} '{name}' has invalid type '{shown}'. "
                            "Supported types are 'String,SecureString,Int,Bool,Array,Object,SecureObject'. Please "
                            f"see https://aka.ms/arm-template/#{what}s for usage details.", target=f"{path}.type")
    return kind.lower()


def _fits(kind: str, value: Any) -> bool:
    if kind in ("string", "securestring"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("object", "secureobject"):
        return isinstance(value, dict)
    return isinstance(value, list)


def _allowed(value: Any, allowed: list[Any]) -> bool:
    # ARM compares allowed strings without regard to case (Azure/bicep#2489: "@allowed decorator forces case
    # sensitivity even though ARM doesn't require it").
    for option in allowed:
        if isinstance(value, str) and isinstance(option, str):
            if value.lower() == option.lower():
                return True
        elif same(value, option):
            return True
    return False


def _check_parameter(name: str, kind: str, definition: dict[str, Any], value: Any, path: str) -> None:
    if not _fits(kind, value):
        raise validation_failed(f"Template parameter JToken type is not valid. Expected '{_EXPECTED[kind]}'. Actual "
                                f"'{type_name(value)}'. Please see https://aka.ms/arm-deploy/#parameter-file for "
                                "usage details.", target=path)
    shown = "" if kind in SECURE else f" '{to_text(value)}'"
    allowed = definition.get("allowedValues")
    if allowed is not None:
        if not isinstance(allowed, list) or not allowed:
            raise TemplateError('Template validation failed: The "allowedValues" array must contain one or more '
                                f"items ({path}.allowedValues).", target=f"{path}.allowedValues")
        items = value if kind == "array" else [value]
        if not all(_allowed(item, allowed) for item in items):
            # Observed ARM text: "The provided value 'badSku' for the template parameter 'storageAccountType' at
            # line '15' and column '24' is not valid. The parameter value is not part of the allowed value(s):
            # 'Standard_LRS,...'." (MicrosoftDocs azure-docs, template-tutorial... validation examples).
            raise validation_failed(f"The provided value{shown} for the template parameter '{name}' is not valid. "
                                    "The parameter value is not part of the allowed value(s): "
                                    f"'{','.join(to_text(a) for a in allowed)}'.", target=path)
    # The wording of the bounds messages follows the allowedValues one; the exact ARM text was not found for
    # minValue/maxValue. minLength: "Length of the value should be greater than or equal to '12'" (ARM, as users
    # quote it).
    bounds: list[tuple[str, int, str]] = []
    if kind == "int":
        bounds = [("The value", int(value), "")]
    elif isinstance(value, str | list):
        bounds = [("Length of the value", len(value), " Please see https://aka.ms/arm-template/#parameters for "
                   "usage details.")]
    for subject, measured, tail in bounds:
        low_key, high_key = ("minValue", "maxValue") if kind == "int" else ("minLength", "maxLength")
        low, high = definition.get(low_key), definition.get(high_key)
        if isinstance(low, int) and measured < low:
            words, bound = "greater than or equal to", low
        elif isinstance(high, int) and measured > high:
            words, bound = "less than or equal to", high
        else:
            continue
        shown_here = shown if kind == "int" else ""
        raise validation_failed(f"The provided value{shown_here} for the template parameter '{name}' is not valid. "
                                f"{subject} should be {words} '{bound}'.{tail}", target=path)


def _count(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _COPY_LIMIT:
        raise TemplateError(f"The copy count must be a non-negative integer no greater than '{_COPY_LIMIT}'; it was "
                            f"'{value}' ({path}).", target=path)
    return value


def _as_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise TemplateError(f"The condition must be a boolean; it was of type '{type_name(value)}' ({path}).",
                            target=path)
    return value


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield value, path
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key, f"{path}.{key}"
            yield from _strings(item, f"{path}.{key}")


def _calls(value: Any, path: str, *, reference: bool, default: bool = False) -> Iterator[tuple[Call, str]]:
    """Every function call in `value`, checked: known, allowed here. Syntax errors are reported here too."""
    for text, where in _strings(value, path):
        inner = expression_of(text)
        if inner is None:
            continue
        try:
            node = parse(inner)
        except ExpressionError as exc:
            raise TemplateError(f"{exc.message} ({where})", target=where) from None
        for sub in walk(node):
            if not isinstance(sub, Call):
                continue
            if sub.key != "if" and sub.key not in FUNCTIONS:
                raise TemplateError(f"{unknown_function(sub.name)} ({where})", target=where)
            if sub.key == "reference" and not reference:
                raise TemplateError(f"{_reference_here()} ({where})", target=where)
            if sub.key in _PARAMETER_DEFAULT_ONLY and not default:
                raise TemplateError(f"{_default_only(sub.name)} ({where})", target=where)
            yield sub, where


def _refuse_unsupported(template: dict[str, Any]) -> None:
    version = template.get("languageVersion")
    if version is not None:
        raise TemplateError(f"The template languageVersion '{version}' (symbolic resources, user-defined types) is "
                            "not supported by azvm (languageVersion).", target="languageVersion")
    functions = template.get("functions")
    if functions not in (None, []):
        raise TemplateError("User-defined functions are not supported by azvm (functions).", target="functions")
    for key in ("definitions", "apiProfile", "imports", "extensions"):
        if template.get(key) not in (None, {}, [], ""):
            raise TemplateError(f"The template section '{key}' is not supported by azvm ({key}).", target=key)


# -- prepare ----------------------------------------------------------------------------------------------------

def prepare(template: Any, parameters: dict[str, Any] | None, scope: Scope) -> Prepared:
    """Check a template and the parameters given for it, and plan its resources (see the module docstring)."""
    if not isinstance(template, dict):
        raise TemplateError("Template validation failed: the template must be a JSON object.", target="template")
    for key in ("$schema", "contentVersion", "resources"):
        # "Required property '$schema' not found in JSON. Path ''" (ARM's template reader, as quoted by
        # Azure/bicep LocalJsonModuleTests.cs and vscode-azurearmtools' validation tests).
        if key not in template:
            raise TemplateError(f"Template validation failed: Required property '{key}' not found in JSON. Path ''.",
                                target=key)
    _refuse_unsupported(template)
    if not isinstance(template["resources"], list):
        raise TemplateError("Template validation failed: the 'resources' section must be a JSON array.",
                            target="resources")
    provided = _provided(parameters)
    state = _State(template, {k.lower(): v for k, v in provided.items()}, scope)
    state.provided_raw = {k: {"value": v} for k, v in provided.items()}
    unknown = [name for name in provided if name.lower() not in state.param_defs]
    if unknown:
        supported = ", ".join(real for real, _ in state.param_defs.values())
        raise validation_failed(f"The template parameters '{', '.join(unknown)}' in the parameters file are not "
                                "valid; they are not present in the original template and can therefore not be "
                                f"provided at deployment time. The only supported parameters for this template are "
                                f"'{supported}'. Please see https://aka.ms/arm-deploy/#parameter-file for usage "
                                "details.", target="parameters")
    for real, definition in state.param_defs.values():
        if isinstance(definition, dict) and "defaultValue" in definition:
            for _ in _calls(definition["defaultValue"], f"parameters.{real}.defaultValue", reference=False,
                            default=True):
                pass
    for real, _ in list(state.param_defs.values()):
        _resolve(state.parameter, real, f"parameters.{real}")
    for real, raw in list(state.var_defs.values()):
        for _ in _calls(raw, f"variables.{real}", reference=False):
            pass
    for loop in state.var_loops.values():
        for _ in _calls(loop, f"variables.copy[{loop['name']}]", reference=False):
            pass
    for key in list(state.var_defs) + list(state.var_loops):
        _resolve(state.variable, key, f"variables.{key}")
    for name, definition in state.outputs.items():
        for _ in _calls(definition, f"outputs.{name}", reference=True):
            pass

    seen: set[int] = set()
    for i, raw in enumerate(template["resources"]):
        _expand(state, raw, f"resources[{i}]", None, (), seen)
    _link(state)
    deployed = [c for c in state.candidates if c.deployed]
    ids: dict[str, _Candidate] = {}
    for c in deployed:
        other = ids.get(c.id.lower())
        if other is not None:
            raise validation_failed(f"The resource '{c.type}/{c.name}' is defined multiple times in a template. "
                                    "Please see https://aka.ms/arm-template/#resources for usage details.",
                                    target=c.path)
        ids[c.id.lower()] = c
    planned = {c.index: _planned(state, c) for c in deployed}
    waves = [[planned[i] for i in wave] for wave in _waves(state, deployed)]
    echo: dict[str, dict[str, Any]] = {}
    for key, (real, definition) in state.param_defs.items():
        kind = str(definition["type"]).lower()
        entry: dict[str, Any] = {"type": TYPES[kind]}
        if kind not in SECURE:
            entry["value"] = state.params[key]
        echo[real] = entry
    return Prepared(state, [planned[c.index] for c in deployed], waves, echo)


def _resolve(get: Callable[[str], Any], name: str, path: str) -> None:
    try:
        get(name)
    except ExpressionError as exc:
        raise TemplateError(f"{exc.message} ({path})", target=path) from None


def _provided(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """{"p": {"value": v}} as the deployment body carries them; Key Vault references are refused."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise TemplateError("The deployment parameters must be a JSON object.", target="parameters")
    out: dict[str, Any] = {}
    for name, entry in parameters.items():
        path = f"parameters.{name}"
        if isinstance(entry, dict) and "reference" in entry and "value" not in entry:
            raise TemplateError(f"Key Vault references in parameter values are not supported by azvm ({path}).",
                                target=path)
        if not isinstance(entry, dict) or "value" not in entry:
            raise TemplateError(f"The deployment parameter '{name}' must be an object with a 'value' ({path}).",
                                target=path)
        out[name] = entry["value"]
    return out


def _expand(state: _State, raw: Any, path: str, parent: _Candidate | None, loops: tuple[tuple[str, int], ...],
            seen: set[int]) -> None:
    """Add the candidates of one resource definition (each copy instance, then its nested children)."""
    if not isinstance(raw, dict):
        raise TemplateError(f"Template validation failed: a resource must be a JSON object ({path}).", target=path)
    for key in ("type", "name", "apiVersion"):
        if _get(raw, key) is None:
            raise TemplateError(f"Template validation failed: Required property '{key}' not found in JSON. Path "
                                f"'{path}'.", target=path)
    if id(raw) not in seen:
        seen.add(id(raw))
        for key, value in raw.items():
            if key.lower() != "resources":
                for _ in _calls(value, f"{path}.{key}", reference=key.lower() == "properties"):
                    pass
    loop = _get(raw, "copy")
    instances: list[int | None] = [None]
    copy_name: str | None = None
    batch_size: int | None = None
    if loop is not None:
        if parent is not None:
            raise TemplateError("Copying nested resources is not supported. Please see https://aka.ms/arm-copy/"
                                f"#looping-on-a-nested-resource for usage details ({path}.copy).",
                                target=f"{path}.copy")
        if not isinstance(loop, dict) or not isinstance(loop.get("name"), str) or "count" not in loop:
            raise TemplateError(f"A resource copy loop needs a 'name' and a 'count' ({path}.copy).",
                                target=f"{path}.copy")
        copy_name = loop["name"]
        ctx = _Context(state, path, dict(loops), None)
        count = _count(ctx.value(loop["count"], f"{path}.copy.count"), f"{path}.copy.count")
        mode = str(loop.get("mode", "Parallel")).lower()
        if mode not in ("parallel", "serial"):
            raise TemplateError(f"The copy mode must be 'Parallel' or 'Serial'; it was '{loop.get('mode')}' "
                                f"({path}.copy.mode).", target=f"{path}.copy.mode")
        if mode == "serial":
            size = ctx.value(loop.get("batchSize", 1), f"{path}.copy.batchSize")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise TemplateError(f"The copy batchSize must be a positive integer ({path}.copy.batchSize).",
                                    target=f"{path}.copy.batchSize")
            batch_size = size
        instances = list(range(count))
    for instance in instances:
        here = loops if instance is None or copy_name is None else (*loops, (copy_name, instance))
        default = copy_name if instance is not None else (loops[-1][0] if loops else None)
        ctx = _Context(state, path, dict(here), default)
        type_ = _text(ctx.value(_get(raw, "type"), f"{path}.type"), f"{path}.type")
        name = _text(ctx.value(_get(raw, "name"), f"{path}.name"), f"{path}.name")
        api = _text(ctx.value(_get(raw, "apiVersion"), f"{path}.apiVersion"), f"{path}.apiVersion")
        if parent is not None:
            type_, name = _nest(parent, type_, name)
        if len(type_.split("/")) != len(name.split("/")) + 1:
            raise validation_failed(f"The template resource '{name}' for type '{type_}' has incorrect segment "
                                    "lengths. A nested resource type must have identical number of segments as its "
                                    "resource name. A root resource type must have segment length one greater than "
                                    "its resource name. Please see https://aka.ms/arm-template/#resources for usage "
                                    "details.", target=path)
        if type_.lower() == "microsoft.resources/deployments":
            raise TemplateError(f"Nested deployments (Microsoft.Resources/deployments) are not supported by azvm "
                                f"({path}).", target=f"{path}.type")
        deployed = True
        condition = _get(raw, "condition")
        if condition is not None:
            deployed = _as_bool(ctx.value(condition, f"{path}.condition"), f"{path}.condition")
        if parent is not None and not parent.deployed:
            deployed = False
        group = _optional_text(ctx, raw, "resourceGroup", path)
        if group is None and parent is not None:
            group = parent.resource_group
        sub = _optional_text(ctx, raw, "subscriptionId", path) or state.scope.subscription_id
        scope_id = _optional_text(ctx, raw, "scope", path)
        depends = ctx.value(_get(raw, "dependsOn") or [], f"{path}.dependsOn")
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise TemplateError(f"The resource's dependsOn must be an array of strings ({path}.dependsOn).",
                                target=f"{path}.dependsOn")
        where = path if instance is None else f"{path} (copy '{copy_name}' index {instance})"
        candidate = _Candidate(
            index=len(state.candidates), raw=raw, path=path, where=where, loops=here, copy_name=copy_name,
            type=type_, name=name, api_version=api,
            id=_resource_id(state, type_, name, group, sub, scope_id, path),
            resource_group=group, deployed=deployed, depends_raw=list(depends),
            parent=None if parent is None else parent.index,
            batch=None if batch_size is None or instance is None or copy_name is None
            else (copy_name.lower(), instance // batch_size))
        state.candidates.append(candidate)
        for key in set(candidate.keys()):
            state.lookup.setdefault(key, []).append(candidate.index)
        if copy_name is not None:
            state.loop_members.setdefault(copy_name.lower(), []).append(candidate.index)
        children = _get(raw, "resources")
        if children is not None:
            if not isinstance(children, list):
                raise TemplateError(f"Nested 'resources' must be a JSON array ({path}.resources).",
                                    target=f"{path}.resources")
            for j, child in enumerate(children):
                _expand(state, child, f"{path}.resources[{j}]", candidate, here, seen)


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise TemplateError(f"Template validation failed: the value must be a non-empty string; it is of type "
                            f"'{type_name(value)}' ({path}).", target=path)
    return value


def _optional_text(ctx: _Context, raw: dict[str, Any], key: str, path: str) -> str | None:
    value = _get(raw, key)
    if value is None:
        return None
    return _text(ctx.value(value, f"{path}.{key}"), f"{path}.{key}")


def _nest(parent: _Candidate, type_: str, name: str) -> tuple[str, str]:
    """A nested child's full type and name (child-resource-name-type.md: "type": "subnets", "name": "Subnet" inside
    a virtual network is "Microsoft.Network/virtualNetworks/subnets" "vNet/Subnet")."""
    full_type = type_ if "/" in type_ and "." in type_.split("/", 1)[0] else f"{parent.type}/{type_}"
    expected = len(full_type.split("/")) - 1
    full_name = name if len(name.split("/")) == expected else f"{parent.name}/{name}"
    return full_type, full_name


def _resource_id(state: _State, type_: str, name: str, group: str | None, sub: str, scope_id: str | None,
                 path: str) -> str:
    try:
        tail = interleave(type_, name.split("/"), "resource")
    except ExpressionError as exc:
        raise TemplateError(f"{exc.message} ({path})", target=path) from None
    if scope_id is not None:
        if not scope_id.startswith("/"):
            raise TemplateError(f"The resource's scope must be a resource id ({path}.scope).", target=f"{path}.scope")
        return f"{scope_id.rstrip('/')}/providers/{tail}"
    if type_.lower() == "microsoft.resources/resourcegroups":
        return f"/subscriptions/{sub}/resourceGroups/{name}"
    if group is None and state.scope.resource_group is not None:
        group = str(state.scope.resource_group.get("name"))
    if group is None:
        return f"/subscriptions/{sub}/providers/{tail}"
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{tail}"


def _link(state: _State) -> None:
    """Each candidate's dependencies: dependsOn, its nested parent, the previous batch of a serial loop, and the
    resources of this template its properties reference() (resource-dependency.md)."""
    by_batch: dict[tuple[str, int], list[int]] = {}
    for c in state.candidates:
        if c.batch is not None:
            by_batch.setdefault(c.batch, []).append(c.index)
    for c in state.candidates:
        found: list[int] = []
        for j, entry in enumerate(c.depends_raw):
            matches = state.resolve(entry)
            if not matches:
                raise validation_failed(f"The resource '{entry}' is not defined in the template. Please see "
                                        "https://aka.ms/arm-template for usage details.",
                                        target=f"{c.path}.dependsOn[{j}]")
            found.extend(matches)
        if c.parent is not None:
            found.append(c.parent)
        if c.batch is not None and c.batch[1] > 0:
            found.extend(by_batch.get((c.batch[0], c.batch[1] - 1), []))
        if c.deployed:
            found.extend(_referenced(state, c))
        unique: list[int] = []
        for i in found:
            if state.candidates[i].deployed and i not in unique:
                unique.append(i)
        c.depends = unique


def _referenced(state: _State, c: _Candidate) -> list[int]:
    """Candidates named by the first argument of reference() calls in `c`'s properties, where it can be evaluated
    before the deployment runs (parameters, variables, copyIndex, resourceId, ...)."""
    properties = _get(c.raw, "properties")
    if properties is None:
        return []
    ctx = _Context(state, c.path, dict(c.loops), c.loops[-1][0] if c.loops else None)
    out: list[int] = []
    for call, _ in _calls(properties, f"{c.path}.properties", reference=True):
        if call.key != "reference" or not call.args:
            continue
        try:
            target = evaluate(call.args[0], ctx)
        except (ExpressionError, TemplateError):
            continue
        if isinstance(target, str):
            out.extend(state.resolve(target))
    return out


def _waves(state: _State, deployed: list[_Candidate]) -> list[list[int]]:
    remaining = {c.index: set(c.depends) for c in deployed}
    waves: list[list[int]] = []
    while remaining:
        ready = [i for i in sorted(remaining) if not remaining[i]]
        if not ready:
            cycle = ", ".join(f"'{state.candidates[i].id}'" for i in sorted(remaining))
            raise validation_failed(f"Circular dependency detected on resource: {cycle}. Please see "
                                    "https://aka.ms/arm-template/#resources for usage details.",
                                    target=state.candidates[min(remaining)].path)
        waves.append(ready)
        for i in ready:
            del remaining[i]
        for deps in remaining.values():
            deps.difference_update(ready)
    return waves


def _planned(state: _State, c: _Candidate) -> PlannedResource:
    return PlannedResource(
        id=c.id, type=c.type, name=c.name, api_version=c.api_version,
        depends_on=tuple(state.candidates[i].id for i in c.depends), where=c.where,
        resource_group=c.resource_group, template_body=c.raw, loops=c.loops, template_path=c.path)

