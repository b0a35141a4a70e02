"""Settings shared by :class:`~automix_langchain.AutoMixChatModel` and
:class:`~automix_langchain.AutoMixRunnable`, their :class:`~automix_core.AutoMix` (built once) and
the :class:`~automix_core.RequestContext` of each request.

No routing logic lives here: every decision is :class:`automix_core.AutoMix`'s, with the router
given (a fitted :class:`~automix_core.Router`, a :class:`~automix_core.Policy`, or a path to a router
JSON from ``automix calibrate``), or :meth:`Router.default` when none is (accept when most
verification samples say "correct").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field, PrivateAttr

from automix_core import (
    AutoMix,
    Budget,
    CascadeSettings,
    ConfigError,
    Ledger,
    Policy,
    PriceTable,
    RequestContext,
    Router,
    Screen,
    coerce_router,
)
from automix_core.integration import CascadeCalls, ToolCallPolicy, UsageScope, tool_call_screen, utility_tier

from .messages import ContextFrom
from .progress import progress_hook
from .tiers import ChildCallbacks, RequestState, RunnableTier, supports_native_n

__all__ = ["UTILITY_TAG", "AutoMixSettings", "CascadeCalls"]

UTILITY_TAG = "automix:utility"
"""The run tag that marks a utility call (see :attr:`AutoMixSettings.cascade_calls`)."""



class AutoMixSettings(CascadeSettings):
    """Fields shared by the LangChain adapters: the core's :class:`~automix_core.CascadeSettings` (same
    names, same validation: ``k``, ``verify_mode``, ``verify_temperature``, ``verify_max_tokens``,
    ``answer_max_tokens``, ``answer_temperature``, ``retries``, ``timeout``, ``system``) and the
    LangChain-only ones below. ``max_retries`` is accepted for ``retries``."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore", populate_by_name=True)

    router: Router | Policy | str | dict[str, Any] | None = None
    """A fitted router, a policy, a router JSON path, or its dict; None: the untrained default."""
    prices: PriceTable | None = None
    """Prices per model name; None: the presets and the local catalog models. A tier whose model has no
    price raises UnknownPriceError when the AutoMix object is built (not mid-request)."""
    ledger: Ledger = Field(default_factory=Ledger)
    """Where every call (answers and verification) is billed; shared by copies of this object."""
    budget: Budget | None = None
    answer_max_tokens: int | None = Field(default=None, ge=1)
    """Reply tokens the engine assumes for an answer when fitting prompts to ``context_window``. The
    answering runnables keep their own limits (``AutoMixChatModel`` passes its ``max_tokens``)."""
    retries: int = Field(default=1, ge=0, validation_alias=AliasChoices("retries", "max_retries"))
    """Extra attempts for a call failing with a transient error (timeouts, connection, rate limits)."""
    verify_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments for every verification call (e.g. ``{"extra_body": {...}}``)."""
    sampling_kwargs: bool = True
    """Pass ``temperature``/``max_tokens`` to verification calls as call keyword arguments."""
    verify_n: bool | None = None
    """Draw the k verification samples in one request with ``n=k`` (the prompt is billed once, not k
    times). Needs a verifier chat model with an ``n`` parameter: ``None`` (default) turns it on for
    langchain-openai's ``ChatOpenAI``/``AzureChatOpenAI`` on their own endpoints, and off elsewhere;
    ``True`` turns it on for any such model (e.g. ``ChatOpenAI`` on a llama.cpp server: see
    ``usage_scope`` for how its tokens are counted). A server that returns fewer choices gets the rest
    as separate requests, and a model that answers HTTP 400 to ``n`` gets k single requests."""
    usage_scope: UsageScope | None = None
    """What a verifier's reported output tokens cover in a reply with ``n`` choices: ``"all_choices"``
    (OpenAI's semantics) or ``"first_choice"`` (llama.cpp's: such requests then also ask for per-token
    logprobs, ``top_logprobs=1``, and bill every choice's tokens counted from them, or leave the call to
    the core's estimate, marked ``estimated``, when a choice has none). Default (None):
    ``"all_choices"`` for the models ``verify_n=None`` picks itself (OpenAI's own endpoints),
    ``"first_choice"`` for any other model given ``verify_n=True``."""
    context_from: ContextFrom = "conversation"
    """Where the verifier's context comes from for message inputs (see :mod:`automix_langchain.messages`)."""
    tool_calls: ToolCallPolicy = "verify"
    """What to do when a tier answers with tool calls: verify the calls (rendered as text) like any
    answer, ``"accept"`` them unverified, or ``"escalate"`` (the last tier's calls are always kept)."""
    context_window: int | None = None
    """Tokens the verifier's prompt may use (context is left-truncated to fit); None: unlimited."""
    cascade_calls: CascadeCalls = "answers"
    """Which calls run the cascade. ``"answers"`` (default): every call but the utility calls, those
    whose run carries the tag :data:`UTILITY_TAG` (``"automix:utility"``): set on the model
    (``llm.utility()``, i.e. ``llm.with_config(tags=["automix:utility"])``), on an enclosing chain
    (LangChain passes a run's tags to every run inside it) or in one call's config. A utility call (a
    question rewrite, a query generation, a summary of intermediate steps) goes to tier
    ``utility_tier`` alone: retried and billed like any call, not verified (its trace's note says
    "one tier asked: not cascaded, not verified"). ``"all"``: every call is cascaded, tagged or not."""
    utility_tier: int = Field(default=0, ge=0)
    """The tier that answers utility calls (default 0, the cheapest)."""

    def verify_n_plan(self, verifier: Any) -> dict[str, Any]:
        """How ``verifier``'s k samples are drawn and counted: the ``native_n`` and ``usage_scope`` of a
        :class:`~automix_langchain.tiers.RunnableTier` (see ``verify_n`` and ``usage_scope``)."""
        native = supports_native_n(verifier, self.verify_n)
        known = native and supports_native_n(verifier, None)  # picked by default: OpenAI's own endpoint
        return {"native_n": native, "usage_scope": self.usage_scope or ("all_choices" if known else "first_choice")}

    @property
    def sync_deadline(self) -> float | None:
        """The deadline of sync child calls: ``timeout`` when it was set explicitly (enforced by running
        each child call in a worker pool, a thread hop per call), else None: the default leaves sync
        calls to the child's own client timeout, as before, and costs nothing."""
        return self.timeout if "timeout" in self.model_fields_set else None

    @property
    def max_retries(self) -> int:
        """``retries`` under its earlier name."""
        return self.retries

    _router: Router | None = PrivateAttr(default=None)

    def resolved_router(self, names: Sequence[str]) -> Router:
        """The router for tiers named ``names`` (:func:`~automix_core.coerce_router`, loaded once and cached)."""
        if self._router is None:
            self._router = coerce_router(self.router, names)
        return self._router

    def check_tiers(self, names: Sequence[str]) -> None:
        """Checked once when the adapter is built: ``utility_tier`` is a tier, and every tier has a price
        (:meth:`check_prices`)."""
        if self.utility_tier >= len(names):
            raise ConfigError(f"utility_tier={self.utility_tier} is not a tier (there are {len(names)})")
        self.check_prices(names)

    def utility_call(self, tags: Sequence[str] | None) -> int | None:
        """The tier that answers a call whose run has ``tags`` when it is a utility call (see
        ``cascade_calls``), else None: the call runs the cascade."""
        return utility_tier(self.cascade_calls, bool(tags) and UTILITY_TAG in (tags or ()), self.utility_tier)

    def check_prices(self, names: Sequence[str]) -> None:
        """Raise :class:`~automix_core.UnknownPriceError` (naming the tier and how to set a price) unless
        every tier in ``names`` has a price: checked once when the adapter is built."""
        (self.prices if self.prices is not None else PriceTable()).require(names)

    def screen(self) -> Screen | None:
        """The tool-call policy as an engine screen (None for ``"verify"``): a reply with ``tool_calls``."""
        return tool_call_screen(self.tool_calls, lambda tier, gen: bool(getattr(gen.raw, "tool_calls", None)))

    _engine: tuple[tuple[int, ...], AutoMix] | None = PrivateAttr(default=None)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in type(self).model_fields:  # a setting changed: the engine is built anew on next use
            self._engine = None

    def cached_engine(self, key: tuple[int, ...], tiers: Callable[[], Sequence[RunnableTier]],
                      **overrides: Any) -> AutoMix:
        """The engine of this adapter, built once (over ``tiers()``) and again only when a field is set or
        ``key`` (the ids of the tier objects) changes; ``overrides`` are cascade settings (e.g.
        ``answer_max_tokens``). Each request then hands it a :class:`~automix_core.RequestContext`."""
        cached = self._engine
        if cached is None or cached[0] != key:
            cached = (key, self.engine(tiers(), **overrides))
            self._engine = cached
        return cached[1]

    def engine(self, tiers: Sequence[RunnableTier], **overrides: Any) -> AutoMix:
        """A new engine over ``tiers`` (the router is cached); ``overrides`` are cascade settings (e.g.
        ``answer_max_tokens``). The adapters build theirs once (:meth:`cached_engine`)."""
        return AutoMix([t.tier() for t in tiers], router=self.resolved_router([t.name for t in tiers]),
                       prices=self.prices, ledger=self.ledger, budget=self.budget, screen=self.screen(),
                       settings=CascadeSettings.of(self, overrides))

    def request(self, callbacks: ChildCallbacks, names: Sequence[str], value: Any, *, params: Mapping[str, Any] = {},
                tools: Sequence[Any] = (), tool_options: Mapping[str, Any] = {},
                answerers: list[Any] | None = None) -> tuple[RequestContext, Any]:
        """One request's context for the engine (``value``: the caller's input) and the progress sender to
        flush on the async path (:func:`~.progress.flushed`): when the AutoMix run has callback handlers,
        the engine reports its progress to them as custom events (see :mod:`.progress`)."""
        progress = progress_hook(callbacks, names)
        state = RequestState(callbacks, answerers)
        context = RequestContext(messages=value, params=params, tools=tools, tool_options=tool_options, state=state,
                                 hook=progress[0] if progress is not None else None)
        return context, progress[1] if progress is not None else None
