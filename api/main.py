"""The application factory: ``create_app()`` wires settings, store, tables, errors and routes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

import underwriting as uw
from api import problems
from api.limits import SimulationLimiter
from api.routes import router
from api.schemas import ProblemOut
from api.settings import Settings, get_settings
from api.store import Store
from api.web import install as install_pages
from api.workflow_routes import router as workflow_router

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 problem details, before parsing.

    A declared Content-Length over the limit is refused at once; a body without one (chunked)
    is read here, up to the limit, and handed on only if it fits.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], then=receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem_response(
            413,
            f"The request body is over the limit of {self.limit:,} bytes.",
            instance=scope.get("path"),
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that yields ``messages`` first, then defers to ``then``."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    tables: uw.RatingTables | None = None,
) -> FastAPI:
    """Build the quoting service.

    The rating tables are loaded and validated, and the store's schema created, before the first
    request; a broken table or a newer store stops the start with a message naming the cause.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every version is loaded and validated whole before one request is served; the
        # catalogue is then only read, never reloaded, so no request sees a half-loaded table.
        catalogue = load_catalogue(settings, tables)
        app.state.catalogue = catalogue
        app.state.tables = catalogue[tables.version if tables else _served(settings, catalogue)]
        app.state.store = store or Store(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        app.state.store.create_schema()
        # The simulation kernel and the pricing's book weights are compiled (or loaded from
        # numba's cache) before the first request, so no quote waits for the compiler: 10-25 s
        # on a first start, then well under a second. Said in the server's log, so that a slow
        # first start is explained.
        started = time.perf_counter()
        compiled = uw.warm_up()
        logging.getLogger("uvicorn.error").info(
            "simulation kernel and book weights %s in %.1f s",
            "ready" if compiled else "not available, the NumPy engine runs",
            time.perf_counter() - started,
        )
        yield
        app.state.store.engine.dispose()

    app = FastAPI(
        title="Laboratory all-risk underwriting API",
        version=uw.__version__,
        description="Quotes for laboratory all-risk insurance: premium with its build-up, "
        "options on common random numbers, decision with reasons; simulations for actuaries.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.limiter = SimulationLimiter(
        settings.max_concurrent_simulations_per_principal,
        settings.max_simulations_per_minute_per_principal,
    )
    problems.install(app)
    app.include_router(router)
    app.include_router(workflow_router)
    # Every method each path serves, for the Allow header of a 405 (api/problems.py).
    app.state.methods_by_path = [
        (route.path_regex, frozenset(route.methods or ()))
        for route in (*router.routes, *workflow_router.routes)
        if isinstance(route, APIRoute)
    ]
    install_pages(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.openapi = _with_problem_schema(app, settings)  # type: ignore[method-assign]
    return app


def load_catalogue(
    settings: Settings, served: uw.RatingTables | None = None
) -> Mapping[str, uw.RatingTables]:
    """Every rating-tables version under ``settings.tables_dir``, each loaded and validated.

    ``served``, when given, stands for its own version. Raises ``RatingTableError`` naming the
    file, row and field of the first problem, so that a broken table stops the start.
    """
    root = settings.tables_dir
    versions = uw.available_versions(root)
    if not versions and served is None:
        raise uw.RatingTableError(f"no rating tables found under {root or 'the package'}")
    loaded = {
        version: served
        if served is not None and version == served.version
        else uw.load_rating_tables(version, root=root)
        for version in versions
    }
    if served is not None:
        loaded[served.version] = served
    return MappingProxyType(loaded)


def _served(settings: Settings, catalogue: Mapping[str, uw.RatingTables]) -> str:
    """The version to quote with: the setting's, or the newest."""
    if settings.tables_version is None:
        return max(catalogue.values(), key=lambda t: (t.effective_date, t.version)).version
    if settings.tables_version not in catalogue:
        raise uw.RatingTableError(
            f"UW_TABLES_VERSION {settings.tables_version!r} not found; available: "
            f"{', '.join(catalogue) or 'none'}"
        )
    return settings.tables_version


def _with_problem_schema(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with the problem-details schema that the documented errors refer to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            problem = ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["ProblemOut"] = problem
            _tags_required(schemas)
            _property_names_inline(schemas)
            # The cap on a simulation's years is a setting: the schema states this service's.
            n_years = schemas["SimulationIn"]["properties"]["n_years"]
            n_years["maximum"] = settings.max_simulation_years
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


def _tags_required(schemas: dict[str, Any]) -> None:
    """Mark the tag of every discriminated union as required in each of its variants.

    ``{"family": "poisson", "rate": 2}``: a variant's tag has a default in Python
    (``uw.Poisson(rate=2)``), so pydantic leaves it out of ``required``; but in a request the
    union needs the tag to choose the variant, and a body without it is refused (422 "Unable to
    extract tag using discriminator"). The schema says so.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            discriminator = node.get("discriminator")
            if isinstance(discriminator, dict):
                tag = discriminator["propertyName"]
                for reference in discriminator.get("mapping", {}).values():
                    variant = schemas[reference.rsplit("/", 1)[-1]]
                    required = variant.setdefault("required", [])
                    if tag not in required:
                        required.insert(0, tag)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)


def _property_names_inline(schemas: dict[str, Any]) -> None:
    """Write the key schema of a mapping in place of its reference (``propertyNames``).

    ``terms.sections`` and ``value_at_risk`` take only section names as keys. The schema said
    so by reference (``"propertyNames": {"$ref": ".../Section"}``), which generators of test
    data (schemathesis) do not follow: they sent other keys as valid data. The same enum,
    inline, says the same to every reader.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            names = node.get("propertyNames")
            if isinstance(names, dict) and set(names) == {"$ref"}:
                target = schemas[names["$ref"].rsplit("/", 1)[-1]]
                node["propertyNames"] = {k: v for k, v in target.items() if k != "title"}
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)
