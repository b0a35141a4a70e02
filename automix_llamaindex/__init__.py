"""automix_llamaindex: AutoMix as a LlamaIndex LLM and query engine (a thin adapter over automix_core).

``Settings.llm = AutoMixLLM([small, large], prices=...)`` makes AutoMix the LLM of any LlamaIndex
app (``FunctionAgent`` included, when every tier calls functions); :class:`AutoMixQueryEngine` runs one
verified cascade per query over the retrieved nodes; :func:`capture` collects the route and usage of
the AutoMix calls of a block (query engines put them in ``Response.metadata["automix"]``).
While a cascade runs, :class:`AutoMixProgressEvent` s (answer ready, verified, decision) go through
LlamaIndex's instrumentation dispatcher, before the answer is returned or streamed.
Needs llama-index-core: ``pip install 'automix[llamaindex]'``.
"""

from __future__ import annotations

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the package
    raise ImportError(
        "automix_llamaindex needs llama-index-core, which is not installed; "
        "install it with: pip install 'automix[llamaindex]'"
    ) from exc

from .base import (
    AutoMixEvent,
    AutoMixLLM,
    Grounding,
    LlamaIndexChatModel,
    grounding_from_prompt,
    reported_usage,
    to_core_messages,
)
from .events import (
    AutoMixAnswerEvent,
    AutoMixDecisionEvent,
    AutoMixFailedEvent,
    AutoMixProgressEvent,
    AutoMixRuns,
    AutoMixVerifiedEvent,
    capture,
)
from .query_engine import EMPTY_RESPONSE, AutoMixQueryEngine

__all__ = [
    "EMPTY_RESPONSE",
    "AutoMixAnswerEvent",
    "AutoMixDecisionEvent",
    "AutoMixEvent",
    "AutoMixFailedEvent",
    "AutoMixLLM",
    "AutoMixProgressEvent",
    "AutoMixQueryEngine",
    "AutoMixRuns",
    "AutoMixVerifiedEvent",
    "Grounding",
    "LlamaIndexChatModel",
    "capture",
    "grounding_from_prompt",
    "reported_usage",
    "to_core_messages",
]
