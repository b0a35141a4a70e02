"""``POST /v1/chat/completions``: an admitted request (see :mod:`..deps`) run by the server, answered
in OpenAI's shape with the extra ``automix`` object and ``x-automix-*`` headers. Streaming sends
keep-alive comments while the cascade runs, then the chosen answer as chunks. A client that goes
away cancels the upstream calls in flight; what they paid for is settled all the same."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from ..deps import Admission, Server
from ..errors import APIError, Scrubber
from ..execute import Admitted, Outcome
from ..server import ServerApp

__all__ = ["error_response", "router"]

log = logging.getLogger("automix_server")

router = APIRouter()

_STREAM_PIECE = 24  # characters per streamed content chunk (the answer is complete when streaming starts)


@router.post("/v1/chat/completions")
async def chat(request: Request, adm: Admission, server: Server) -> Response:
    created = int(time.time())
    if adm.req.stream:
        return StreamingResponse(_stream(server, adm, created), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                          "x-automix-request-id": adm.rid})
    task = asyncio.ensure_future(server.execute(adm))
    watcher = asyncio.ensure_future(_wait_disconnect(request.receive))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():  # the client went away (or this handler was cancelled): stop the calls
            task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)
    if task.cancelled() or task not in done:
        log.info("%s: client disconnected; upstream calls cancelled", adm.rid)
        return Response(status_code=499)
    outcome = task.result()
    if outcome.error is not None:
        return error_response(outcome.error, adm.runtime.scrubber)
    log.info("%s route=%s tier=%s cost=%.3g escalated=%s", adm.rid, outcome.route, outcome.model, outcome.cost,
             outcome.automix.get("escalated"))
    after = BackgroundTask(server.after_response, outcome)  # runs once the response is sent
    return JSONResponse(adm.runtime.scrubber.scrub_obj(_completion(outcome, created)), headers=_headers(outcome),
                        background=after)


async def _stream(server: ServerApp, adm: Admitted, created: int) -> AsyncIterator[bytes]:
    """Keep-alive comments while the request runs, then the chosen answer as chunks (or the error)."""
    include_usage = adm.req.include_usage
    task = asyncio.ensure_future(server.execute(adm))
    interval = adm.runtime.config.keepalive_interval
    scrub = adm.runtime.scrubber
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                break
            yield b": keep-alive\n\n"
        try:
            outcome = task.result()
        except APIError as exc:
            yield _sse(exc.body(scrub))
            yield b"data: [DONE]\n\n"
            return
        if outcome.error is not None:
            yield _sse(outcome.error.body(scrub))
            yield b"data: [DONE]\n\n"
            return
        rid, model = outcome.rid, outcome.model
        yield _sse(_chunk(rid, created, model, {"role": "assistant", "content": ""}, None, include_usage))
        content = outcome.message.get("content")
        if isinstance(content, str) and content:
            content = scrub.scrub(content)
            for i in range(0, len(content), _STREAM_PIECE):
                yield _sse(_chunk(rid, created, model, {"content": content[i:i + _STREAM_PIECE]}, None,
                                  include_usage))
        calls = outcome.message.get("tool_calls")
        if calls:
            deltas = [{"index": i, "id": c.get("id"), "type": c.get("type", "function"),
                       "function": c.get("function")} for i, c in enumerate(calls)]
            yield _sse(_chunk(rid, created, model, {"tool_calls": deltas}, None, include_usage))
        last = _chunk(rid, created, model, {}, outcome.finish_reason, include_usage)
        if not include_usage:
            last["automix"] = scrub.scrub_obj(outcome.automix)
        yield _sse(last)
        if include_usage:
            yield _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                        "system_fingerprint": None, "choices": [], "usage": outcome.usage(),
                        "automix": scrub.scrub_obj(outcome.automix)})
        yield b"data: [DONE]\n\n"
        await server.after_response(outcome)
    finally:
        if not task.done():
            task.cancel()
            log.info("%s: stream closed before the answer; upstream calls cancelled", adm.rid)
        with anyio.CancelScope(shield=True):
            await asyncio.gather(task, return_exceptions=True)


def error_response(err: APIError, scrubber: Scrubber) -> JSONResponse:
    """``err`` as OpenAI's error JSON, scrubbed."""
    return JSONResponse(err.body(scrubber), status_code=err.status, headers=err.headers or None)


def _completion(outcome: Outcome, created: int) -> dict[str, Any]:
    return {
        "id": outcome.rid,
        "object": "chat.completion",
        "created": created,
        "model": outcome.model,
        "choices": [{"index": 0, "message": outcome.message, "finish_reason": outcome.finish_reason,
                     "logprobs": None}],
        "usage": outcome.usage(),
        "system_fingerprint": None,
        "automix": outcome.automix,
    }


def _headers(outcome: Outcome) -> dict[str, str]:
    return {"x-automix-tier": outcome.model, "x-automix-cost-usd": f"{outcome.cost:.10g}",
            "x-automix-escalated": str(bool(outcome.automix.get("escalated"))).lower(),
            "x-automix-request-id": outcome.rid}


def _chunk(outcome_rid: str, created: int, model: str, delta: dict[str, Any], finish: str | None,
           include_usage: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"id": outcome_rid, "object": "chat.completion.chunk", "created": created, "model": model,
                         "system_fingerprint": None,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
    if include_usage:
        c["usage"] = None
    return c


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


async def _wait_disconnect(receive: Callable[[], Awaitable[Any]]) -> None:
    while True:
        msg = await receive()
        if msg.get("type") == "http.disconnect":
            return
