"""Test doubles for code built on automix: :class:`ScriptedModel`, an in-memory chat model, and
:func:`is_verification_text` and :func:`is_claim_call`, how a fake tells the verifier's calls (its verdict
call, its restatement of the answer's claim) from an answering one.

Use them to test plumbing (routing, billing, retries, adapters); a test of a model's judgement needs a
real model.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import ModelError
from .models import Generation, Message
from .verify.claim import RESTATE_INSTRUCTION
from .verify.prompt import CONTINUE_INSTRUCTION, CONTINUE_LOGPROB_INSTRUCTION, LOGPROB_SYSTEM_PROMPT, SYSTEM_PROMPT

__all__ = ["VERIFY_MARKS", "ScriptedModel", "ScriptedReply", "is_claim_call", "is_verification_text"]

VERIFY_MARKS = tuple(dict.fromkeys(p[:80] for p in (SYSTEM_PROMPT, LOGPROB_SYSTEM_PROMPT, CONTINUE_INSTRUCTION,
                                                     CONTINUE_LOGPROB_INSTRUCTION)))
"""How the verifier's prompts begin: its system message (few-shot layout, every mode) and its last user
turn (continue layout), taken from the prompt's own constants."""


def is_verification_text(text: object) -> bool:
    """Whether a message's text is the verifier's system message or its continue-layout instruction (so a
    fake sees a verification call for what it is, whatever the layout and mode)."""
    return isinstance(text, str) and text.lstrip().startswith(VERIFY_MARKS)


def is_claim_call(messages: Sequence[Message]) -> bool:
    """Whether ``messages`` are the verifier's restatement call (the answer call continued with
    :data:`~automix_core.verify.claim.RESTATE_INSTRUCTION`), which asks for the answer's claim: a faithful
    fake replies with the answer's value."""
    return bool(messages) and messages[-1].get("content") == RESTATE_INSTRUCTION


ScriptedReply = str | Exception | Callable[[Sequence[Message]], str]


@dataclass
class ScriptedModel:
    """An in-memory :class:`ChatModel` that replays scripted replies, for tests and examples.

    ``replies`` is consumed in order, one entry per sample; an entry may be a string, an exception
    to raise, or a function of the messages. When the script runs out, ``default`` is used (an
    error if ``default`` is None). Every call is recorded in ``calls``. Usage is reported as
    whitespace-token counts unless ``report_usage`` is False.
    """

    model_name: str
    replies: list[ScriptedReply] = field(default_factory=list)
    default: ScriptedReply | None = None
    n_supported: bool = True
    window: int | None = 4096
    report_usage: bool = True
    delay: float = 0.0
    logprob_correct: float | None = None
    calls: list[dict[str, object]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.model_name

    @property
    def supports_n(self) -> bool:
        return self.n_supported

    @property
    def context_window(self) -> int | None:
        return self.window

    def _next(self, messages: Sequence[Message]) -> str:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            raise ModelError(f"scripted model {self.model_name!r} has no reply left", model=self.model_name)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(messages)
        return reply

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None, logprobs: int | None = None,
                 _in_async: bool = False) -> Generation:
        if n > 1 and not self.n_supported:
            raise ModelError(f"{self.model_name} does not support n > 1", model=self.model_name, retryable=False)
        with self._lock:
            self.calls.append(
                {"messages": list(messages), "n": n, "temperature": temperature, "max_tokens": max_tokens,
                 "stop": list(stop) if stop else None, "logprobs": logprobs}
            )
        if self.delay and not _in_async:
            import time

            time.sleep(self.delay)
        texts = [self._next(messages) for _ in range(n)]
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        lp: list[list[dict[str, float]]] | None = None
        if logprobs and self.logprob_correct is not None:
            import math

            p = min(max(self.logprob_correct, 1e-9), 1 - 1e-9)
            lp = [[{" correct": math.log(p), " incorrect": math.log(1 - p)}] for _ in texts]
        return Generation(
            texts=texts,
            model=self.model_name,
            input_tokens=prompt_tokens * (1 if self.n_supported else n) if self.report_usage else None,
            output_tokens=sum(len(t.split()) for t in texts) if self.report_usage else None,
            token_logprobs=lp,
        )

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.generate(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, logprobs=logprobs,
            _in_async=True,
        )


