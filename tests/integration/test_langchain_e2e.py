"""End to end: langchain-openai's ChatOpenAI tiers against a real llama.cpp server (SmolLM2-135M).

The usage the server reported is read from its HTTP responses (an httpx response hook), not from
LangChain, and the AutoMix ledger and the returned ``usage_metadata`` are checked against it.
Asserts plumbing, not the weak model's accuracy. Skips without xllamacpp or the weights.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from automix_core.accounting.prices import PriceTable
from automix_core.backends.local import MODELS, LocalServer
from automix_core.policies import ThresholdPolicy
from automix_langchain import AutoMixChatModel

pytestmark = pytest.mark.local

MODEL = "smollm2-135m"


class ServerUsage:
    """Collects ``usage`` from every chat completion response the server sent."""

    def __init__(self) -> None:
        self.usages: list[dict[str, int]] = []
        self.replies: list[dict[str, Any]] = []

    def _record(self, body: bytes) -> None:
        data = json.loads(body)
        self.replies.append(data)
        self.usages.append({"input": int(data["usage"]["prompt_tokens"]),
                            "output": int(data["usage"]["completion_tokens"])})

    def hook(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/chat/completions"):
            response.read()
            self._record(response.content)

    async def ahook(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/chat/completions"):
            await response.aread()
            self._record(response.content)

    def totals(self) -> tuple[int, int]:
        return sum(u["input"] for u in self.usages), sum(u["output"] for u in self.usages)


def chat(server: LocalServer, usage: ServerUsage, max_tokens: int, timeout: float = 60) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL, base_url=server.base_url + "/v1", api_key=SecretStr("x"), temperature=0,
        extra_body={"max_tokens": max_tokens}, max_retries=0, timeout=timeout,
        http_client=httpx.Client(event_hooks={"response": [usage.hook]}),
        http_async_client=httpx.AsyncClient(event_hooks={"response": [usage.ahook]}),
    )


def build(server: LocalServer, threshold: float, k: int = 2,
          claims: bool = True) -> tuple[AutoMixChatModel, ServerUsage]:
    """``claims=False`` (``verify_defence=False``) judges answers as written, for tests that count verdict
    samples: SmolLM2's restatements of its own answers are not faithful (claims escalate without a verdict)."""
    usage = ServerUsage()
    model = AutoMixChatModel(
        tiers=[chat(server, usage, 24), chat(server, usage, 24)],
        router=ThresholdPolicy(2, [threshold]),
        prices=PriceTable(prices={MODEL: MODELS[MODEL].price}),
        k=k, verify_max_tokens=24, verify_defence=claims,
    )
    return model, usage


def test_chatopenai_tiers_ledger_matches_server_usage(smollm_server: LocalServer) -> None:
    model, usage = build(smollm_server, 1.1)  # threshold above 1: always escalates
    msg = model.invoke([("system", "Context: on clear days the sky looks blue."),
                        ("human", "What colour is the sky on a clear day?")])
    trace = msg.response_metadata["automix"]
    assert trace["tiers_visited"] == [0, 1] and msg.response_metadata["model_name"] == MODEL
    verify = [e for e in model.ledger.snapshot().entries if e.purpose == "verify"]
    verdicts = trace["trace"][0]["verdicts"]
    restated = trace["trace"][0]["claim"] != trace["trace"][0]["answer"].strip()
    # small answer, the claim's restatement when the answer is restated (and the claim's own restatement when the
    # first gave the answer's value), 2 verification samples unless a restatement gave another value (escalated
    # unjudged), large answer
    restatements = len(verify) - len(verdicts)
    assert (restatements, len(verdicts)) in ({(0, 2)} if not restated else {(1, 0), (2, 0), (2, 2)})
    assert len(usage.usages) == 1 + len(verify) + 1
    server_in, server_out = usage.totals()
    total = model.ledger.total
    assert (total.input_tokens, total.output_tokens) == (server_in, server_out)
    assert total.calls == len(usage.usages) and total.estimated_calls == 0
    assert msg.usage_metadata is not None
    assert (msg.usage_metadata["input_tokens"], msg.usage_metadata["output_tokens"]) == (server_in, server_out)
    assert total.cost == pytest.approx(MODELS[MODEL].price.cost(server_in, server_out))
    conf = trace["trace"][0]["confidence"]
    assert conf is not None and 0.0 <= conf <= 1.0


async def test_chatopenai_astream_and_abatch_against_server(smollm_server: LocalServer) -> None:
    model, usage = build(smollm_server, 0.0, k=1, claims=False)  # threshold 0: accepts after verifying
    chunks = [c async for c in model.astream("Name a colour.")]
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata is not None
    assert chunks[-1].response_metadata["automix"]["tiers_visited"] == [0]
    outs = await model.abatch(["Say hi.", "Say bye."], config={"max_concurrency": 2})
    assert len(outs) == 2
    assert len(usage.usages) == 3 * 2  # each request: 1 answer + 1 verification sample
    server_in, server_out = usage.totals()
    assert (model.ledger.total.input_tokens, model.ledger.total.output_tokens) == (server_in, server_out)


