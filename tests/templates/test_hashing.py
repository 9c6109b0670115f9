"""uniqueString and guid give the values Azure gives (see azvm.templates.hashing for the sources)."""

from __future__ import annotations

import pytest

from azvm.templates import guid, template_hash, unique_string

from .support import RG_ID, value_of


@pytest.mark.parametrize(("parts", "expected"), [
    # An ARM deployment's output, quoted by microsoft/commercial-marketplace-offer-deploy
    # (test/Tests/UnitTests/ArmFunctionsTests.cs, "UniqueStringShouldEqualValueCreatedFromArmTemplate").
    (("/subscriptions/31e9f9a0-9fd2-4294-a0a3-0101246d9700/resourceGroups/rg-modm201-20230913120256/providers/"
      "Microsoft.Compute/virtualMachines/bobjacmodm201",), "yvjxno3je5on2"),
    # Printed by a program calling Microsoft's Azure.Deployments.Expression package.
    (("test",), "rbgf3xv4ufgzg"),
    # Published vectors of a port checked against Bicep's uniqueString (uniquestring.sh of an aztunnel project).
    (("hello", "world"), "a7wkljktk6wne"),
    (("abc",), "cgtzqvhu4i23s"),
    (("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg",), "bmg7c6xu4tw46"),
    (("foo", "bar", "baz"), "xzi4ioaxtmth4"),
])
def test_unique_string_matches_azure(parts: tuple[str, ...], expected: str) -> None:
    assert unique_string(*parts) == expected


def test_unique_string_covers_every_tail_length() -> None:
    # 0..8 bytes past the last full block go through the tail paths; all give 13 base32 characters, all distinct
    values = {unique_string("x" * n) for n in range(17)}
    assert len(values) == 17
    assert all(len(v) == 13 and set(v) <= set("abcdefghijklmnopqrstuvwxyz234567") for v in values)


def test_unique_string_is_case_sensitive_and_joins_with_a_dash() -> None:
    assert unique_string("ABC") != unique_string("abc")
    assert unique_string("a", "b") == unique_string("a-b")


def test_guid_matches_azure() -> None:
    # New-AzGuid -InputStrings 'test','value' of the AzExpression module, which calls Azure.Deployments.Expression.
    assert guid("test", "value") == "95b33d6a-06a0-5961-9b94-a0f6c648352b"


def test_the_functions_in_a_template_give_the_same_values() -> None:
    assert value_of("[uniqueString(resourceGroup().id)]") == unique_string(RG_ID)
    assert value_of("[guid('test', 'value')]") == "95b33d6a-06a0-5961-9b94-a0f6c648352b"
    assert value_of("[uniqueString('hello', 'world')]") == "a7wkljktk6wne"


def test_template_hash_is_a_stable_decimal_that_follows_the_content() -> None:
    a = {"resources": [], "contentVersion": "1.0.0.0"}
    same_reordered = {"contentVersion": "1.0.0.0", "resources": []}
    h = template_hash(a)
    assert h.isdigit() and 0 <= int(h) < 2**64
    assert template_hash(same_reordered) == h
    assert template_hash({"resources": [], "contentVersion": "1.0.0.1"}) != h
