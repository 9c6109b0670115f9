"""Name checks match whole strings: a trailing newline (which `$` lets through) or any control
character is refused by every name check, in the service and in the route table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azvm.arm.routes import check_group_name as route_group_check
from azvm.arm.routes import check_resource_name
from azvm.domain.errors import ArmError
from azvm.service.validation import check_group_name, check_vm_name

CHECKS = [check_vm_name, check_group_name, route_group_check, check_resource_name]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("name", ["vm1\n", "vm1\r\n", "rg\x00", "a\tb", "\nvm1"])
def test_control_characters_are_refused(check: object, name: str) -> None:
    with pytest.raises(ArmError):
        check(name)  # type: ignore[operator]


@pytest.mark.parametrize("check", CHECKS)
def test_good_names_pass(check: object) -> None:
    check("vm-1_a.b1")  # type: ignore[operator]


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(max_size=20), st.sampled_from(["\n", "\r", "\x00", "\x1f", "\x7f"]))
def test_any_name_with_a_control_character_is_refused(text: str, ctl: str) -> None:
    for name in (text + ctl, ctl + text):
        for check in CHECKS:
            with pytest.raises(ArmError):
                check(name)
