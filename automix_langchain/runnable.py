"""AutoMixRunnable: the AutoMix cascade over whole chains, one Runnable per tier, cheapest first.

::

    small = prompt | ChatOpenAI(model="gpt-4o-mini") | StrOutputParser()
    large = prompt | ChatOpenAI(model="gpt-4o") | StrOutputParser()
    chain = AutoMixRunnable(tiers=[small, large], router="router.json")
    chain.invoke({"question": "...", "context": docs})      # -> what the chosen chain returned

Every tier gets the same input. The verifier (``verifiers[i]``, default: the first chat model
found inside tier ``i``) reads the question and context taken from it: a string is the question; a
dict gives ``input[question_key]`` and ``input[context_key]`` (strings or documents); a prompt
value or messages follow ``context_from`` (see :mod:`automix_langchain.messages`). The output is the
chosen tier's output, unchanged; the verifier reads it as text (an AIMessage's text and tool calls,
JSON for structured output).

The route (tiers visited, confidences, decisions, tokens, cost) is available without changing the
output type: a custom callback event named ``"automix"`` carries ``AutoMixResult.to_dict()``
(``on_custom_event`` in a callback handler, ``astream_events``), and ``return_route=True`` makes
the output ``{"output": <chosen tier's output>, "automix": <route>}`` instead.

A run tagged ``automix:utility`` is answered by ``utility_tier`` alone, unverified (see
``cascade_calls``), as with :class:`~automix_langchain.AutoMixChatModel`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import field_validator

from automix_core import AutoMix, AutoMixResult, ConfigError, RequestContext

from .messages import input_question_and_context
from .progress import flushed
from .settings import AutoMixSettings
from .tiers import RunnableTier, find_chat_model, tier_name

__all__ = ["ROUTE_EVENT", "AutoMixRunnable", "raw_with_route"]

ROUTE_EVENT = "automix"
"""Name of the custom callback event carrying the route of each AutoMix request."""


class AutoMixRunnable(AutoMixSettings, RunnableSerializable[Any, Any]):
    """The AutoMix cascade over runnables (chains), cheapest first; see the module docs."""

    tiers: list[Runnable[Any, Any]]
    verifiers: list[BaseChatModel | None] | None = None
    names: list[str] | None = None
    """Model names for pricing and the trace (default: each tier's chat model's name)."""
    question_key: str = "question"
    context_key: str = "context"
    return_route: bool = False

    @field_validator("tiers")
    @classmethod
    def _two_tiers(cls, tiers: list[Runnable[Any, Any]]) -> list[Runnable[Any, Any]]:
        if len(tiers) < 2:
            raise ValueError(f"AutoMixRunnable needs at least two tiers, cheapest first; got {len(tiers)}")
        return tiers

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        n = len(self.tiers)
        if self.verifiers is not None and len(self.verifiers) != n:
            raise ConfigError(f"verifiers must have one entry (or None) per tier: {n}, got {len(self.verifiers)}")
        if self.names is not None and len(self.names) != n:
            raise ConfigError(f"names must have one entry per tier: {n}, got {len(self.names)}")
        for i in range(n):
            self._verifier(i)
        self.resolved_router(self.tier_names)
        self.check_tiers(self.tier_names)

    @property
    def tier_names(self) -> list[str]:
        return list(self.names) if self.names is not None else [tier_name(t) for t in self.tiers]

    def _verifier(self, i: int) -> BaseChatModel:
        given = self.verifiers[i] if self.verifiers is not None else None
        found = given or find_chat_model(self.tiers[i])
        if found is None:
            raise ConfigError(f"tier {i} contains no chat model to verify with; pass verifiers=[...]")
        return found

    def _engine_now(self) -> AutoMix:
        """The engine over this runnable's tiers, built once (see :meth:`AutoMixSettings.cached_engine`)."""
        return self.cached_engine((id(self), *map(id, self.tiers), *map(id, self.verifiers or ())), self._tier_objects)

    def _tier_objects(self) -> list[RunnableTier]:
        names = self.tier_names
        return [RunnableTier(index=i, model_name=names[i], answerer=t, verifier=self._verifier(i),
                             verify_kwargs=dict(self.verify_kwargs), sampling_kwargs=self.sampling_kwargs,
                             window=self.context_window, timeout=self.sync_deadline,
                             **self.verify_n_plan(self._verifier(i)))
                for i, t in enumerate(self.tiers)]

    def _request(self, value: Any, callbacks: Any) -> tuple[dict[str, Any], RequestContext, Any]:
        question, context, core = input_question_and_context(
            value, question_key=self.question_key, context_key=self.context_key, context_from=self.context_from)
        request, sender = self.request(callbacks, self.tier_names, value)
        return {"question": question, "context": context, "messages": core, "request": request}, request, sender

    def _output(self, result: AutoMixResult, request: RequestContext) -> Any:
        outputs = request.state.outputs
        out = outputs.get(result.tier, result.answer)
        if self.return_route:
            return {"output": out, "automix": result.to_dict()}
        return out

    def _run(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        args, request, _ = self._request(value, run_manager.get_child)
        result = self._engine_now().run(**args, tier=self.utility_call(run_manager.tags))
        run_manager.get_child().on_custom_event(ROUTE_EVENT, result.to_dict(), run_id=run_manager.run_id)
        return self._output(result, request)

    async def _arun(self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        args, request, sender = self._request(value, run_manager.get_child)
        result = await flushed(self._engine_now().arun(**args, tier=self.utility_call(run_manager.tags)), sender)
        await run_manager.get_child().on_custom_event(ROUTE_EVENT, result.to_dict(), run_id=run_manager.run_id)
        return self._output(result, request)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._run, input, config, run_type="chain", **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._acall_with_config(self._arun, input, config, run_type="chain", **kwargs)


def no_structured_output(raw: Any, method: str | None) -> str:
    """The error for a structured-output reply that parsed to nothing (e.g. a text answer where
    ``method="function_calling"`` expected a tool call), with the reply and the fix."""
    text = getattr(raw, "content", raw)
    shown = " ".join(str(text).split())[:200]
    return (f"with_structured_output(method={method or 'default'!r}): the answering tier returned no structured "
            f"output (no tool call or nothing to parse), its reply: {shown!r}. Small local models often answer in "
            "text instead of calling the tool: use method='json_schema' (llama.cpp then constrains the output to "
            "the schema), or include_raw=True to inspect the raw reply.")


def raw_with_route(out: dict[str, Any]) -> Any:
    """A structured-output tier's ``{"raw", "parsed", "parsing_error"}`` from ``{"output", "automix"}``
    (``return_route=True``), its raw message carrying the route as
    ``response_metadata["automix"]`` (and the answering tier's ``model_name``) and, as
    ``usage_metadata``, the tokens of every call the request made (answers and verification), as an
    :class:`~automix_langchain.AutoMixChatModel` message does."""
    output, route = out["output"], out["automix"]
    raw = output.get("raw") if isinstance(output, dict) else None
    if not isinstance(raw, AIMessage):
        return output
    inp, outp = int(route["input_tokens"]), int(route["output_tokens"])
    usage = {"input_tokens": inp, "output_tokens": outp, "total_tokens": inp + outp}
    metadata = {**raw.response_metadata, "model_name": route["model"], "automix": route}
    return {**output, "raw": raw.model_copy(update={"usage_metadata": usage, "response_metadata": metadata})}
