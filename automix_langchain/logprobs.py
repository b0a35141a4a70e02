"""Token logprobs of LangChain verifiers: which chat models are asked for them, and reading them back.

The core's :class:`~automix_core.verify.Verifier` asks a verifying model for ``logprobs=N`` in logprob
mode and reads :attr:`~automix_core.models.Generation.token_logprobs`; whether it tries at all follows the
model's ``supports_logprobs`` (see :func:`~automix_core.verify.method.resolve_method`). A chat model found
to return none is remembered here (the verifying models are built anew for every request), so the failed
call is paid once per chat model object, as with the core's own backends.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from automix_core.integration import parse_logprobs

__all__ = ["remember_no_logprobs", "supports_logprobs", "token_logprobs"]

_LACKING: dict[int, weakref.ref[Any]] = {}
_LOCK = threading.Lock()


def supports_logprobs(chat: Any) -> bool | None:
    """Whether verification calls to ``chat`` return token logprobs when sent ``logprobs=True,
    top_logprobs=N`` (read back from the reply's ``response_metadata["logprobs"]``), as the core's
    ``supports_logprobs`` says it: True for langchain-openai's chat models on OpenAI's own endpoint
    (``ChatOpenAI``, ``AzureChatOpenAI``); None (unknown: tried in logprob mode, and the core falls back to
    sampling, with a warning, if the reply has none) for those on another endpoint (llama.cpp, vLLM, ...)
    and any other chat model with ``logprobs``/``top_logprobs`` fields; False for anything else (a chain,
    a binding, a chat model without those fields: never sent the arguments) and for a chat model found to
    return none (:func:`remember_no_logprobs`)."""
    if not isinstance(chat, BaseChatModel):
        return False
    fields = type(chat).model_fields
    if "logprobs" not in fields or "top_logprobs" not in fields or _lacking(chat):
        return False
    openai = type(chat).__module__.startswith("langchain_openai")
    return True if openai and not getattr(chat, "openai_api_base", None) else None


def _lacking(chat: BaseChatModel) -> bool:
    with _LOCK:
        ref = _LACKING.get(id(chat))
        return ref is not None and ref() is chat


def remember_no_logprobs(chat: Any) -> None:
    """Remember that ``chat`` answered a logprob request without logprobs (until it is collected)."""
    if not isinstance(chat, BaseChatModel):
        return
    key = id(chat)

    def forget(_: object) -> None:
        with _LOCK:
            if _LACKING.get(key) is ref:
                del _LACKING[key]

    ref = weakref.ref(chat, forget)
    with _LOCK:
        _LACKING[key] = ref


def token_logprobs(messages: list[Any]) -> list[list[dict[str, float]]] | None:
    """Each reply's ``response_metadata["logprobs"]`` (OpenAI's ``choice.logprobs``, as langchain-openai
    keeps it) in the core's format (:func:`~automix_core.backends.wire.parse_logprobs`); None when no reply
    carries any, so the core falls back to sampling."""
    parsed = [parse_logprobs(m.response_metadata.get("logprobs")) if isinstance(m, BaseMessage) else None
              for m in messages]
    return [p or [] for p in parsed] if any(p is not None for p in parsed) else None
