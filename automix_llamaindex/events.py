"""What AutoMix tells LlamaIndex: the :class:`AutoMixEvent` of each cascade, the progress events while it
runs (:class:`AutoMixProgressEvent`), the callback events of the tiers' calls (:func:`forward_llm_event`),
and the route of a block or a query (:class:`AutoMixRuns`, :func:`capture`, ``Response.metadata["automix"]``).
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import AsyncGenerator, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base import global_stack_trace
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.query import QueryEndEvent, QueryStartEvent
from llama_index.core.llms import LLM
from llama_index_instrumentation import get_dispatcher
from llama_index_instrumentation.event_handlers import BaseEventHandler, NullEventHandler
from llama_index_instrumentation.events.span import SpanDropEvent

from automix_core import AutoMixResult, Tier
from automix_core.integration import PROGRESS_EVENTS, ProgressHook

__all__ = ["AutoMixAnswerEvent", "AutoMixDecisionEvent", "AutoMixEvent", "AutoMixFailedEvent",
           "AutoMixProgressEvent", "AutoMixRuns", "AutoMixVerifiedEvent", "capture", "forward_llm_event",
           "progress_hook"]


class AutoMixEvent(BaseEvent):
    """Dispatched when an AutoMix cascade ends: ``result`` is :meth:`AutoMixResult.to_dict`."""

    result: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixEvent"


# ------------------------------------------------------------------------------------ progress while a cascade runs


class AutoMixProgressEvent(BaseEvent):
    """Base of the events dispatched while a cascade runs, in the span of the AutoMix call (``chat``,
    ``complete``, their async and streaming forms), before its answer is returned or streamed: the
    first streamed token comes after the whole cascade, these tell what it is doing meanwhile. Their
    fields (``tier``, ``model`` and per event below) hold indices, model names, numbers and fixed words,
    never text a model or the caller wrote, nor keys (:func:`automix_core.integration.progress_event`).
    ``progress_name`` is the name the LangChain adapter gives the same event."""

    progress_name: ClassVar[str] = ""
    tier: int
    model: str


class AutoMixAnswerEvent(AutoMixProgressEvent):
    """A tier's answer is ready (``automix.answer``); its verification follows."""

    progress_name: ClassVar[str] = PROGRESS_EVENTS["answer"]

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixAnswerEvent"


class AutoMixVerifiedEvent(AutoMixProgressEvent):
    """A tier's answer was verified (``automix.verified``): ``confidence`` (0-1), one verdict per sample."""

    progress_name: ClassVar[str] = PROGRESS_EVENTS["verify"]
    confidence: float | None = None
    verdicts: list[bool | None] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixVerifiedEvent"


class AutoMixDecisionEvent(AutoMixProgressEvent):
    """The policy decided (``automix.decision``): ``action`` is ``"accept"`` (``final``: the answer of
    tier ``target`` is returned) or ``"escalate"`` (tier ``target`` is asked next)."""

    progress_name: ClassVar[str] = PROGRESS_EVENTS["decide"]
    action: str
    target: int | None = None
    target_model: str = ""
    final: bool = False

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixDecisionEvent"


class AutoMixFailedEvent(AutoMixProgressEvent):
    """A tier's call failed after its retries (``automix.failed``): ``stage`` ``"answer"`` or ``"verify"``,
    ``error`` the exception's class name."""

    progress_name: ClassVar[str] = PROGRESS_EVENTS["failure"]
    stage: str
    error: str

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixFailedEvent"


_PROGRESS: dict[str, type[AutoMixProgressEvent]] = {
    c.progress_name: c for c in (AutoMixAnswerEvent, AutoMixVerifiedEvent, AutoMixDecisionEvent, AutoMixFailedEvent)}
_progress_dispatcher = get_dispatcher(__name__)


def _subscribed() -> bool:
    """Whether an event handler besides AutoMix's own query scopes (and LlamaIndex's null handler) would
    see an event of this module."""
    d: Any = _progress_dispatcher
    while d is not None:
        if any(not isinstance(h, (_QueryScopes, NullEventHandler)) for h in d.event_handlers):
            return True
        d = d.parent if d.propagate else None
    return False


