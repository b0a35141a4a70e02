"""AutoMixQueryEngine: retrieve, answer with the cheapest tier, verify against the retrieved nodes, escalate.

One cascade per query: the retrieved nodes (after any postprocessors) are truncated to fit the
smallest tier's window with LlamaIndex's :class:`PromptHelper`, the tiers answer the formatted
``text_qa_template`` and the verifier checks each answer against the same node text. The
:class:`Response` carries the ``source_nodes`` and ``metadata["automix"]`` (tiers visited,
confidences, decisions, tokens, cost: :meth:`AutoMixResult.to_dict`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any, Literal

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.indices.prompt_helper import PromptHelper
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from automix_core import AutoMixResult, ConfigError
from automix_core.errors import InvalidRequestError

from .base import AutoMixLLM

__all__ = ["EMPTY_RESPONSE", "AutoMixQueryEngine"]

EMPTY_RESPONSE = "Empty Response"
"""The answer when nothing is retrieved and ``no_nodes="empty"`` (LlamaIndex's own wording)."""


class AutoMixQueryEngine(BaseQueryEngine):
    """Retrieve with any retriever and answer through an :class:`AutoMixLLM`, verified against the nodes.

    Args:
        retriever: any LlamaIndex retriever.
        llm: the AutoMix LLM (its tiers, router, prices and ledger).
        text_qa_template: the answering prompt (``context_str``, ``query_str``); LlamaIndex's default.
        node_postprocessors: applied to the retrieved nodes, in order.
        streaming: return a (async) streaming response that yields the final answer once.
        no_nodes: when nothing is retrieved, ``"empty"`` returns ``"Empty Response"`` without calling
            a model (as LlamaIndex's synthesizers do); ``"answer"`` lets the tiers answer and verify
            without context.
        callback_manager: default: the LLM's.

    An empty query raises :class:`ValueError`; when every tier fails,
    :class:`automix_core.cascade.engine.AllTiersFailedError` propagates.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        llm: AutoMixLLM,
        *,
        text_qa_template: BasePromptTemplate | None = None,
        node_postprocessors: Sequence[BaseNodePostprocessor] = (),
        streaming: bool = False,
        no_nodes: Literal["empty", "answer"] = "empty",
        callback_manager: CallbackManager | None = None,
    ) -> None:
        if no_nodes not in ("empty", "answer"):
            raise ConfigError(f"no_nodes must be 'empty' or 'answer', got {no_nodes!r}")
        self._retriever = retriever
        self._llm = llm
        self._text_qa_template = text_qa_template or DEFAULT_TEXT_QA_PROMPT_SEL
        self._postprocessors = list(node_postprocessors)
        self._streaming = streaming
        self._no_nodes = no_nodes
        super().__init__(callback_manager=callback_manager or llm.callback_manager)

    @property
    def retriever(self) -> BaseRetriever:
        return self._retriever

    @property
    def llm(self) -> AutoMixLLM:
        return self._llm

    def _get_prompts(self) -> PromptDictType:
        return {"text_qa_template": self._text_qa_template}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        if "text_qa_template" in prompts_dict:
            self._text_qa_template = prompts_dict["text_qa_template"]

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    # -- retrieval --------------------------------------------------------------------------------

    def _postprocess(self, nodes: list[NodeWithScore], query_bundle: QueryBundle) -> list[NodeWithScore]:
        for p in self._postprocessors:
            nodes = p.postprocess_nodes(nodes, query_bundle=query_bundle)
        return nodes

    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._postprocess(self._retriever.retrieve(query_bundle), query_bundle)

    async def aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._postprocess(await self._retriever.aretrieve(query_bundle), query_bundle)

    # -- prompt -----------------------------------------------------------------------------------

    def _context(self, nodes: Sequence[NodeWithScore]) -> str:
        """The node texts, each truncated to its share of the smallest tier's window, joined."""
        texts = [n.node.get_content(metadata_mode=MetadataMode.LLM) for n in nodes]
        helper = PromptHelper.from_llm_metadata(self._llm.metadata)
        template = self._text_qa_template.partial_format(query_str="")
        return "\n\n".join(helper.truncate(prompt=template, text_chunks=texts, llm=self._llm))

    def _messages(self, query: str, context: str) -> list[ChatMessage]:
        if not context:
            return [ChatMessage(role=MessageRole.USER, content=query)]
        return self._text_qa_template.format_messages(llm=self._llm, context_str=context, query_str=query)

    def _prepare(self, query_bundle: QueryBundle, nodes: list[NodeWithScore]) -> tuple[list[ChatMessage], str]:
        context = self._context(nodes) if nodes else ""
        return self._messages(query_bundle.query_str, context), context

    @staticmethod
    def _check(query_bundle: QueryBundle) -> None:
        if not query_bundle.query_str.strip():
            raise InvalidRequestError("AutoMixQueryEngine got an empty query")

    # -- responses --------------------------------------------------------------------------------

    def _response(self, answer: str, nodes: list[NodeWithScore], result: AutoMixResult | None,
                  *, is_async: bool) -> RESPONSE_TYPE:
        metadata: dict[str, Any] = {"automix": None if result is None else result.to_dict()}
        if not self._streaming:
            return Response(answer, source_nodes=nodes, metadata=metadata)
        if is_async:
            async def agen() -> AsyncGenerator[str, None]:
                yield answer

            return AsyncStreamingResponse(response_gen=agen(), source_nodes=nodes, metadata=metadata)

        def gen() -> Generator[str, None, None]:
            yield answer

        return StreamingResponse(response_gen=gen(), source_nodes=nodes, metadata=metadata)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        self._check(query_bundle)
        with self.callback_manager.event(
            CBEventType.QUERY, payload={EventPayload.QUERY_STR: query_bundle.query_str}
        ) as query_event:
            nodes = self.retrieve(query_bundle)
            if not nodes and self._no_nodes == "empty":
                response = self._response(EMPTY_RESPONSE, nodes, None, is_async=False)
            else:
                messages, context = self._prepare(query_bundle, nodes)
                result = self._llm.cascade(messages, question=query_bundle.query_str, context=context)
                response = self._response(result.answer, nodes, result, is_async=False)
            query_event.on_end(payload={EventPayload.RESPONSE: response})
        return response

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        self._check(query_bundle)
        with self.callback_manager.event(
            CBEventType.QUERY, payload={EventPayload.QUERY_STR: query_bundle.query_str}
        ) as query_event:
            nodes = await self.aretrieve(query_bundle)
            if not nodes and self._no_nodes == "empty":
                response = self._response(EMPTY_RESPONSE, nodes, None, is_async=True)
            else:
                messages, context = self._prepare(query_bundle, nodes)
                result = await self._llm.acascade(messages, question=query_bundle.query_str, context=context)
                response = self._response(result.answer, nodes, result, is_async=True)
            query_event.on_end(payload={EventPayload.RESPONSE: response})
        return response
