"""Model prices and the cost of a call.

A :class:`Price` is USD per million input tokens and per million output tokens. A
:class:`PriceTable` maps model names to prices, starting from :data:`PRESET_PRICES` (published list
prices) plus any overrides. Lookup is by exact name, then by the longest known prefix of the name
with a provider prefix stripped (``"openai:gpt-4o-mini-2024-07-18"`` -> ``gpt-4o-mini``). A model
with no price raises :class:`UnknownPriceError` unless the table has a ``default`` price.

Local models have no list price; :func:`local_price` gives a documented stand-in proportional to
parameter count, and the default table prices the project's own local catalog models
(:data:`automix_core.backends.local.MODELS`, e.g. ``smollm2-135m``) at their stand-in prices.
:meth:`PriceTable.require` checks up front that every model of a cascade has a price, so a missing one
is an error when the cascade is built, not after a model was paid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from ..errors import UnknownPriceError

__all__ = [
    "LOCAL_USD_PER_MILLION_PER_BILLION",
    "PRESET_PRICES",
    "Price",
    "PriceTable",
    "UnknownPriceError",
    "default_prices",
    "local_catalog_prices",
    "local_price",
]


class Price(BaseModel):
    """USD per million input (prompt) tokens and per million output (completion) tokens, and per million
    cached input tokens (prompt tokens the provider served from its prompt cache; None: billed as input)."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(default=None, ge=0)

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD cost of ``input_tokens`` prompt tokens (``cached_input_tokens`` of them from the provider's
        cache) and ``output_tokens`` completion tokens."""
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = self.input_per_million if self.cached_input_per_million is None else self.cached_input_per_million
        return ((input_tokens - cached) * self.input_per_million + cached * cached_rate
                + output_tokens * self.output_per_million) / 1_000_000


# Published list prices (standard, non-batch), USD per 1M tokens (input, output, cached input), as of 2025.
# OpenAI and Anthropic: their API pricing pages (OpenAI: cached input half price for gpt-4o, a quarter for
# gpt-4.1; Anthropic: cache reads at a tenth of input, cache writes not modelled). Llama 3.1: Together AI
# serverless "Turbo" endpoints, no prompt caching.
_PRESETS: dict[str, tuple[float, float, float | None]] = {
    "gpt-4o": (2.50, 10.00, 1.25),
    "gpt-4o-mini": (0.15, 0.60, 0.075),
    "gpt-4.1": (2.00, 8.00, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "gpt-4.1-nano": (0.10, 0.40, 0.025),
    "claude-3-5-haiku": (0.80, 4.00, 0.08),
    "claude-3-5-sonnet": (3.00, 15.00, 0.30),
    "claude-3-7-sonnet": (3.00, 15.00, 0.30),
    "claude-sonnet-4": (3.00, 15.00, 0.30),
    "claude-opus-4": (15.00, 75.00, 1.50),
    "llama3.1-8b": (0.18, 0.18, None),
    "llama3.1-70b": (0.88, 0.88, None),
    "llama3.1-405b": (3.50, 3.50, None),
}
PRESET_PRICES: dict[str, Price] = {
    name: Price(input_per_million=i, output_per_million=o, cached_input_per_million=c)
    for name, (i, o, c) in _PRESETS.items()
}

LOCAL_USD_PER_MILLION_PER_BILLION = 0.10
"""Stand-in price of a local model: USD per million tokens (input and output) per billion parameters."""


def local_price(params_billion: float, usd_per_million_per_billion: float = LOCAL_USD_PER_MILLION_PER_BILLION) -> Price:
    """A stand-in price for a local model with ``params_billion`` billion parameters.

    Cost is taken as proportional to parameter count (compute per token scales with it): by default
    $0.10 per million tokens per billion parameters, the same for input and output, so a 0.5B model
    costs $0.05/1M tokens and a 7B model $0.70/1M. Prompt tokens served from the server's prompt cache
    cost nothing: llama.cpp does not process them again.
    """
    if params_billion < 0 or usd_per_million_per_billion < 0:
        raise ValueError("params_billion and usd_per_million_per_billion must be >= 0")
    rate = params_billion * usd_per_million_per_billion
    # a prompt token the server holds in its cache is not computed again: no compute, no cost
    return Price(input_per_million=rate, output_per_million=rate, cached_input_per_million=0.0)


def local_catalog_prices() -> dict[str, Price]:
    """The stand-in prices of the local catalog's models (``LocalModel.price``), by model name."""
    from ..backends.local.catalog import MODELS  # the catalog imports this module

    return {name: model.price for name, model in MODELS.items()}


