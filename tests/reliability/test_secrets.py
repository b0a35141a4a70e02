"""Secrets: an API key given to an OpenAI-compatible tier (core client or LangChain's ChatOpenAI) never
appears in traces, logs, error messages, saved router files or collected records, even when the
server answers HTTP 401 with a body that echoes the key it was sent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from automix_core import AllTiersFailedError, AutoMix, Price, PriceTable
from automix_core.backends.openai_compat import OpenAICompatibleModel
from automix_core.backends.wire import CallSite, parse_completion
from automix_core.calibration.collect import Item, collect
from automix_langchain import AutoMixChatModel
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-Zq81xV0bLw3NHEm7TyKp"  # what the client is given
SERVER_KEY = "sk-server-only-key-000000"  # what the fake server accepts (so KEY gets a 401 echoing it)
PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
log = logging.getLogger("automix.test.secrets")


def core_tiers(url: str) -> list[OpenAICompatibleModel]:
    return [OpenAICompatibleModel(url, name, api_key=KEY, timeout=10) for name in ("small", "large")]


def lc_tiers(url: str, key: str) -> list[BaseChatModel]:
    return [ChatOpenAI(model=name, base_url=url, api_key=key, max_retries=0, timeout=10)  # type: ignore[arg-type]
            for name in ("small", "large")]


def no_key_in(*texts: str) -> None:
    for text in texts:
        assert KEY not in text and KEY[8:] not in text


def test_core_client_401_echoing_the_key(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(api_key=SERVER_KEY) as server:
        am = AutoMix(core_tiers(server.url), prices=PRICES, k=2, retries=1)
        runners: list[Callable[[], object]] = [lambda: am.run("q?"), lambda: asyncio.run(am.arun("q?"))]
        for runner in runners:
            with pytest.raises(AllTiersFailedError) as info:
                runner()
            assert "HTTP 401" in str(info.value) and "Incorrect API key provided: Bearer ***" in str(info.value)
            log.exception("request failed", exc_info=info.value)
            no_key_in(str(info.value), repr(info.value.failures), json.dumps([t.to_dict() for t in info.value.trace]))
        assert server.calls >= 4  # the server really was asked (and echoed the key)
        no_key_in(repr(am.tiers[0].model), caplog.text)
        am.router.save(tmp_path / "router.json")
        no_key_in((tmp_path / "router.json").read_text())


def test_core_client_success_trace_and_collected_records(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(api_key=KEY) as server:
        am = AutoMix(core_tiers(server.url), prices=PRICES, k=2)
        res = am.run("q?")
        assert res.answer == "yes"
        no_key_in(json.dumps(res.to_dict()), repr(res))
        out = tmp_path / "records.jsonl"
        summary = collect([Item(id="a", question="q?", reference="yes")], core_tiers(server.url), out,
                          prices=PRICES, k=2, progress=False)
        assert summary.written == 1
        no_key_in(out.read_text(), caplog.text)
    with FakeOpenAI(api_key=SERVER_KEY) as server:  # failing collection: the reported errors
        summary = collect([Item(id="b", question="q?", reference="yes")], core_tiers(server.url),
                          tmp_path / "failed.jsonl", prices=PRICES, k=2, progress=False)
        assert summary.failed and "HTTP 401" in summary.failed[0][1]
        no_key_in(summary.failed[0][1], summary.table())


def test_langchain_chatopenai_401_echoing_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(api_key=SERVER_KEY) as server:
        model = AutoMixChatModel(tiers=lc_tiers(server.url, KEY), prices=PRICES, k=2, retries=0)
        runners: list[Callable[[], object]] = [lambda: model.invoke("q?"), lambda: asyncio.run(model.ainvoke("q?"))]
        for runner in runners:
            with pytest.raises(AllTiersFailedError) as info:
                runner()
            assert "401" in str(info.value) and "Bearer ***" in str(info.value)
            log.exception("request failed", exc_info=info.value)
            no_key_in(str(info.value), json.dumps([t.to_dict() for t in info.value.trace]))
        no_key_in(caplog.text, repr(model))


def test_langchain_chatopenai_success_metadata() -> None:
    with FakeOpenAI(api_key=KEY) as server:
        model = AutoMixChatModel(tiers=lc_tiers(server.url, KEY), prices=PRICES, k=2)
        msg = model.invoke("q?")
        assert msg.content == "yes"
        no_key_in(json.dumps(msg.response_metadata, default=str), msg.model_dump_json())


def test_llamaindex_openailike_401_echoing_the_key(caplog: pytest.LogCaptureFixture) -> None:
    from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

    from automix_llamaindex import AutoMixLLM

    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(api_key=SERVER_KEY) as server:
        tiers = [OpenAILike(model=name, api_base=server.url, api_key=KEY, is_chat_model=True, max_retries=0,
                            timeout=10, context_window=4096) for name in ("small", "large")]
        llm = AutoMixLLM(tiers, prices=PRICES, k=2, retries=0)
        with pytest.raises(AllTiersFailedError) as info:
            llm.complete("q?")
        assert "401" in str(info.value) and "Bearer ***" in str(info.value)
        log.exception("request failed", exc_info=info.value)
        no_key_in(str(info.value), caplog.text)


def test_malformed_usage_from_a_server_is_estimated_not_a_crash() -> None:
    site = CallSite("small", "http://127.0.0.1:9/v1/chat/completions")
    for usage in ({"prompt_tokens": float("nan"), "completion_tokens": -3},
                  {"prompt_tokens": float("inf"), "completion_tokens": "7"}, {"prompt_tokens": 10**400}):
        gen = parse_completion({"choices": [{"index": 0, "message": {"content": "hi"}}], "usage": usage}, site)
        assert gen.texts == ["hi"] and gen.output_tokens is None
        assert gen.input_tokens is None or gen.input_tokens == 10**400
