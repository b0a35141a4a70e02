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
    """USD per million input (prompt) tokens and per million output (completion) tokens."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD cost of ``input_tokens`` prompt tokens and ``output_tokens`` completion tokens."""
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000


# Published list prices (standard, non-batch, no caching), USD per 1M tokens, as of 2025.
# OpenAI and Anthropic: their API pricing pages. Llama 3.1: Together AI serverless "Turbo" endpoints.
PRESET_PRICES: dict[str, Price] = {
    "gpt-4o": Price(input_per_million=2.50, output_per_million=10.00),
    "gpt-4o-mini": Price(input_per_million=0.15, output_per_million=0.60),
    "gpt-4.1": Price(input_per_million=2.00, output_per_million=8.00),
    "gpt-4.1-mini": Price(input_per_million=0.40, output_per_million=1.60),
    "gpt-4.1-nano": Price(input_per_million=0.10, output_per_million=0.40),
    "claude-3-5-haiku": Price(input_per_million=0.80, output_per_million=4.00),
    "claude-3-5-sonnet": Price(input_per_million=3.00, output_per_million=15.00),
    "claude-3-7-sonnet": Price(input_per_million=3.00, output_per_million=15.00),
    "claude-sonnet-4": Price(input_per_million=3.00, output_per_million=15.00),
    "claude-opus-4": Price(input_per_million=15.00, output_per_million=75.00),
    "llama3.1-8b": Price(input_per_million=0.18, output_per_million=0.18),
    "llama3.1-70b": Price(input_per_million=0.88, output_per_million=0.88),
    "llama3.1-405b": Price(input_per_million=3.50, output_per_million=3.50),
}

LOCAL_USD_PER_MILLION_PER_BILLION = 0.10
"""Stand-in price of a local model: USD per million tokens (input and output) per billion parameters."""


def local_price(params_billion: float, usd_per_million_per_billion: float = LOCAL_USD_PER_MILLION_PER_BILLION) -> Price:
    """A stand-in price for a local model with ``params_billion`` billion parameters.

    Cost is taken as proportional to parameter count (compute per token scales with it): by default
    $0.10 per million tokens per billion parameters, the same for input and output, so a 0.5B model
    costs $0.05/1M tokens and a 7B model $0.70/1M.
    """
    if params_billion < 0 or usd_per_million_per_billion < 0:
        raise ValueError("params_billion and usd_per_million_per_billion must be >= 0")
    rate = params_billion * usd_per_million_per_billion
    return Price(input_per_million=rate, output_per_million=rate)


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

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """USD cost of a call to ``model``; raises :class:`UnknownPriceError` like :meth:`lookup`."""
        return self.lookup(model).cost(input_tokens, output_tokens)
