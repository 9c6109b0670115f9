"""Copy loops, conditions, nested children, variables and parameters: what prepare() plans and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from azvm.templates import TemplateError, prepare

from .support import RG_ID, SUB, FakeArm, no_reference, scope, template, value_of, waves

NET = f"{RG_ID}/providers/Microsoft.Network"


def nsg(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2022-05-01", "name": name,
            "location": "eastus", **extra}


def refused(t: dict[str, Any], parameters: dict[str, Any] | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        prepare(t, parameters or {}, scope())
    return caught.value


# -- copy loops -------------------------------------------------------------------------------------------------

def test_serial_copy_runs_in_batches() -> None:
    t = template([nsg("[format('n{0}', copyIndex(1))]",
                      copy={"name": "loop", "count": 5, "mode": "Serial", "batchSize": 2})])
    assert waves(prepare(t, {}, scope())) == [["n1", "n2"], ["n3", "n4"], ["n5"]]


def test_depending_on_a_copy_loop_by_name_waits_for_all_of_it() -> None:
    t = template([nsg("[concat('n', copyIndex())]", copy={"name": "nsgLoop", "count": 2}),
                  nsg("last", dependsOn=["nsgLoop"])])
    prepared = prepare(t, {}, scope())
    assert prepared.resources[2].depends_on == (f"{NET}/networkSecurityGroups/n0", f"{NET}/networkSecurityGroups/n1")


def test_a_copy_count_of_zero_plans_nothing() -> None:
    t = template([nsg("[concat('n', copyIndex())]", copy={"name": "l", "count": "[length(createArray())]"})])
    assert prepare(t, {}, scope()).resources == []


def test_property_and_variable_copy_loops() -> None:
    t = template(
        [nsg("n", properties={"copy": [{"name": "securityRules", "count": 2, "input": {
            "name": "[concat('rule', copyIndex('securityRules'))]",
            "properties": {"priority": "[add(100, copyIndex('securityRules'))]"}}}]})],
        variables={"copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}],
                   "nested": {"copy": [{"name": "items", "count": 2, "input": "[copyIndex('items', 10)]"}]}},
        outputs={"disks": {"type": "array", "value": "[variables('disks')]"},
                 "nested": {"type": "object", "value": "[variables('nested')]"},
                 "names": {"type": "array", "copy": {"count": 3, "input": "[concat('o', copyIndex())]"}}})
    prepared = prepare(t, {}, scope())
    body = prepared.evaluate(prepared.resources[0], no_reference)
    assert body["properties"] == {"securityRules": [{"name": "rule0", "properties": {"priority": 100}},
                                                    {"name": "rule1", "properties": {"priority": 101}}]}
    assert prepared.outputs(no_reference) == {
        "disks": {"type": "Array", "value": [{"lun": 0}, {"lun": 1}]},
        "nested": {"type": "Object", "value": {"items": [10, 11]}},
        "names": {"type": "Array", "value": ["o0", "o1", "o2"]}}


@pytest.mark.parametrize(("loop", "words"), [
    ({"name": "l", "count": 801}, "no greater than '800'"),
    ({"name": "l", "count": -1}, "non-negative integer"),
    ({"name": "l", "count": 2, "mode": "sideways"}, "'Parallel' or 'Serial'"),
    ({"count": 2}, "needs a 'name' and a 'count'"),
])
def test_bad_copy_loops(loop: dict[str, Any], words: str) -> None:
    error = refused(template([nsg("[concat('n', copyIndex())]", copy=loop)]))
    assert words in error.message
    assert error.target is not None and error.target.startswith("resources[0].copy")


def test_copy_index_outside_a_loop() -> None:
    error = refused(template([nsg("[concat('n', copyIndex())]")]))
    assert error.message.startswith("The template function 'copyIndex' is not expected at this location.")
    assert error.target == "resources[0].name"


# -- conditions, nested children --------------------------------------------------------------------------------

def test_a_false_condition_drops_the_resource_and_the_dependencies_on_it() -> None:
    t = template([nsg("skipped", condition="[equals(1, 2)]"), nsg("kept", dependsOn=["skipped"])])
    prepared = prepare(t, {}, scope())
    assert [r.name for r in prepared.resources] == ["kept"]
    assert prepared.resources[0].depends_on == ()


def test_a_condition_must_be_a_boolean() -> None:
    error = refused(template([nsg("n", condition="[string('true')]")]))
    assert error.target == "resources[0].condition"


def test_nested_children_are_flattened_and_wait_for_their_parent() -> None:
    vnet = {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2022-05-01", "name": "vnet",
            "location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}},
            "resources": [{"type": "subnets", "apiVersion": "2022-05-01", "name": "s1",
                           "dependsOn": ["vnet"], "properties": {"addressPrefix": "10.0.0.0/24"}},
                          {"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2022-05-01",
                           "name": "vnet/s2", "properties": {"addressPrefix": "10.0.1.0/24"}}]}
    prepared = prepare(template([vnet]), {}, scope())
    assert [(r.type, r.name, r.where) for r in prepared.resources] == [
        ("Microsoft.Network/virtualNetworks", "vnet", "resources[0]"),
        ("Microsoft.Network/virtualNetworks/subnets", "vnet/s1", "resources[0].resources[0]"),
        ("Microsoft.Network/virtualNetworks/subnets", "vnet/s2", "resources[0].resources[1]")]
    assert prepared.resources[2].depends_on == (f"{NET}/virtualNetworks/vnet",)
    assert waves(prepared) == [["vnet"], ["vnet/s1", "vnet/s2"]]
    assert prepared.evaluate(prepared.resources[1], no_reference) == {"properties": {"addressPrefix": "10.0.0.0/24"}}


def test_copy_on_a_nested_child_is_refused() -> None:
    vnet = {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2022-05-01", "name": "vnet",
            "resources": [{"type": "subnets", "apiVersion": "2022-05-01", "name": "[concat('s', copyIndex())]",
                           "copy": {"name": "s", "count": 2}}]}
    error = refused(template([vnet]))
    assert error.message.startswith("Copying nested resources is not supported.")
    assert error.target == "resources[0].resources[0].copy"


def test_segment_lengths_must_match() -> None:
    error = refused(template([{"type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": "2022-05-01",
                               "name": "onlyone"}]))
    assert "has incorrect segment lengths" in error.message
    assert error.target == "resources[0]"


def test_subscription_scope_resources() -> None:
    t = template([{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "g1",
                   "location": "westeurope"},
                  {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2022-05-01", "name": "n",
                   "resourceGroup": "g1", "dependsOn": ["[subscriptionResourceId('Microsoft.Resources/resourceGroups',"
                                                        " 'g1')]", "g1"]}])
    prepared = prepare(t, {}, scope(resource_group=None, location="westeurope"))
    assert [r.id for r in prepared.resources] == [
        f"/subscriptions/{SUB}/resourceGroups/g1",
        f"/subscriptions/{SUB}/resourceGroups/g1/providers/Microsoft.Network/networkSecurityGroups/n"]
    assert prepared.resources[1].resource_group == "g1"
    assert prepared.evaluate(prepared.resources[1], no_reference) == {}


def test_resource_group_is_refused_at_subscription_scope() -> None:
    t = template(outputs={"o": {"type": "string", "value": "[resourceGroup().id]"}})
    with pytest.raises(TemplateError) as caught:
        prepare(t, {}, scope(resource_group=None)).outputs(no_reference)
    assert "'resourceGroup' is not expected at this location" in caught.value.message


# -- dependencies -----------------------------------------------------------------------------------------------

def test_a_dependency_on_nothing_in_the_template() -> None:
    error = refused(template([nsg("a", dependsOn=["Microsoft.Network/networkSecurityGroups/b"])]))
    assert error.message == ("Deployment template validation failed: 'The resource "
                             "'Microsoft.Network/networkSecurityGroups/b' is not defined in the template. Please see "
                             "https://aka.ms/arm-template for usage details.'.")
    assert error.target == "resources[0].dependsOn[0]"


def test_a_cycle_is_refused() -> None:
    error = refused(template([nsg("a", dependsOn=["b"]), nsg("b", dependsOn=["[resourceId("
                                                                       "'Microsoft.Network/networkSecurityGroups', "
                                                                       "'a')]"])]))
    assert error.message.startswith("Deployment template validation failed: 'Circular dependency detected on "
                                    f"resource: '{NET}/networkSecurityGroups/a', '{NET}/networkSecurityGroups/b'.")


def test_a_resource_referencing_itself_is_a_cycle() -> None:
    error = refused(template([nsg("a", properties={"x": "[reference('a').y]"})]))
    assert "Circular dependency" in error.message


def test_the_same_resource_twice_is_refused() -> None:
    error = refused(template([nsg("a"), nsg("A")]))
    assert error.message == ("Deployment template validation failed: 'The resource "
                             "'Microsoft.Network/networkSecurityGroups/A' is defined multiple times in a template. "
                             "Please see https://aka.ms/arm-template/#resources for usage details.'.")


# -- parameters -------------------------------------------------------------------------------------------------

def test_unknown_parameters_are_refused_with_the_supported_list() -> None:
    t = template(parameters={"a": {"type": "string"}, "b": {"type": "int", "defaultValue": 1}})
    error = refused(t, {"a": {"value": "x"}, "zz": {"value": 1}})
    assert error.message == (
        "Deployment template validation failed: 'The template parameters 'zz' in the parameters file are not valid; "
        "they are not present in the original template and can therefore not be provided at deployment time. The "
        "only supported parameters for this template are 'a, b'. Please see "
        "https://aka.ms/arm-deploy/#parameter-file for usage details.'.")


@pytest.mark.parametrize(("definition", "value", "words"), [
    ({"type": "int"}, "2", "Template parameter JToken type is not valid. Expected 'Integer'. Actual 'String'."),
    ({"type": "string"}, 5, "Expected 'String, Uri'. Actual 'Integer'."),
    ({"type": "bool"}, "true", "Expected 'Boolean'. Actual 'String'."),
    ({"type": "object"}, [], "Expected 'Object'. Actual 'Array'."),
    ({"type": "int", "minValue": 1}, 0, "The value should be greater than or equal to '1'."),
    ({"type": "int", "maxValue": 3}, 4, "The value should be less than or equal to '3'."),
    ({"type": "string", "maxLength": 3}, "abcd", "Length of the value should be less than or equal to '3'."),
    ({"type": "array", "minLength": 1}, [], "Length of the value should be greater than or equal to '1'."),
    ({"type": "array", "allowedValues": ["a", "b"]}, ["a", "c"], "is not part of the allowed value(s): 'a,b'"),
])
def test_parameter_values_are_checked(definition: dict[str, Any], value: Any, words: str) -> None:
    error = refused(template(parameters={"p": definition}), {"p": {"value": value}})
    assert words in error.message
    assert error.target == "parameters.p"


def test_allowed_strings_match_without_regard_to_case() -> None:
    t = template(parameters={"p": {"type": "String", "allowedValues": ["Standard_LRS"]}})
    assert prepare(t, {"p": {"value": "standard_lrs"}}, scope()).parameters["p"] == \
        {"type": "String", "value": "standard_lrs"}


def test_default_values_are_checked_too() -> None:
    error = refused(template(parameters={"p": {"type": "int", "defaultValue": "[string(1)]"}}))
    assert "Expected 'Integer'. Actual 'String'." in error.message


def test_parameter_types() -> None:
    t = template(parameters={"s": {"type": "secureObject", "defaultValue": {"a": 1}},
                             "b": {"type": "Bool", "defaultValue": True},
                             "a": {"type": "array", "defaultValue": [1]}})
    assert prepare(t, {}, scope()).parameters == {"s": {"type": "SecureObject"},
                                                  "b": {"type": "Bool", "value": True},
                                                  "a": {"type": "Array", "value": [1]}}
    error = refused(template(parameters={"p": {"type": "something"}}))
    assert error.message.startswith("Template validation failed: Template parameter 'p' has invalid type "
                                    "'something'. Supported types are 'String,SecureString,Int,Bool,Array,Object,"
                                    "SecureObject'.")


def test_parameter_defaults_referring_to_each_other_in_a_circle() -> None:
    error = refused(template(parameters={"a": {"type": "string", "defaultValue": "[parameters('b')]"},
                                         "b": {"type": "string", "defaultValue": "[parameters('a')]"}}))
    assert "circular reference between parameter default values" in error.message


def test_a_key_vault_reference_is_refused() -> None:
    error = refused(template(parameters={"p": {"type": "securestring"}}),
                    {"p": {"reference": {"keyVault": {"id": "/subscriptions/s/x"}, "secretName": "s"}}})
    assert error.message == "Key Vault references in parameter values are not supported by azvm (parameters.p)."
    assert error.target == "parameters.p"


def test_an_unknown_parameter_or_variable_in_an_expression() -> None:
    assert "The template parameter 'nope' is not found." in refused(
        template(variables={"v": "[parameters('nope')]"})).message
    error = refused(template([nsg("[variables('nope')]")]))
    assert error.message.startswith("The template variable 'nope' is not found.")
    assert error.target == "resources[0].name"


def test_variables_are_evaluated_once_with_nested_expressions() -> None:
    assert value_of("[variables('v').inner[1].x]", variables={
        "v": {"inner": ["[concat('a', 'b')]", {"x": "[toUpper(variables('w'))]"}]}, "w": "deep"}) == "DEEP"


# -- what azvm refuses ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("t", "message", "target"), [
    (template([nsg("n", properties={"key": "[listKeys(resourceId('Microsoft.Storage/storageAccounts', 's'), "
                                           "'2022-05-01').keys[0].value]"})]),
     "The template function 'listKeys' is not supported by azvm: resource actions such as listKeys are not "
     "modelled. (resources[0].properties.key)", "resources[0].properties.key"),
    (template(outputs={"o": {"type": "string", "value": "[providers('Microsoft.Compute', 'virtualMachines')"
                                                         ".apiVersions[0]]"}}),
     "The template function 'providers' is not supported by azvm. (outputs.o.value)", "outputs.o.value"),
    (template(variables={"v": "[myNamespace.myFunc('x')]"}),
     "The user-defined function 'myNamespace.myFunc' is not supported by azvm. (variables.v)", "variables.v"),
    (template(variables={"v": "[nosuch(1)]"}),
     "The template function 'nosuch' is not valid. Please see https://aka.ms/arm-template-expressions for usage "
     "details. (variables.v)", "variables.v"),
    (template([nsg("[reference('x').name]")]),
     "The template function 'reference' is not expected at this location. It can only be used in the properties "
     "of a resource and in the outputs. (resources[0].name)", "resources[0].name"),
    (template(variables={"v": "[newGuid()]"}),
     "The template function 'newGuid' is not expected at this location. It can only be used in the default value "
     "of a parameter. (variables.v)", "variables.v"),
    (template(variables={"v": "[concat('a']"}),
     "The language expression 'concat('a'' is not valid: it ends before it is complete. (variables.v)",
     "variables.v"),
    (template(variables={"v": "[concat('a' 'b')]"}),
     "The language expression 'concat('a' 'b')' is not valid: unexpected text at position '12'. (variables.v)",
     "variables.v"),
    (template(variables={"v": "[concat('a', #)]"}),
     "The language expression 'concat('a', #)' is not valid: unexpected text at position '13'. (variables.v)",
     "variables.v"),
    (template(languageVersion="2.0"),
     "The template languageVersion '2.0' (symbolic resources, user-defined types) is not supported by azvm "
     "(languageVersion).", "languageVersion"),
    (template(functions=[{"namespace": "ns", "members": {}}]),
     "User-defined functions are not supported by azvm (functions).", "functions"),
    (template([{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
                "properties": {"mode": "Incremental"}}]),
     "Nested deployments (Microsoft.Resources/deployments) are not supported by azvm (resources[0]).",
     "resources[0].type"),
])
def test_unsupported_constructs_are_named_with_where_they_stand(t: dict[str, Any], message: str,
                                                                 target: str) -> None:
    error = refused(t)
    assert (error.code, error.message, error.target) == ("InvalidTemplate", message, target)


def test_an_empty_function_list_is_fine() -> None:
    assert prepare(template(functions=[]), {}, scope()).resources == []


@pytest.mark.parametrize("missing", ["$schema", "contentVersion", "resources"])
def test_required_template_properties(missing: str) -> None:
    t = template()
    del t[missing]
    error = refused(t)
    assert error.message == f"Template validation failed: Required property '{missing}' not found in JSON. Path ''."


def test_a_reference_to_a_name_not_in_the_template_fails_when_evaluated() -> None:
    t = template([nsg("n", properties={"x": "[reference('elsewhere').y]"})])
    prepared = prepare(t, {}, scope())
    with pytest.raises(TemplateError) as caught:
        prepared.evaluate(prepared.resources[0], FakeArm({}))
    assert caught.value.message == \
        "The resource 'elsewhere' is not defined in the template. (resources[0].properties.x)"


def test_evaluation_errors_name_the_property() -> None:
    t = template([nsg("n", properties={"deep": {"list": [1, "[json('{}').missing]"]}})])
    prepared = prepare(t, {}, scope())
    with pytest.raises(TemplateError) as caught:
        prepared.evaluate(prepared.resources[0], no_reference)
    assert caught.value.message == ("The language expression property 'missing' doesn't exist, available properties "
                                    "are ''. (resources[0].properties.deep.list[1])")
    assert caught.value.target == "resources[0].properties.deep.list[1]"


def test_property_names_may_be_expressions() -> None:
    identity_id = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'id1')]"
    t = template([nsg("n", identity={"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}},
                      properties={"[[literal]": 1})])
    prepared = prepare(t, {}, scope())
    body = prepared.evaluate(prepared.resources[0], no_reference)
    assert body["identity"]["userAssignedIdentities"] == {
        f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1": {}}
    assert body["properties"] == {"[literal]": 1}
    error = refused(template([nsg("n", properties={"[nosuch()]": 1})]))
    assert error.target == "resources[0].properties.[nosuch()]"
