"""End to end on a real local model: llama.cpp serving SmolLM2-135M, through the whole cascade.

Asserts behaviour, not a weak model's accuracy. Skips when xllamacpp or the weights are missing
(`make test` installs both first).
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from automix_core import AutoMix, Ledger, PriceTable, ThresholdPolicy
from automix_core.local import MODELS, LocalModelError, LocalServer, cache_dir, install_model
from automix_core.openai_compat import OpenAICompatibleModel

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    pytest.importorskip("xllamacpp")
    if not (cache_dir() / MODELS["smollm2-135m"].filename).exists():
        pytest.skip("SmolLM2 weights not installed (automix models install smollm2-135m)")
    with LocalServer("smollm2-135m", parallel=4) as srv:
        yield srv


def test_generate_n_samples_usage_and_logprobs(server: LocalServer) -> None:
    m = server.model()
    g = m.generate([{"role": "user", "content": "Name a colour."}], n=3, temperature=1.0, max_tokens=8, logprobs=3)
    assert len(g.texts) == 3 and all(isinstance(t, str) for t in g.texts)
    assert g.input_tokens is not None and g.input_tokens > 0
    assert g.output_tokens is not None and 0 < g.output_tokens <= 24
    assert g.token_logprobs is not None and len(g.token_logprobs) == 3


def test_cascade_on_real_server_ledger_matches_reported_usage(server: LocalServer) -> None:
    seen: list[tuple[int, int]] = []

    class Recording(OpenAICompatibleModel):
        def generate(self, *a, **kw):  # type: ignore[no-untyped-def]
            g = super().generate(*a, **kw)
            assert g.input_tokens is not None and g.output_tokens is not None
            seen.append((g.input_tokens, g.output_tokens))
            return g

    small = Recording(f"{server.base_url}/v1", "smollm2-135m", context_window=2048, name="small")
    large = Recording(f"{server.base_url}/v1", "smollm2-135m", context_window=2048, name="large")
    prices = PriceTable(prices={"small": MODELS["smollm2-135m"].price, "large": MODELS["smollm2-135m"].price})
    ledger = Ledger()
    # a policy that always escalates (threshold above 1) and one that never does (threshold 0)
    always = AutoMix([small, large], router=ThresholdPolicy(2, [1.1]), prices=prices, ledger=ledger, k=4,
                     answer_max_tokens=16, verify_max_tokens=24)
    res = always.run("Is the sky blue on a clear day?", context="On clear days the sky looks blue.")
    assert [t.tier for t in res.trace] == [0, 1] and res.tier == 1
    conf = res.trace[0].confidence
    assert conf is not None and 0.0 <= conf <= 1.0
    assert len(res.trace[0].samples) == 4  # k samples came back (one n=4 request)
    never = AutoMix([small, large], router=ThresholdPolicy(2, [0.0]), prices=prices, ledger=ledger, k=2,
                    answer_max_tokens=16, verify_max_tokens=24)
    res2 = asyncio.run(never.arun("What is 2 + 2?"))
    assert [t.tier for t in res2.trace] == [0] and res2.tier == 0
    assert ledger.total.input_tokens == sum(i for i, _ in seen)
    assert ledger.total.output_tokens == sum(o for _, o in seen)
    assert ledger.total.estimated_calls == 0
    assert ledger.total.cost == pytest.approx(res.cost + res2.cost)


def test_server_stops_and_frees_port() -> None:
    pytest.importorskip("xllamacpp")
    if not (cache_dir() / MODELS["smollm2-135m"].filename).exists():
        pytest.skip("SmolLM2 weights not installed")
    srv = LocalServer("smollm2-135m", parallel=1)
    srv.start()
    url = srv.base_url
    assert urllib.request.urlopen(f"{url}/health", timeout=5).status == 200
    srv.stop()
    host, port = url.split("//")[1].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex((host, int(port))) != 0


def test_unknown_and_missing_models(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="unknown local model 'gpt-5'"):
        install_model("gpt-5", tmp_path)
    with pytest.raises(LocalModelError, match="not installed"):
        LocalServer("qwen2.5-coder-1.5b", cache=tmp_path).start()
