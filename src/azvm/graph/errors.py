"""The errors of a query, in the envelope Azure Resource Graph answers with.

A query Resource Graph cannot run is a 400 `BadRequest` whose `details` say why: first
`InvalidQuery` ("Query is invalid. Please refer to the documentation ..."), then the specific
failure, e.g. `ParserFailure` with `line`, `characterPositionInLine` and `token`, or
`InvalidQueryLanguage` naming the operator the service does not support (recorded answers in
Azure/azure-powershell#13762 for `parse`, scautomation/AzureResourceGraph-Examples#2 for
`ParserFailure`). A table the service does not know is `DisallowedLogicalTableName` (the detail
code that Azure SDK users match on, e.g. in public Go and Rust ARG clients). Semantic errors (an
unknown column, a function called with the wrong arguments) take Kusto's wording
(`'where' operator: Failed to resolve scalar expression named 'x'`); their detail code,
`SemanticError`, is azvm's choice.
"""

from __future__ import annotations

from ..domain.errors import BadRequest

INVALID_QUERY = ("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix"
                 " the error before retrying.")


class KqlError(BadRequest):
    """A query that azvm cannot run: 400 BadRequest with Azure's details."""

    def __init__(self, message: str, *, code: str, token: str | None = None, line: int = -1,
                 column: int = -1) -> None:
        detail: dict[str, object] = {"code": code, "message": message}
        if code in ("ParserFailure", "InvalidQueryLanguage"):
            detail.update({"line": line, "characterPositionInLine": column})
            if token is not None:
                detail["token"] = token
        super().__init__(f"The query is invalid: {message}",
                         details=[{"code": "InvalidQuery", "message": INVALID_QUERY}, detail])
        self.detail_code = code
        self.token = token


def unsupported(what: str, token: str, line: int = -1, column: int = -1) -> KqlError:
    """A part of KQL that Resource Graph accepts elsewhere but azvm does not run."""
    return KqlError(f"{what} '{token}' is not supported by azvm's Resource Graph (docs/resource-graph.md).",
                    code="InvalidQueryLanguage", token=token, line=line, column=column)


def semantic(operator: str, message: str) -> KqlError:
    return KqlError(f"'{operator}' operator: {message}", code="SemanticError")


__all__ = ["INVALID_QUERY", "KqlError", "semantic", "unsupported"]