def _dispatch_progress(name: str, data: dict[str, Any]) -> None:
    if _subscribed():
        _progress_dispatcher.event(_PROGRESS[name](**data))


def progress_hook(tiers: list[Tier]) -> ProgressHook:
    """The engine hook that dispatches the :class:`AutoMixProgressEvent` s of every cascade over
    ``tiers`` (built only when an event handler is registered)."""
    return ProgressHook([t.name for t in tiers], _dispatch_progress)


# ------------------------------------------------------------------------------------ runs of a block or a query


@dataclass
class AutoMixRuns:
    """The AutoMix calls (cascades and utility calls) made inside a :func:`capture` block or one query.

    ``results`` in the order they finished; :attr:`last` is the final answer's (in a query engine the
    synthesizer's last call gives the response). :meth:`to_dict` is what ``Response.metadata["automix"]``
    holds."""

    results: list[AutoMixResult] = field(default_factory=list)
    key: str | None = None

    def __len__(self) -> int:
        """How many AutoMix calls were made (``len(runs)``); ``runs[i]`` and ``for r in runs`` read ``results``."""
        return len(self.results)

    def __getitem__(self, i: int) -> AutoMixResult:
        return self.results[i]

    def __iter__(self) -> Iterator[AutoMixResult]:
        return iter(self.results)

    @property
    def last(self) -> AutoMixResult | None:
        return self.results[-1] if self.results else None

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.results)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.results)

    @property
    def cost(self) -> float:
        return sum(r.cost for r in self.results)

    @property
    def calls(self) -> int:
        """Provider requests made (answers and verification samples)."""
        return sum(u.requests for r in self.results for u in r.usage)

    def to_dict(self) -> dict[str, Any]:
        """The route of the final answer (:meth:`AutoMixResult.to_dict` of :attr:`last`: ``answer``,
        ``tier``, ``model``, ``tiers_visited``, ``trace``) with the usage summed over every run
        (``input_tokens``, ``output_tokens``, ``total_tokens``, ``cost``, ``calls``,
        ``estimated_usage``), and ``runs``, the :meth:`~AutoMixResult.to_dict` of each run."""
        last = self.last
        out: dict[str, Any] = last.to_dict() if last is not None else {}
        out.update(input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                   total_tokens=self.input_tokens + self.output_tokens, cost=self.cost, calls=self.calls,
                   estimated_usage=any(u.estimated for r in self.results for u in r.usage),
                   runs=[r.to_dict() for r in self.results])
        return out


# the open scopes of this context, outermost first: a tuple, so that tasks started inside a scope
# (asyncio.gather of tree_summarize, concurrent sub-queries) share the scopes but not their stack
_SCOPES: contextvars.ContextVar[tuple[AutoMixRuns, ...]] = contextvars.ContextVar("automix_llamaindex_scopes",
                                                                                   default=())
_LAST: contextvars.ContextVar[tuple[int, AutoMixResult] | None] = contextvars.ContextVar(
    "automix_llamaindex_last", default=None)


@contextmanager
def capture() -> Iterator[AutoMixRuns]:
    """Collect every AutoMix call made inside the block, by any :class:`AutoMixLLM` and any task it
    starts: ``with capture() as runs: chat_engine.chat(...)``, then ``runs.last.tier``,
    ``runs.cost``, ``runs.to_dict()``. For chat engines and agents, whose responses have no room
    for the route (query engines put it in ``Response.metadata["automix"]`` themselves)."""
    runs = AutoMixRuns()
    with _inside(runs):
        yield runs


def _record(result: AutoMixResult) -> None:
    for runs in _SCOPES.get():
        runs.results.append(result)


