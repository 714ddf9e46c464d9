"""API keys and roles: ``Authorization: Bearer <key>``, stored only as hashes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import Problem
from api.store import Store, hash_key

_bearer = HTTPBearer(auto_error=False, description="API key: Authorization: Bearer <key>")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and in which role."""

    name: str
    role: str

    @property
    def sees_all_quotes(self) -> bool:
        return self.role in ("senior_underwriter", "chief_underwriter", "admin")


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    store: Annotated[Store, Depends(get_store)],
) -> Principal:
    """The principal of a valid, unrevoked key; 401 otherwise."""
    unauthorised = Problem(
        401,
        "A valid API key is required: send 'Authorization: Bearer <key>'.",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorised
    presented = hash_key(credentials.credentials)
    record = store.key_by_hash(presented)
    # The lookup is by hash; compare again in constant time so timing says nothing of the key.
    if record is None or not hmac.compare_digest(record.key_hash, presented):
        raise unauthorised
    if record.revoked_at is not None:
        raise unauthorised
    return Principal(name=record.principal, role=record.role)


def require(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that admits only ``roles`` (admin always); 403 for any other role."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Problem(
                403,
                f"Role {principal.role!r} may not do this; allowed: {', '.join(roles)}, admin.",
            )
        return principal

    return check
