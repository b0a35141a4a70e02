"""Utility calls of :class:`~automix_llamaindex.AutoMixLLM` (``cascade_calls="answers"``): a step that does
not give the user-facing answer (see :func:`~automix_llamaindex.utils.is_utility_call`) is answered by one
tier, retried on transient errors like any call, billed in the engine's ledger, and not verified.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence

from llama_index.core.base.llms.types import ChatMessage

from automix_core import AutoMix, AutoMixResult, Generation, Message, ModelError, TierTrace
from automix_core.accounting.ledger import usage_from_generation

from .utils import _ORIGINALS, to_core_messages

__all__ = ["autility_call", "utility_call"]

NOTE = "utility call: answered by the utility tier, not cascaded"


def _result(engine: AutoMix, tier: int, core: list[Message], gen: Generation, start: float) -> AutoMixResult:
    model = engine.tiers[tier].model
    usage = usage_from_generation(gen, core, engine.prices, "answer", tier)
    engine.ledger.record(usage)
    text = gen.texts[0] if gen.texts else ""
    trace = TierTrace(tier, model.name, answer=text, decision="accept", decision_target=tier, note=NOTE,
                      usage=[usage], latency_ms=(time.perf_counter() - start) * 1000)
    return AutoMixResult(text, tier, model.name, [trace])


def utility_call(engine: AutoMix, tier: int, messages: Sequence[ChatMessage]) -> AutoMixResult:
    """One answer to ``messages`` from ``engine``'s tier ``tier``, as an :class:`AutoMixResult` of one
    unverified step (its trace's note says so)."""
    core = to_core_messages(messages)
    model = engine.tiers[tier].model
    token = _ORIGINALS.set((core, messages))
    start = time.perf_counter()
    try:
        for attempt in range(engine.retries + 1):
            try:
                gen = model.generate(core, n=1, temperature=engine.answer_temperature,
                                     max_tokens=engine.answer_max_tokens)
                break
            except ModelError as err:
                if not err.retryable or attempt == engine.retries:
                    raise
    finally:
        _ORIGINALS.reset(token)
    return _result(engine, tier, core, gen, start)


async def autility_call(engine: AutoMix, tier: int, messages: Sequence[ChatMessage]) -> AutoMixResult:
    """Async :func:`utility_call`, within the engine's ``timeout`` per attempt."""
    core = to_core_messages(messages)
    model = engine.tiers[tier].model
    token = _ORIGINALS.set((core, messages))
    start = time.perf_counter()
    timeout = engine.timeout
    try:
        for attempt in range(engine.retries + 1):
            call: Awaitable[Generation] = model.agenerate(
                core, n=1, temperature=engine.answer_temperature, max_tokens=engine.answer_max_tokens)
            try:
                if timeout is None:
                    gen = await call
                else:
                    try:
                        gen = await asyncio.wait_for(call, timeout)
                    except asyncio.TimeoutError:
                        raise ModelError(f"{model.name}: no reply within {timeout:g} s", model=model.name) from None
                break
            except ModelError as err:
                if not err.retryable or attempt == engine.retries:
                    raise
    finally:
        _ORIGINALS.reset(token)
    return _result(engine, tier, core, gen, start)
