"""Errors of the pages as pages: the navigation and a plain message, with the error's status.

The API answers its errors as problem details (``api.problems``); a person at a page should see
a page. Every handler the API registers is wrapped: on an API path (``/v1/...``, the health
checks, the OpenAPI document) its problem details go out unchanged; on any other path the same
status, message, field errors and headers (``Retry-After``, ``Allow``) are shown as HTML. An
unexpected error on a page is caught below the session (so the page still knows who is signed
in), logged, and answered as a 500 page that tells nothing of its cause.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from api.problems import PROBLEM_JSON
from api.web._render import page
from api.web._session import PageError, session_principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("api")

API_PATHS = ("/healthz", "/readyz", "/openapi.json")
"""Paths outside ``/v1`` that answer programs, not people: their errors stay problem details."""

KEPT_HEADERS = ("retry-after", "allow", "www-authenticate")
"""The headers of a problem that its page keeps (what a browser or a retry needs)."""


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/") or path in API_PATHS


@dataclass(frozen=True, slots=True)
class ShownError:
    """What an error page shows: the status, a message and, for a form, each field's problem."""

    status: int
    message: str
    errors: list[str] = field(default_factory=list)
    retry_after: str | None = None

    @property
    def phrase(self) -> str:
        return HTTPStatus(self.status).phrase


def error_page(
    request: Request, shown: ShownError, headers: dict[str, str] | None = None
) -> Response:
    """The error page, with the navigation of whoever is signed in (none without a session)."""
    store = getattr(request.app.state, "store", None)
    principal = (
        session_principal(request, store)
        if store is not None and "session" in request.scope
        else None
    )
    response = page(request, "error.html", principal, status_code=shown.status, error=shown)
    response.headers.update(headers or {})
    return response


def _as_page(request: Request, problem: Response) -> Response:
    """A problem-details response as a page with the same status, message and headers."""
    body: dict[str, Any] = json.loads(bytes(problem.body))
    errors = [
        f"{error.get('field', '')}: {error.get('message', '')}" for error in body.get("errors", [])
    ]
    headers = {name: value for name, value in problem.headers.items() if name in KEPT_HEADERS}
    shown = ShownError(
        status=problem.status_code,
        message=str(body.get("detail") or body.get("title") or ""),
        errors=errors if len(errors) > 1 else [],
        retry_after=headers.get("retry-after"),
    )
    return error_page(request, shown, headers)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _for_pages(handler: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handle(request: Request, error: Any) -> Response:
        answer = handler(request, error)
        response = await answer if inspect.isawaitable(answer) else answer
        if is_api_path(request.url.path) or response.media_type != PROBLEM_JSON:
            return response
        return _as_page(request, response)

    return handle


def _page_error(request: Request, error: PageError) -> Response:
    return error_page(request, ShownError(error.status, error.message))


class UnexpectedErrorPage:
    """ASGI middleware, inside the session: an unexpected error on a page is logged and answered
    with the 500 page (the API's paths keep their problem details, answered further out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if started:  # part of a page went out already: nothing else can be sent
                raise
            logger.exception("unexpected error on %s %s", scope["method"], scope["path"])
            shown = ShownError(
                500, "Something went wrong on our side; it has been logged. Try again later."
            )
            response: Response = error_page(Request(scope, receive), shown)
            await response(scope, receive, send)


def install_error_pages(app: FastAPI) -> None:
    """Answer the errors of the pages as pages (call once the API's handlers are registered,
    and before the session middleware is added, so that it runs outside this one)."""
    for kind, handler in list(app.exception_handlers.items()):
        if kind not in (500, Exception):
            app.exception_handlers[kind] = _for_pages(handler)
    app.add_exception_handler(PageError, _page_error)  # type: ignore[arg-type]
    app.add_middleware(UnexpectedErrorPage)
