"""What deployment requests carry: JSON, JSONC, and az deployment group create's unquoted `template:` key."""

from __future__ import annotations

import pytest

from azvm.templates import TemplateError, parse_jsonc

# The shape JsonCTemplatePolicy (azure-cli command_modules/resource/custom.py) sends: the raw template file text,
# comments included, after an unquoted key (az-vm-create.md §7).
AZ_DEPLOYMENT_BODY = """{"properties": {"parameters": {"vmName": {"value": "abc"}}, "mode": "Incremental", template:{
  // a line comment from the user's file
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0", /* a block
  comment */
  "parameters": {"vmName": {"type": "string"}},
  "resources": [],
}}}"""


def test_the_body_az_deployment_group_create_sends() -> None:
    body = parse_jsonc(AZ_DEPLOYMENT_BODY)
    assert body["properties"]["parameters"] == {"vmName": {"value": "abc"}}
    assert body["properties"]["template"]["contentVersion"] == "1.0.0.0"
    assert body["properties"]["template"]["resources"] == []


def test_plain_json_bytes_and_a_bom() -> None:
    assert parse_jsonc(b'\xef\xbb\xbf{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}
    assert parse_jsonc('\ufeff{"a": "//not a comment"}') == {"a": "//not a comment"}


@pytest.mark.parametrize(("text", "where"), [
    ('{"a": 1,, }', "Line 1, position 10"),
    ('{\n  "a": [1, 2\n', "Line 3, position 1"),
])
def test_bad_text_is_invalid_request_content_with_line_and_position(text: str, where: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_jsonc(text)
    assert caught.value.code == "InvalidRequestContent"
    assert caught.value.message.startswith("The request content was invalid and could not be deserialized: '")
    assert where in caught.value.message


@pytest.mark.parametrize("text", ["", "   ", b"\xff\xfe{}"])
def test_empty_or_undecodable_text_is_refused(text: str | bytes) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_jsonc(text)
    assert caught.value.code == "InvalidRequestContent"
