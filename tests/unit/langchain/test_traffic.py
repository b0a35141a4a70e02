"""LangChain's ``AutoMixChatModel`` takes traffic capture through its settings (the core's
``CascadeSettings.traffic``). Scripted models (plumbing)."""

from __future__ import annotations

from pathlib import Path

from automix_core import TrafficConfig
from automix_core.accounting.prices import Price, PriceTable
from automix_core.traffic import Traffic, read_traffic
from automix_langchain import AutoMixChatModel
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def test_langchain_chat_model_records_and_shadows(tmp_path: Path) -> None:
    cfg = TrafficConfig(dir=str(tmp_path), shadow_rate=1.0)
    small = ScriptedChatModel(model_name="small", answer="small says 4", verdicts=["correct"])
    large = ScriptedChatModel(model_name="large", answer="large says 4")
    chat = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2, traffic=cfg)
    msg = chat.invoke("What is 2+2?")
    assert msg.content == "small says 4"
    traffic = Traffic.of(cfg)
    assert traffic is not None
    traffic.close()  # the sync shadow jobs on the pool are done
    [rec] = read_traffic(tmp_path)
    assert rec["served"] == "small" and rec["outputs"]["large"]["answer"] == "large says 4"
    assert rec["outputs"]["large"]["visited"] is False
