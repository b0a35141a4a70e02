"""``/health`` (the process answers), ``/ready`` (every tier and the state answer, not draining) and
``/metrics`` (Prometheus text). No client key: probes and scrapers call them."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ..deps import Server
from ..metrics import CONTENT_TYPE
from ..service import TierRuntime

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "pid": os.getpid()}


@router.get("/ready")
async def ready(server: Server) -> JSONResponse:
    rt = server.runtime
    tiers: dict[str, Any] = {}

    async def probe(t: TierRuntime) -> None:
        try:
            status = await t.upstream.aping()
            tiers[t.name] = {"ok": status < 400 or status == 404, "status": status}
        except Exception as exc:
            tiers[t.name] = {"ok": False, "error": rt.scrubber.scrub(type(exc).__name__)}

    await asyncio.gather(*(probe(t) for t in rt.tiers.values()))
    state_ok = await server.state.ping()
    ok = state_ok and all(v["ok"] for v in tiers.values()) and not server.draining
    return JSONResponse({"status": "ready" if ok else "not ready", "tiers": tiers, "state": state_ok},
                        status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(server: Server) -> Response:
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)
