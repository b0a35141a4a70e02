"""Cached prompt tokens: read from the provider's report, carried into Usage and the ledger's totals."""

from __future__ import annotations

from typing import Any

from automix_core import Generation, Ledger, Price, PriceTable
from automix_core.accounting import usage_from_generation
from automix_core.backends.openai_compat import OpenAICompatibleModel
from tests.unit.core.test_openai_compat import MSGS, Fake, Reply, completion, fake  # noqa: F401  (fixture)


def test_openai_prompt_tokens_details_are_read(fake: Fake) -> None:
    usage: dict[str, Any] = {"prompt_tokens": 1200, "completion_tokens": 5,
                             "prompt_tokens_details": {"cached_tokens": 1024}}
    fake.replies.append(Reply(body=completion(["ok"], usage)))
    gen = OpenAICompatibleModel(fake.url, model="m").generate(MSGS)
    assert gen.input_tokens == 1200 and gen.cached_input_tokens == 1024


def test_llama_cpp_timings_are_read_and_capped(fake: Fake) -> None:
    fake.replies.append(Reply(body=completion(["ok"], {"prompt_tokens": 30, "completion_tokens": 1},
                                              timings={"cache_n": 25, "prompt_n": 5})))
    fake.replies.append(Reply(body=completion(["ok"], {"prompt_tokens": 3, "completion_tokens": 1},
                                              timings={"cache_n": 99})))
    fake.replies.append(Reply(body=completion(["ok"], {"prompt_tokens": 3, "completion_tokens": 1})))
    model = OpenAICompatibleModel(fake.url, model="m")
    assert [model.generate(MSGS).cached_input_tokens for _ in range(3)] == [25, 3, None]


def test_split_requests_sum_their_cached_tokens(fake: Fake) -> None:
    for cached in (10, 20):
        fake.replies.append(Reply(body=completion(["a", "b"], {"prompt_tokens": 40, "completion_tokens": 2,
                                                               "prompt_tokens_details": {"cached_tokens": cached}})))
    gen = OpenAICompatibleModel(fake.url, model="m", max_n=2).generate(MSGS, n=4)
    assert gen.cached_input_tokens == 30 and gen.requests == 2 and gen.input_tokens == 80


def test_usage_and_totals_carry_cached_tokens() -> None:
    prices = PriceTable().with_prices({"m": Price(input_per_million=1.0, output_per_million=2.0)})
    ledger = Ledger()
    for cached in (None, 600, 5000):  # unreported, reported, over-reported (capped at the prompt)
        gen = Generation(texts=["x"], model="m", input_tokens=1000, output_tokens=10, cached_input_tokens=cached)
        ledger.record(usage_from_generation(gen, MSGS, prices, "verify", 0))
    total = ledger.total
    assert total.cached_input_tokens == 0 + 600 + 1000
    assert total.processed_tokens == 3 * 1000 - 1600 + 30
    assert ledger.by_purpose()["verify"].cached_input_tokens == 1600
