"""Pages that need no quote: sign in and out, and the rating tables."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

import underwriting as uw
from api.routes import Catalogue, Tables
from api.security import get_store
from api.store import Store
from api.web._render import page
from api.web._session import (
    PageError,
    SignedIn,
    check_csrf,
    session_principal,
    sign_in,
    sign_out,
)

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/quotes"


@router.get("/", response_class=RedirectResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/quotes", 303)


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon (browsers ask for one on every page the service serves, the document too)."""
    return Response(status_code=204)


@router.get("/signin", response_class=HTMLResponse)
def sign_in_page(
    request: Request, store: Annotated[Store, Depends(get_store)], next: str | None = None
) -> Response:
    principal = session_principal(request, store)
    if principal is not None:
        return RedirectResponse(_safe_next(next), 303)
    return page(request, "signin.html", None, next=_safe_next(next), error="")


@router.post("/signin", response_class=HTMLResponse)
def sign_in_form(
    request: Request,
    store: Annotated[Store, Depends(get_store)],
    api_key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/quotes",
) -> Response:
    check_csrf(request, csrf_token)
    principal = sign_in(request, store, api_key)
    if principal is None:
        return page(
            request,
            "signin.html",
            None,
            status_code=401,
            next=_safe_next(next),
            error="This API key is not valid, or it has been revoked.",
        )
    return RedirectResponse(_safe_next(next), 303)


@router.post("/signout")
def sign_out_form(
    request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    sign_out(request)
    return RedirectResponse("/signin", 303)


@router.get("/tables", response_class=HTMLResponse)
def tables_page(
    request: Request,
    principal: SignedIn,
    served: Tables,
    catalogue: Catalogue,
    old: str | None = None,
    new: str | None = None,
) -> Response:
    versions = sorted(catalogue.values(), key=lambda t: (t.effective_date, t.version))
    changes = None
    if old is not None or new is not None:
        for name, version in (("old", old), ("new", new)):
            if version is None or version not in catalogue:
                raise PageError(
                    404,
                    f"{name}: no rating tables version {version!r}; available: "
                    f"{', '.join(catalogue)}.",
                )
        changes = uw.compare_tables(catalogue[str(old)], catalogue[str(new)])
    return page(
        request,
        "tables.html",
        principal,
        versions=versions,
        served=served.version,
        old=old or (versions[-2].version if len(versions) > 1 else served.version),
        new=new or versions[-1].version,
        changes=changes,
        compared=old is not None,
    )
