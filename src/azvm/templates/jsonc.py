"""The text a deployment request carries: JSON, JSONC, and what `az deployment group create` sends.

`az deployment group create` splices the raw template file after an unquoted `template:` key
(`{"properties": {..., template:{<file text, comments and all>}}}`; `JsonCTemplatePolicy`, azure-cli
command_modules/resource/custom.py), so strict JSON is tried first and JSON5 (a superset of JSON with comments and
unquoted keys) second.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json5

from .errors import INVALID_REQUEST_CONTENT, TemplateError

_JSON5_AT = re.compile(r"<string>:(\d+) (.*) at column (\d+)")


def parse_jsonc(text: str | bytes) -> Any:
    """Parse a request body or template; TemplateError(code="InvalidRequestContent") with line and column if bad."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _bad(f"The request content is not UTF-8 text (byte {exc.start}).") from None
    elif text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text)
    except ValueError:
        pass
    if not text.strip():
        raise _bad("The request content is empty.")
    try:
        return json5.loads(text)
    except ValueError as exc:
        raise _bad(_describe(str(exc))) from None
    except RecursionError:
        raise _bad("The request content is nested too deeply.") from None


def _describe(error: str) -> str:
    match = _JSON5_AT.fullmatch(error)
    if match is None:
        return error
    line, what, column = match.groups()
    return f"{what}. Line {line}, position {column}."


def _bad(detail: str) -> TemplateError:
    # ARM's wording for a body it cannot read: "The request content was invalid and could not be deserialized:
    # '...'." (the JSON reader's message, with line and position, goes between the quotes).
    return TemplateError(f"The request content was invalid and could not be deserialized: '{detail}'.",
                         code=INVALID_REQUEST_CONTENT)
