"""The routers' FastAPI dependencies: the server, the client key (authentication) and admission.

Admission is, in order: client key (401) -> body (400, the field named) -> route or tier (400) -> rate
limits (429) -> budget reservation (429). Each step is a dependency, so a router states what it needs
(``Depends(client_key)``, ``Depends(admitted)``) and holds no checks of its own.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from .errors import APIError
from .execute import Admitted
from .schema import parse_request
from .server import ServerApp
from .service import ClientKey, estimate_passthrough, estimate_reservation
from .state import guarded

__all__ = ["Admission", "Key", "Server", "admitted", "bearer", "client_key", "get_server"]


def get_server(request: Request) -> ServerApp:
    """The :class:`~automix_server.server.ServerApp` of this app."""
    server: ServerApp = request.app.state.server
    return server


Server = Annotated[ServerApp, Depends(get_server)]
"""A route's parameter for the server."""


def bearer(request: Request) -> str | None:
    """The key a client presented: ``Authorization: Bearer KEY``, else ``x-api-key`` / ``api-key``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key") or request.headers.get("api-key")


async def client_key(request: Request, server: Server) -> ClientKey | None:
    """The client key the request presents (None on an open server); a 401 :class:`APIError` otherwise."""
    try:
        return server.runtime.authenticate(bearer(request))
    except APIError:
        server.metrics.refused.labels("auth").inc()
        raise


Key = Annotated[ClientKey | None, Depends(client_key)]
"""A route's parameter for the authenticated client key."""


async def admitted(request: Request, key: Key, server: Server) -> Admitted:
    """The request, validated, within its rate limits and with its budget reserved."""
    rt = server.runtime
    try:
        req = parse_request(await request.body())
    except APIError:
        server.metrics.refused.labels("invalid_request").inc()
        raise
    route = rt.routes.get(req.model)
    tier = rt.tiers.get(req.model) if route is None else None
    if route is None and tier is None:
        known = ", ".join([*rt.routes, *rt.tiers])
        server.metrics.refused.labels("invalid_request").inc()
        raise APIError(400, f"The model '{req.model}' does not exist here; known: {known}", param="model",
                       code="model_not_found")
    on_error = rt.config.budget.on_state_error
    limited = await guarded(server.state.check_rate(rt.rate_scopes(key)), on_error, "rate limits", None)
    if limited is not None:
        scope, retry = limited
        server.metrics.refused.labels("rate_limit").inc()
        raise APIError(429, f"Rate limit reached for {scope}; retry in {retry:.1f} s.", type="requests",
                       code="rate_limit_exceeded", headers={"retry-after": str(max(1, round(retry)))})
    budget = rt.config.budget
    if route is not None:
        reserved = (budget.reservation_usd if budget.reservation_usd is not None
                    else estimate_reservation(route, req, req.answer_max_tokens
                                              or route.config.cascade.answer_max_tokens))
    else:
        assert tier is not None
        reserved = budget.reservation_usd or estimate_passthrough(tier, rt.routes[tier.home[0]], req)
    rid = "chatcmpl-" + uuid.uuid4().hex
    scopes = rt.budget_scopes(key)
    refused = await guarded(server.state.reserve(rid, reserved, scopes, budget.reservation_timeout_s),
                            on_error, "budgets", None)
    if refused is not None:
        server.metrics.refused.labels("budget").inc()
        raise APIError(429, f"The {refused} budget is exhausted (this request would reserve ${reserved:.6g}).",
                       type="insufficient_quota", code="insufficient_quota")
    return Admitted(rid, req, key, rt, route, tier, reserved, scopes)


Admission = Annotated[Admitted, Depends(admitted)]
"""A route's parameter for an admitted request."""
