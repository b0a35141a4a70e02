"""Progress events on the real llama.cpp server (SmolLM2-135M) through LangChain's ``astream_events``:
``automix.answer``, ``automix.verified`` and ``automix.decision`` arrive, in order, as custom events of
the AutoMix run, before its first ``on_chat_model_stream`` event; no key in any of them. Plumbing only.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from pydantic import SecretStr

from automix_core.accounting.prices import PriceTable
from automix_core.backends.local import MODELS, LocalServer
from automix_core.policies import ThresholdPolicy
from automix_langchain import AutoMixChatModel

pytestmark = pytest.mark.local

MODEL = "smollm2-135m"
KEY = "sk-local-progress-key-0123456789"


async def test_astream_events_shows_progress_before_the_first_token(smollm_server: LocalServer) -> None:
    from langchain_openai import ChatOpenAI

    def tier() -> ChatOpenAI:
        return ChatOpenAI(model=MODEL, base_url=smollm_server.base_url + "/v1", api_key=SecretStr(KEY),
                          temperature=0, extra_body={"max_tokens": 12}, max_retries=0, timeout=300)

    model = AutoMixChatModel(tiers=[tier(), tier()], router=ThresholdPolicy(2, [1.1]),  # always escalates
                             prices=PriceTable(prices={MODEL: MODELS[MODEL].price}), k=1, verify_max_tokens=12)
    events = [e async for e in model.astream_events("What colour is the sky on a clear day?", version="v2")]

    names = [e["name"] if e["event"] == "on_custom_event" else e["event"] for e in events]
    progress = [(e["name"], cast(dict[str, Any], e["data"])) for e in events if e["event"] == "on_custom_event"]
    assert [n for n, _ in progress] == ["automix.answer", "automix.verified", "automix.decision",
                                        "automix.answer", "automix.decision"]
    assert progress[1][1]["tier"] == 0 and 0.0 <= progress[1][1]["confidence"] <= 1.0
    assert progress[2][1] == {"tier": 0, "model": MODEL, "action": "escalate", "target": 1, "target_model": MODEL,
                              "final": False}
    assert progress[4][1]["action"] == "accept" and progress[4][1]["final"] is True
    first_token = names.index("on_chat_model_stream")
    assert max(i for i, n in enumerate(names) if n.startswith("automix.")) < first_token
    automix_run = next(e["run_id"] for e in events if e["event"] == "on_chat_model_start"
                       and e["name"] == "AutoMixChatModel")
    assert {e["run_id"] for e in events if e["event"] == "on_custom_event"} == {automix_run}
    assert KEY not in json.dumps([d for _, d in progress])
    end = next(e for e in events if e["event"] == "on_chat_model_end" and e["run_id"] == automix_run)
    assert end["data"]["output"].response_metadata["automix"]["tiers_visited"] == [0, 1]
