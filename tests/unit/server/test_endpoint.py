"""``/v1/chat/completions`` and the other endpoints, in process over the scripted upstream."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from automix_server.testing import FakeUpstream


async def test_accepted_answer_has_openai_shape_and_automix_object(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("What is 2+2? [[id:q1]]"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "small"
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["content"] == "answer from small: q1"
    assert body["choices"][0]["finish_reason"] == "stop"
    am = body["automix"]
    assert am["tier"] == "small" and am["escalated"] is False and am["route"] == "automix"
    assert [t["model"] for t in am["trace"]] == ["small"]
    # usage covers the answer and the verification (k=2 samples in one request with n=2)
    trace_in = sum(t["input_tokens"] for t in am["trace"])
    trace_out = sum(t["output_tokens"] for t in am["trace"])
    assert body["usage"]["prompt_tokens"] == trace_in
    assert body["usage"]["completion_tokens"] == trace_out
    assert body["usage"]["total_tokens"] == trace_in + trace_out
    assert set(am["usage_by_purpose"]) == {"answer", "verify"}
    assert am["usage_by_purpose"]["verify"]["input_tokens"] > 0
    # the fake reports half of every prompt as cached: summed over both calls
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    assert r.headers["x-automix-tier"] == "small"
    assert float(r.headers["x-automix-cost-usd"]) == pytest.approx(am["cost_usd"])
    assert am["cost_usd"] == pytest.approx(sum(t["cost"] for t in am["trace"]))


async def test_escalation_answers_with_the_large_tier(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("hard one [[id:q2]] [[escalate]]"))
    body = r.json()
    assert r.status_code == 200
    assert body["model"] == "large"
    assert body["choices"][0]["message"]["content"] == "answer from large: q2"
    am = body["automix"]
    assert am["escalated"] is True and am["tiers_visited"] == [0, 1]
    assert am["trace"][0]["decision"] == "escalate" and am["trace"][0]["confidence"] == 0.0
    assert r.headers["x-automix-escalated"] == "true"


async def test_usage_and_cost_equal_the_ledger(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    bodies = [(await ac.chat(h.ask(f"q [[id:{i}]]{' [[escalate]]' if i % 2 else ''}"))).json() for i in range(6)]
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["total"]["input_tokens"] == sum(b["usage"]["prompt_tokens"] for b in bodies)
    assert ledger["total"]["output_tokens"] == sum(b["usage"]["completion_tokens"] for b in bodies)
    assert ledger["total"]["cached_tokens"] == sum(b["usage"]["prompt_tokens_details"]["cached_tokens"]
                                                   for b in bodies)
    assert ledger["total"]["cost"] == pytest.approx(sum(b["automix"]["cost_usd"] for b in bodies))
    assert ledger["budgets"]["key:tester"]["spent_usd"] == pytest.approx(ledger["total"]["cost"])
    assert ledger["budgets"]["global"]["reserved_usd"] == 0
    # and the route's core ledger (the engine's own) agrees
    core = ac.server.runtime.routes["automix"].ledger.total
    assert core.input_tokens == ledger["total"]["input_tokens"]
    assert core.cost == pytest.approx(ledger["total"]["cost"])


@pytest.mark.parametrize("headers, code", [({}, "missing_api_key"),
                                           ({"Authorization": "Bearer wrong-key-999999"}, "invalid_api_key"),
                                           ({"Authorization": "Basic client-key-0123456789"}, "missing_api_key")])
async def test_missing_or_wrong_key_is_refused_without_echo(h: Any, make_client: Any, fake: FakeUpstream,
                                                            headers: dict[str, str], code: str) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("hello"), headers=headers)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == code and err["type"] == "invalid_request_error"
    assert "wrong-key" not in r.text and h.KEY not in r.text
    assert fake.calls == 0
    r = await ac.client.get("/v1/models", headers=headers)
    assert r.status_code == 401


async def test_x_api_key_header_is_accepted(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("hello [[id:h]]"), headers={"x-api-key": h.KEY})
    assert r.status_code == 200


@pytest.mark.parametrize("body, param", [
    ({"model": "automix", "messages": []}, "messages"),
    ({"model": "automix"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "automix", "messages": [{"role": "user", "content": "x"}], "temperature": 5}, "temperature"),
    ({"model": "automix", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"model": "automix", "messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
    ({"model": "automix", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"model": "automix", "messages": [{"role": "user"}]}, "messages[0]"),
    ({"model": "automix", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]},
     "stop"),
    ({"model": "automix", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "nope"}]}, "tools"),
    ({"model": "no-such-route", "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "automix", "messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ({"model": "automix", "messages": [{"role": "user", "content": "   "}]}, "messages"),
])
async def test_bad_request_names_the_field(make_client: Any, fake: FakeUpstream, body: dict[str, Any],
                                           param: str) -> None:
    ac: Any = make_client()
    r = await ac.chat(body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param, err
    assert param.split("[")[0] in err["message"] or "model" in err["message"]
    assert fake.calls == 0


async def test_invalid_json_body(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.client.post("/v1/chat/completions", content=b"{not json", headers={**h.AUTH,
                                                                                    "content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


async def test_every_tier_failing_is_502_listing_each_and_scrubbing_secrets(
        h: Any, make_client: Any, fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # an upstream that echoes the key it was sent in its error text
    original = fake.respond

    def leaky(body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        return 500, {"error": {"message": f"bad key {h.UPSTREAM_KEY} and Bearer {h.UPSTREAM_KEY}"}}, 0.0

    fake.respond = leaky  # type: ignore[method-assign]
    ac: Any = make_client()
    r = await ac.chat(h.ask("anything"))
    fake.respond = original  # type: ignore[method-assign]
    assert r.status_code == 502
    body = r.json()
    assert body["error"]["code"] == "all_tiers_failed"
    assert "tier 0 (small)" in body["error"]["message"] and "tier 1 (large)" in body["error"]["message"]
    assert h.UPSTREAM_KEY not in r.text
    assert h.UPSTREAM_KEY not in caplog.text
    assert [t["model"] for t in body["automix"]["trace"]] == ["small", "large"]


async def test_failed_tier_escalates_and_paid_calls_are_kept(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("x [[id:f]] [[fail:small]]"))
    body = r.json()
    assert r.status_code == 200 and body["model"] == "large"
    assert "HTTP 500" in body["automix"]["trace"][0]["error"]


async def test_timeouts_everywhere_give_504(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    fake.slow_s = 3.0
    cfg = h.base_config()
    for t in cfg["routes"]["automix"]["tiers"]:
        t["timeout"] = 0.2
    ac: Any = make_client(cfg)
    r = await ac.chat(h.ask("x [[slow:small]] [[slow:large]]"))
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "upstream_timeout"


async def test_tools_pass_through_and_tool_calls_come_back(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {
        "q": {"type": "string"}}}}}]
    r = await ac.chat(h.ask("find it [[id:t1]] [[tool]]", tools=tools, tool_choice="auto", parallel_tool_calls=False))
    assert r.status_code == 200, r.text
    body = r.json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup" and json.loads(call["function"]["arguments"]) == {"q": "t1"}
    answered = [x["body"] for x in fake.requests if x["body"].get("tools")]
    assert answered and answered[0]["tool_choice"] == "auto" and answered[0]["parallel_tool_calls"] is False
    # the verifier saw the call as text, never the tools
    verifying = [x["body"] for x in fake.requests if "Verdict" in json.dumps(x["body"]["messages"])]
    assert verifying and all("tools" not in b for b in verifying)
    assert "Call tool lookup" in json.dumps(verifying[0]["messages"])


async def test_tool_results_and_content_parts_reach_the_tier_unchanged(make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look up [[id:p1]]"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    r = await ac.chat({"model": "automix", "messages": messages, "response_format": {"type": "json_object"},
                       "seed": 7, "user": "u-1"})
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"answer": "small: p1"}
    sent = next(x["body"] for x in fake.requests if x["body"].get("response_format"))
    assert sent["messages"] == messages
    assert sent["seed"] == 7 and sent["user"] == "u-1"


async def test_request_parameters_override_the_cascade_settings(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("x [[id:m]]", temperature=0.7, max_completion_tokens=33, stop="END"))
    assert r.status_code == 200
    answer_call = fake.requests[0]["body"]
    assert answer_call["temperature"] == 0.7 and answer_call["max_tokens"] == 33 and answer_call["stop"] == "END"
    assert fake.requests[0]["authorization"] is True


async def test_a_tier_name_passes_straight_through(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    r = await ac.chat({"model": "large", "messages": [{"role": "user", "content": "direct [[id:d]]"}]})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "large" and body["choices"][0]["message"]["content"] == "answer from large: d"
    assert body["automix"]["passthrough"] is True and body["automix"]["escalated"] is False
    assert fake.calls == 1  # no verification
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["total"]["input_tokens"] == body["usage"]["prompt_tokens"]


async def test_models_health_ready_metrics(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    models = (await ac.client.get("/v1/models", headers=h.AUTH)).json()
    assert [m["id"] for m in models["data"]] == ["automix", "small", "large"]
    assert (await ac.client.get("/health")).json()["status"] == "ok"
    ready = await ac.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["tiers"]["small"]["ok"] is True
    await ac.chat(h.ask("x [[id:a]]"))
    await ac.chat(h.ask("x [[id:b]] [[escalate]]"))
    text = (await ac.client.get("/metrics")).text
    assert 'automix_requests_total{route="automix",status="ok",tier="small"} 1.0' in text
    assert 'automix_escalations_total{route="automix",tier="small",to_tier="large"} 1.0' in text
    assert 'automix_tokens_total{kind="input",purpose="verify",tier="small"}' in text
    assert "automix_confidence_bucket" in text and "automix_request_latency_seconds_bucket" in text
    assert 'automix_cost_usd_total{purpose="answer",tier="large"}' in text


async def test_metrics_count_bad_requests(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    bad_json = await ac.client.post("/v1/chat/completions", content=b"{not json", headers=h.AUTH)
    no_model = await ac.client.post("/v1/chat/completions", json={**h.ask("x"), "model": "nope"}, headers=h.AUTH)
    assert bad_json.status_code == 400 and no_model.status_code == 400
    text = (await ac.client.get("/metrics")).text
    assert 'automix_refused_total{reason="invalid_request"} 2.0' in text


async def test_ready_is_503_when_a_tier_is_unreachable(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    cfg = h.base_config()
    cfg["routes"]["automix"]["tiers"][1]["base_url"] = "http://127.0.0.1:9/v1"
    ac: Any = make_client(cfg)
    # the in-process transport answers every host; point the large tier at a real closed port instead
    ac.server.runtime.tiers["large"].upstream.transport = None
    r = await ac.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["tiers"]["large"]["ok"] is False and r.json()["tiers"]["small"]["ok"] is True


async def test_open_server_without_keys_lets_requests_in(h: Any, make_client: Any) -> None:
    ac: Any = make_client(h.base_config(api_keys=[]))
    r = await ac.chat(h.ask("x [[id:o]]"), headers={})
    assert r.status_code == 200
