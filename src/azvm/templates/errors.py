"""The one error of the template evaluator, carrying ARM's code and the template path it concerns."""

from __future__ import annotations

from ..domain.errors import ArmError

INVALID_TEMPLATE = "InvalidTemplate"
INVALID_REQUEST_CONTENT = "InvalidRequestContent"

# ARM wraps every pre-flight refusal in this sentence, e.g. "Deployment template validation failed: 'The resource
# 'Microsoft.Web/sites/func-xyz' is not defined in the template. Please see https://aka.ms/arm-template for usage
# details.'." (MicrosoftDocs azure-docs, articles/azure-functions/functions-infrastructure-as-code.md).
VALIDATION_FAILED = "Deployment template validation failed: '{}'."


class TemplateError(ArmError):
    """A template (or the parameters given for it) that azvm refuses.

    `code` is "InvalidTemplate" unless said otherwise, `message` names what is wrong and where it stands, `target` is
    the template path (e.g. "resources[2].properties.osProfile.adminPassword") or None.
    """

    code = INVALID_TEMPLATE
    target: str | None

    def __init__(self, message: str, *, code: str | None = None, target: str | None = None) -> None:
        super().__init__(message, code=code, target=target)


def validation_failed(inner: str, *, target: str | None = None) -> TemplateError:
    """ARM's pre-flight wording around `inner`."""
    return TemplateError(VALIDATION_FAILED.format(inner), target=target)
