"""AutoMixChatModel: a LangChain chat model that runs the AutoMix cascade over other chat models.

Drop it in wherever a chat model goes::

    llm = AutoMixChatModel(tiers=[ChatOpenAI(model="gpt-4o-mini"), ChatOpenAI(model="gpt-4o")],
                           router="router.json")
    msg = llm.invoke("What is 2 + 2?")
    msg.usage_metadata                      # every call AutoMix made: answers and verification
    msg.response_metadata["model_name"]     # the tier that answered
    msg.response_metadata["automix"]        # the trace: tiers, confidences, decisions, tokens, cost

Child calls (each tier's answer, each verification sample) are LangChain runs nested under the
AutoMix run, tagged ``automix``, ``automix:answer``/``automix:verify`` and ``automix:tier<i>``; this
holds on the streaming path too. Streaming: the cascade runs to its decision first, then the chosen
answer is streamed, usage and trace arriving in the last chunk.

Token counting: the AutoMix message's ``usage_metadata`` already sums its children. Count either
the AutoMix runs or their children (runs tagged ``automix``), never both; a
``UsageMetadataCallbackHandler`` attached to the AutoMix call sees both and double counts, so read
``ledger.total`` or the message's ``usage_metadata`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, PrivateAttr, field_validator

from automix_core import AutoMix, AutoMixResult, ConfigError, RequestContext

from .config import TierInit, build_from_config
from .messages import question_and_context, to_core_messages
from .progress import flushed
from .runs import _STREAM_PARENT, _child_of, _running_under, _split_text, _stream_parent
from .settings import UTILITY_TAG, AutoMixSettings
from .tiers import ChildCallbacks, RunnableTier, tier_name

__all__ = ["AutoMixChatModel"]
__all__ = ["AutoMixChatModel", "load_config"]

_TOOL_KWARGS = ("tools", "tool_choice", "parallel_tool_calls", "strict")




class AutoMixChatModel(AutoMixSettings, BaseChatModel):
    """The AutoMix cascade as a LangChain chat model.

    Tiers are chat models, cheapest first (two or more). Each tier's answer is verified by
    ``verifiers[i]`` (default: the tier itself) and the router decides; see
    :class:`~automix_langchain.settings.AutoMixSettings` for the shared settings.

    ``temperature``, ``max_tokens`` and ``stop``, when set, are passed to the tiers' answering calls
    (as call keyword arguments); left unset, each tier answers with its own configuration. The
    verification calls get ``verify_temperature``/``verify_max_tokens`` (unless ``sampling_kwargs``
    is False) plus ``verify_kwargs``.
    """

    tiers: list[BaseChatModel]
    verifiers: list[BaseChatModel | None] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    streaming: bool = False

    _tier_names: tuple[tuple[int, ...], list[str]] | None = PrivateAttr(default=None)

    @field_validator("tiers")
    @classmethod
    def _two_tiers(cls, tiers: list[BaseChatModel]) -> list[BaseChatModel]:
        if len(tiers) < 2:
            raise ValueError(f"AutoMixChatModel needs at least two tiers, cheapest first; got {len(tiers)}")
        return tiers

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.verifiers is not None and len(self.verifiers) != len(self.tiers):
            raise ConfigError(f"verifiers must have one entry (or None) per tier: {len(self.tiers)}, "
                             f"got {len(self.verifiers)}")
        self.resolved_router(self.tier_names)
        self.check_tiers(self.tier_names)

    # -- identity ---------------------------------------------------------------------------------

    @property
    def tier_names(self) -> list[str]:
        """Each tier's model name (read once per set of tier objects: names key prices and the ledger)."""
        key = tuple(id(t) for t in self.tiers)
        cached = self._tier_names
        if cached is None or cached[0] != key:
            cached = (key, [tier_name(t) for t in self.tiers])
            self._tier_names = cached
        return list(cached[1])

    @property
    def model_name(self) -> str:
        """``automix:<tier0>><tier1>...`` (the answering tier is in each response's ``model_name``)."""
        return "automix:" + ">".join(self.tier_names)

    @property
    def _llm_type(self) -> str:
        return "automix"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "k": self.k, "verify_mode": self.verify_mode,
                "tool_calls": self.tool_calls, "context_from": str(self.context_from)}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(ls_provider="automix", ls_model_type="chat",
                                 ls_model_name=str(kwargs.get("model") or self.model_name))
        temperature = kwargs.get("temperature", self.temperature)
        if isinstance(temperature, (int, float)):
            params["ls_temperature"] = float(temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = list(stop or self.stop or [])
        return params

    # -- tools and structured output -----------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools to every tier (each tier's own ``bind_tools`` gets them, OpenAI-formatted).

        A tier answering with tool calls is handled by :attr:`tool_calls` (default: the calls are
        verified like any answer, rendered as ``Call tool <name> with arguments <json>``).
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Structured output through each tier's own ``with_structured_output`` (``method``,
        ``strict``... pass through), cascaded by an :class:`~automix_langchain.AutoMixRunnable`
        whose verifiers are the plain tiers and whose ledger is this model's. The verifier reads the
        parsed object as JSON."""
        from langchain_core.runnables import RunnableLambda

        from .runnable import AutoMixRunnable, no_structured_output, raw_with_route

        tiers = [t.with_structured_output(schema, include_raw=True, **kwargs) for t in self.tiers]
        verifiers: list[BaseChatModel | None] = [
            v or t for t, v in zip(self.tiers, self.verifiers or [None] * len(self.tiers))]
        runnable = AutoMixRunnable(tiers=tiers, verifiers=verifiers, names=self.tier_names,
                                   **self._settings() | {"return_route": include_raw})
        if include_raw:  # the raw message carries the route and the usage of every call (see raw_with_route)
            return runnable | RunnableLambda(raw_with_route, name="automix_raw")

        def parsed(out: dict[str, Any]) -> Any:
            if out.get("parsing_error") is not None:
                raise out["parsing_error"]
            if out.get("parsed") is None:  # LangChain's tool parser: no tool call -> None, and no error
                raise ValueError(no_structured_output(out.get("raw"), kwargs.get("method")))
            return out["parsed"]

        return runnable | RunnableLambda(parsed, name="automix_parsed")

    def utility(self) -> Runnable[LanguageModelInput, AIMessage]:
        """This model for utility calls (a question rewrite, a query generation): its calls go to tier
        ``utility_tier`` alone, unverified (see ``cascade_calls``). The same as
        ``self.with_config(tags=[UTILITY_TAG])``."""
        return self.with_config(tags=[UTILITY_TAG])

    def _utility(self, run_manager: Any) -> int | None:
        """The tier of this call when it is a utility call (its run's tags), else None."""
        if run_manager is not None:
            return self.utility_call(run_manager.tags)
        parent = _STREAM_PARENT.get()  # stream() without a run manager (see runs.py)
        return self.utility_call([*(self.tags or []), *((parent.config.get("tags") or []) if parent else [])])

    def _settings(self) -> dict[str, Any]:
        names = AutoMixSettings.model_fields
        return {name: getattr(self, name) for name in names if name != "router"} | {
            "router": self.resolved_router(self.tier_names)}

    # -- the request --------------------------------------------------------------------------

    def _engine_now(self) -> AutoMix:
        """The engine over this model's tiers, built once (see :meth:`AutoMixSettings.cached_engine`)."""
        return self.cached_engine((id(self), *map(id, self.tiers), *map(id, self.verifiers or ())), self._tier_objects,
                                  answer_max_tokens=self.max_tokens, answer_temperature=self.temperature or 0.0)

    def _tier_objects(self) -> list[RunnableTier]:
        names = self.tier_names
        verifiers = self.verifiers or [None] * len(self.tiers)
        return [RunnableTier(index=i, model_name=names[i], answerer=model, verifier=verifier or model,
                             verify_kwargs=dict(self.verify_kwargs), sampling_kwargs=self.sampling_kwargs,
                             window=self.context_window, timeout=self.sync_deadline,
                             **self.verify_n_plan(verifier or model))
                for i, (model, verifier) in enumerate(zip(self.tiers, verifiers))]

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any],
                 callbacks: ChildCallbacks) -> tuple[dict[str, Any], RequestContext, Any]:
        """The engine's arguments for one request (question, context, core messages) and its
        :class:`~automix_core.RequestContext`, with the progress sender to flush on the async path."""
        question, context = question_and_context(messages, self.context_from)
        kwargs = dict(kwargs)
        kwargs.pop("model", None)
        kwargs.pop("stream", None)
        tool_kwargs = {k: kwargs.pop(k) for k in _TOOL_KWARGS if k in kwargs}
        answer_kwargs: dict[str, Any] = {}
        if self.temperature is not None:
            answer_kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            answer_kwargs["max_tokens"] = self.max_tokens
        stops = stop if stop is not None else self.stop
        if stops:
            answer_kwargs["stop"] = list(stops)
        answer_kwargs.update(kwargs)
        tools = tool_kwargs.pop("tools", None) or []
        request, sender = self.request(callbacks, self.tier_names, messages, params=answer_kwargs, tools=tools,
                                       tool_options=tool_kwargs, answerers=self._bound(tools, tool_kwargs))
        args = {"question": question, "context": context, "messages": to_core_messages(messages), "request": request}
        return args, request, sender

    def _bound(self, tools: list[Any], options: dict[str, Any]) -> list[Runnable[Any, Any]] | None:
        """Each tier bound to a request's tools (its own ``bind_tools``), or None without tools."""
        if not tools:
            return None
        bound: list[Runnable[Any, Any]] = []
        for i, model in enumerate(self.tiers):
            try:
                bound.append(model.bind_tools(tools, **options))
            except NotImplementedError as error:
                raise NotImplementedError(f"tier {i} ({self.tier_names[i]}) does not support tools (bind_tools)") \
                    from error
        return bound

    def _run(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any],
             run_manager: CallbackManagerForLLMRun | None) -> AIMessage:
        args, request, _ = self._request(messages, stop, kwargs, self._children(run_manager, CallbackManager))
        result = self._engine_now().run(**args, tier=self._utility(run_manager))
        return self._message(result, request)

    async def _arun(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any],
                    run_manager: AsyncCallbackManagerForLLMRun | None) -> AIMessage:
        args, request, sender = self._request(messages, stop, kwargs, self._children(run_manager, AsyncCallbackManager))
        result = await flushed(self._engine_now().arun(**args, tier=self._utility(run_manager)), sender)
        return self._message(result, request)

    @staticmethod
    def _message(result: AutoMixResult, request: RequestContext) -> AIMessage:
        chosen = request.state.outputs.get(result.tier)
        usage = {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
                 "total_tokens": result.input_tokens + result.output_tokens}
        metadata: dict[str, Any] = {"model_name": result.model, "automix": result.to_dict()}
        if isinstance(chosen, AIMessage):
            provider = chosen.response_metadata.get("model_provider")
            if provider:
                metadata["model_provider"] = provider
            return AIMessage(content=chosen.content, tool_calls=chosen.tool_calls,
                             invalid_tool_calls=chosen.invalid_tool_calls, usage_metadata=cast(Any, usage),
                             response_metadata=metadata)
        return AIMessage(content=result.answer, usage_metadata=cast(Any, usage), response_metadata=metadata)

    @staticmethod
    def _children(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
                  manager: type[CallbackManager] | type[AsyncCallbackManager]) -> ChildCallbacks:
        """Callbacks for the child calls: children of the AutoMix run (``manager`` is the sync or async
        callback manager class), or of the run a ``stream()`` call made (see :mod:`.runs`)."""
        if run_manager is not None:
            return lambda: _child_of(run_manager, manager(handlers=[]))
        parent = _STREAM_PARENT.get()
        if parent is None or parent.capture.run_id is None:
            return lambda: None
        config, run_id = parent.config, parent.capture.run_id

        def child() -> CallbackManager | AsyncCallbackManager:
            made = manager.configure(config.get("callbacks"), None, False, config.get("tags"), None,
                                     config.get("metadata"))
            made.parent_run_id = run_id
            return made

        return child

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._run(messages, stop, kwargs, run_manager))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=await self._arun(messages, stop, kwargs, run_manager))])

    # -- streaming ------------------------------------------------------------------------------

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # Only explicit stream()/astream() stream: invoke paths go through _generate, which keeps the
        # run manager (langchain-core's invoke-time streaming calls _stream without it).
        return bool(kwargs.get("stream")) and not self._streaming_disabled(**kwargs)

    @staticmethod
    def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
        content = message.content
        pieces: list[Any] = _split_text(content) if isinstance(content, str) and content else []
        if not isinstance(content, str) and content:
            pieces = [content]
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        last_content: Any = "" if isinstance(content, str) else []
        yield ChatGenerationChunk(message=AIMessageChunk(
            content=last_content,
            tool_call_chunks=[
                tool_call_chunk(name=c["name"], args=_json(c["args"]), id=c.get("id"), index=i)
                for i, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        ))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from self._chunks(self._run(messages, stop, kwargs, run_manager))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(await self._arun(messages, stop, kwargs, run_manager)):
            yield chunk

    def stream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *, stop: list[str] | None = None,
               **kwargs: Any) -> Iterator[AIMessageChunk]:
        config, parent = _stream_parent(config)
        inner = super().stream(input, config, stop=stop, **kwargs)
        with _running_under(parent):  # the cascade runs while the first chunk is drawn
            first = next(inner, None)
        if first is not None:
            yield first
            yield from inner

    async def astream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
                      stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        config, parent = _stream_parent(config)
        inner = super().astream(input, config, stop=stop, **kwargs)
        with _running_under(parent):
            first = await anext(inner, None)
        if first is not None:
            yield first
            async for chunk in inner:
                yield chunk

    # -- configuration ------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: str | Path | dict[str, Any], **overrides: Any) -> AutoMixChatModel:
        """Build from a JSON file or dict; see :func:`automix_langchain.config.load_config`."""

        return build_from_config(cls, config, **overrides)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


def load_config(
    config: str | Path | dict[str, Any], *, init: TierInit | None = None, **overrides: Any
) -> AutoMixChatModel:
    """An :class:`AutoMixChatModel` from a config dict or JSON file (see :mod:`automix_langchain.config`)."""
    return build_from_config(AutoMixChatModel, config, init=init, **overrides)
