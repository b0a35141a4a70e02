"""automix_server: AutoMix as an OpenAI-compatible HTTP endpoint (``automix serve``).

A thin adapter over :mod:`automix_core`: ``POST /v1/chat/completions`` (streaming too), ``GET /v1/models``,
``/health``, ``/ready`` and ``/metrics``, client API keys, budgets and rate limits in process or shared
through Redis. Install with ``pip install 'automix[server]'``.
"""

from .app import create_app
from .config import (
    BudgetConfig,
    CascadeConfig,
    ClientKeyConfig,
    ConfigError,
    LearnConfig,
    PriceConfig,
    RateLimitConfig,
    RouteConfig,
    ServerConfig,
    TierConfig,
    load_config,
    parse_config,
)
from .errors import APIError, Scrubber
from .server import ServerApp
from .service import ClientKey, Runtime
from .state import MemoryState, RedisState, State, UsageRecord, open_state
from .traffic import RedisTrafficSink, read_stream

__all__ = [
    "APIError",
    "BudgetConfig",
    "CascadeConfig",
    "ClientKey",
    "ClientKeyConfig",
    "ConfigError",
    "LearnConfig",
    "MemoryState",
    "PriceConfig",
    "RateLimitConfig",
    "RedisState",
    "RedisTrafficSink",
    "RouteConfig",
    "Runtime",
    "Scrubber",
    "ServerApp",
    "ServerConfig",
    "State",
    "TierConfig",
    "UsageRecord",
    "create_app",
    "load_config",
    "open_state",
    "parse_config",
    "read_stream",
]
