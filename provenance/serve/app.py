"""The app factory: one FastAPI app over the same library the CLI uses.

    uvicorn --factory provenance.serve.app:app_from_env    # what `provenant serve` runs

Errors leave as one-line JSON (`{"error": ...}`) on the API and as a short page elsewhere,
with the status a client can act on: 400 bad input, 401/403 auth, 404, 413 too large, 415
not an image, 422 malformed request, 503 when the studio's ledger or config is unusable.
A `ProvenantError` never becomes a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from provenance import __version__
from provenance.config import Settings
from provenance.errors import BadInputError, ProvenantError
from provenance.serve import routes_api, routes_audit, routes_resolution, routes_verify
from provenance.serve.auth import LoginRequired
from provenance.serve.context import ServeContext
from provenance.serve.uploads import MULTIPART_OVERHEAD, BodyLimit, error_body

#: Pages may load only their own scripts, styles and images (and `data:` thumbnails).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(settings: Settings) -> FastAPI:
    """The web app for one studio's settings."""
    ctx = ServeContext(settings)
    # Uploads stay in memory: the multipart spool would otherwise roll over to a temporary
    # file past 1 MiB, and the body limit below caps what it can hold.
    MultiPartParser.spool_max_size = settings.serve.max_upload_bytes + MULTIPART_OVERHEAD

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(
        title="Provenant",
        version=__version__,
        summary="Verify content credentials, audit the ledger, generate behind policies.",
        lifespan=lifespan,
    )
    app.state.context = ctx
    app.add_middleware(BodyLimit, limit=settings.serve.max_upload_bytes + MULTIPART_OVERHEAD)
    app.middleware("http")(_security_headers)
    static = resources.files("provenance.serve").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(routes_api.router)
    app.include_router(routes_verify.router)
    app.include_router(routes_audit.router)
    app.include_router(routes_resolution.router)
    _add_error_handlers(app)
    return app


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, for the test that checks each needs a login.

    Walks included routers too (FastAPI 0.120+ wraps them; older versions copy routes).
    """
    found: list[tuple[str, str]] = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                found.extend((method, route.path) for method in sorted(route.methods or ()))

    walk(app.routes)
    return found


def app_from_env() -> FastAPI:
    """The app for the settings `PROVENANT_HOME` / `PROVENANT_CONFIG` name (uvicorn workers)."""
    return create_app(Settings.load())


async def _security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    if not request.url.path.startswith(("/docs", "/redoc")):  # the OpenAPI page loads its UI
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _status_for(exc: ProvenantError) -> int:
    return 400 if isinstance(exc, BadInputError) else 503


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProvenantError)
    async def provenant_error(_request: Request, exc: ProvenantError) -> Response:
        return JSONResponse(error_body(exc.diagnostics()), status_code=_status_for(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse(
            {"error": f"{where}: {first.get('msg')}", "detail": jsonable(errors)},
            status_code=422,
        )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path
        return RedirectResponse(f"/audit/login?next={target}", status_code=303)


def jsonable(value: Any) -> Any:
    """Validation errors with their non-JSON parts (exceptions in `ctx`) as text."""
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(value, custom_encoder={Exception: str})
