"""The integration kit: what every adapter (LangChain, LlamaIndex, the HTTP server) shares.

An adapter turns its framework's models into :class:`~automix_core.models.ChatModel` objects and
hands the engine one :class:`~automix_core.cascade.Tier` per model: the answering model, and the
verifying model when it differs (so the engine, not the adapter, knows which call is which). What
it needs beyond that lives here, written once:

* :func:`is_transient`: which failures may succeed when tried again (timeouts, rate limits, 5xx,
  connection errors); only those retry or escalate.
* :func:`secret_values` and :func:`scrub_secrets`: keep API keys out of error messages.
* :func:`is_programming_error` and :func:`surfaced`: a bug in the caller's code (a ``TypeError`` in a
  tier chain, ...) is not a model failure: the engine raises it at once, unchanged.
* :func:`model_error`: a framework exception as a :class:`ModelError`, scrubbed and classified.
* :func:`rejected_request`: a provider's HTTP 400 (e.g. a model that refuses ``n``).
* :class:`TurnCache`: framework message objects for the verification prompt's fixed turns.
* :class:`ProgressHook` (:func:`progress_event`, :data:`PROGRESS_EVENTS`): the cascade's hook events
  as progress events with one set of names and payloads, which each adapter sends its own way.
* :func:`~automix_core.router.coerce_router` and :class:`~automix_core.settings.CascadeSettings`:
  the ``router=`` argument and the cascade's settings, one way for every adapter.
* :func:`~automix_core.verify.draw.draw` / :func:`~automix_core.verify.draw.adraw`: k samples with
  ``n`` and its fallbacks (the :class:`~automix_core.verify.Verifier` uses them for every model).
* What a request is, the same in every adapter: :func:`question_and_context` (the question and the
  context the verifier reads, from chat messages; :data:`ContextSource`), :func:`render_tool_calls`
  (tool calls as the text the verifier reads), :data:`ToolCallPolicy` and
  :func:`tool_call_screen` (a tier's tool calls verified, accepted or escalated), :data:`CascadeCalls`
  and :func:`utility_tier` (which calls run the cascade), and the seam's
  :class:`~automix_core.models.RequestContext` and :data:`~automix_core.models.CallKind`.
* From other districts, so that adapters need nothing but this kit and the public face: the OpenAI
  wire layer's (:mod:`automix_core.backends.wire`) :func:`render_tool_calls`,
  :data:`TRANSIENT_STATUS`, :data:`~automix_core.backends.wire.UsageScope`,
  :func:`~automix_core.backends.wire.output_tokens` and
  :func:`~automix_core.backends.wire.parse_logprobs`; :func:`count_tokens` (the one token
  estimator), :func:`append_record` (crash-safe appends), :data:`DEFAULT_K`, and the engine's answer
  prompt :func:`~automix_core.verify.prompt.build_answer_messages`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import SecretStr

from .accounting.tokens import count_tokens
from .backends.wire import TRANSIENT_STATUS, render_tool_calls, scrub_secrets
from .calibration.records import append_record
from .errors import InvalidRequestError, ModelError
from .models import CallKind, Generation, Message, RequestContext
from .verify.method import DEFAULT_K

if TYPE_CHECKING:
    from .cascade.result import Screen

__all__ = [
    "DEFAULT_K",
    "PROGRAMMING_ERRORS",
    "PROGRESS_EVENTS",
    "TRANSIENT_NAMES",
    "TRANSIENT_STATUS",
    "CallKind",
    "CascadeCalls",
    "ContextSource",
    "InvalidRequestError",
    "ProgressHook",
    "RequestContext",
    "ToolCallPolicy",
    "TurnCache",
    "UsageScope",
    "append_record",
    "build_answer_messages",
    "count_tokens",
    "is_programming_error",
    "is_transient",
    "model_error",
    "output_tokens",
    "parse_logprobs",
    "progress_event",
    "question_and_context",
    "rejected_request",
    "render_tool_calls",
    "scrub_secrets",
    "secret_values",
    "surfaced",
    "tool_call_screen",
    "utility_tier",
]

TRANSIENT_NAMES = ("Timeout", "RateLimit", "APIConnection", "ConnectError", "ConnectionError",
                   "InternalServer", "ServiceUnavailable", "RemoteProtocolError")
"""Parts of exception class names that mean a transient failure (the SDKs' own classes: openai's
``APITimeoutError``/``RateLimitError``/``APIConnectionError``/``InternalServerError``, httpx's
``ReadTimeout``/``ConnectError``, anthropic's equivalents) when no status code says more."""


def _status(error: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(error, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            return value
    response = getattr(error, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may not recur on a second try: a timeout, a dropped connection, a rate limit
    or a server error (HTTP 408/409/425/429 or 5xx, read from ``status_code``/``status``/``code`` or
    ``response.status_code``). A :class:`ModelError` says so itself (``retryable``). Anything else (a
    ``TypeError`` in a chain, a 400 or 401 from the provider) is not transient."""
    if isinstance(error, ModelError):
        return error.retryable
    if isinstance(error, (TimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True
    status = _status(error)
    if status is not None:
        return status in TRANSIENT_STATUS or status >= 500
    return any(part in type(error).__name__ for part in TRANSIENT_NAMES)


PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, AttributeError, NameError, LookupError, ImportError, NotImplementedError, SyntaxError,
    ArithmeticError, AssertionError, RecursionError,
)
"""Exception classes that mean a bug in the caller's code, not a failed model call."""


def is_programming_error(error: BaseException | None) -> bool:
    """Whether ``error`` is a bug in the caller's code (a chain, a hook, a custom model), not a model
    failure: one of :data:`PROGRAMMING_ERRORS`, not a :class:`ModelError`, not :func:`is_transient`,
    and without an HTTP status.

    The policy every adapter shares (the engine applies it to answer calls):

    * transient failures (:func:`is_transient`) are retried, then the next tier is tried;
    * other model failures (a provider's HTTP 400/401/404, a plain ``RuntimeError``, an output parser
      rejecting a reply, a prompt too large for a tier) are not retried but escalate, reported as
      scrubbed :class:`ModelError` s (in :class:`~automix_core.errors.AllTiersFailedError` when every
      tier fails; a provider's message may echo the key, so it is never passed on unscrubbed);
    * programming errors are neither retried nor escalated: the engine raises the very exception
      object at once (see :func:`surfaced`), before any further tier is paid for.
    """
    if error is None or isinstance(error, ModelError) or not isinstance(error, PROGRAMMING_ERRORS):
        return False
    return not is_transient(error) and _status(error) is None


def surfaced(error: BaseException) -> BaseException | None:
    """The exception to raise unchanged instead of escalating, if ``error`` is a programming error or a
    :class:`ModelError` made by :func:`model_error` from one (its ``__cause__``); else None."""
    if is_programming_error(error):
        return error
    if isinstance(error, ModelError) and not error.retryable and is_programming_error(error.__cause__):
        return error.__cause__
    return None


def secret_values(*objects: object) -> list[str]:
    """The secrets the given (pydantic) objects hold: ``SecretStr`` fields, and text fields named like a
    key, token or secret (at least 4 characters long)."""
    out: list[str] = []
    for obj in objects:
        for name in getattr(type(obj), "model_fields", {}):
            value = getattr(obj, name, None)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif not (isinstance(value, str) and any(part in name.lower() for part in ("key", "token", "secret"))):
                continue
            if isinstance(value, str) and len(value) >= 4:
                out.append(value)
    return out


def model_error(where: str, error: BaseException, secrets: Sequence[str] = (), *, model: str = "") -> ModelError:
    """``error`` as a :class:`ModelError` whose message starts with ``where`` and holds no secret;
    retryable when :func:`is_transient`. A :class:`ModelError` is returned as it is. The result's
    ``__cause__`` is ``error``: when that is a programming error (:func:`is_programming_error`), the
    engine raises ``error`` itself rather than retrying or escalating (:func:`surfaced`)."""
    if isinstance(error, ModelError):
        return error
    text = scrub_secrets(f"{where}: {type(error).__name__}: {error}", secrets)
    wrapped = ModelError(text, model=model, retryable=is_transient(error), status_code=_status(error))
    wrapped.__cause__ = error
    return wrapped


def rejected_request(error: BaseException) -> bool:
    """Whether ``error`` is a provider's HTTP 400 (for example a model that does not take ``n``):
    the request itself was refused, so sending it again unchanged cannot help."""
    return getattr(error, "status_code", None) == 400


M = TypeVar("M")


class TurnCache(Generic[M]):
    """Framework message objects for prompt turns whose text repeats on every call.

    The verification prompt's turns before the case at hand (its instructions and few-shot examples)
    are the same text each time: an adapter converts each once with ``build(role, content)`` and
    reuses the object, which keeps thousands of short-lived objects per second away from the garbage
    collector under load. Before reuse, ``intact(message, role, content)`` must confirm the object
    still holds that text, so one that a model changed in place is rebuilt rather than passed on.
    :meth:`convert` reuses every turn of a prompt but the last (the case at hand, always built
    fresh). Texts longer than ``max_len`` are always built fresh; the cache holds at most
    ``max_items`` turns and starts over when full.
    """

    def __init__(
        self, build: Callable[[str, str], M], intact: Callable[[M, str, str], bool], *,
        max_items: int = 256, max_len: int = 8192,
    ) -> None:
        self._build = build
        self._intact = intact
        self._items: dict[tuple[str, str], M] = {}
        self.max_items = max_items
        self.max_len = max_len

    def convert_once(self, messages: Sequence[Message], last: list[tuple[Sequence[Message], list[M]]]) -> list[M]:
        """:meth:`convert`, shared by the calls that send the same ``messages`` object (the k single
        requests of one verification): ``last`` is the caller's one-entry memo (a list it owns)."""
        memo = last[0] if last else None
        if memo is not None and memo[0] is messages:
            return memo[1]
        out = self.convert(messages)
        last[:] = [(messages, out)]
        return out

    def convert(self, messages: Sequence[Message]) -> list[M]:
        """A whole prompt: every turn but the last reused, the last built fresh."""
        out = [self._reused(m["role"], m["content"]) for m in messages[:-1]]
        if messages:
            last = messages[-1]
            out.append(self._build(last["role"], last["content"]))
        return out

    def _reused(self, role: str, content: str) -> M:
        if len(content) > self.max_len:
            return self._build(role, content)
        key = (role, content)
        hit = self._items.get(key)
        if hit is not None and self._intact(hit, role, content):
            return hit
        made = self._build(role, content)
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[key] = made
        return made


PROGRESS_EVENTS: dict[str, str] = {
    "answer": "automix.answer",
    "verify": "automix.verified",
    "decide": "automix.decision",
    "failure": "automix.failed",
}
"""The progress event each hook :class:`~automix_core.Event` (by its value) is reported as, in every
adapter: a tier answered (before verification), its answer was verified, the policy decided, a call
failed after its retries."""


def progress_event(event: str, payload: Mapping[str, Any], models: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
    """The progress event (a name of :data:`PROGRESS_EVENTS` and its data) for the hook event ``event``
    with ``payload``; ``models`` are the tiers' names. None for what is not reported: an empty answer
    (it is retried, or the tier fails and ``automix.failed`` follows).

    The data hold indices, model names, numbers and fixed words only, never text a model or the caller
    wrote (no answer, no question, no error message: only the error's class name) nor anything from a
    model's configuration, so they can go to a UI or a log as they are:

    * ``automix.answer``: ``tier``, ``model`` (the answer is ready; verification comes next, unless the
      tool-call policy or a one-tier call decides without it);
    * ``automix.verified``: ``tier``, ``model``, ``confidence`` (0-1), ``verdicts`` (one True/False/None
      per sample);
    * ``automix.decision``: ``tier``, ``model``, ``action`` (``"accept"`` or ``"escalate"``), ``target``
      and ``target_model`` (the tier whose answer is returned, or the tier asked next), ``final``
      (True when the answer is settled: the streamed tokens follow);
    * ``automix.failed``: ``tier``, ``model``, ``stage`` (``"answer"`` or ``"verify"``), ``error`` (the
      exception's class name). A tier whose answer call failed escalates without a decision event.
    """
    name = PROGRESS_EVENTS.get(str(getattr(event, "value", event)))
    tier = payload.get("tier")
    if name is None or not isinstance(tier, int):
        return None

    def model(i: Any) -> str:
        return models[i] if isinstance(i, int) and 0 <= i < len(models) else ""

    data: dict[str, Any] = {"tier": tier, "model": model(tier)}
    if name == "automix.answer":
        answer = payload.get("answer")
        if not (isinstance(answer, str) and answer.strip()):
            return None
    elif name == "automix.verified":
        confidence = payload.get("confidence")
        data["confidence"] = float(confidence) if isinstance(confidence, (int, float)) else None
        data["verdicts"] = [v if isinstance(v, bool) else None for v in payload.get("verdicts") or []]
    elif name == "automix.decision":
        action, target = payload.get("action"), payload.get("target")
        data.update(action=str(action), target=target, target_model=model(target), final=action == "accept")
    else:
        error = str(payload.get("error") or "").removeprefix("verification failed: ")  # "<class>: <message>"
        data.update(stage=str(payload.get("stage")), error=error.split(":", 1)[0].strip())
    return name, data


class ProgressHook:
    """A cascade hook that reports each event as a progress event: ``send(name, data)`` with the
    result of :func:`progress_event` (``models``: the tiers' names). The adapters build one per
    request and send through their framework (LangChain custom events, LlamaIndex instrumentation
    events). Like any hook, a ``send`` that raises never breaks the request."""

    __slots__ = ("models", "send")

    def __init__(self, models: Sequence[str], send: Callable[[str, dict[str, Any]], None]) -> None:
        self.models = list(models)
        self.send = send

    def __call__(self, event: Any, payload: dict[str, Any]) -> None:
        made = progress_event(event, payload, self.models)
        if made is not None:
            self.send(*made)


# -- what a request is, the same in every adapter -----------------------------------------------

ContextSource = Literal["conversation", "system", "none"]
"""Where the verifier's context comes from in a chat: the other turns of the conversation, labelled
(``"conversation"``), the system messages (``"system"``), or nowhere (``"none"``)."""

_LABEL = {"system": "System", "user": "User", "assistant": "Assistant"}


def question_and_context(messages: Sequence[Message], context_from: ContextSource = "conversation", *,
                         last: int | None = None) -> tuple[str, str]:
    """The question the verifier reads (the text of message ``last``, by default the last user message
    with text) and its context (see :data:`ContextSource`; ``"conversation"``: every other turn with
    text, as ``Role: text`` paragraphs). Raises :class:`~automix_core.errors.InvalidRequestError` when
    there is no such user message."""
    if last is None:
        last = max((i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].strip()), default=None)
    if last is None or not messages[last]["content"].strip():
        raise InvalidRequestError("AutoMix needs a human message with text (a user turn) to answer and verify; "
                                  "got none", param="messages")
    question = messages[last]["content"]
    if context_from == "none":
        return question, ""
    if context_from == "system":
        return question, "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    if context_from != "conversation":
        raise InvalidRequestError(f"context_from must be 'conversation', 'system' or 'none'; got {context_from!r}",
                                  param="context_from")
    others = [m for i, m in enumerate(messages) if i != last and m["content"].strip()]
    return question, "\n\n".join(f"{_LABEL[m['role']]}: {m['content']}" for m in others)


ToolCallPolicy = Literal["accept", "verify", "escalate"]
"""What an adapter does when a tier answers with tool calls: verify the calls, rendered as text
(``Call tool <name> with arguments <json>``), like any answer (``"verify"``); keep them unverified
(``"accept"``); or escalate without verifying (``"escalate"``; the last tier's calls are always kept)."""


def tool_call_screen(policy: ToolCallPolicy, has_tool_calls: Callable[[int, Generation], bool]) -> Screen | None:
    """The tool-call ``policy`` as the engine's screen (None for ``"verify"``): ``"accept"`` or
    ``"escalate"`` for an answer that ``has_tool_calls(tier, generation)`` says holds tool calls."""
    if policy == "verify":
        return None
    action: Literal["accept", "escalate"] = policy

    def screen(tier: int, gen: Generation) -> Literal["accept", "escalate"] | None:
        return action if has_tool_calls(tier, gen) else None

    return screen


CascadeCalls = Literal["answers", "all"]
"""Which calls run the cascade: every call but the utility calls (a question rewrite, a query or
keyword generation, a condense step), which one tier answers alone, unverified (``"answers"``); or
every call (``"all"``)."""


def utility_tier(cascade_calls: CascadeCalls, utility: bool, tier: int) -> int | None:
    """The tier that answers a call alone (``AutoMix.run(tier=...)``): ``tier`` for a ``utility`` call
    when only answers are cascaded, else None (the call runs the cascade)."""
    return tier if utility and cascade_calls == "answers" else None


# The kit's names from other districts, imported last: those districts import this module themselves.
from .backends.wire import UsageScope, output_tokens, parse_logprobs  # noqa: E402
from .verify.prompt import build_answer_messages  # noqa: E402
