"""``AutoMixChatModel.from_config``: build the cascade from provider model names and a router JSON.

A config is a dict (or a JSON file holding one)::

    {
      "tiers": ["openai:gpt-4o-mini", {"model": "openai:gpt-4o", "temperature": 0}],
      "verifiers": [null, null],                          # optional, same form as tiers
      "router": "router.json",                            # optional; relative to the config file
      "prices": {"my-model": {"input_per_million": 0.1, "output_per_million": 0.2}},  # optional
      "price_default": {"input_per_million": 0, "output_per_million": 0},            # optional
      "k": 8, "tool_calls": "verify", ...                 # any other AutoMixChatModel field
    }

A tier is ``"provider:model"`` or a dict with ``model`` (``"provider:model"``) and keyword
arguments for the chat model. Tiers are built with LangChain's ``init_chat_model`` when the
``langchain`` package is installed; otherwise the built-in table :data:`PROVIDERS` is used
(``openai`` -> ``langchain_openai.ChatOpenAI``, ...). Pass ``init=`` to build them yourself.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel

from automix_core import ConfigError, Price, PriceTable, Router
from automix_core.errors import RouterError

__all__ = ["PROVIDERS", "ConfigError", "TierInit", "build_from_config", "init_tier"]

PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": ("langchain_openai", "ChatOpenAI"),
    "azure_openai": ("langchain_openai", "AzureChatOpenAI"),
    "anthropic": ("langchain_anthropic", "ChatAnthropic"),
    "ollama": ("langchain_ollama", "ChatOllama"),
    "groq": ("langchain_groq", "ChatGroq"),
    "mistralai": ("langchain_mistralai", "ChatMistralAI"),
    "google_genai": ("langchain_google_genai", "ChatGoogleGenerativeAI"),
}
"""Provider prefix -> (module, class), used when ``langchain.chat_models.init_chat_model`` is absent."""

TierInit = Callable[..., BaseChatModel]




M = TypeVar("M", bound=BaseChatModel)


def _aliases(model: type[BaseChatModel]) -> set[str]:
    """The names a field's validation alias also accepts (e.g. ``max_retries`` for ``retries``)."""
    out: set[str] = set()
    for f in model.model_fields.values():
        choices = getattr(f.validation_alias, "choices", None)
        out.update(c for c in choices or () if isinstance(c, str))
    return out


LOCAL_API_KEY = "not-needed"
"""The key sent to a local endpoint (``base_url`` given, no ``api_key``): local servers ignore it."""


def init_tier(model: str, **kwargs: Any) -> BaseChatModel:
    """A chat model from ``"provider:model"`` (and keyword arguments for it). A local endpoint (a
    ``base_url`` without ``api_key``) gets a placeholder key, so no ``OPENAI_API_KEY`` is needed."""
    if kwargs.get("base_url") and not kwargs.get("api_key"):
        kwargs = {**kwargs, "api_key": LOCAL_API_KEY}
    init_chat_model: Any = None
    with contextlib.suppress(ImportError):  # the `langchain` package is optional
        from langchain.chat_models import init_chat_model
    if init_chat_model is not None:
        built = init_chat_model(model, **kwargs)
        if not isinstance(built, BaseChatModel):
            raise ConfigError(f"init_chat_model({model!r}) did not return a chat model")
        return built
    provider, sep, name = model.partition(":")
    if not sep or provider not in PROVIDERS:
        raise ConfigError(
            f"cannot build tier {model!r}: write it as 'provider:model' with a provider in {sorted(PROVIDERS)}, "
            "or install 'langchain' for init_chat_model"
        )
    module_name, class_name = PROVIDERS[provider]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"tier {model!r} needs {module_name}: pip install {module_name.replace('_', '-')}") from error
    cls = getattr(module, class_name)
    built = cls(model=name, **kwargs)
    if not isinstance(built, BaseChatModel):
        raise ConfigError(f"{module_name}.{class_name} is not a chat model")
    return built