def default_prices() -> dict[str, Price]:
    """A default table's prices: :data:`PRESET_PRICES` plus the local catalog models."""
    return {**local_catalog_prices(), **PRESET_PRICES}


def _base_name(model: str) -> str:
    """``model`` lowercased, without a provider prefix (``"openai:"``) or organisation path (``"meta-llama/"``)."""
    return model.rsplit(":", 1)[-1].rsplit("/", 1)[-1].strip().lower()


class PriceTable(BaseModel):
    """Prices by model name (immutable; :meth:`with_prices` returns an extended copy).

    ``prices`` defaults to :data:`PRESET_PRICES` plus the local catalog's models
    (:func:`default_prices`); pass ``prices={...}`` to replace them or use
    :meth:`with_prices` to override/add entries. Names are matched case-insensitively. ``default``
    is the price of models the table does not know; when it is None (the default) an unknown model
    raises :class:`UnknownPriceError`, so a misspelt name cannot silently cost nothing.
    """

    model_config = ConfigDict(frozen=True)

    prices: dict[str, Price] = Field(default_factory=lambda: default_prices())
    default: Price | None = None

    # names already looked up (a prefix search over the table costs microseconds on every call), with
    # the prices dict and size they were found in: a copy with other prices, or a dict edited in place,
    # starts a new cache rather than reading (or clearing) this one
    _found: tuple[dict[str, Price], int, dict[str, Price | None]] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:  # the lookup cache is not part of a table's value
        if not isinstance(other, PriceTable):
            return NotImplemented
        return self.prices == other.prices and self.default == other.default

    __hash__ = None  # type: ignore[assignment]  # a table holds a dict, as before

    @field_validator("prices")
    @classmethod
    def _lowercase(cls, prices: dict[str, Price]) -> dict[str, Price]:
        return {name.strip().lower(): price for name, price in prices.items()}

    def with_prices(self, overrides: Mapping[str, Price]) -> PriceTable:
        """A copy of this table with ``overrides`` added, replacing entries of the same name."""
        return PriceTable(prices={**self.prices, **overrides}, default=self.default)

    def find(self, model: str) -> Price | None:
        """The price of ``model``: exact name, then exact base name, then longest known prefix of the base
        name (see :func:`_base_name`); None if nothing matches (``default`` is not consulted)."""
        cache = self._found
        if cache is None or cache[0] is not self.prices or cache[1] != len(self.prices):
            cache = self._found = (self.prices, len(self.prices), {})
        found = cache[2]
        if model in found:
            return found[model]
        price = self._search(model)
        if len(found) < 1024:
            found[model] = price
        return price

    def _search(self, model: str) -> Price | None:
        name = model.strip().lower()
        if name in self.prices:
            return self.prices[name]
        base = _base_name(model)
        if base in self.prices:
            return self.prices[base]
        matches = [key for key in self.prices if key and base.startswith(key)]
        return self.prices[max(matches, key=len)] if matches else None

    def lookup(self, model: str) -> Price:
        """The price of ``model`` (see :meth:`find`), else ``default``; raises :class:`UnknownPriceError`."""
        price = self.find(model)
        if price is not None:
            return price
        if self.default is not None:
            return self.default
        raise UnknownPriceError(
            f"no price for model {model!r}; add one with PriceTable.with_prices() or set a default price"
        )

    def require(self, names: Sequence[str], *, what: str = "tier") -> None:
        """Raise :class:`UnknownPriceError` unless every model in ``names`` has a price (or there is a
        ``default``): the check a cascade makes when it is built, naming the ``what`` (tier) and how to
        price it, so no request pays a model and then fails at billing."""
        if self.default is not None:
            return
        missing = [(i, name) for i, name in enumerate(names) if self.find(name) is None]
        if not missing:
            return
        listed = ", ".join(f"{what} {i} ({name!r})" for i, name in missing)
        first = missing[0][1]
        raise UnknownPriceError(
            f"no price for model {first!r}: {listed} not in the price table. Set one with "
            f"prices=PriceTable().with_prices({{{first!r}: Price(input_per_million=..., output_per_million=...)}}) "
            "or a price for every unknown model with prices=PriceTable(default=Price(...))"
        )

    def cost(self, model: str, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD cost of a call to ``model``; raises :class:`UnknownPriceError` like :meth:`lookup`."""
        return self.lookup(model).cost(input_tokens, output_tokens, cached_input_tokens)
