"""Errors of the domain, carrying ARM codes; the HTTP status is decided at the edge (azvm.arm)."""

from __future__ import annotations


class ArmError(Exception):
    """An error as ARM reports it: `{"error": {"code", "message", "target"?, "details"?}}`."""

    code = "InternalServerError"

    def __init__(self, message: str, *, code: str | None = None, target: str | None = None,
                 details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.target = target
        self.details = details

    def body(self) -> dict[str, object]:
        err: dict[str, object] = {"code": self.code, "message": self.message}
        if self.target is not None:
            err["target"] = self.target
        if self.details:
            err["details"] = self.details
        return {"error": err}


class NotFound(ArmError):
    code = "ResourceNotFound"


class VmNotFound(NotFound):
    """The VM is not there when an operation on it is decided (a DELETE answers 204 for it)."""


class ResourceGroupNotFound(ArmError):
    code = "ResourceGroupNotFound"


class OperationNotAllowed(ArmError):
    code = "OperationNotAllowed"


class Conflict(ArmError):
    code = "Conflict"


class InvalidParameter(ArmError):
    code = "InvalidParameter"


class BadRequest(ArmError):
    code = "BadRequest"


class PreconditionFailed(ArmError):
    code = "PreconditionFailed"


class MethodNotAllowed(ArmError):
    code = "MethodNotAllowed"


class RouteNotFound(ArmError):
    """No route of the table matches the path (ARM's gateway answers `NotFound`)."""

    code = "NotFound"


class ConcurrencyError(Exception):
    """The stream moved on between read and append: reload and decide again."""
