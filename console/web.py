"""The console's ASGI application: the JSON API, the pages, and what every response gets.

Every response carries security headers and a Content-Security-Policy that allows scripts,
styles and images from the console itself only (no inline script, nothing from elsewhere).
Every route but ``/healthz`` (the probes') requires a user: the API a bearer token, the pages a
session cookie; ``/metrics`` (Prometheus') its own bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool

from console import api, metrics, monitoring_pages, pages, version_pages, versions_api
from console.actions import ActionError
from console.backtests import BacktestWorker
from console.settings import Settings, settings_from_environment
from console.web_paths import STATIC

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
POOL_SIZE = 8


def app_from_environment() -> FastAPI:
    """The application as ``python -m console serve`` runs it (uvicorn's factory, so that
    each worker process builds its own, with its own connection pool)."""
    return create_app(settings_from_environment())


def create_app(settings: Settings, *, pool: ConnectionPool | None = None) -> FastAPI:
    """The application; it opens its own connection pool unless given one."""
    own_pool = pool is None
    connections = pool or ConnectionPool(
        settings.dsn,
        min_size=2,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True, "application_name": "streamflow-console"},
        open=False,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own_pool:
            connections.open(wait=True, timeout=30)
        # Backtests run beside the pages when the console was given the archives.
        worker = BacktestWorker(settings, connections) if settings.backtests else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if own_pool:
                connections.close()

    app = FastAPI(
        title="StreamFlow console",
        summary="Work fraud alerts, give verdicts, and feed them back to the pipeline.",
        version="1",
        lifespan=lifespan,
        # The API's document is served by an authenticated route; the interactive pages
        # FastAPI offers load their scripts from a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.pool = connections
    app.state.settings = settings

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        with connections.connection() as connection:
            connection.execute("SELECT 1")
        return Response("ok\n", media_type="text/plain")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(api.router)
    app.include_router(versions_api.router)
    app.include_router(pages.router)
    app.include_router(version_pages.router)
    app.include_router(monitoring_pages.router)
    app.include_router(metrics.router)
    install_error_handlers(app)
    return app


def install_error_handlers(app: FastAPI) -> None:
    """A refused action or a malformed request: JSON for the API, a page for a browser."""

    @app.exception_handler(pages.LoginRequiredError)
    def login_required(request: Request, _: pages.LoginRequiredError) -> Response:
        target = request.url.path if request.method == "GET" else "/queue"
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(ActionError)
    def action_refused(request: Request, error: ActionError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(error)}, status_code=error.status)
        return pages.refused_page(request, str(error), error.status)

    @app.exception_handler(psycopg.DataError)
    def unstorable(request: Request, _: psycopg.DataError) -> Response:
        # A value PostgreSQL cannot hold (a NUL character in a text): the request's fault.
        message = "a value the warehouse cannot store (a NUL character?)"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=422)
        return pages.refused_page(request, message, 422)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Request, error: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            # Pydantic's messages quote the input: a 1 MB field would come back whole.
            problems = [
                {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))[:200]}
                for item in error.errors()[:20]
            ]
            return JSONResponse({"detail": problems}, status_code=422)
        return pages.refused_page(request, "the request was not filled in as expected", 422)
