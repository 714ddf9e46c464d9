"""Mount the workbench on the service: session, stylesheet, offline API docs, pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote as url_quote

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from api.web._book import router as book
from api.web._charts import ChartCache
from api.web._errors import install_error_pages
from api.web._pages import router as pages
from api.web._policies import router as policies
from api.web._quotes import router as quotes
from api.web._session import SignInRequiredError, get_web_settings

DOCS_ASSETS = "/static/docs"
"""Where Swagger UI's and ReDoc's scripts are served from: the installed fastapi-offline's."""


def install(app: FastAPI) -> None:
    """Add the pages to ``app`` (``create_app`` calls it once)."""
    settings = get_web_settings()
    install_error_pages(app)  # its middleware first: the session runs outside it
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie="uw_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.state.charts = ChartCache()
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    app.mount("/static/workbench", StaticFiles(packages=[("api.web", "static")]), name="workbench")
    _offline_docs(app)
    app.include_router(pages)
    app.include_router(book)
    app.include_router(quotes)
    app.include_router(policies)
    app.add_exception_handler(SignInRequiredError, _to_sign_in)  # type: ignore[arg-type]


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from the installed copies, in place of FastAPI's,
    which load their scripts from a CDN (a blank page without internet)."""
    served = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [
        route
        for route in app.router.routes
        if not (getattr(route, "path", None) in served and not isinstance(route, APIRoute))
    ]
    app.docs_url = app.redoc_url = None
    title = f"{app.title}: API documentation"
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _to_sign_in(request: Request, error: SignInRequiredError) -> Response:
    return RedirectResponse(f"/signin?next={url_quote(error.next_path, safe='')}", 303)
