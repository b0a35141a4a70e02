"""LlamaIndex's ``AutoMixLLM`` takes traffic capture through its settings (the core's
``CascadeSettings.traffic``). Scripted models (plumbing)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from automix_core import TrafficConfig
from automix_core.accounting.prices import Price, PriceTable
from automix_core.traffic import Traffic, read_traffic
from automix_llamaindex import AutoMixLLM
from tests.fakes.llamaindex_models import ScriptedLLM

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def test_llamaindex_llm_records_async(tmp_path: Path) -> None:
    cfg = TrafficConfig(dir=str(tmp_path), shadow_rate=1.0)
    llm = AutoMixLLM([ScriptedLLM(model="small", window=4096, answer="1930"),
                      ScriptedLLM(model="large", window=8192, answer="In 1930.")], prices=PRICES, k=2, traffic=cfg)

    async def go() -> str:
        r = await llm.acomplete("When?")
        traffic = Traffic.of(cfg)
        assert traffic is not None
        await traffic.drain()
        return str(r.text)

    assert asyncio.run(go()) == "1930"
    [rec] = read_traffic(tmp_path)
    assert rec["served"] == "small" and rec["outputs"]["large"]["answer"] == "In 1930."
