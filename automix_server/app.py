"""The ASGI app (FastAPI): the routers of :mod:`.routes` over one :class:`~.server.ServerApp`.

A request goes through: client key (401) -> body (400, the field named) -> route or tier (400) ->
rate limits (429) -> budget reservation (429), as dependencies (:mod:`.deps`) -> the cascade, or one
tier (:mod:`.execute`) -> settlement of everything it paid for (:class:`~.server.ServerApp`) -> the
response in OpenAI's shape (:mod:`.routes.chat`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .config import ServerConfig
from .errors import APIError
from .learn import announce_routes
from .routes import ROUTERS
from .routes.chat import error_response
from .server import ServerApp
from .service import ClientKey
from .state import State

__all__ = ["ServerApp", "create_app"]

log = logging.getLogger("automix_server")


def create_app(config: ServerConfig, *, reload_path: str | None = None, extra_keys: Sequence[ClientKey] = (),
               state: State | None = None, install_sighup: bool = True,
               transport: httpx.AsyncBaseTransport | None = None,
               overrides: dict[str, Any] | None = None) -> FastAPI:
    """Build the app for ``config`` (raises :class:`~automix_core.ConfigError` naming the field).

    ``reload_path``: the config file re-read on SIGHUP (with ``overrides`` applied). ``extra_keys``: client
    keys given outside the config (``--api-key``). ``state``: a state backend (default: from ``config.state``).
    ``transport``: replaces the network for every upstream (tests).
    """
    server = ServerApp(config, reload_path=reload_path, extra_keys=extra_keys, state=state, transport=transport,
                       overrides=overrides)
    app = FastAPI(title="automix", lifespan=_lifespan(server, install_sighup), docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.server = server
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc, server.runtime.scrubber)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        msg = server.runtime.scrubber.scrub(f"{type(exc).__name__}: {exc}")
        log.error("internal error on %s: %s", request.url.path, msg)
        return error_response(APIError(500, f"internal server error: {msg}", type="server_error"),
                              server.runtime.scrubber)

    return app


def _lifespan(server: ServerApp, install_sighup: bool) -> Any:
    """Start-up (SIGHUP reload, the routes' lines, traffic reconciliation) and draining at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = server.runtime.config
        loop = asyncio.get_running_loop()
        hup = False
        if install_sighup and hasattr(signal, "SIGHUP"):
            try:
                loop.add_signal_handler(signal.SIGHUP, server.reload)
                hup = True
            except (RuntimeError, ValueError, NotImplementedError):
                hup = False  # not the main thread (e.g. tests)
        if server.runtime.open:
            log.warning("no client API key configured: every request is let in (bind to 127.0.0.1 only)")
        announce_routes(server.runtime)
        log.info("automix server up (pid %d): routes %s, state %s", os.getpid(), ", ".join(server.runtime.routes),
                 config.state.split("@")[-1] if config.state != "memory" else "memory")
        reconcile = asyncio.ensure_future(server.capture.reconcile_forever()) if server.capture else None
        try:
            yield
        finally:
            server.draining = True
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
            if server.capture is not None and reconcile is not None:
                reconcile.cancel()
                await server.capture.drain(config.graceful_timeout)
            await server.aclose()

    return lifespan