def _tier(spec: Any, init: TierInit, where: str) -> BaseChatModel:
    if isinstance(spec, BaseChatModel):
        return spec
    if isinstance(spec, str):
        model, kwargs = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("model"), str):
        model, kwargs = spec["model"], {k: v for k, v in spec.items() if k != "model"}
    else:
        raise ConfigError(f"{where}: a tier is 'provider:model' or {{'model': 'provider:model', ...}}; got {spec!r}")
    try:
        return init(model, **kwargs)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error
    except (TypeError, ValueError, ImportError) as error:
        raise ConfigError(f"{where}: cannot build {model!r}: {type(error).__name__}: {error}") from error


_CONFIG_ONLY = ("tiers", "verifiers", "router", "prices", "price_default")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _price(spec: Any, where: str) -> Price:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a price is {{'input_per_million': ..., 'output_per_million': ...}}; got {spec!r}")
    unknown = sorted(set(spec) - set(Price.model_fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    values = [spec.get(k) for k in Price.model_fields]
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ConfigError(f"{where}: prices must be finite numbers; got {spec!r}")
    try:
        return Price(**spec)
    except ValueError as error:  # pydantic's ValidationError names the field
        raise ConfigError(f"{where}: {error}") from error


def build_from_config(
    model: type[M], config: str | Path | dict[str, Any], *, init: TierInit | None = None, **overrides: Any
) -> M:
    """A ``model`` (:class:`~automix_langchain.AutoMixChatModel`) from a config dict or JSON file (module docs)."""
    base = Path(".")
    if isinstance(config, (str, Path)):
        path = Path(config)
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
        except FileNotFoundError as error:
            raise ConfigError(f"AutoMix config {path} does not exist") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"AutoMix config {path} is not valid JSON: {error}") from error
        except ValueError as error:  # NaN / Infinity
            raise ConfigError(f"AutoMix config {path} is not valid JSON: {error}") from error
        base = path.parent
    else:
        data = dict(config)
    if not isinstance(data, dict):
        raise ConfigError("an AutoMix config is a JSON object")
    data = {**data, **overrides}
    known = {*_CONFIG_ONLY, *model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias),
             *_aliases(model)}
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ConfigError(f"unknown AutoMix config field(s) {unknown}")
    build = init or init_tier
    specs = data.pop("tiers", None)
    if not isinstance(specs, list) or len(specs) < 2:
        raise ConfigError("config 'tiers' must list two or more models, cheapest first")
    data["tiers"] = [_tier(s, build, f"tiers[{i}]") for i, s in enumerate(specs)]
    if data.get("verifiers") is not None:
        if not isinstance(data["verifiers"], list):
            raise ConfigError(
                f"config 'verifiers' must be a list (one entry or null per tier); got {data['verifiers']!r}")
        data["verifiers"] = [None if s is None else _tier(s, build, f"verifiers[{i}]")
                             for i, s in enumerate(data["verifiers"])]
    router = data.get("router")
    try:
        if isinstance(router, str):
            p = Path(router)
            data["router"] = Router.load(p if p.is_absolute() else base / p)
        elif isinstance(router, dict):
            data["router"] = Router.from_dict(router, source="config 'router'")
    except RouterError as error:
        raise ConfigError(str(error) if isinstance(router, dict) else f"config 'router': {error}") from error
    prices = data.pop("prices", None)
    default = data.pop("price_default", None)
    if prices is not None and not isinstance(prices, dict):
        raise ConfigError(f"config 'prices' must map model names to prices; got {prices!r}")
    if prices is not None or default is not None:
        table = PriceTable(default=_price(default, "config 'price_default'") if default is not None else None)
        if prices:
            table = table.with_prices({name: _price(p, f"config 'prices.{name}'") for name, p in prices.items()})
        data["prices"] = table
    try:
        return model(**data)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid AutoMix config: {error}") from error
