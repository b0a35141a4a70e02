"""End to end against the real llama.cpp server (SmolLM2-135M as both tiers, for plumbing): the official
openai SDK (sync, async, streaming with usage, tools), LangChain's ChatOpenAI, LlamaIndex's OpenAILike and
curl, all pointed at ``automix serve``; usage and cost in each response equal the ledger's."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

pytestmark = pytest.mark.local

MAX_TOKENS = 24


@pytest.fixture
def local_server(it: Any, smollm: Any, start_server: Any) -> Any:
    base = smollm.model().base_url
    window = smollm.model().context_window
    tiers = [{"name": name, "base_url": base, "model": "smollm2-135m", "context_window": window, "max_n": 4,
              "usage_scope": "first_choice", "timeout": 300,
              "price": {"input_per_million": p, "output_per_million": p}} for name, p in (("small", 0.0135),
                                                                                         ("large", 0.1))]
    cfg = {"api_keys": [{"name": "it", "key_env": "IT_CLIENT_KEY"}], "request_timeout": 600,
           "routes": {"automix": {"tiers": tiers, "cascade": {"k": 1, "answer_max_tokens": MAX_TOKENS,
                                                              "verify_max_tokens": 24, "timeout": 300}}}}
    return start_server(cfg)


def ledger(it: Any, url: str) -> dict[str, Any]:
    import httpx

    data: dict[str, Any] = httpx.get(f"{url}/automix/ledger", headers=it.AUTH, timeout=30).json()
    return data


QUESTION = [{"role": "system", "content": "Answer in a few words."},
            {"role": "user", "content": "What is the capital of France?"}]


def test_openai_sdk_sync_usage_equals_ledger_and_key_is_required(it: Any, local_server: Any) -> None:
    import openai

    client: Any = openai.OpenAI(base_url=f"{local_server.url}/v1", api_key=it.CLIENT_KEY, max_retries=0, timeout=600)
    before = ledger(it, local_server.url)["total"]
    resp = client.chat.completions.create(model="automix", messages=QUESTION, max_tokens=MAX_TOKENS)
    after = ledger(it, local_server.url)["total"]
    assert resp.model in ("small", "large")
    assert resp.choices[0].message.content
    assert resp.usage is not None
    extra = resp.model_extra or {}
    am = extra["automix"]
    assert am["tier"] == resp.model and am["trace"][0]["verdicts"] is not None
    assert resp.usage.prompt_tokens == after["input_tokens"] - before["input_tokens"]
    assert resp.usage.completion_tokens == after["output_tokens"] - before["output_tokens"]
    assert am["cost_usd"] == pytest.approx(after["cost"] - before["cost"])
    assert am["usage_by_purpose"]["verify"]["calls"] >= 1  # verification tokens are in the usage
    raw = client.chat.completions.with_raw_response.create(model="automix", messages=QUESTION,
                                                           max_tokens=MAX_TOKENS)
    assert raw.headers["x-automix-tier"] in ("small", "large")
    assert float(raw.headers["x-automix-cost-usd"]) > 0
    models = [m.id for m in client.models.list()]
    assert models == ["automix", "small", "large"]
    bad: Any = openai.OpenAI(base_url=f"{local_server.url}/v1", api_key="wrong-key-000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="automix", messages=QUESTION)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="automix", messages=[])
    assert info.value.body is not None and "messages" in json.dumps(info.value.body)


async def test_openai_sdk_async_and_streaming_with_usage(it: Any, local_server: Any) -> None:
    import openai

    client: Any = openai.AsyncOpenAI(base_url=f"{local_server.url}/v1", api_key=it.CLIENT_KEY, max_retries=0,
                                timeout=600)
    resp = await client.chat.completions.create(model="automix", messages=QUESTION,
                                                max_tokens=MAX_TOKENS)
    assert resp.choices[0].message.content
    before = ledger(it, local_server.url)["total"]
    stream = await client.chat.completions.create(model="automix", messages=QUESTION,
                                                  max_tokens=MAX_TOKENS, stream=True,
                                                  stream_options={"include_usage": True})
    text, usage, models = "", None, set()
    async for chunk in stream:
        models.add(chunk.model)
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    after = ledger(it, local_server.url)["total"]
    assert text and len(models) == 1 and models <= {"small", "large"}
    assert usage is not None and usage.prompt_tokens == after["input_tokens"] - before["input_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    await client.close()


def test_openai_sdk_tools_pass_through(it: Any, local_server: Any) -> None:
    import openai

    client: Any = openai.OpenAI(base_url=f"{local_server.url}/v1", api_key=it.CLIENT_KEY, max_retries=0, timeout=600)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object", "properties": {
                                                   "city": {"type": "string"}}, "required": ["city"]}}}]
    resp = client.chat.completions.create(
        model="automix", max_tokens=64, tools=tools, tool_choice="auto",
        messages=[{"role": "user", "content": "What is the weather in Paris? Use the tool."}])
    msg = resp.choices[0].message
    # SmolLM may answer with a call or with text; either way it is a well-formed OpenAI answer
    if msg.tool_calls:
        call = msg.tool_calls[0]
        assert call.function.name == "get_weather"
        json.loads(call.function.arguments)
        assert resp.choices[0].finish_reason == "tool_calls"
    else:
        assert msg.content
    assert resp.usage is not None and resp.usage.total_tokens > 0


def test_langchain_chat_openai(it: Any, local_server: Any) -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    llm = ChatOpenAI(model="automix", base_url=f"{local_server.url}/v1", api_key=SecretStr(it.CLIENT_KEY),
                     max_retries=0, timeout=600, extra_body={"max_tokens": MAX_TOKENS})
    msg = llm.invoke([("system", "Answer in a few words."), ("human", "What is the capital of France?")])
    assert msg.content
    assert msg.response_metadata["model_name"] in ("small", "large")
    assert msg.usage_metadata is not None and msg.usage_metadata["total_tokens"] > 0
    chunks = list(llm.stream("Name a colour."))
    assert "".join(str(c.content) for c in chunks)


def test_llamaindex_openai_like(it: Any, local_server: Any) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

    llm = OpenAILike(model="automix", api_base=f"{local_server.url}/v1", api_key=it.CLIENT_KEY,
                     is_chat_model=True, max_tokens=MAX_TOKENS, timeout=600, max_retries=0)
    resp = llm.chat([ChatMessage(role="user", content="What is the capital of France?")])
    assert resp.message.content
    raw: Any = resp.raw
    automix = raw["automix"] if isinstance(raw, dict) else raw.model_extra["automix"]
    assert automix["tier"] in ("small", "large")


def test_curl(it: Any, local_server: Any) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl")
    body = json.dumps({"model": "automix", "messages": QUESTION, "max_tokens": MAX_TOKENS})
    out = subprocess.run([curl, "-sS", "-X", "POST", f"{local_server.url}/v1/chat/completions",
                          "-H", f"Authorization: Bearer {it.CLIENT_KEY}", "-H", "Content-Type: application/json",
                          "-d", body], capture_output=True, text=True, timeout=600, check=True)
    data = json.loads(out.stdout)
    assert data["choices"][0]["message"]["content"] and data["usage"]["total_tokens"] > 0
    out = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                          f"{local_server.url}/v1/chat/completions", "-H", "Content-Type: application/json",
                          "-d", body], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == "401"
    assert it.CLIENT_KEY not in local_server.logs()
