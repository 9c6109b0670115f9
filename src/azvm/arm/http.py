"""The ARM edge's HTTP values: those of azvm.wire, which the control API shares."""

from __future__ import annotations

from ..wire import (
    JSON_TYPE,
    MAX_BODY,
    MAX_DEPTH,
    STATUS_BY_CODE,
    Deferred,
    Req,
    Response,
    check_depth,
    empty_response,
    error_response,
    json_response,
    parse_json,
    raw_json_response,
    request_id,
    status_for,
    text_response,
)

__all__ = ["JSON_TYPE", "MAX_BODY", "MAX_DEPTH", "STATUS_BY_CODE", "Deferred", "Req", "Response", "check_depth",
           "empty_response", "error_response", "json_response", "parse_json", "raw_json_response", "request_id",
           "status_for", "text_response"]
