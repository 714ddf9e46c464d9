"""Signing in to the pages: an API key kept as its hash in a signed session cookie, and a CSRF
token on every form.

The cookie is Starlette's session (signed with itsdangerous, HttpOnly, SameSite=Lax). It holds
the key's hash, never the key, and the key is looked up again on every request, so a revoked
key signs its pages out at once. The CSRF token is random per session and every POST must carry
it in the form field ``csrf_token``: SameSite=Lax already keeps other sites' forms from
carrying the cookie, the token covers older browsers and same-site pages.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.security import Principal, get_store
from api.store import Store, hash_key

QUOTING_ROLES = ("underwriter", "senior_underwriter", "chief_underwriter")
"""The roles that see quote pages (as the API's quote endpoints; admin always)."""


class WebSettings(BaseSettings):
    """Settings of the pages, from the environment (prefix ``UW_``)."""

    model_config = SettingsConfigDict(env_prefix="UW_", extra="ignore")

    session_secret: str = Field(
        default_factory=lambda: secrets.token_urlsafe(32),
        min_length=16,
        description="key that signs the session cookie; random per process when unset, so that "
        "sessions end with the process. Set it when several processes serve the pages",
    )
    session_max_age_s: int = Field(
        default=8 * 3600, gt=0, description="a session ends this long after sign-in (seconds)"
    )
    secure_cookies: bool = Field(
        default=False, description="send the session cookie over HTTPS only (behind TLS)"
    )


@lru_cache
def get_web_settings() -> WebSettings:
    return WebSettings()


class SignInRequiredError(Exception):
    """The page needs a signed-in key: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageError(Exception):
    """A page that cannot be shown: rendered as an HTML error page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def one_time_token() -> str:
    """A token for one form (sent back in its field ``idempotency_key``): the form's create is
    stored under it as the API's Idempotency-Key, so that a form sent twice makes one object."""
    return secrets.token_urlsafe(18)


TOKEN_LENGTH = 200
"""The longest one-time form token taken (the store's Idempotency-Key column)."""


def form_token(form: Mapping[str, Any]) -> str | None:
    """The form's one-time token (field ``idempotency_key``), or ``None`` if it carries none."""
    token = form.get("idempotency_key")
    return token[:TOKEN_LENGTH] if isinstance(token, str) and token else None


def check_csrf(request: Request, presented: str | None) -> None:
    """403 unless ``presented`` is this session's CSRF token."""
    expected = request.session.get("csrf")
    if not (
        isinstance(expected, str)
        and presented
        and hmac.compare_digest(expected.encode(), presented.encode())
    ):
        raise PageError(
            403,
            "The form's security token is missing or out of date (the session may have ended). "
            "Reload the page and send the form again.",
        )


def sign_in(request: Request, store: Store, key: str) -> Principal | None:
    """Keep ``key``'s hash in the session if it is a valid, unrevoked key; its principal."""
    record = store.key_by_hash(hash_key(key.strip()))
    if record is None or record.revoked_at is not None:
        return None
    request.session.clear()
    request.session["key_hash"] = record.key_hash
    csrf_token(request)
    return Principal(name=record.principal, role=record.role)


def sign_out(request: Request) -> None:
    request.session.clear()


def session_principal(request: Request, store: Store) -> Principal | None:
    """The principal of the session's key, or ``None`` (not signed in, or the key revoked)."""
    key_hash = request.session.get("key_hash")
    if not isinstance(key_hash, str):
        return None
    record = store.key_by_hash(key_hash)
    if record is None or record.revoked_at is not None:
        request.session.pop("key_hash", None)
        return None
    return Principal(name=record.principal, role=record.role)


def signed_in(request: Request, store: Annotated[Store, Depends(get_store)]) -> Principal:
    """Any signed-in key; otherwise the sign-in page, coming back here after."""
    principal = session_principal(request, store)
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(path)
    return principal


def quoting(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """A role that works on quotes (or admin); 403 for others, as the API."""
    if principal.role != "admin" and principal.role not in QUOTING_ROLES:
        raise PageError(
            403,
            f"Role {principal.role!r} may not work on quotes; allowed: "
            f"{', '.join(QUOTING_ROLES)}, admin.",
        )
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
Quoting = Annotated[Principal, Depends(quoting)]
