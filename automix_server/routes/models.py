"""``GET /v1/models``: every route and every tier a request may name (the client key required)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Key, Server

__all__ = ["router"]

router = APIRouter()


@router.get("/v1/models")
async def models(key: Key, server: Server) -> dict[str, Any]:
    rt = server.runtime
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "automix",
             "automix": {"kind": "route", "tiers": [t.name for t in r.tiers]}} for name, r in rt.routes.items()]
    data += [{"id": name, "object": "model", "created": 0, "owned_by": "automix",
              "automix": {"kind": "tier", "model": t.config.model}} for name, t in rt.tiers.items()]
    return {"object": "list", "data": data}
