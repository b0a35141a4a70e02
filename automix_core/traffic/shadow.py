"""Traffic capture and shadow evaluation after the answer is returned: :class:`Traffic`.

The engine hands each finished request to :meth:`Traffic.after` (``run``: a bounded thread pool) or
:meth:`Traffic.spawn` (``arun``: a task); the server awaits :meth:`Traffic.process_async` after its
response is sent. A request is shadowed with probability ``shadow_rate`` (uniform, so the shadowed records
are a uniform sample of all requests; each carries ``weight = 1/shadow_rate``): every tier the cascade did
not answer with then answers (the reference tier first), and every one but the reference is verified.
Shadow calls go to the request's ledger (``run(ledger=...)``, else the engine's) as ``purpose="shadow"``,
never to a request's budget, on the engine's twin (no budget, hooks or traffic; built once per engine); they
stop for good once ``shadow_budget_usd`` would be exceeded. The shadow plan is one generator, driven by a sync
and an async loop (the engine's pattern).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..accounting.ledger import Ledger, Usage, usage_from_generation
from ..cascade.result import AutoMixResult
from ..models import Message, RequestContext
from ..settings import TrafficConfig
from ..steps import Done, advance
from ..verify.verifier import VerificationResult
from .record import ShadowOutput, agreement_rule, build_record
from .stats import TrafficStats
from .writer import Sink, TrafficWriter

if TYPE_CHECKING:
    from ..cascade.engine import AutoMix

__all__ = ["ShadowLedger", "Traffic"]

log = logging.getLogger("automix.traffic")


class ShadowLedger(Ledger):
    """Bills shadow calls to ``shared`` as ``purpose="shadow"`` and counts them for the shadow budget."""

    def __init__(self, shared: Ledger, traffic: Traffic) -> None:
        super().__init__(max_entries=None)
        self.shared = shared
        self.traffic = traffic
        self.usages: list[Usage] = []

    def record(self, usage: Usage) -> None:
        billed = usage.model_copy(update={"purpose": "shadow"})
        self.usages.append(billed)
        self.shared.record(billed)
        self.traffic.spend(usage.cost)


@dataclass
class _Answer:
    tier: int


@dataclass
class _Check:
    tier: int
    answer: str
    messages: list[Message]


@dataclass
class _Job:
    engine: AutoMix
    result: AutoMixResult
    question: str
    context: str
    messages: list[Message] | None
    rid: str
    route: str
    weight: float
    shadowed: bool
    router: str
    ledger: Ledger  # where the shadow calls are billed (as purpose "shadow"): the request's, else the engine's
    request: RequestContext | None = None  # the request's context, handed to the shadow's answer calls


_SHARED: dict[TrafficConfig, Traffic] = {}
_SHARED_LOCK = threading.Lock()


class Traffic:
    """One process's traffic capture: the record sink, the sampling draw, the shadow budget, live stats."""

    def __init__(self, config: TrafficConfig, *, sink: Sink | None = None, secrets: Sequence[str] = (),
                 router: str = "untrained") -> None:
        self.config = config
        self.sink: Sink = sink if sink is not None else TrafficWriter(
            config.dir, max_bytes=config.max_bytes, keep=config.keep, secrets=secrets)
        self.router = router
        self.stats = TrafficStats(config.drift_floor, config.drift_window)
        self.agree = agreement_rule(config.agreement)
        self.shadow_spent = 0.0
        self.exhausted = False
        self.pending = 0
        self.written = 0
        self.drift_warnings = 0
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._twins: weakref.WeakKeyDictionary[AutoMix, AutoMix] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, spec: TrafficConfig | Traffic | dict[str, Any] | None) -> Traffic | None:
        """The process's :class:`Traffic` for a config (one per distinct config, shared by every engine
        built with it), a :class:`Traffic` as it is, or None."""
        if spec is None or isinstance(spec, Traffic):
            return spec
        config = spec if isinstance(spec, TrafficConfig) else TrafficConfig.model_validate(spec)
        with _SHARED_LOCK:
            if config not in _SHARED:
                _SHARED[config] = cls(config)
            return _SHARED[config]

    # -- sampling and budget ---------------------------------------------------------------------

    def draw(self, force: bool = False) -> bool:
        """Whether the next request is shadowed (uniform, at ``shadow_rate``, or every one when ``force``; never
        once the budget is spent or ``max_pending`` jobs wait)."""
        with self._lock:
            if self.exhausted or self.pending >= self.config.max_pending:
                return False
            if not force and (self.config.shadow_rate <= 0 or self._rng.random() >= self.config.shadow_rate):
                return False
            self.pending += 1
            return True

    def spend(self, usd: float) -> None:
        with self._lock:
            self.shadow_spent += usd

    def _afford(self, estimate: float) -> bool:
        cap = self.config.shadow_budget_usd
        with self._lock:
            if cap is not None and self.shadow_spent + estimate > cap:
                if not self.exhausted:
                    log.warning("shadow budget of $%.6g spent ($%.6g): shadowing stops, serving goes on", cap,
                                self.shadow_spent)
                self.exhausted = True
            return not self.exhausted

    # -- the shadow plan (one generator, two drivers) ---------------------------------------------

    def _reference(self, engine: AutoMix) -> int:
        names = [t.name for t in engine.tiers]
        ref = self.config.reference
        return names.index(ref) if ref in names else len(names) - 1  # a cascade without that tier: its last

    def _plan(self, job: _Job, bill: Ledger) -> Generator[_Answer | _Check, Any, dict[int, ShadowOutput]]:
        engine = job.engine
        ref = self._reference(engine)
        have = {t.tier for t in job.result.trace if t.answer is not None and t.answer.strip()}
        out: dict[int, ShadowOutput] = {}
        for i in [ref, *(j for j in range(len(engine.tiers)) if j != ref)]:
            if i in have:
                continue
            prompt = job.messages if job.messages is not None else \
                engine._fitted_messages(i, job.question, job.context)[0]
            calls = 1 if i == ref else 1 + engine.verifiers[i].k
            if not self._afford(engine._estimate_cost(i, prompt, job.request) * calls):
                break
            start = time.perf_counter()
            reply = yield _Answer(i)
            if not isinstance(reply, AutoMixResult):
                log.info("shadow: tier %d failed: %s", i, type(reply).__name__)
                continue
            shadow = ShadowOutput(reply.answer, list(reply.usage))
            if i != ref:
                check = yield _Check(i, reply.answer, prompt)
                if isinstance(check, VerificationResult):
                    for g, m in zip(check.generations, check.messages):
                        usage = usage_from_generation(g, m, engine.prices, "verify", i)
                        bill.record(usage)
                        shadow.usage.append(usage)
                    shadow.confidence, shadow.verify_mode = check.confidence, check.mode
            shadow.latency_ms = (time.perf_counter() - start) * 1000
            out[i] = shadow
        return out

    def _shadow_engine(self, engine: AutoMix) -> AutoMix:
        """The engine's twin for shadow calls (no budget, hooks or traffic), built once per engine; each job
        runs it with a ledger of its own (:class:`ShadowLedger`)."""
        with self._lock:
            twin = self._twins.get(engine)
            if twin is None:
                twin = self._twins[engine] = copy.copy(engine)
                twin.budget, twin.hooks, twin.traffic = None, [], None
            return twin

    def _finish(self, job: _Job, shadow: dict[int, ShadowOutput] | None) -> dict[str, Any]:
        """Write the record. A drawn request counts as shadowed when every tier has an answer (the cascade's or
        the shadow's; an escalated request may need no shadow call at all), else (budget spent, a tier
        failed) it is recorded unshadowed, with what it has."""
        answered = {t.tier for t in job.result.trace if t.answer is not None and t.answer.strip()}
        complete = shadow is not None and answered | set(shadow) >= set(range(len(job.engine.tiers)))
        rec = build_record(job.result, [t.name for t in job.engine.tiers], rid=job.rid, route=job.route,
                           question=job.question or _last_user(job.messages), context=job.context,
                           store_text=self.config.store_text, shadow=shadow if complete else None,
                           weight=job.weight if complete else 1.0,
                           reference=self._reference(job.engine), router=job.router, agree=self.agree)
        self.sink.write(rec)
        with self._lock:
            self.written += 1
        if self.stats.observe(rec):
            self.drift_warnings += 1
            d = self.stats.drift
            log.warning("drift: %.1f%% of the last %d accepted cheaper answers agree with the reference "
                        "(floor %.1f%%)", 100 * (d.share or 0.0), len(d.recent), 100 * (d.floor or 0.0))
        for fn in self.listeners:
            try:
                fn(rec)
            except Exception:
                log.exception("traffic listener failed")
        return rec

    def _job(self, engine: AutoMix, result: AutoMixResult, question: str, context: str,
             messages: list[Message] | None, rid: str | None, route: str, force: bool = False,
             router: str | None = None, ledger: Ledger | None = None, request: RequestContext | None = None) -> _Job:
        shadowed = self.draw(force)
        weight = 1.0 if force or not shadowed else 1.0 / self.config.shadow_rate
        return _Job(engine, result, question, context, messages, rid or f"req-{uuid.uuid4().hex}", route,
                    weight, shadowed, router or self.router, ledger if ledger is not None else engine.ledger,
                    request)

    def _run_sync(self, job: _Job) -> dict[str, Any]:
        try:
            if not job.shadowed:
                return self._finish(job, None)
            twin, bill, checking = self._shadow_engine(job.engine), ShadowLedger(job.ledger, self), _checking(job)
            gen = self._plan(replace(job, engine=twin), bill)
            step = advance(gen, None)
            while not isinstance(step, Done):
                try:
                    reply: Any = (twin.run(job.question, job.context, messages=job.messages, tier=step.tier,
                                           ledger=bill, request=job.request)
                                  if isinstance(step, _Answer) else twin.verifiers[step.tier].verify(
                                      job.question or _last_user(job.messages), step.answer, job.context,
                                      messages=step.messages, request=checking))
                except Exception as err:
                    reply = err
                step = advance(gen, reply)
            return self._finish(job, step.value)
        finally:
            if job.shadowed:
                with self._lock:
                    self.pending -= 1

    async def _run_async(self, job: _Job) -> tuple[dict[str, Any], list[Usage]]:
        try:
            if not job.shadowed:
                return await asyncio.to_thread(self._finish, job, None), []
            twin, bill, checking = self._shadow_engine(job.engine), ShadowLedger(job.ledger, self), _checking(job)
            async with self._semaphore():
                gen = self._plan(replace(job, engine=twin), bill)
                step = advance(gen, None)
                while not isinstance(step, Done):
                    try:
                        reply: Any = (await twin.arun(job.question, job.context, messages=job.messages,
                                                      tier=step.tier, ledger=bill, request=job.request)
                                      if isinstance(step, _Answer) else await twin.verifiers[step.tier].averify(
                                          job.question or _last_user(job.messages), step.answer, job.context,
                                          messages=step.messages, request=checking))
                    except Exception as err:
                        reply = err
                    step = advance(gen, reply)
            return await asyncio.to_thread(self._finish, job, step.value), bill.usages
        finally:
            if job.shadowed:
                with self._lock:
                    self.pending -= 1

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.config.shadow_concurrency)
        return sem

    # -- entry points ----------------------------------------------------------------------------

    def after(self, engine: AutoMix, result: AutoMixResult, question: str, context: str,
              messages: list[Message] | None, *, rid: str | None = None, route: str = "default",
              ledger: Ledger | None = None, request: RequestContext | None = None) -> Future[Any]:
        """Record ``result`` (and shadow it, if drawn) on the thread pool; the caller does not wait."""
        job = self._job(engine, result, question, context, messages, rid, route, router=_router_name(engine),
                        ledger=ledger, request=request)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.config.shadow_concurrency, thread_name_prefix="automix-shadow")
            pool = self._pool
        future = pool.submit(self._run_sync, job)
        future.add_done_callback(_log_failure)
        return future

    async def process_async(self, engine: AutoMix, result: AutoMixResult, question: str, context: str,
                            messages: list[Message] | None, *, rid: str | None = None, route: str = "default",
                            force: bool = False, router: str | None = None, ledger: Ledger | None = None,
                            request: RequestContext | None = None) -> tuple[dict[str, Any], list[Usage]]:
        """Record ``result`` (shadowing it, if drawn or ``force``d: weight 1) and return the record and the
        shadow calls' usage; ``router`` names the router in the record (default: the engine's). The shadow
        calls bill ``ledger`` (the request's; default: the engine's) as ``purpose="shadow"``; ``request`` (the
        request's context) goes with each shadow answer call, as with the request's own."""
        return await self._run_async(self._job(engine, result, question, context, messages, rid, route, force,
                                               router, ledger, request))

    def spawn(self, engine: AutoMix, result: AutoMixResult, question: str, context: str,
              messages: list[Message] | None, **kw: Any) -> asyncio.Task[Any]:
        """:meth:`process_async` as a task of the running loop (kept until it finishes)."""
        kw.setdefault("router", _router_name(engine))
        task = asyncio.get_running_loop().create_task(
            self.process_async(engine, result, question, context, messages, **kw))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("traffic capture failed: %s", task.exception())

    async def drain(self) -> None:
        """Wait for the tasks this process spawned (e.g. before closing the loop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self, wait: bool = True) -> None:
        """Wait for (or drop) queued sync shadow jobs and stop the pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("traffic capture failed: %s: %s", type(future.exception()).__name__, future.exception())


def _router_name(engine: AutoMix) -> str:
    """What the records call the engine's router: its policy and fitted-ness, or ``untrained``."""
    r = engine.router
    return f"{type(r.policy).__name__}:fitted" if r.fitted else "untrained"


def _checking(job: _Job) -> RequestContext | None:
    """The request's context for a shadow verification (kind ``"verify"``), or None without one."""
    return job.request.of_kind("verify") if job.request is not None else None


def _last_user(messages: list[Message] | None) -> str:
    for m in reversed(messages or []):
        if m["role"] == "user":
            return m["content"]
    return ""
