"""Every supported function, evaluated in a template: values from the examples of MicrosoftDocs azure-docs
articles/azure-resource-manager/templates/template-functions-*.md where they give one, else computed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from azvm.templates import Scope, TemplateError, prepare

from .support import RG_ID, SUB, TENANT, FakeArm, scope, template, value_of

DOCS_CASES: list[tuple[str, Any]] = [
    # template-functions-string.md
    ("[base64('one, two, three')]", "b25lLCB0d28sIHRocmVl"),
    ("[base64ToString('b25lLCB0d28sIHRocmVl')]", "one, two, three"),
    ("[base64ToJson(base64('{\"one\": \"a\", \"two\": \"b\"}'))]", {"one": "a", "two": "b"}),
    ("[dataUri('Hello')]", "data:text/plain;charset=utf8;base64,SGVsbG8="),
    ("[dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')]", "Hello, World!"),
    ("[format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)]",
     "Hello, User. Formatted number: 8,175,133"),
    ("[indexOf('test', 't')]", 0),
    ("[lastIndexOf('test', 't')]", 3),
    ("[indexOf('abcdef', 'CD')]", 2),
    ("[lastIndexOf('abcdef', 'AB')]", 0),
    ("[indexOf('abcdef', 'z')]", -1),
    ("[first(createArray('one', 'two', 'three'))]", "one"),
    ("[first('One Two Three')]", "O"),
    ("[last(createArray('one', 'two', 'three'))]", "three"),
    ("[last('One Two Three')]", "e"),
    ("[length(createArray('one', 'two', 'three'))]", 3),
    ("[length('One Two Three')]", 13),
    ("[length(json('{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}'))]", 4),
    ("[padLeft('123', 10, '0')]", "0000000123"),
    ("[replace('123-123-1234', '-', '')]", "1231231234"),
    ("[replace('123-123-1234', '1234', 'xxxx')]", "123-123-xxxx"),
    ("[skip(createArray('one', 'two', 'three'), 2)]", ["three"]),
    ("[skip('one two three', 4)]", "two three"),
    ("[split('one,two,three', ',')]", ["one", "two", "three"]),
    ("[split('one;two,three', createArray(',', ';'))]", ["one", "two", "three"]),
    ("[startsWith('abcdef', 'ab')]", True),
    ("[startsWith('abcdef', 'A')]", True),
    ("[startsWith('abcdef', 'e')]", False),
    ("[endsWith('abcdef', 'ef')]", True),
    ("[endsWith('abcdef', 'F')]", True),
    ("[endsWith('abcdef', 'e')]", False),
    ("[string(json('{\"valueA\": 10, \"valueB\": \"Example Text\"}'))]", '{"valueA":10,"valueB":"Example Text"}'),
    ("[string(createArray('a', 'b', 'c'))]", '["a","b","c"]'),
    ("[string(5)]", "5"),
    ("[substring('one two three', 4, 3)]", "two"),
    ("[take(createArray('one', 'two', 'three'), 2)]", ["one", "two"]),
    ("[take('one two three', 2)]", "on"),
    ("[toLower('One Two Three')]", "one two three"),
    ("[toUpper('One Two Three')]", "ONE TWO THREE"),
    ("[trim('    one two three   ')]", "one two three"),
    ("[uri('http://contoso.com/resources/', 'nested/azuredeploy.json')]",
     "http://contoso.com/resources/nested/azuredeploy.json"),
    ("[uriComponent('http://contoso.com/resources/nested/azuredeploy.json')]",
     "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json"),
    ("[uriComponentToString('http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json')]",
     "http://contoso.com/resources/nested/azuredeploy.json"),
    ("[contains('OneTwoThree', 'e')]", True),
    ("[contains('OneTwoThree', 'z')]", False),
    ("[contains(json('{\"one\": \"a\", \"two\": \"b\"}'), 'one')]", True),
    ("[contains(json('{\"one\": \"a\", \"two\": \"b\"}'), 'a')]", False),
    ("[contains(createArray('one', 'two', 'three'), 'one')]", True),
    ("[contains(createArray('one', 'two', 'three'), 'four')]", False),
    ("[empty(createArray())]", True),
    ("[empty(json('{}'))]", True),
    ("[empty('')]", True),
    ("[concat(createArray('1-1', '1-2', '1-3'), createArray('2-1', '2-2', '2-3'))]",
     ["1-1", "1-2", "1-3", "2-1", "2-2", "2-3"]),
    # template-functions-array.md / -object.md
    ("[union(json('{\"one\": \"a\", \"two\": \"b\", \"three\": \"c1\"}'), json('{\"three\": \"c2\", \"four\": \"d\", "
     "\"five\": \"e\"}'))]", {"one": "a", "two": "b", "three": "c2", "four": "d", "five": "e"}),
    ("[union(createArray('one', 'two', 'three'), createArray('three', 'four'))]", ["one", "two", "three", "four"]),
    ("[intersection(json('{\"one\": \"a\", \"two\": \"b\", \"three\": \"c\"}'), json('{\"one\": \"a\", \"two\": "
     "\"z\", \"three\": \"c\"}'))]", {"one": "a", "three": "c"}),
    ("[intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))]", ["two", "three"]),
    ("[range(1, 3)]", [1, 2, 3]),
    ("[min(createArray(0, 3, 2, 5, 4))]", 0),
    ("[min(0, 3, 2, 5, 4)]", 0),
    ("[max(createArray(0, 3, 2, 5, 4))]", 5),
    ("[createObject('intProp', 1, 'stringProp', 'abc')]", {"intProp": 1, "stringProp": "abc"}),
    ("[items(json('{\"item002\": {\"enabled\": false}, \"item001\": {\"enabled\": true}}'))]",
     [{"key": "item001", "value": {"enabled": True}}, {"key": "item002", "value": {"enabled": False}}]),
    ("[json('null')]", None),
    ("[null()]", None),
    ("[array('efgh')]", ["efgh"]),
    # template-functions-numeric.md
    ("[add(5, 3)]", 8),
    ("[sub(7, 3)]", 4),
    ("[mul(5, 3)]", 15),
    ("[div(8, 3)]", 2),
    ("[mod(7, 3)]", 1),
    ("[int('4')]", 4),
    ("[float('2.5')]", 2.5),
    # template-functions-comparison.md
    ("[coalesce(null(), null(), 'default')]", "default"),
    ("[equals(1, 1)]", True),
    ("[equals('a', 'a')]", True),
    ("[equals(createArray('a', 'b'), createArray('a', 'b'))]", True),
    ("[equals(json('{\"a\": \"b\"}'), json('{\"a\": \"b\"}'))]", True),
    ("[equals('1', 1)]", False),
    ("[less(10, 5)]", False),
    ("[less('A', 'a')]", True),
    ("[lessOrEquals(10, 10)]", True),
    ("[greater(10, 5)]", True),
    ("[greater('A', 'a')]", False),
    ("[greaterOrEquals('A', 'A')]", True),
    # template-functions-logical.md
    ("[and(true(), false())]", False),
    ("[or(true(), false())]", True),
    ("[not(true())]", False),
    ("[if(equals('a', 'a'), 'yes', 'no')]", "yes"),
    ("[bool('true')]", True),
    ("[bool(0)]", False),
]


@pytest.mark.parametrize(("expression", "expected"), DOCS_CASES)
def test_documented_values(expression: str, expected: Any) -> None:
    assert value_of(expression) == expected


HAND_CASES: list[tuple[str, Any]] = [
    ("[concat('vm', 1, '-', true())]", "vm1-True"),
    ("[format('{0:D3}|{1,4}|{1,-4}|{{x}}|{2}', 7, 'ab', false())]", "007|  ab|ab  |{x}|False"),
    ("[format('{0:X}-{0:x4}-{1:F1}-{2:P0}', 255, json('2.5'), json('0.5'))]", "FF-00ff-2.5-50 %"),
    ("[div(-7, 2)]", -3),
    ("[mod(-7, 2)]", -1),
    ("[substring('abc', 1)]", "bc"),
    ("[join(createArray('a', 'b', 1), '-')]", "a-b-1"),
    ("[indexOf(createArray('a', 'b', 'b'), 'b')]", 1),
    ("[lastIndexOf(createArray('a', 'b', 'b'), 'b')]", 2),
    ("[first(createArray())]", None),
    ("[take(createArray(1, 2), -1)]", []),
    ("[union(json('{\"a\": {\"x\": 1, \"y\": 2}}'), json('{\"a\": {\"y\": 3}}'))]", {"a": {"x": 1, "y": 3}}),
    ("[objectKeys(json('{\"b\": 1, \"a\": 2}'))]", ["b", "a"]),
    ("[json('{\"a\": [1, 2]}').a[1]]", 2),
    ("[json('{\"Name\": \"x\"}').name]", "x"),
    ("[json('{\"name\": \"exact\", \"Name\": \"other\"}').Name]", "other"),
    ("[createArray(1, 2, 3)[2]]", 3),
    ("[if(false(), json('{}').missing, 'untaken branch is not evaluated')]", "untaken branch is not evaluated"),
    ("[string(true())]", "True"),
    ("[string(null())]", ""),
    ("[empty(null())]", True),
    ("[contains(json('{\"One\": 1}'), 'one')]", True),
    ("[contains('abc', 'B')]", False),
    ("[tenant().tenantId]", TENANT),
    ("[[not an expression]", "[not an expression]"),
    ("[ concat( 'a' , 'it''s' ) ]", "ait's"),
]


@pytest.mark.parametrize(("expression", "expected"), HAND_CASES)
def test_computed_values(expression: str, expected: Any) -> None:
    assert value_of(expression) == expected


def test_scope_functions() -> None:
    assert value_of("[resourceGroup()]") == {"id": RG_ID, "name": "rg", "type": "Microsoft.Resources/resourceGroups",
                                             "location": "eastus", "properties": {"provisioningState": "Succeeded"}}
    assert value_of("[subscription()]") == {"id": f"/subscriptions/{SUB}", "subscriptionId": SUB,
                                            "tenantId": TENANT, "displayName": SUB}
    assert value_of("[environment().name]") == "AzureCloud"
    assert value_of("[environment().suffixes.storage]") == "core.windows.net"
    assert value_of("[environment().resourceManager]") == "https://management.azure.com/"


def test_deployment_function() -> None:
    t = template(outputs={"o": {"type": "object", "value": "[deployment()]"}}, parameters={"p": {"type": "string"}})
    out = prepare(t, {"p": {"value": "x"}}, scope()).outputs(FakeArm({}))["o"]["value"]
    assert out["name"] == "d1"
    assert out["properties"]["template"] == t
    assert out["properties"]["parameters"] == {"p": {"value": "x"}}
    assert out["properties"]["mode"] == "Incremental"
    assert out["properties"]["templateHash"].isdigit()
    assert "location" not in out


def test_deployment_location_at_subscription_scope() -> None:
    t = template(outputs={"o": {"type": "string", "value": "[deployment().location]"}})
    prepared = prepare(t, {}, scope(resource_group=None, location="westeurope"))
    assert prepared.outputs(FakeArm({}))["o"]["value"] == "westeurope"


@pytest.mark.parametrize(("expression", "expected"), [
    ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vNet', 'Subnet')]",
     f"{RG_ID}/providers/Microsoft.Network/virtualNetworks/vNet/subnets/Subnet"),
    ("[resourceId('otherRg', 'Microsoft.Storage/storageAccounts', 'st')]",
     f"/subscriptions/{SUB}/resourceGroups/otherRg/providers/Microsoft.Storage/storageAccounts/st"),
    ("[resourceId('11111111-1111-1111-1111-111111111111', 'otherRg', 'Microsoft.Storage/storageAccounts', 'st')]",
     "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/otherRg/providers/Microsoft.Storage/"
     "storageAccounts/st"),
    ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
     "'acdd72a7-3385-48ef-bd42-f606fba81ae7')]",
     f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    ("[tenantResourceId('Microsoft.Authorization/policyDefinitions', 'pol')]",
     "/providers/Microsoft.Authorization/policyDefinitions/pol"),
    ("[extensionResourceId(resourceGroup().id, 'Microsoft.Authorization/locks', 'lock')]",
     f"{RG_ID}/providers/Microsoft.Authorization/locks/lock"),
    ("[extensionResourceId(resourceId('Microsoft.Compute/virtualMachines', 'vm'), "
     "'Microsoft.Authorization/roleAssignments', 'g')]",
     f"{RG_ID}/providers/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Authorization/roleAssignments/g"),
])
def test_resource_ids(expression: str, expected: str) -> None:
    assert value_of(expression) == expected


def test_resource_id_at_subscription_scope_has_no_group() -> None:
    t = template(outputs={"o": {"type": "string", "value": "[resourceId('Microsoft.Resources/resourceGroups', "
                                                           "'g1')]"}})
    prepared = prepare(t, {}, scope(resource_group=None))
    assert prepared.outputs(FakeArm({}))["o"]["value"] == \
        f"/subscriptions/{SUB}/providers/Microsoft.Resources/resourceGroups/g1"


def test_resource_id_with_the_wrong_number_of_names() -> None:
    with pytest.raises(TemplateError) as caught:
        value_of("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vNet')]")
    assert "requires '2' resource name argument(s)" in caught.value.message
    assert caught.value.target == "outputs.o.value"


def test_utc_now_and_new_guid_in_parameter_defaults() -> None:
    t = template(
        parameters={"utcValue": {"type": "string", "defaultValue": "[utcNow()]"},
                    "utcShortValue": {"type": "string", "defaultValue": "[utcNow('d')]"},
                    "utcCustomValue": {"type": "string", "defaultValue": "[utcNow('M d')]"},
                    "g1": {"type": "string", "defaultValue": "[newGuid()]"},
                    "g2": {"type": "string", "defaultValue": "[newGuid()]"}})
    params = prepare(t, {}, scope()).parameters
    # template-functions-date.md shows these three for 2019-03-05T17:53:18Z
    assert params["utcValue"]["value"] == "20190305T175318Z"
    assert params["utcShortValue"]["value"] == "03/05/2019"
    assert params["utcCustomValue"]["value"] == "3 5"
    assert params["g1"]["value"] != params["g2"]["value"]
    again = prepare(t, {}, scope()).parameters
    assert again["g1"] == params["g1"]  # deterministic: derived from the scope and a counter


def test_utc_now_without_a_time() -> None:
    t = template(parameters={"u": {"type": "string", "defaultValue": "[utcNow()]"}})
    with pytest.raises(TemplateError) as caught:
        prepare(t, {}, Scope(SUB, TENANT, None, "d1"))
    assert "needs the deployment's time" in caught.value.message


def test_reference_reads_properties_or_the_full_resource() -> None:
    arm = FakeArm({f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip":
                   {"id": "x", "identity": {"principalId": "p1"},
                    "properties": {"dnsSettings": {"fqdn": "f.example"}}}})
    fqdn = value_of("[reference(resourceId('Microsoft.Network/publicIPAddresses', 'pip'), '2021-05-01')"
                    ".dnsSettings.fqdn]", reference=arm)
    principal = value_of("[reference(resourceId('Microsoft.Network/publicIPAddresses', 'pip'), '2019-07-01', "
                         "'Full').Identity.principalId]", reference=arm)
    assert (fqdn, principal) == ("f.example", "p1")
    assert arm.calls == [(f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip", "2021-05-01", False),
                         (f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/pip", "2019-07-01", True)]


@pytest.mark.parametrize(("expression", "words"), [
    # template-functions-string.md quotes this failure
    ("[substring('1234567890', 0, 11)]", "The index and length parameters must refer to a location within the string. "
     "The index parameter: '0', the length parameter: '11', the length of the string parameter: '10'."),
    ("[div(1, 0)]", "cannot divide by zero"),
    ("[mod(1, 0)]", "cannot divide by zero"),
    ("[int('abc')]", "'int' cannot convert 'abc' to an integer"),
    ("[int(json('3.5'))]", "'int' cannot convert '3.5' to an integer"),
    ("[bool('maybe')]", "'bool' cannot convert 'maybe' to a boolean"),
    ("[union(createArray(1), json('{}'))]", "all its parameters to be arrays or all to be objects"),
    ("[concat(createArray(1), 'a')]", "expects its parameter 2 to be of type 'Array'"),
    ("[padLeft('1', 3, 'ab')]", "a single padding character"),
    ("[base64ToString('***')]", "is not base64"),
    ("[json('{nope')]", "is not JSON"),
    ("[toLower(1)]", "expects its parameter 1 to be of type 'String'. The provided value is of type 'Integer'."),
    ("[equals(1)]", "'equals' expects exactly 2 parameter(s); 1 were provided."),
    ("[if(1, 'a', 'b')]", "'if' expects its first parameter to be of type 'Boolean'"),
    ("[createArray(1)[5]]", "array index '5' is out of bounds"),
    ("[createArray(1).name]", "can't be evaluated: the value is of type 'Array', not 'Object'"),
    ("[format('{1}', 'a')]", "refers to argument 1, but only 1 were given"),
    ("[copyIndex('nope')]", "names the copy loop 'nope', which does not surround this expression"),
])
def test_function_errors(expression: str, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        value_of(expression)
    assert words in caught.value.message
    assert caught.value.message.endswith("(outputs.o.value)")
    assert caught.value.code == "InvalidTemplate"


def test_numbers_convert() -> None:
    assert value_of("[int(json('3.0'))]") == 3
    assert value_of("[float(3)]") == 3.0
