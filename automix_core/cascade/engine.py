"""The AutoMix cascade: answer with the cheapest tier, self-verify, decide, escalate, repeat.

The cascade logic is written once, as a generator that yields the model calls it needs
(:class:`_AnswerCall`, :class:`_VerifyCall`) and receives their results; :meth:`AutoMix.run`
executes those calls synchronously and :meth:`AutoMix.arun` asynchronously (with timeouts and
concurrent verification samples). Every call is billed to the ledger the moment it returns, so a
crash later in the request loses nothing already paid for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from ..accounting.ledger import Budget, Ledger, usage_from_generation
from ..accounting.prices import PriceTable
from ..aio import within
from ..errors import AllTiersFailedError, ConfigError, InvalidRequestError, InvalidRequestTypeError, ModelTimeoutError
from ..integration import surfaced
from ..models import ChatModel, Generation, Message, ModelError, RequestContext, checked_generation, request_kwargs
from ..policies import Observation
from ..router import Router, RouterSpec, coerce_router, warn_untrained
from ..settings import CascadeSettings, TrafficConfig
from ..steps import Done, advance
from ..traffic.shadow import Traffic
from ..verify.method import resolve_method
from ..verify.prompt import build_answer_messages
from ..verify.verifier import VerificationResult, Verifier
from .prompting import WINDOW_SLACK, Fitted, PromptFitting, add_note, best_answer, check_messages
from .result import AutoMixResult, Event, Hook, Screen, Tier, TierTrace

__all__ = ["WINDOW_SLACK", "AutoMix", "build_answer_messages"]


@dataclass
class _AnswerCall:
    tier: int
    messages: list[Message]
    request: RequestContext | None  # kind "answer", or "utility" for one tier asked alone


@dataclass
class _VerifyCall:
    tier: int
    question: str
    answer: str
    context: str
    messages: list[Message]  # the answer call's, continued by the "continue" layout
    request: RequestContext | None  # kind "verify"


_Request = _AnswerCall | _VerifyCall
_Reply = Generation | VerificationResult | BaseException


class AutoMix(PromptFitting):
    """The AutoMix cascade over two or more tiers, cheapest first.

    Args:
        tiers: chat models (or :class:`Tier` with a separate verifier), cheapest first.
        router: a fitted :class:`~automix_core.router.Router`, a policy, or a path to a router JSON;
            default :meth:`Router.default` (accept when most verifier samples say "correct").
        prices: price table for billing (default: the presets and the local catalog models). Every
            tier's model (and verifier) must have a price: an unknown one raises
            :class:`~automix_core.errors.UnknownPriceError` here, naming the tier, before any call.
        ledger: where every call is recorded (a new one by default); ``run(ledger=...)`` gives one request its own.
        budget: caps that stop escalation when the next tier's estimated cost would exceed them (its answer
            sized by the request's ``params["max_tokens"]``, else ``answer_max_tokens``); ``run(budget=...)``
            gives one request its own.
        settings: a :class:`~automix_core.settings.CascadeSettings` (or an adapter that inherits its
            fields); keyword arguments named like its fields (``k``, ``verify_mode``, ``verify_prompt``,
            ``verify_temperature``, ``verify_max_tokens``, ``answer_max_tokens``, ``answer_temperature``,
            ``retries``, ``timeout``, ``system``) override it and are validated the same way.
            Verification left at ``"auto"`` takes the router's method (``methods[i]``: :func:`resolve_method`).
            ``retries`` applies to retryable :class:`ModelError` failures (a malformed response is one) and
            to an empty answer; then the next tier is tried (also after a non-transient failure, e.g. HTTP
            400/401). A programming error in an answering model (:func:`~automix_core.integration.is_programming_error`)
            is raised at once, unchanged. When every tier fails, :class:`AllTiersFailedError` lists each
            failure with the trace of what was paid for. ``timeout`` is per call on the async path.
        hooks: callables told about each :class:`Event`.
        screen: optional :data:`Screen` consulted on every non-empty answer before verification;
            ``"escalate"`` is ignored at the last tier.
        traffic: a ``TrafficConfig`` or ``Traffic`` (default: ``settings.traffic``): every answered request
            is recorded, and a share shadowed, after it is returned (:mod:`automix_core.traffic`).

    Prompt size: a text question's context is left-truncated to fit a tier's known ``context_window``
    (``(1 - WINDOW_SLACK) * window - answer_max_tokens`` tokens; the trace notes it); chat ``messages``
    over a tier's whole window are not sent to it (a :class:`ModelError` says so). Verification prompts
    are fitted by :class:`Verifier`.
    """

    def __init__(
        self,
        tiers: Sequence[ChatModel | Tier],
        *,
        router: RouterSpec = None,
        prices: PriceTable | None = None,
        ledger: Ledger | None = None,
        budget: Budget | None = None,
        hooks: Sequence[Hook] = (),
        screen: Screen | None = None,
        settings: CascadeSettings | None = None,
        traffic: TrafficConfig | Traffic | None = None,
        **fields: Any,
    ) -> None:
        self.tiers = [t if isinstance(t, Tier) else Tier(t) for t in tiers]
        if len(self.tiers) < 2:
            raise ConfigError(f"AutoMix needs at least two tiers, cheapest first; got {len(self.tiers)}")
        self.settings = CascadeSettings.of(settings, fields)
        self.router = coerce_router(router, [t.name for t in self.tiers])
        warn_untrained(self.router)
        self.prices = prices if prices is not None else PriceTable()
        self.prices.require(self._billed_names())
        self.ledger = ledger if ledger is not None else Ledger()
        self.budget = budget
        s = self.settings
        self.methods = [resolve_method(s, t.verifier or t.model, self.router.verification,
                                       fitted=self.router.fitted, tier=t.name) for t in self.tiers]
        self.verifiers = [Verifier(t.verifier or t.model, k=m.k, temperature=s.verify_temperature,
                                   max_tokens=s.verify_max_tokens, mode=m.mode, layout=m.layout,
                                   defence=s.verify_defence, claims=s.verify_defence)
                          for t, m in zip(self.tiers, self.methods)]
        self.answer_max_tokens, self.answer_temperature = s.answer_max_tokens, s.answer_temperature
        self.retries, self.timeout, self.system = s.retries, s.timeout, s.system
        self.hooks, self.screen = list(hooks), screen
        self.traffic = Traffic.of(traffic if traffic is not None else s.traffic)

    def _billed_names(self) -> list[str]:
        """Every model name a call may be billed under: each tier's, and its verifier's when it differs."""
        names = [t.name for t in self.tiers]
        names += [t.verifier.name for t in self.tiers if t.verifier is not None and t.verifier.name not in names]
        return names

    # ------------------------------------------------------------------ the cascade (shared logic)

    def _emit(self, event: Event, payload: dict[str, Any], request: RequestContext | None) -> None:
        hooks = self.hooks if request is None or request.hook is None else [*self.hooks, request.hook]
        for h in hooks:
            try:
                h(event, payload)
            except Exception:
                continue

    def _bill(self, ledger: Ledger, trace: TierTrace, gen: Generation, messages: Sequence[Message],
              purpose: str) -> None:
        usage = usage_from_generation(gen, messages, self.prices, "answer" if purpose == "answer" else "verify",
                                      trace.tier)
        ledger.record(usage)
        trace.usage.append(usage)

    def _cascade(
        self, question: str, context: str, messages: list[Message] | None, key: float, only: int | None = None,
        request: RequestContext | None = None, ledger: Ledger | None = None, budget: Budget | None = None,
    ) -> Generator[_Request, _Reply, AutoMixResult]:
        if not isinstance(question, str) or not isinstance(context, str):
            raise InvalidRequestTypeError("AutoMix question and context must be text")
        if messages is not None:
            messages = check_messages(messages)
        if not question.strip() and not (messages and any(m["content"].strip() for m in messages)):
            raise InvalidRequestError("AutoMix got an empty question", param="messages")
        answering = request.of_kind("answer" if only is None else "utility") if request is not None else None
        # no closures here: a request in flight keeps only this frame (fewer objects for the collector)
        fitted: Fitted = {}
        ledger = ledger if ledger is not None else self.ledger  # this request's, else the engine's
        budget = budget if budget is not None else self.budget
        policy = self.router.policy_for(key)
        last = len(self.tiers) - 1
        traces: list[TierTrace] = []
        answers: dict[int, str] = {}
        obs: list[Observation] = []
        failures: list[tuple[str, BaseException]] = []
        if only is not None and not 0 <= only <= last:
            raise InvalidRequestError(f"tier must be one of 0..{last}, got {only}", param="tier")
        t, last = (0, last) if only is None else (only, only)  # one tier: not cascaded, not verified (see run)
        while True:
            tr = TierTrace(t, self.tiers[t].name)
            traces.append(tr)
            start = time.perf_counter()
            msgs, truncated = self._prompt(t, question, context, messages, fitted)
            if truncated:
                add_note(tr, "context truncated to fit the context window")
            failure: BaseException | None = self._over_window(t, msgs) if messages is not None else None
            text = ""
            reply: _Reply | None = None
            for _attempt in range(self.retries + 1):  # errors are retried by the driver, empty answers here
                if failure is not None:
                    break
                reply = yield from self._ask(_AnswerCall(t, msgs, answering))
                if isinstance(reply, BaseException):
                    bug = surfaced(reply)
                    if bug is not None:  # a bug in the caller's code: raised unchanged, no further tier
                        raise bug
                    failure = reply
                    break
                assert isinstance(reply, Generation)
                self._bill(ledger, tr, reply, msgs, "answer")
                text = reply.texts[0] if reply.texts else ""
                tr.answer = text
                self._emit(Event.ANSWER, {"tier": t, "model": tr.model, "answer": text}, request)
                if text.strip():
                    break
            if failure is not None or not text.strip():
                if failure is not None:
                    tr.error = f"{type(failure).__name__}: {failure}"
                    self._emit(Event.FAILURE, {"tier": t, "stage": "answer", "error": tr.error}, request)
                else:
                    add_note(tr, "empty answer")
                    failure = ModelError(f"{tr.model}: empty answer", model=tr.model)
                failures.append((tr.model, failure))
                tr.latency_ms = (time.perf_counter() - start) * 1000
                if t < last and not self._budget_blocks(budget, tr, t + 1, traces, question, context, messages,
                                                        fitted, request):
                    tr.decision, tr.decision_target = "escalate", t + 1
                    if tr.error is not None:
                        add_note(tr, "tier failed")
                    t += 1
                    continue
                if answers:  # no further tier, but an earlier one answered: keep the best seen
                    best = best_answer(answers, obs)
                    add_note(tr, "tier failed; kept an earlier answer")
                    return AutoMixResult(answers[best], best, self.tiers[best].name, traces)
                if t < last:  # the budget stopped the escalation
                    name = self.tiers[t + 1].name
                    failures.append((name, ModelError(f"{name}: not tried, the budget would be exceeded",
                                                      model=name, retryable=False)))
                raise AllTiersFailedError(failures, traces)
            assert isinstance(reply, Generation)
            answers[t] = text
            screened = "accept" if only is not None else self.screen(t, reply) if self.screen is not None else None
            if screened == "accept" or (screened == "escalate" and t < last):
                tr.decision, tr.decision_target = ("accept", t) if screened == "accept" else ("escalate", t + 1)
                add_note(tr, "one tier asked: not cascaded, not verified" if only is not None
                          else f"screened: {screened} without verification")
                tr.latency_ms = (time.perf_counter() - start) * 1000
                self._emit(Event.DECIDE, {"tier": t, "action": tr.decision, "target": tr.decision_target}, request)
                if screened == "accept":
                    return AutoMixResult(text, t, tr.model, traces)
                t += 1
                continue
            if t < last or policy.observes_last:
                vreply = yield from self._ask(_VerifyCall(t, question or msgs[-1]["content"], text, context, msgs,
                                                             request and request.of_kind("verify")))
                if isinstance(vreply, BaseException):
                    tr.error = f"verification failed: {type(vreply).__name__}: {vreply}"
                    self._emit(Event.FAILURE, {"tier": t, "stage": "verify", "error": tr.error}, request)
                    conf = 0.0  # unverified: treated like a "not correct" verdict
                else:
                    assert isinstance(vreply, VerificationResult)
                    for g, m in zip(vreply.generations, vreply.messages):
                        self._bill(ledger, tr, g, m, "verify")
                    conf = vreply.confidence
                    tr.verified = vreply.parsed
                    tr.verdicts = list(vreply.verdicts)
                    tr.samples = list(vreply.samples)
                    tr.verify_mode = vreply.mode
                    tr.neutralised = [f.as_dict() for f in vreply.neutralised]
                    tr.claim = vreply.claim
                tr.confidence = conf
                obs.append((t, conf))
                self._emit(Event.VERIFY, {"tier": t, "confidence": conf, "verdicts": tr.verdicts,
                                          "neutralised": tr.neutralised, "claim": tr.claim}, request)
            if not obs:  # last tier reached without any observation (e.g. every earlier tier failed)
                tr.decision, tr.decision_target = "accept", t
                tr.latency_ms = (time.perf_counter() - start) * 1000
                return AutoMixResult(text, t, tr.model, traces)
            d = policy.decide(obs) if obs[-1][0] == t else None
            if d is None or (d.action == "escalate" and d.tier <= t):
                d_action, d_tier = "accept", t
            else:
                d_action, d_tier = d.action, d.tier
                tr.belief = d.belief
            if d_action == "escalate" and self._budget_blocks(budget, tr, d_tier, traces, question, context,
                                                              messages, fitted, request):
                d_action, d_tier = "accept", best_answer(answers, obs)
            tr.decision, tr.decision_target = d_action, d_tier
            tr.latency_ms = (time.perf_counter() - start) * 1000
            self._emit(Event.DECIDE, {"tier": t, "action": d_action, "target": d_tier}, request)
            if d_action == "accept":
                if d_tier not in answers:
                    d_tier = t
                return AutoMixResult(answers[d_tier], d_tier, self.tiers[d_tier].name, traces)
            t = d_tier

    # ------------------------------------------------------------------ drivers

    def _call_sync(self, req: _Request) -> Generation | VerificationResult:
        if isinstance(req, _AnswerCall):
            model = self.tiers[req.tier].model
            return checked_generation(model.generate(req.messages, n=1, temperature=self.answer_temperature,
                                                     max_tokens=self.answer_max_tokens, **request_kwargs(req.request)),
                                      model.name)
        return self.verifiers[req.tier].verify(req.question, req.answer, req.context, messages=req.messages,
                                               request=req.request)

    async def _call_async(self, req: _Request) -> Generation | VerificationResult:
        if isinstance(req, _AnswerCall):
            model = self.tiers[req.tier].model
            coro: Awaitable[Generation | VerificationResult] = model.agenerate(
                req.messages, n=1, temperature=self.answer_temperature, max_tokens=self.answer_max_tokens,
                **request_kwargs(req.request))
        else:
            coro = self.verifiers[req.tier].averify(req.question, req.answer, req.context,
                                                   messages=req.messages, request=req.request)
        name = self.tiers[req.tier].name
        if self.timeout is None:
            reply = await coro
        else:
            try:
                reply = await within(self.timeout, coro)
            except asyncio.TimeoutError:
                raise ModelTimeoutError(f"{name}: no reply within {self.timeout:g} s", model=name) from None
        return checked_generation(reply, name) if isinstance(req, _AnswerCall) else reply

    def _ask(self, req: _Request) -> Generator[_Request, _Reply, _Reply]:
        """Yield ``req`` until it succeeds or fails for good: a retryable :class:`ModelError` is asked
        again up to ``retries`` times (the retry policy lives in the cascade, not in the drivers)."""
        attempt = 0
        while True:
            reply = yield req
            if not (isinstance(reply, ModelError) and reply.retryable and attempt < self.retries):
                return reply
            attempt += 1

    def run(
        self, question: str = "", context: str = "", *, messages: list[Message] | None = None,
        key: float | None = None, tier: int | None = None, request: RequestContext | None = None,
        ledger: Ledger | None = None, budget: Budget | None = None,
    ) -> AutoMixResult:
        """Answer ``question`` (with ``context``), or the chat ``messages``, through the cascade; with ``tier``, by
        that tier alone (retried and billed, not verified: a utility call or one addressed to a tier).
        ``request``: what the adapter knows of this request, passed to every model call with its kind.
        ``ledger`` and ``budget``: this request's (default: the engine's), so one engine serves requests that
        each bill their own ledger and stop at their own cap; every call is billed the moment it returns."""
        gen = self._cascade(question, context, messages, Router.new_key() if key is None else key, tier, request,
                            ledger, budget)
        step = advance(gen, None)
        while not isinstance(step, Done):
            step = advance(gen, _reply_of(self._call_sync, step))
        if self.traffic is not None and tier is None:  # recorded (and maybe shadowed) on a thread pool
            self.traffic.after(self, step.value, question, context, messages, ledger=ledger)
        return step.value  # type: ignore[no-any-return]

    async def arun(
        self, question: str = "", context: str = "", *, messages: list[Message] | None = None,
        key: float | None = None, tier: int | None = None, request: RequestContext | None = None,
        ledger: Ledger | None = None, budget: Budget | None = None,
    ) -> AutoMixResult:
        """Async :meth:`run`: timeouts per call, verification samples drawn concurrently."""
        gen = self._cascade(question, context, messages, Router.new_key() if key is None else key, tier, request,
                            ledger, budget)
        step = advance(gen, None)
        try:
            while not isinstance(step, Done):
                try:
                    reply: _Reply = await self._call_async(step)
                except Exception as err:
                    reply = err
                step = advance(gen, reply)
        except asyncio.CancelledError:
            gen.close()
            raise
        if self.traffic is not None and tier is None:  # recorded (and maybe shadowed) in a task
            self.traffic.spawn(self, step.value, question, context, messages, ledger=ledger)
        return step.value  # type: ignore[no-any-return]


def _reply_of(call: Callable[[_Request], Generation | VerificationResult], req: _Request) -> _Reply:
    """``call(req)``, or the exception it raised (the cascade decides what a failure means)."""
    try:
        return call(req)
    except Exception as err:
        return err
