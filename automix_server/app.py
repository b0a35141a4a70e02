"""The ASGI app (FastAPI): ``/v1/chat/completions``, ``/v1/models``, ``/health``, ``/ready``, ``/metrics``.

A request goes through: client key (401) -> body (400, the field named) -> route or tier (400) ->
rate limits (429) -> budget reservation (429) -> the cascade -> settlement of everything it paid for
(also when it failed, timed out or the client went away) -> the response in OpenAI's shape, with the
extra ``automix`` object and ``x-automix-*`` headers. Streaming sends keep-alive comments while the
cascade runs, then the chosen answer as chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from automix_core import AllTiersFailedError, AutoMixResult, ModelError, Usage

from .config import ConfigError, ServerConfig, load_config
from .errors import APIError, Scrubber
from .learn import Learner, announce_routes
from .metrics import CONTENT_TYPE, Metrics
from .schema import ChatRequest, parse_request, question_and_context, to_core_messages
from .service import (
    ClientKey,
    RequestLedger,
    RouteRuntime,
    Runtime,
    TierRuntime,
    automix_block,
    build_engine,
    estimate_passthrough,
    estimate_reservation,
    usage_block,
    usage_records,
)
from .state import BudgetScope, State, guarded, open_state
from .traffic import Capture, build_traffic
from .upstream import RequestCollector, UpstreamTimeout

__all__ = ["ServerApp", "create_app"]

log = logging.getLogger("automix_server")

_STREAM_PIECE = 24  # characters per streamed content chunk (the answer is complete when streaming starts)


@dataclass
class Outcome:
    """What one request produced: the answer (or the error) and everything it paid for."""

    rid: str
    route: str
    model: str
    message: dict[str, Any]
    finish_reason: str
    usages: list[Usage]
    collector: RequestCollector | None
    automix: dict[str, Any]
    result: AutoMixResult | None = None
    error: APIError | None = None
    extra_usage: list[Usage] = field(default_factory=list)
    capture: tuple[Any, ...] | None = None  # what traffic capture needs once the response is sent

    @property
    def cost(self) -> float:
        return sum(u.cost for u in self.usages)

    def usage(self) -> dict[str, Any]:
        return usage_block(self.usages, self.collector)


@dataclass
class Admitted:
    """A request past authentication, validation, rate limits and its budget reservation."""

    rid: str
    req: ChatRequest
    key: ClientKey | None
    runtime: Runtime
    route: RouteRuntime | None
    tier: TierRuntime | None
    reserved: float
    scopes: list[BudgetScope]


class ServerApp:
    """Holds the live :class:`Runtime` (swapped whole on reload), the state and the metrics."""

    def __init__(self, config: ServerConfig, *, reload_path: str | None = None,
                 extra_keys: Sequence[ClientKey] = (), state: State | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, overrides: dict[str, Any] | None = None) -> None:
        self.transport = transport
        self.overrides = dict(overrides or {})
        self.runtime = Runtime.build(config, extra_keys, transport)
        self.extra_keys = list(extra_keys)
        self.reload_path = reload_path
        self.state: State = state if state is not None else open_state(config.state, config.state_prefix)
        self.metrics = Metrics()
        traffic = build_traffic(config.traffic, config.state, config.state_prefix, config.base_dir,
                                self.runtime.scrubber.scrub)
        self.capture = Capture(traffic, self.metrics, self.state) if traffic is not None else None
        self.learner = Learner(self) if config.learn is not None and self.capture is not None else None
        self.reloads = 0
        self.draining = False
        self._old: list[Runtime] = []

    # -- reload ---------------------------------------------------------------------------------

    def reload(self, path: str | None = None) -> bool:
        """Re-read the config file and swap in a fully built runtime; on any error keep the old one.

        Fields that need a restart (``state``, ``state_prefix``, ``host``, ``port``, ``workers``) must not
        change. Returns whether the new config was applied.
        """
        src = path or self.reload_path
        if not src:
            log.warning("SIGHUP: no config file to reload (started without --config)")
            return False
        old = self.runtime
        try:
            cfg = load_config(src, self.overrides)
            for name in ("state", "state_prefix", "host", "port", "workers", "traffic"):
                if getattr(cfg, name) != getattr(old.config, name):
                    raise ConfigError(f"{name}: changing it needs a restart (was {getattr(old.config, name)!r})")
            new = Runtime.build(cfg, self.extra_keys, self.transport)
        except ConfigError as exc:
            log.error("config reload rejected, the running config is kept: %s", old.scrubber.scrub(str(exc)))
            return False
        self._swap(new)
        log.info("config reloaded from %s (%d routes)", src, len(new.routes))
        return True

    def rebuild(self) -> bool:
        """Build the running config again (e.g. to take a learnt router) and swap it in whole, as a reload."""
        try:
            new = Runtime.build(self.runtime.config, self.extra_keys, self.transport)
        except ConfigError as exc:
            log.error("rebuild rejected, the running runtime is kept: %s", self.runtime.scrubber.scrub(str(exc)))
            return False
        self._swap(new)
        return True

    def _swap(self, new: Runtime) -> None:
        self._old.append(self.runtime)
        self.runtime = new
        self.reloads += 1

    async def close_old(self) -> None:
        """Close replaced runtimes once no request uses them any more."""
        keep = []
        for rt in self._old:
            if rt.inflight == 0:
                await rt.aclose()
            else:
                keep.append(rt)
        self._old = keep

    async def aclose(self) -> None:
        await self.runtime.aclose()
        for rt in self._old:
            await rt.aclose()
        self._old = []
        await self.state.aclose()

    async def after_response(self, outcome: Outcome) -> None:
        """Traffic capture (and shadowing) of an answered request, started once its response is sent."""
        if self.capture is not None and outcome.capture is not None and outcome.error is None:
            self.capture.after(*outcome.capture)

    # -- admission ------------------------------------------------------------------------------

    async def admit(self, request: Request, body: bytes) -> Admitted:
        rt = self.runtime
        presented = _bearer(request)
        try:
            key = rt.authenticate(presented)
        except APIError:
            self.metrics.refused.labels("auth").inc()
            raise
        try:
            req = parse_request(body)
        except APIError:
            self.metrics.refused.labels("invalid_request").inc()
            raise
        route = rt.routes.get(req.model)
        tier = rt.tiers.get(req.model) if route is None else None
        if route is None and tier is None:
            known = ", ".join([*rt.routes, *rt.tiers])
            self.metrics.refused.labels("invalid_request").inc()
            raise APIError(400, f"The model '{req.model}' does not exist here; known: {known}", param="model",
                           code="model_not_found")
        on_error = rt.config.budget.on_state_error
        limited = await guarded(self.state.check_rate(rt.rate_scopes(key)), on_error, "rate limits", None)
        if limited is not None:
            scope, retry = limited
            self.metrics.refused.labels("rate_limit").inc()
            raise APIError(429, f"Rate limit reached for {scope}; retry in {retry:.1f} s.", type="requests",
                           code="rate_limit_exceeded", headers={"retry-after": str(max(1, round(retry)))})
        if route is not None:
            reserved = (rt.config.budget.reservation_usd if rt.config.budget.reservation_usd is not None
                        else estimate_reservation(route, req, req.answer_max_tokens
                                                  or route.config.cascade.answer_max_tokens))
        else:
            assert tier is not None
            reserved = rt.config.budget.reservation_usd or estimate_passthrough(tier, req)
        rid = "chatcmpl-" + uuid.uuid4().hex
        scopes = rt.budget_scopes(key)
        refused = await guarded(self.state.reserve(rid, reserved, scopes, rt.config.budget.reservation_timeout_s),
                                on_error, "budgets", None)
        if refused is not None:
            self.metrics.refused.labels("budget").inc()
            raise APIError(429, f"The {refused} budget is exhausted (this request would reserve ${reserved:.6g}).",
                           type="insufficient_quota", code="insufficient_quota")
        return Admitted(rid, req, key, rt, route, tier, reserved, scopes)

    # -- execution ------------------------------------------------------------------------------

    async def execute(self, adm: Admitted) -> Outcome:
        """Run the request; settles what it paid for in every case (also when cancelled)."""
        rt = adm.runtime
        rt.inflight += 1
        ledger: RequestLedger | None = None
        collector = RequestCollector()
        outcome: Outcome | None = None
        started = time.perf_counter()
        try:
            if adm.route is not None:
                ledger = RequestLedger(adm.route.ledger)
                outcome = await self._cascade(adm, adm.route, collector, ledger)
            else:
                assert adm.tier is not None
                outcome = await self._passthrough(adm, adm.tier, collector)
            return outcome
        finally:
            usages = outcome.usages if outcome is not None else (ledger.usages if ledger is not None else [])
            with anyio.CancelScope(shield=True):
                try:
                    await self.state.settle(adm.rid, adm.scopes, usage_records(usages, collector))
                except Exception as exc:  # the response still goes out; the reservation expires
                    log.error("settling %s failed: %s", adm.rid, rt.scrubber.scrub(f"{type(exc).__name__}: {exc}"))
                rt.inflight -= 1
                self._record_metrics(adm, outcome, usages, time.perf_counter() - started)
                if self._old:
                    await self.close_old()

    async def _cascade(self, adm: Admitted, route: RouteRuntime, collector: RequestCollector,
                       ledger: RequestLedger) -> Outcome:
        req = adm.req
        core = to_core_messages(req)
        question, context = question_and_context(req, core, route.config.context_from)
        engine = build_engine(route, req, collector, ledger, adm.reserved)
        timeout = adm.runtime.config.request_timeout
        only = len(route.tiers) - 1 if route.learning else None  # learning: the reference serves
        try:
            result = await asyncio.wait_for(engine.arun(question, context, messages=core, tier=only), timeout)
        except AllTiersFailedError as exc:
            timed_out = all(_is_timeout(e) for _, e in exc.failures)
            lines = "; ".join(f"tier {i} ({name}): {type(e).__name__}: {e}" for i, (name, e) in enumerate(exc.failures))
            block = automix_block(route.name, None, ledger.usages, adm.reserved, adm.rid, exc.trace)
            block["usage"] = usage_block(ledger.usages, collector)
            err = APIError(504 if timed_out else 502, f"Every AutoMix tier failed: {lines}",
                           type="upstream_error", code="upstream_timeout" if timed_out else "all_tiers_failed",
                           extra={"automix": block})
            return Outcome(adm.rid, route.name, "", {}, "error", list(ledger.usages), collector, block, error=err)
        except asyncio.TimeoutError:
            block = automix_block(route.name, None, ledger.usages, adm.reserved, adm.rid)
            block["usage"] = usage_block(ledger.usages, collector)
            err = APIError(504, f"The request did not finish within {timeout:g} s.", type="upstream_error",
                           code="request_timeout", extra={"automix": block})
            return Outcome(adm.rid, route.name, "", {}, "error", list(ledger.usages), collector, block, error=err)
        except (ValueError, TypeError) as exc:
            raise APIError(400, str(exc), param="messages", code="invalid_value") from None
        choice = collector.answers.get(result.tier, {})
        msg = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        message: dict[str, Any] = {"role": "assistant", "content": msg.get("content", result.answer)
                                   if isinstance(msg, dict) else result.answer}
        if isinstance(msg, dict) and msg.get("tool_calls"):
            message["tool_calls"] = msg["tool_calls"]
        message.setdefault("refusal", msg.get("refusal") if isinstance(msg, dict) else None)
        finish = choice.get("finish_reason") or ("tool_calls" if message.get("tool_calls") else "stop")
        block = automix_block(route.name, result, ledger.usages, adm.reserved, adm.rid)
        job = (adm.rid, route, engine, result, question, context, core, route.learning)
        return Outcome(adm.rid, route.name, result.model, message, str(finish), list(ledger.usages), collector,
                       block, result=result, capture=job)

    async def _passthrough(self, adm: Admitted, tier: TierRuntime, collector: RequestCollector) -> Outcome:
        """``model`` names a tier: one call to it, billed, no verification."""
        req = adm.req
        extra = req.pass_through()
        stop = extra.pop("stop", None)
        usages: list[Usage] = []
        last_err: BaseException | None = None
        for _attempt in range(2):
            try:
                reply = await asyncio.wait_for(
                    tier.upstream.call(req.raw_messages(), temperature=req.temperature,
                                       max_tokens=req.answer_max_tokens, stop=stop, extra=extra),
                    adm.runtime.config.request_timeout)
            except (ModelError, asyncio.TimeoutError) as exc:
                last_err = exc
                if isinstance(exc, ModelError) and exc.retryable:
                    continue
                break
            collector.add_cached(reply.payload, tier.name, "answer")
            gen = reply.generation
            estimated = gen.input_tokens is None or gen.output_tokens is None
            inp = gen.input_tokens if gen.input_tokens is not None else _prompt_estimate(req)
            out = gen.output_tokens if gen.output_tokens is not None else max(1, len(" ".join(gen.texts)) // 4)
            usages.append(Usage(model=tier.name, input_tokens=inp, output_tokens=out, cost=tier.price.cost(inp, out),
                                estimated=estimated, purpose="answer", tier=0))
            choice = reply.payload["choices"][0]
            msg = choice.get("message") or {}
            message = {"role": "assistant", "content": msg.get("content"), "refusal": msg.get("refusal")}
            if msg.get("tool_calls"):
                message["tool_calls"] = msg["tool_calls"]
            block = {"request_id": adm.rid, "route": None, "tier": tier.name, "tier_index": 0,
                     "cost_usd": sum(u.cost for u in usages), "escalated": False, "tiers_visited": [0],
                     "estimated_usage": estimated, "reserved_usd": adm.reserved, "passthrough": True,
                     "usage_by_purpose": {"answer": {"calls": 1, "input_tokens": inp, "output_tokens": out,
                                                     "cost_usd": usages[0].cost}}, "trace": []}
            return Outcome(adm.rid, tier.name, tier.name, message, str(choice.get("finish_reason") or "stop"), usages,
                           collector, block)
        timed_out = _is_timeout(last_err)
        err = APIError(504 if timed_out else 502, f"tier {tier.name} failed: {type(last_err).__name__}: {last_err}",
                       type="upstream_error", code="upstream_timeout" if timed_out else "upstream_error")
        return Outcome(adm.rid, tier.name, "", {}, "error", usages, collector, {}, error=err)

    def _record_metrics(self, adm: Admitted, outcome: Outcome | None, usages: Sequence[Usage], seconds: float) -> None:
        m = self.metrics
        route = adm.route.name if adm.route is not None else f"tier:{adm.tier.name if adm.tier else '?'}"
        status = "cancelled" if outcome is None else ("ok" if outcome.error is None else str(outcome.error.status))
        m.requests.labels(route, status, outcome.model if outcome is not None and outcome.model else "").inc()
        m.latency.labels(route, str(adm.req.stream).lower()).observe(seconds)
        for u in usages:
            m.tokens.labels(u.model, u.purpose, "input").inc(u.input_tokens)
            m.tokens.labels(u.model, u.purpose, "output").inc(u.output_tokens)
            m.cost.labels(u.model, u.purpose).inc(u.cost)
        steps = outcome.result.trace if outcome is not None and outcome.result is not None else []
        if outcome is not None and outcome.result is None and outcome.automix.get("trace"):
            steps = []
            for t in outcome.automix["trace"]:
                if t.get("error"):
                    m.upstream_errors.labels(t["model"]).inc()
        for t in steps:
            if t.confidence is not None:
                m.confidence.labels(t.model).observe(t.confidence)
            m.tier_latency.labels(t.model).observe(t.latency_ms / 1000)
            if t.error is not None:
                m.upstream_errors.labels(t.model).inc()
            if t.decision == "escalate" and t.decision_target is not None and adm.route is not None:
                target = adm.route.tiers[t.decision_target].name if t.decision_target < len(adm.route.tiers) else "?"
                m.escalations.labels(route, t.model, target).inc()


def _prompt_estimate(req: ChatRequest) -> int:
    return sum(len(json.dumps(m.content)) for m in req.messages) // 4 + 4 * len(req.messages)


def _is_timeout(err: BaseException | None) -> bool:
    if isinstance(err, (UpstreamTimeout, asyncio.TimeoutError)):
        return True
    return isinstance(err, ModelError) and "no reply within" in str(err)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key") or request.headers.get("api-key")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def _error_response(err: APIError, scrubber: Scrubber) -> JSONResponse:
    return _json(err.body(scrubber), err.status, err.headers or None)


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


def create_app(config: ServerConfig, *, reload_path: str | None = None, extra_keys: Sequence[ClientKey] = (),
               state: State | None = None, install_sighup: bool = True,
               transport: httpx.AsyncBaseTransport | None = None,
               overrides: dict[str, Any] | None = None) -> FastAPI:
    """Build the app for ``config`` (raises :class:`~automix_server.config.ConfigError` naming the field).

    ``reload_path``: the config file re-read on SIGHUP (with ``overrides`` applied). ``extra_keys``: client
    keys given outside the config (``--api-key``). ``state``: a state backend (default: from ``config.state``).
    ``transport``: replaces the network for every upstream (tests).
    """
    server = ServerApp(config, reload_path=reload_path, extra_keys=extra_keys, state=state, transport=transport,
                       overrides=overrides)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    app = FastAPI(title="automix", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc, server.runtime.scrubber)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        msg = server.runtime.scrubber.scrub(f"{type(exc).__name__}: {exc}")
        log.error("internal error on %s: %s", request.url.path, msg)
        return _error_response(APIError(500, f"internal server error: {msg}", type="server_error"),
                               server.runtime.scrubber)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        rt = server.runtime
        tiers: dict[str, Any] = {}

        async def probe(t: TierRuntime) -> None:
            try:
                status = await t.upstream.models()
                tiers[t.name] = {"ok": status < 400 or status == 404, "status": status}
            except Exception as exc:
                tiers[t.name] = {"ok": False, "error": rt.scrubber.scrub(type(exc).__name__)}

        await asyncio.gather(*(probe(t) for t in rt.tiers.values()))
        state_ok = await server.state.ping()
        ok = state_ok and all(v["ok"] for v in tiers.values()) and not server.draining
        return _json({"status": "ready" if ok else "not ready", "tiers": tiers, "state": state_ok},
                     200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        rt = server.runtime
        rt.authenticate(_bearer(request))
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "automix",
                 "automix": {"kind": "route", "tiers": [t.name for t in r.tiers]}} for name, r in rt.routes.items()]
        data += [{"id": name, "object": "model", "created": 0, "owned_by": "automix",
                  "automix": {"kind": "tier", "model": t.config.model}} for name, t in rt.tiers.items()]
        return _json({"object": "list", "data": data})

    @app.get("/automix/ledger")
    async def ledger(request: Request) -> JSONResponse:
        server.runtime.authenticate(_bearer(request))
        return _json(await server.state.totals())

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.body()
        adm = await server.admit(request, body)
        created = int(time.time())
        if adm.req.stream:
            return StreamingResponse(_stream(adm, created), media_type="text/event-stream",
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
            return _error_response(outcome.error, adm.runtime.scrubber)
        log.info("%s route=%s tier=%s cost=%.3g escalated=%s", adm.rid, outcome.route, outcome.model, outcome.cost,
                 outcome.automix.get("escalated"))
        after = BackgroundTask(server.after_response, outcome)  # runs once the response is sent
        return JSONResponse(adm.runtime.scrubber.scrub_obj(_completion(outcome, created)), headers=_headers(outcome),
                            background=after)

    async def _stream(adm: Admitted, created: int) -> AsyncIterator[bytes]:
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

    return app