def test_verify_n_bills_every_choices_output_tokens(smollm_server: LocalServer) -> None:
    """llama.cpp reports completion_tokens for the first choice only (issue 17, bug 6): the k=4 samples
    drawn in one request with n (sync and async) must bill every choice's tokens, as the server's own
    tokenizer counts their texts, and what the same samples cost as 4 single requests (greedy samples:
    the same texts both ways, unless the server's prompt cache or batching changes a sample)."""
    import asyncio
    import urllib.request

    def tokens(text: str) -> int:  # the server's own tokenizer (llama.cpp's /tokenize)
        request = urllib.request.Request(smollm_server.base_url + "/tokenize", data=json.dumps(
            {"content": text}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            return len(json.load(reply)["tokens"])

    def billed(verify_n: bool, use_async: bool = False) -> tuple[int, list[str], ServerUsage]:
        usage = ServerUsage()
        model = AutoMixChatModel(
            tiers=[chat(smollm_server, usage, 16, timeout=600), chat(smollm_server, usage, 16, timeout=600)],
            router=ThresholdPolicy(2, [0.0]), prices=PriceTable(prices={MODEL: MODELS[MODEL].price}),
            k=4, verify_mode="sample", verify_n=verify_n, verify_temperature=0.0, verify_max_tokens=24,
            verify_defence=False)  # judged as written: this test counts verdict samples (see build)
        question = "Name a colour of the sky."
        msg = asyncio.run(model.ainvoke(question)) if use_async else model.invoke(question)
        assert len(msg.response_metadata["automix"]["trace"][0]["verdicts"]) == 4
        verify = [e for e in model.ledger.snapshot().entries if e.purpose == "verify"]
        assert verify and not any(e.estimated for e in verify)
        texts = [c["message"]["content"] for r in usage.replies[1:] for c in r["choices"]]
        return sum(e.output_tokens for e in verify), texts, usage

    single, single_texts, single_usage = billed(False)
    assert len(single_usage.replies) == 5 and len(single_texts) == 4  # the answer, 4 single requests
    assert single == sum(u["output"] for u in single_usage.usages[1:])  # each single request as reported
    for use_async in (False, True):
        one, one_texts, one_usage = billed(True, use_async)
        assert len(one_usage.replies) == 2 and len(one_texts) == 4  # the answer, one request with n=4
        assert one > one_usage.usages[1]["output"]  # more than llama.cpp's count (the first choice's)
        by_text = sum(tokens(t) for t in one_texts)
        assert by_text - 4 <= one <= by_text + 4  # each choice's tokens, as retokenized (one stop token each)
        if one_texts == single_texts:
            assert one == single


def test_utility_call_is_one_unverified_request(smollm_server: LocalServer) -> None:
    """A rewrite step marked as a utility call (issue 17): one request to tier 0, billed as reported."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    model, usage = build(smollm_server, 1.1)  # a cascaded call would verify and escalate
    rewrite = ChatPromptTemplate.from_messages([("human", "Rewrite as a search query: {q}")]) | model.utility()
    msg = rewrite.invoke({"q": "and when did it open?"})
    assert len(usage.usages) == 1 and msg.response_metadata["automix"]["tiers_visited"] == [0]
    text = (rewrite | StrOutputParser()).invoke({"q": "and where is it?"})
    assert isinstance(text, str) and len(usage.usages) == 2
    total = model.ledger.total
    assert (total.input_tokens, total.output_tokens) == usage.totals() and total.estimated_calls == 0
    assert [e.purpose for e in model.ledger.snapshot().entries] == ["answer", "answer"]


async def test_astream_events_with_verify_n_makes_the_requests_ainvoke_makes(smollm_server: LocalServer) -> None:
    """Issue 17, bug 5: with verify_n, astream_events made 3 requests where ainvoke makes 2 (the answer,
    one verification request with n), and its usage was estimated."""
    usage = ServerUsage()
    model = AutoMixChatModel(
        tiers=[chat(smollm_server, usage, 16, timeout=600), chat(smollm_server, usage, 16, timeout=600)],
        router=ThresholdPolicy(2, [0.0]), prices=PriceTable(prices={MODEL: MODELS[MODEL].price}),
        k=2, verify_mode="sample", verify_n=True, verify_max_tokens=24,
        verify_defence=False)  # judged as written: this test counts requests (see build)
    events = [e async for e in model.astream_events("Name a colour.", version="v2")]
    assert len(usage.replies) == 2 and len(usage.replies[1]["choices"]) == 2  # the answer, one request with n=2
    assert all("automix" not in e.get("tags", []) for e in events if e["event"] == "on_chat_model_stream")
    end = [e for e in events if e["event"] == "on_chat_model_end" and "automix" not in e.get("tags", [])][-1]
    total = model.ledger.total
    assert total.estimated_calls == 0 and total.calls == 2
    assert end["data"]["output"].usage_metadata["input_tokens"] == total.input_tokens == usage.totals()[0]
    assert end["data"]["output"].usage_metadata["output_tokens"] == total.output_tokens  # every choice's tokens


def test_logprob_router_verifies_by_one_logprob_request(smollm_server: LocalServer) -> None:
    """A router calibrated on logprob/continue: the ChatOpenAI verifier asks llama.cpp for logprobs in one
    request and the confidence comes from them (trace: verify_mode logprob), without a fallback."""
    import warnings

    from automix_core import Router
    from automix_core.verify import VerificationMethod

    usage = ServerUsage()
    method = VerificationMethod(mode="logprob", layout="continue", k=1)
    model = AutoMixChatModel(
        tiers=[chat(smollm_server, usage, 16), chat(smollm_server, usage, 16)],
        router=Router([MODEL, MODEL], ThresholdPolicy(2, [0.0]), n_train=10, verification=method),
        prices=PriceTable(prices={MODEL: MODELS[MODEL].price}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        msg = model.invoke("Is the sky blue on a clear day? Answer yes or no.")
    trace = msg.response_metadata["automix"]["trace"][0]
    assert trace["verify_mode"] == "logprob" and 0.0 <= trace["confidence"] <= 1.0
    assert len(usage.replies) == 2  # the answer, then one verification request
    verification = usage.replies[1]["choices"][0]
    assert verification["logprobs"]["content"] and len(verification["logprobs"]["content"][0]["top_logprobs"]) > 1
    assert [u.purpose for u in model.ledger.snapshot().entries] == ["answer", "verify"]
