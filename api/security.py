"""API keys and roles: ``Authorization: Bearer <key>``, stored only as hashes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
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


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters an operation declares, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def refuse_unknown_query(request: Request) -> None:
    """422 problem details naming every query parameter the operation does not declare.

    An ignored parameter is a silent wrong answer (``GET /v1/quotes?status=approved`` listed
    every quote before the filter existed). Checked after the key and the role, so that a
    request without a valid key is 401 whatever it carries.
    """
    route = request.scope.get("route")
    allowed = sorted(_query_names(route.dependant)) if isinstance(route, APIRoute) else []
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if not unknown:
        return
    what = f"allowed: {', '.join(allowed)}" if allowed else "this endpoint takes none"
    raise Problem(
        422,
        f"Unknown query parameter{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(repr(name) for name in unknown)}; {what}.",
        errors=[
            {
                "field": f"query.{name}",
                "value": request.query_params[name][:200],
                "message": f"unknown query parameter; {what}",
            }
            for name in unknown
        ],
    )


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


def signed_in(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """Any valid key; then unknown query parameters are refused (422)."""
    refuse_unknown_query(request)
    return principal


def require(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency that admits only ``roles`` (admin always); 403 for any other role. Then
    unknown query parameters are refused (422)."""

    def check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Problem(
                403,
                f"Role {principal.role!r} may not do this; allowed: {', '.join(roles)}, admin.",
            )
        refuse_unknown_query(request)
        return principal

    return check
