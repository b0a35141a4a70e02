"""Chat models that fail on cue, for the reliability tests.

:class:`FaultyModel` answers (and verifies) through a ``reply`` function of the messages and fails
according to ``faults``: a list of fault kinds consumed one per call (``None`` = behave), then
``then`` for every later call. Fault kinds:

* ``"raise"``: raise a retryable :class:`ModelError`;
* ``"crash"``: raise a plain ``RuntimeError`` (not a ModelError);
* ``"hang"``: never return (async: wait forever; sync: not supported);
* ``"empty"``: an empty answer;
* ``"no_choices"``: a :class:`Generation` without texts (a response with no ``choices``);
* ``"bad_usage"``: negative token counts;
* ``"no_usage"``: no usage reported (the ledger estimates it; not a failure).

Every call is recorded (``calls``), every cancellation of an async call too (``cancelled``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from automix_core.models import Generation, Message, ModelError
from automix_core.testing import is_verification_text


def is_verification(messages: Sequence[Message]) -> bool:
    return is_verification_text(messages[0]["content"])


@dataclass
class FaultyModel:
    model_name: str
    reply: Callable[[Sequence[Message]], str]
    faults: list[str | None] = field(default_factory=list)
    then: str | None = None
    window: int | None = 4096
    n_supported: bool = True
    only: str | None = None  # "answer" / "verify": faults apply only to that kind of call
    calls: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    started: asyncio.Event | None = None
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

    def _fault(self, messages: Sequence[Message]) -> str | None:
        purpose = "verify" if is_verification(messages) else "answer"
        with self._lock:
            self.calls.append(purpose)
            if self.only is not None and purpose != self.only:
                return None
            return self.faults.pop(0) if self.faults else self.then

    def _generation(self, messages: Sequence[Message], n: int, fault: str | None) -> Generation:
        if fault == "raise":
            raise ModelError(f"{self.model_name}: injected 503", model=self.model_name)
        if fault == "crash":
            raise RuntimeError(f"{self.model_name}: injected crash")
        if fault == "no_choices":
            return Generation(texts=[], model=self.model_name, input_tokens=3, output_tokens=0)
        texts = ["" if fault == "empty" else self.reply(messages) for _ in range(n)]
        prompt = sum(len(m["content"].split()) for m in messages)
        output = sum(len(t.split()) for t in texts)
        if fault == "bad_usage":
            return Generation(texts=texts, model=self.model_name, input_tokens=-prompt, output_tokens=-1)
        if fault == "no_usage":
            return Generation(texts=texts, model=self.model_name)
        return Generation(texts=texts, model=self.model_name, input_tokens=prompt, output_tokens=output)

    def generate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None,
    ) -> Generation:
        fault = self._fault(messages)
        if fault == "hang":
            raise AssertionError("a hanging model is only used on the async path")
        return self._generation(messages, n, fault)

    async def agenerate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None,
    ) -> Generation:
        fault = self._fault(messages)
        if fault == "hang":
            if self.started is not None:
                self.started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                with self._lock:
                    self.cancelled.append("verify" if is_verification(messages) else "answer")
                raise
        await asyncio.sleep(0)
        return self._generation(messages, n, fault)


def verdict_reply(verdict: str, answer: str) -> Callable[[Sequence[Message]], str]:
    """Answers ``answer``; verification prompts get ``Verdict: <verdict>``."""

    def reply(messages: Sequence[Message]) -> str:
        return f"Justification: checked.\nVerdict: {verdict}" if is_verification(messages) else answer

    return reply
