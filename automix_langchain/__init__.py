"""automix_langchain: AutoMix for LangChain, a thin adapter over :mod:`automix_core`.

* :class:`AutoMixChatModel`: a chat model cascading over other chat models (drop-in for any).
* :class:`AutoMixRunnable`: the cascade over whole chains, one Runnable per tier.

No routing logic lives here; every decision is :class:`automix_core.AutoMix`'s.
Needs the ``langchain`` extra: ``pip install 'automix[langchain]'``.
"""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "automix_langchain needs langchain-core, which is not installed; "
        "install the extra with: pip install 'automix[langchain]'"
    ) from _error

from automix_core import ConfigError
from automix_core.errors import UnsupportedMessageError

from .chat_model import AutoMixChatModel, load_config
from .messages import question_and_context
from .runnable import ROUTE_EVENT, AutoMixRunnable
from .settings import UTILITY_TAG
from .tiers import UsageCollector

__all__ = [
    "ROUTE_EVENT",
    "UTILITY_TAG",
    "AutoMixChatModel",
    "AutoMixRunnable",
    "ConfigError",
    "UnsupportedMessageError",
    "UsageCollector",
    "load_config",
    "question_and_context",
]
