"""``GET /automix/ledger``: the spend totals the state holds (shared by every worker with Redis).
A config reload is SIGHUP's (see :meth:`automix_server.server.ServerApp.reload`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Key, Server

__all__ = ["router"]

router = APIRouter()


@router.get("/automix/ledger")
async def ledger(key: Key, server: Server) -> dict[str, Any]:
    return await server.state.totals()
