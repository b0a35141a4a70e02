"""Where the AutoMix run sits among LangChain's callbacks: the run a ``stream()`` call made, child
callback managers of a run, and text split into stream chunks.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import RunnableConfig, ensure_config

__all__ = ["UsageCollector"]


@dataclass
class _StreamParent:
    """Where a stream()/astream() call's run is, for `_stream`, which langchain-core calls without it."""

    config: RunnableConfig
    capture: _RunCapture


class _RunCapture(BaseCallbackHandler):
    """Records the run id of the first chat model run it sees start (the AutoMix run itself)."""

    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self.run_id: UUID | None = None

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        if self.run_id is None:
            self.run_id = run_id


_STREAM_PARENT: contextvars.ContextVar[_StreamParent | None] = contextvars.ContextVar(
    "automix_stream_parent", default=None
)


def _stream_parent(config: RunnableConfig | None) -> tuple[RunnableConfig, _StreamParent]:
    """A ``stream()``/``astream()`` call's config with a :class:`_RunCapture` attached, and the
    :class:`_StreamParent` that finds the run it makes."""
    given = ensure_config(config)
    capture = _RunCapture()
    return _with_handler(given, capture), _StreamParent(given, capture)


@contextmanager
def _running_under(parent: _StreamParent) -> Iterator[None]:
    """``parent`` as the stream call's run while the block runs (see :data:`_STREAM_PARENT`)."""
    token = _STREAM_PARENT.set(parent)
    try:
        yield
    finally:
        _STREAM_PARENT.reset(token)


def _with_handler(config: RunnableConfig, handler: BaseCallbackHandler) -> RunnableConfig:
    callbacks = config.get("callbacks")
    if isinstance(callbacks, (CallbackManager, AsyncCallbackManager)):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=False)
        return {**config, "callbacks": manager}
    handlers: list[BaseCallbackHandler] = list(callbacks) if isinstance(callbacks, list) else []
    return {**config, "callbacks": [*handlers, handler]}


_M = TypeVar("_M", CallbackManager, AsyncCallbackManager)


def _child_of(run: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun,
              manager: CallbackManager | AsyncCallbackManager) -> CallbackManager | AsyncCallbackManager:
    """A callback manager for runs nested under ``run`` (chat model run managers have no get_child)."""
    manager.parent_run_id = run.run_id
    manager.set_handlers(run.inheritable_handlers)
    manager.add_tags(run.inheritable_tags)
    manager.add_metadata(run.inheritable_metadata)
    return manager


def _split_text(text: str) -> list[str]:
    """Stream pieces of ``text`` (words with their leading whitespace); joined they give it back."""
    return re.findall(r"\s*\S+|\s+$", text) or [text]


_STREAMING_MEMBERS = frozenset({"tap_output_aiter", "tap_output_iter"})


class _NotStreaming:
    """A callback handler seen through a window without token streaming.

    langchain-core streams a child chat model's ``invoke`` when a streaming handler (the one
    ``astream_events``/``astream_log`` attach) is among its callbacks. AutoMix's child calls (each
    tier's answer, each verification sample) must not be streamed: their tokens are not the output
    (a verifier's "Verdict: correct", a rejected small answer), a streamed reply carries no usage,
    and a streamed ``n`` request returns one choice. This proxy forwards every event but the tokens
    to the handler and is not a streaming handler, so the children run as plain calls and still
    appear as (tagged) child runs: ``on_chat_model_start``/``on_chat_model_end``.
    """

    def __init__(self, handler: Any) -> None:
        self._automix_handler = handler

    def __getattr__(self, name: str) -> Any:
        if name in _STREAMING_MEMBERS:  # the streaming handler protocol is runtime-checked by its members
            raise AttributeError(name)
        return getattr(self._automix_handler, name)

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        return None


def _streaming(handler: Any) -> bool:
    from langchain_core.tracers._streaming import _StreamingCallbackHandler

    return isinstance(handler, _StreamingCallbackHandler)


def without_streaming(callbacks: Any) -> Any:
    """``callbacks`` (a manager, a list of handlers or None) with every streaming handler behind a
    :class:`_NotStreaming` proxy (see there); other handlers unchanged."""
    def swap(handlers: list[Any]) -> list[Any]:
        return [_NotStreaming(h) if _streaming(h) else h for h in handlers]

    if isinstance(callbacks, (CallbackManager, AsyncCallbackManager)):
        if not any(_streaming(h) for h in callbacks.handlers):
            return callbacks
        manager = callbacks.copy()
        proxies = {id(h): _NotStreaming(h) for h in [*callbacks.handlers, *callbacks.inheritable_handlers]
                   if _streaming(h)}
        manager.handlers = [proxies.get(id(h), h) for h in callbacks.handlers]
        manager.inheritable_handlers = [proxies.get(id(h), h) for h in callbacks.inheritable_handlers]
        return manager
    if isinstance(callbacks, list):
        return swap(callbacks)
    return callbacks


class UsageCollector(BaseCallbackHandler):
    """Sums ``usage_metadata`` of every chat model run it sees finish (thread-safe)."""

    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.input_tokens = 0
        self.output_tokens = 0
        self.reported = 0
        self.unreported = 0

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        usage = None
        for gens in response.generations[:1]:
            for gen in gens[:1]:
                if isinstance(gen, ChatGeneration) and isinstance(gen.message, AIMessage):
                    usage = gen.message.usage_metadata
        with self._lock:
            if usage:
                self.reported += 1
                self.input_tokens += int(usage.get("input_tokens") or 0)
                self.output_tokens += int(usage.get("output_tokens") or 0)
            else:
                self.unreported += 1

    def tokens(self) -> tuple[int | None, int | None]:
        """(input, output) tokens if every model call reported usage, else (None, None) to estimate."""
        with self._lock:
            if self.reported and not self.unreported:
                return self.input_tokens, self.output_tokens
            return None, None
