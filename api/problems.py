"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error names what was wrong: for validation, each field, the value sent and what is allowed.
A stack trace never reaches the client; an unexpected error is a bare 500 problem and is logged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from underwriting.errors import (
    AuthorityError,
    QuoteExpiredError,
    TransitionError,
    UnderwritingError,
    WorkflowError,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA_REF = "#/components/schemas/ProblemOut"
logger = logging.getLogger("api")

_MEANINGS = {
    401: "No valid API key: missing, unknown or revoked.",
    403: "The key's role may not do this.",
    404: "No such object, or not one this key may see.",
    409: "The request conflicts with what is stored (the detail says what).",
    413: "The request body is over the service's limit.",
    429: "Over this principal's limit of simulation work (concurrent requests or requests a "
    "minute); retry after the Retry-After header's seconds.",
    422: "Invalid request: each field named with the value sent and what is allowed.",
    503: "Not ready: the rating tables or the store are not available.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem-details errors an endpoint can answer."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {
            "description": _MEANINGS[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
        }
        for status in statuses
    }
    if 429 in responses:
        responses[429]["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return responses


class Problem(Exception):  # noqa: N818 - named for what it carries: RFC 9457 problem details
    """An error to send as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = headers


class ProblemResponse(JSONResponse):
    """Problem details as ASCII JSON: text echoed from the request may hold a lone surrogate
    (``"\\ud927"`` is valid JSON), which has no UTF-8 form but escapes as ``\\ud927``."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    title: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    return ProblemResponse(body, status_code=status, headers=headers)


def _safe(value: Any) -> Any:
    """A JSON-safe, bounded echo of a submitted value (NaN and infinities as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) else value[:200]
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as ``{"field", "value", "message"}``, the field as a dotted path."""
    out = []
    for error in errors:
        if error.get("type") == "json_invalid":
            position = error.get("loc", ("body", "?"))[-1]
            out.append(
                {
                    "field": "(body)",
                    "value": None,
                    "message": f"not valid JSON at character {position}: "
                    f"{error.get('ctx', {}).get('error', 'invalid')}",
                }
            )
            continue
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        out.append(
            {
                "field": ".".join(location) or "(body)",
                "value": _safe(error.get("input")),
                "message": str(error.get("msg", "invalid")),
            }
        )
    return out


def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """405 with ``Allow`` naming every method the path serves.

    The router answers from the first route whose path matches, so a path served by two
    routes (``GET`` and ``POST /v1/quotes``) was answered ``Allow: POST``. The routes' paths and
    methods are in ``app.state.methods_by_path`` (set by ``create_app``).
    """
    path = request.url.path
    methods: set[str] = set()
    for pattern, served in getattr(request.app.state, "methods_by_path", ()):
        if pattern.match(path):
            methods |= served
    headers = dict(getattr(exc, "headers", None) or {})
    if methods:
        headers["Allow"] = ", ".join(sorted(methods))
    allowed = headers.get("Allow", headers.get("allow", ""))
    return problem_response(
        405,
        f"{request.method} is not allowed on {path}"
        + (f"; allowed: {allowed}." if allowed else "."),
        headers=headers,
        instance=path,
    )


_WORKFLOW_TITLES = {
    403: "Not within this key's authority",
    409: "Not allowed in the quote's state",
    422: "Cannot underwrite this request",
}


def workflow_status(error: WorkflowError) -> int:
    """The HTTP status of a workflow error (docs/workflow.md): 403 for authority, 409 for a
    state or an expired quote that does not allow the action, 422 for an offer or a revision
    the tables or the parent do not allow."""
    if isinstance(error, AuthorityError):
        return 403
    if isinstance(error, TransitionError | QuoteExpiredError):
        return 409
    return 422


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on ``app``."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        first = errors[0] if errors else {"field": "(body)", "message": "invalid"}
        return problem_response(
            422,
            f"{first['field']}: {first['message']}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(ValidationError)
    async def _invalid_model(request: Request, exc: ValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        return problem_response(
            422,
            f"{errors[0]['field']}: {errors[0]['message']}",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(WorkflowError)
    async def _workflow(request: Request, exc: WorkflowError) -> JSONResponse:
        return problem_response(
            workflow_status(exc),
            str(exc),
            title=_WORKFLOW_TITLES[workflow_status(exc)],
            instance=request.url.path,
        )

    @app.exception_handler(UnderwritingError)
    async def _domain(request: Request, exc: UnderwritingError) -> JSONResponse:
        return problem_response(
            422, str(exc), title="Cannot underwrite this request", instance=request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's 400 for a body that is not UTF-8: answered like any other bad JSON.
            cause = exc.__cause__
            return problem_response(
                422,
                f"(body): not valid UTF-8 at byte {cause.start}",
                errors=[
                    {
                        "field": "(body)",
                        "value": None,
                        "message": f"not valid UTF-8 at byte {cause.start}: {cause.reason}",
                    }
                ],
                instance=request.url.path,
            )
        if exc.status_code == 405:
            return _method_not_allowed(request, exc)
        return problem_response(
            exc.status_code,
            str(exc.detail),
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "An unexpected error occurred; it has been logged.", instance=request.url.path
        )
