"""The reliability and adapter tests' OpenAI-compatible server: the project's one fake upstream
(:class:`automix_server.testing.FakeUpstream`) served on a loopback port, with the defaults these tests
were written for.

``FakeOpenAI(reply=...)`` answers ``reply(body)`` per choice (default: a verdict for verification
prompts, ``"yes"`` otherwise), reports usage as whitespace-token counts (no overhead, nothing cached),
and returns per-token logprobs when asked (unless ``logprobs=False``); ``delay`` seconds per request;
``max_n``, ``reject_n``, ``first_choice_usage``, ``alternatives`` and ``api_key`` as the fake documents;
``bodies`` keeps every request body, ``calls`` counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from automix_core.testing import is_verification_text
from automix_server.testing import FakeUpstream


def default_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    if is_verification_text(messages[0].get("content")):
        return "Justification: fine.\nVerdict: correct"
    return "yes"


class FakeOpenAI(FakeUpstream):
    """See the module docs; use as a context manager (``with FakeOpenAI() as server: server.url``)."""

    def __init__(self, reply: Callable[[dict[str, Any]], str] = default_reply, *, delay: float = 0.0,
                 api_key: str | None = None, max_n: int | None = None, reject_n: bool = False,
                 first_choice_usage: bool = False, logprobs: bool = True,
                 alternatives: dict[str, float] | None = None) -> None:
        super().__init__(reply=reply, delay_s=delay, api_key=api_key, max_n=max_n, reject_n=reject_n,
                         first_choice_usage=first_choice_usage, logprobs=logprobs, alternatives=alternatives,
                         prompt_overhead=0, cached_share=0.0, keep=None)

    def __enter__(self) -> FakeOpenAI:
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        # told to stop, not waited for: uvicorn takes 0.1-0.3 s to wind down (its tick and its grace period,
        # with nothing to drain here), and its daemon thread closes the port on its own; each test's fake
        # has a port of its own, and what it recorded (``bodies``, ``calls``) stays readable
        if self._served is not None:
            self._served[0].should_exit = True
            self._served = None


def assert_one_verification_request(entries: Sequence[Any], total_calls: int, verify_body: dict[str, Any]) -> None:
    """Ledger ``entries`` of one answer and one verification request with ``n``: the shared prompt of
    ``verify_body`` billed once, at the server's own count, and ``total_calls`` provider requests."""
    assert [(u.purpose, u.requests, u.estimated) for u in entries] == [("answer", 1, False), ("verify", 1, False)]
    prompt_words = sum(len(str(m["content"]).split()) for m in verify_body["messages"])
    assert entries[1].input_tokens == prompt_words
    assert total_calls == 2


@contextmanager
def fake_openai(**kwargs: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(**kwargs) as server:
        yield server
