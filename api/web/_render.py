"""The templates (packaged with ``api.web``, autoescaped) and how a page is answered."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from api.security import Principal
from api.web._session import csrf_token

environment = Environment(
    loader=PackageLoader("api.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    number = float(value)
    if not math.isfinite(number):
        return "—"
    return f"{number:,.{digits}f}"


def _figure(value: Any) -> str:
    """A metric: an amount to the unit, a probability or ratio to four significant digits."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    number = float(value)
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.4g}"


def _signed(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):+,.0f}"


def _percent(value: Any, digits: int = 1) -> str:
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):+.{digits}%}"


def _share(value: Any, digits: int = 1) -> str:
    """A ratio in percent without a sign (a standard error)."""
    if value is None or not math.isfinite(float(value)):
        return "—"
    return f"{float(value):.{digits}%}"


def _when(value: Any) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "—" if value is None else str(value)


def _words(value: Any) -> str:
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


environment.filters["money"] = _money
environment.filters["percent"] = _percent
environment.filters["share"] = _share
environment.filters["signed"] = _signed
environment.filters["figure"] = _figure
environment.filters["when"] = _when
environment.filters["words"] = _words


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` filled with ``context``, the signed-in principal and a CSRF token."""
    html = environment.get_template(template).render(
        request=request,
        principal=principal,
        csrf=csrf_token(request),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
