"""API errors: raised by handlers, answered as ``{"error": code, ...}`` JSON."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bitagora_protocol import strict_json


class ApiError(Exception):
    """An answer other than success: HTTP status, machine-readable code, extra fields."""

    def __init__(self, status: int, error: str, **fields: Any) -> None:
        super().__init__(f"{status} {error} {fields}" if fields else f"{status} {error}")
        self.status = status
        self.error = error
        self.fields = fields

    def payload(self) -> dict[str, Any]:
        return {"error": self.error, **self.fields}


def malformed(reason: str) -> ApiError:
    return ApiError(400, "malformed", reason=reason)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a strict UTF-8 JSON object (no duplicate key: two parsers
    must read the same values), or a 400 ``malformed``."""
    try:
        data = strict_json.loads(body)
    except strict_json.StrictJsonError as err:
        raise malformed(f"body is not strict JSON: {err}") from None
    if not isinstance(data, dict):
        raise malformed("body must be a JSON object")
    return data


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.payload(), status_code=exc.status)
