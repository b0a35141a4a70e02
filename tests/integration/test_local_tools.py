"""Tools on the embedded llama.cpp server (issue 17): ``LocalServer(jinja=True)``, the default, applies the
model's own chat template with llama.cpp's Jinja engine, so requests with ``tools`` and tool turns are
accepted and rendered the model's way; ``jinja=False`` keeps llama.cpp's built-in templates, which refuse
tools. On SmolLM2-135M (plumbing: its template has no tool syntax, so it answers tool requests in text).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from automix_core.backends.local import LocalServer
from tests.conftest import SMOLLM, require_smollm

pytestmark = pytest.mark.local

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
TOOL_TURNS = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"},
]


def post(server: LocalServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.base_url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_jinja_is_on_by_default_and_tool_requests_are_accepted(smollm_server: LocalServer) -> None:
    assert smollm_server.jinja is True
    status, reply = post(smollm_server, {"model": SMOLLM, "messages": TOOL_TURNS, "tools": TOOLS,
                                         "tool_choice": "auto", "max_tokens": 8, "temperature": 0})
    assert status == 200, reply
    assert reply["choices"][0]["message"]["role"] == "assistant"


def test_without_jinja_llama_cpp_refuses_tools() -> None:
    require_smollm()
    with LocalServer(SMOLLM, parallel=1, threads=1, n_ctx=1024, jinja=False) as server:
        status, reply = post(server, {"model": SMOLLM, "messages": TOOL_TURNS[:1], "tools": TOOLS, "max_tokens": 4})
        assert status >= 400 and "tools param requires --jinja flag" in json.dumps(reply), (status, reply)
        status, reply = post(server, {"model": SMOLLM, "messages": TOOL_TURNS[:1], "max_tokens": 4})
        assert status == 200  # plain chat still works


class Requests:
    """The JSON bodies of the chat completion requests a client sent (an httpx request hook)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def hook(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            self.bodies.append(json.loads(request.content))


def test_langchain_bind_tools_through_a_tool_turn(smollm_server: LocalServer) -> None:
    """bind_tools reaches every tier's answer call on the local server (verification calls carry no tools) and
    the turn after a tool result is answered, verified and billed (SmolLM2 answers in text: its template has no
    tool syntax, so this is the half of an agent loop the installed models can do, see the README)."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    from automix_core.accounting.prices import PriceTable
    from automix_core.backends.local import MODELS
    from automix_langchain import AutoMixChatModel

    sent = Requests()

    def tier() -> ChatOpenAI:
        return ChatOpenAI(model=SMOLLM, base_url=smollm_server.base_url + "/v1", api_key=SecretStr("x"),
                          temperature=0, extra_body={"max_tokens": 12}, max_retries=0, timeout=300,
                          http_client=httpx.Client(event_hooks={"request": [sent.hook]}))

    llm = AutoMixChatModel(tiers=[tier(), tier()], prices=PriceTable(prices={SMOLLM: MODELS[SMOLLM].price}), k=1,
                           verify_max_tokens=8)
    msg = llm.bind_tools([TOOLS[0]]).invoke([
        HumanMessage("What is the weather in Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        ToolMessage("18 C, sunny", tool_call_id="call_1"),
    ])
    trace = msg.response_metadata["automix"]["trace"]
    assert isinstance(msg.content, str) and msg.content.strip() and trace[0]["confidence"] is not None
    answers = [b for b in sent.bodies if b.get("tools")]
    assert len(answers) == len(trace) and all(b["tools"][0]["function"]["name"] == "get_weather" for b in answers)
    assert any(m["role"] == "tool" for m in answers[0]["messages"])
    assert len(sent.bodies) > len(answers)  # the verification calls, without tools


def test_llamaindex_chat_with_tools_through_a_tool_turn(smollm_server: LocalServer) -> None:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped,unused-ignore]

    from automix_core.accounting.prices import PriceTable
    from automix_core.backends.local import MODELS
    from automix_llamaindex import AutoMixLLM

    sent = Requests()

    def tier() -> OpenAILike:
        return OpenAILike(model=SMOLLM, api_base=smollm_server.base_url + "/v1", api_key="x", is_chat_model=True,
                          is_function_calling_model=True, context_window=4096, max_tokens=12, timeout=300,
                          http_client=httpx.Client(event_hooks={"request": [sent.hook]}))

    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return "18 C, sunny"

    llm = AutoMixLLM([tier(), tier()], prices=PriceTable(prices={SMOLLM: MODELS[SMOLLM].price}), k=1,
                     verify_max_tokens=8)
    assert llm.metadata.is_function_calling_model
    history = [
        ChatMessage(role=MessageRole.USER, content="What is the weather in Paris?"),
        ChatMessage(role=MessageRole.ASSISTANT, content="", additional_kwargs={"tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}),
        ChatMessage(role=MessageRole.TOOL, content="18 C, sunny", additional_kwargs={"tool_call_id": "call_1"}),
    ]
    response = llm.chat_with_tools([FunctionTool.from_defaults(get_weather)], chat_history=history)
    assert (response.message.content or "").strip()
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    answers = [b for b in sent.bodies if b.get("tools")]
    assert answers and answers[0]["tools"][0]["function"]["name"] == "get_weather"
    assert any(m["role"] == "tool" for m in answers[0]["messages"])