class _QueryScopes(BaseEventHandler):
    """Opens an :class:`AutoMixRuns` scope when a query starts and puts it in the response's
    ``metadata["automix"]`` when it ends (when an AutoMix call was made). Registered once on the root
    dispatcher by the first :class:`AutoMixLLM`."""

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixQueryScopes"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, QueryStartEvent):
            _SCOPES.set((*_SCOPES.get(), AutoMixRuns(key=event.span_id)))
        elif isinstance(event, (QueryEndEvent, SpanDropEvent)):  # a query that raised drops its span
            stack = _SCOPES.get()
            for i in range(len(stack) - 1, -1, -1):
                if stack[i].key is not None and stack[i].key == event.span_id:
                    _SCOPES.set(stack[:i] + stack[i + 1:])
                    if isinstance(event, QueryEndEvent):
                        _attach(event.response, stack[i])
                    return


def _attach(response: Any, runs: AutoMixRuns) -> None:
    """Put ``runs`` in ``response.metadata["automix"]`` (unless already there). A streaming response
    whose answer is drawn as it is read (refine's streaming) gets it when its generator is exhausted:
    the generator is wrapped so that the calls it makes are collected in ``runs``."""
    if not hasattr(response, "metadata"):
        return
    gen = getattr(response, "response_gen", None)
    if isinstance(response, StreamingResponse) and gen is not None:
        response.response_gen = _collecting(gen, runs, response)
    elif isinstance(response, AsyncStreamingResponse) and gen is not None:
        response.response_gen = _acollecting(gen, runs, response)
    if runs.results:
        _put(response, runs)


def _put(response: Any, runs: AutoMixRuns) -> None:
    metadata = response.metadata if isinstance(response.metadata, dict) else {}
    if "automix" not in metadata or metadata["automix"].get("runs") is not None:  # not AutoMixQueryEngine's own
        metadata["automix"] = runs.to_dict()
    response.metadata = metadata


@contextmanager
def _inside(runs: AutoMixRuns) -> Iterator[None]:
    """``runs`` open as a scope while the block runs (a streamed response's next token is drawn)."""
    token = _SCOPES.set((*_SCOPES.get(), runs))
    try:
        yield
    finally:
        _SCOPES.reset(token)


def _collecting(gen: Iterator[str], runs: AutoMixRuns, response: Any) -> Generator[str, None, None]:
    it = iter(gen)
    done = object()
    while True:
        with _inside(runs):
            item = next(it, done)
        if item is done:
            break
        yield cast(str, item)
    if runs.results:
        _put(response, runs)


async def _acollecting(gen: Any, runs: AutoMixRuns, response: Any) -> AsyncGenerator[str, None]:
    it = gen.__aiter__()
    done = object()
    while True:
        with _inside(runs):
            item = await anext(it, done)
        if item is done:
            break
        yield cast(str, item)
    if runs.results:
        _put(response, runs)


_QUERY_HANDLER: list[_QueryScopes] = []


def _install_query_handler() -> None:
    if not _QUERY_HANDLER:
        handler = _QueryScopes()
        get_dispatcher().add_event_handler(handler)
        _QUERY_HANDLER.append(handler)


def forward_llm_event(
    manager: CallbackManager, child: LLM, messages: list[ChatMessage], response: ChatResponse
) -> None:
    """Report one tier call to the handlers of ``manager`` (the AutoMix LLM's) that the tier's own
    callback manager does not reach."""
    mine = manager.handlers
    if not mine:
        return
    theirs = child.callback_manager.handlers if isinstance(child.callback_manager, CallbackManager) else []
    missing = [h for h in mine if not any(h is t for t in theirs)]
    if not missing:
        return
    event_id = str(uuid.uuid4())
    stack = global_stack_trace.get()
    parent_id = stack[-1] if stack else "root"
    start: dict[str, Any] = {EventPayload.MESSAGES: messages, EventPayload.ADDITIONAL_KWARGS: {},
             EventPayload.SERIALIZED: {"class_name": child.class_name(), "model": child.metadata.model_name}}
    for h in missing:
        if CBEventType.LLM not in h.event_starts_to_ignore:
            h.on_event_start(CBEventType.LLM, start, event_id=event_id, parent_id=parent_id)
    end: dict[str, Any] = {EventPayload.MESSAGES: messages, EventPayload.RESPONSE: response}
    for h in missing:
        if CBEventType.LLM not in h.event_ends_to_ignore:
            h.on_event_end(CBEventType.LLM, end, event_id=event_id)
