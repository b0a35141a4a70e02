"""Backends the core talks to without any framework: an OpenAI-compatible HTTP client
(:mod:`.openai_compat`) and local llama.cpp models (:mod:`.local`)."""

from .local import LocalServer
from .openai_compat import OpenAICompatibleModel

__all__ = ["LocalServer", "OpenAICompatibleModel"]
