from pathlib import Path

from azvm.domain.docgen import render_states_doc


def test_states_page_is_generated_from_the_table() -> None:
    page = Path(__file__).parents[2] / "docs" / "states.md"
    assert page.read_text(encoding="utf-8") == render_states_doc(), "run: azvm states-doc -o docs/states.md"


def test_states_page_lists_every_refusal_with_azures_wording() -> None:
    text = render_states_doc()
    assert ("| deallocated | powerOff | refused (409 OperationNotAllowed) | 409 `OperationNotAllowed`: Operation"
            " 'powerOff' is not allowed on VM '{vm}' since the VM is either deallocated or marked to be"
            " deallocated.") in text
    assert "    running --> stopping" in text and "    deleting --> deleted" in text
