"""Price lookup, overrides, unknown models and local stand-in prices."""

from __future__ import annotations

import pydantic
import pytest

from automix_core.accounting.prices import PRESET_PRICES, Price, PriceTable, UnknownPriceError, local_price


def test_presets_cover_common_models() -> None:
    for name in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "claude-3-5-haiku",
        "claude-sonnet-4",
        "llama3.1-8b",
        "llama3.1-70b",
        "llama3.1-405b",
    ]:
        assert name in PRESET_PRICES
    assert PRESET_PRICES["gpt-4o-mini"] == Price(input_per_million=0.15, output_per_million=0.60,
                                                 cached_input_per_million=0.075)


def test_lookup_exact_prefix_and_provider() -> None:
    table = PriceTable()
    assert table.lookup("gpt-4o") == PRESET_PRICES["gpt-4o"]
    assert table.lookup("GPT-4o") == PRESET_PRICES["gpt-4o"]
    assert table.lookup("openai:gpt-4o-mini") == PRESET_PRICES["gpt-4o-mini"]
    # longest known prefix wins: gpt-4o-mini, not gpt-4o
    assert table.lookup("gpt-4o-mini-2024-07-18") == PRESET_PRICES["gpt-4o-mini"]
    assert table.lookup("openai:gpt-4.1-mini-2025-04-14") == PRESET_PRICES["gpt-4.1-mini"]
    assert table.lookup("anthropic:claude-3-5-haiku-20241022") == PRESET_PRICES["claude-3-5-haiku"]
    assert table.lookup("claude-sonnet-4-20250514") == PRESET_PRICES["claude-sonnet-4"]
    assert table.lookup("together/llama3.1-70b-instruct") == PRESET_PRICES["llama3.1-70b"]


def test_cost() -> None:
    table = PriceTable()
    assert table.cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert table.cost("gpt-4o", 1000, 500) == pytest.approx((1000 * 2.50 + 500 * 10.00) / 1e6)
    assert table.cost("gpt-4o", 0, 0) == 0.0


def test_unknown_model_raises_unless_default() -> None:
    with pytest.raises(UnknownPriceError, match="my-model"):
        PriceTable().cost("my-model", 10, 10)
    assert PriceTable().find("my-model") is None
    fallback = Price(input_per_million=1.0, output_per_million=2.0)
    table = PriceTable(default=fallback)
    assert table.lookup("my-model") == fallback
    assert table.cost("my-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.lookup("gpt-4o") == PRESET_PRICES["gpt-4o"]


def test_overrides() -> None:
    mine = Price(input_per_million=9.0, output_per_million=9.0)
    table = PriceTable().with_prices({"GPT-4o": mine, "smollm2-135m": local_price(0.135)})
    assert table.lookup("gpt-4o") == mine
    assert table.lookup("gpt-4o-mini") == PRESET_PRICES["gpt-4o-mini"]
    assert table.lookup("smollm2-135m") == local_price(0.135)
    assert PriceTable().lookup("gpt-4o") == PRESET_PRICES["gpt-4o"]  # original untouched
    dated = PriceTable().with_prices({"gpt-4o-2024-05-13": mine})
    assert dated.lookup("gpt-4o-2024-05-13") == mine
    assert dated.lookup("gpt-4o-2024-08-06") == PRESET_PRICES["gpt-4o"]
    only = PriceTable(prices={"a": mine})
    assert only.find("gpt-4o") is None


def test_local_price_proportional_to_parameters() -> None:
    seven = local_price(7)
    assert seven.input_per_million == seven.output_per_million == pytest.approx(0.70)
    assert local_price(0.5).cost(1_000_000, 1_000_000) == pytest.approx(0.10)
    assert local_price(2, usd_per_million_per_billion=1.0).input_per_million == 2.0
    with pytest.raises(ValueError):
        local_price(-1)


def test_validation_and_immutability() -> None:
    with pytest.raises(pydantic.ValidationError):
        Price(input_per_million=-1, output_per_million=0)
    table = PriceTable()
    with pytest.raises(pydantic.ValidationError):
        table.default = Price(input_per_million=1, output_per_million=1)
    loaded = PriceTable.model_validate({"prices": {"X-Model": {"input_per_million": 1, "output_per_million": 2}}})
    assert loaded.lookup("x-model").output_per_million == 2


def test_lookups_are_remembered_without_changing_what_a_table_is() -> None:
    a, b = PriceTable(), PriceTable()
    assert a.find("gpt-4o-mini-2024-07-18") == a.find("gpt-4o-mini-2024-07-18") is not None
    assert a.find("no-such-model") is None and a.find("no-such-model") is None
    assert a == b and a.model_dump() == b.model_dump()  # the lookup cache is not part of the value
    assert a != a.with_prices({"x": Price(input_per_million=1.0, output_per_million=1.0)})
    a.prices["no-such-model"] = Price(input_per_million=3.0, output_per_million=3.0)  # edited in place
    assert a.find("no-such-model") == Price(input_per_million=3.0, output_per_million=3.0)
    one = Price(input_per_million=1.0, output_per_million=1.0)
    two = Price(input_per_million=2.0, output_per_million=2.0)
    first = PriceTable(prices={"m": one})
    assert first.find("m") == one
    copy = first.model_copy(update={"prices": {"m": two}})  # a copy shares no remembered lookups
    assert copy.find("m") == two and first.find("m") == one

