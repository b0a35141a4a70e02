"""OpenAICompatibleModel against a tiny stdlib HTTP fake on 127.0.0.1 (no network)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from automix_core import Generation, Ledger, Price, PriceTable
from automix_core.accounting import usage_from_generation
from automix_core.backends.openai_compat import OpenAICompatibleModel
from automix_core.models import ChatModel, Message, ModelError

KEY = "sk-test-SECRET-0123456789"
MSGS: list[Message] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str -> sent as is; None -> a completion built from the request
    delay: float = 0.0


@dataclass
class Fake:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


def completion(texts: list[str], usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "x",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        **extra,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _default_reply(req: dict[str, Any]) -> dict[str, Any]:
    n = int(req.get("n", 1))
    return completion([f"answer {i}" for i in range(n)], {"prompt_tokens": 7, "completion_tokens": 2 * n})


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            reply = state.replies.pop(0) if state.replies else Reply()
            if reply.delay:
                time.sleep(reply.delay)
            payload = reply.body if reply.body is not None else _default_reply(body)
            if isinstance(payload, (dict, list)):
                data = json.dumps(payload).encode()
            elif isinstance(payload, str):
                data = payload.encode()
            else:
                data = payload
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_is_a_chat_model() -> None:
    m = OpenAICompatibleModel("http://127.0.0.1:1/v1", "m", context_window=4096)
    assert isinstance(m, ChatModel)
    assert (m.name, m.supports_n, m.context_window) == ("m", True, 4096)
    assert OpenAICompatibleModel("http://h/v1", "m", name="small").name == "small"
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleModel("127.0.0.1:8080", "m")


def test_request_body_and_headers(fake: Fake) -> None:
    m = OpenAICompatibleModel(fake.url + "/", "qwen", api_key=KEY, extra_body={"seed": 3, "top_k": 20})
    g = m.generate(MSGS, n=2, temperature=0.7, max_tokens=32, stop=["\n\n", "END"], logprobs=3)
    (req,) = fake.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["body"] == {
        "model": "qwen",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
        "temperature": 0.7,
        "n": 2,
        "max_tokens": 32,
        "stop": ["\n\n", "END"],
        "logprobs": True,
        "top_logprobs": 3,
        "seed": 3,
        "top_k": 20,
    }
    assert g.texts == ["answer 0", "answer 1"]
    assert g.model == "qwen"


def test_optional_fields_are_left_out(fake: Fake) -> None:
    OpenAICompatibleModel(fake.url, "m").generate(MSGS)
    body = fake.requests[0]["body"]
    assert set(body) == {"model", "messages", "temperature", "n"}
    assert "Authorization" not in fake.requests[0]["headers"]


def test_usage_is_parsed_or_none(fake: Fake) -> None:
    fake.replies = [
        Reply(body=completion(["a"], {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16})),
        Reply(body=completion(["b"])),
        Reply(body=completion(["c"], {"total_tokens": 3})),
    ]
    m = OpenAICompatibleModel(fake.url, "m")
    g = m.generate(MSGS)
    assert (g.input_tokens, g.output_tokens, g.usage_reported) == (11, 5, True)
    g = m.generate(MSGS)
    assert (g.input_tokens, g.output_tokens, g.usage_reported) == (None, None, False)
    g = m.generate(MSGS)
    assert (g.input_tokens, g.output_tokens) == (None, None)


def _lp_choice(index: int, text: str, positions: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, Any]:
    return {
        "index": index,
        "message": {"role": "assistant", "content": text},
        "logprobs": {
            "content": [
                {"token": tok, "logprob": lp, "top_logprobs": [{"token": t, "logprob": v} for t, v in alts]}
                for tok, lp, alts in positions
            ]
        },
    }


def test_logprobs_are_parsed_per_sample_and_position(fake: Fake) -> None:
    body = {
        "choices": [
            # out of order on purpose: choices are sorted by index
            _lp_choice(1, "No", [("No", -0.2, [("No", -0.2), ("Yes", -1.8)])]),
            _lp_choice(0, "Yes it", [
                ("Yes", -0.1, [("Yes", -0.1), ("No", -2.5), ("yes", -3.0)]),
                (" it", -4.0, [(" is", -0.05), (" was", -3.2)]),  # sampled token outside the top-k
            ]),
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3},
    }
    fake.replies = [Reply(body=body), Reply(body=body)]
    m = OpenAICompatibleModel(fake.url, "m")
    g = m.generate(MSGS, n=2, logprobs=3)
    assert g.texts == ["Yes it", "No"]
    assert g.token_logprobs == [
        [{"Yes": -0.1, "No": -2.5, "yes": -3.0}, {" is": -0.05, " was": -3.2, " it": -4.0}],
        [{"No": -0.2, "Yes": -1.8}],
    ]
    # logprobs that were not asked for are not returned
    assert m.generate(MSGS, n=2).token_logprobs is None


def test_missing_logprobs_give_none(fake: Fake) -> None:
    g = OpenAICompatibleModel(fake.url, "m").generate(MSGS, logprobs=2)
    assert g.token_logprobs is None


def test_without_n_support_makes_n_requests_and_sums_usage(fake: Fake) -> None:
    m = OpenAICompatibleModel(fake.url, "m", supports_n=False)
    g = m.generate(MSGS, n=3, temperature=1.0)
    assert len(fake.requests) == 3
    assert all("n" not in r["body"] for r in fake.requests)
    assert g.texts == ["answer 0"] * 3
    assert (g.input_tokens, g.output_tokens) == (21, 6)
    assert isinstance(g.raw, list) and len(g.raw) == 3


def test_max_n_splits_requests(fake: Fake) -> None:
    m = OpenAICompatibleModel(fake.url, "m", max_n=2)
    g = m.generate(MSGS, n=5, temperature=1.0)
    assert [r["body"]["n"] for r in fake.requests] == [2, 2, 1]
    assert len(g.texts) == 5
    assert (g.input_tokens, g.output_tokens) == (21, 10)


def test_merged_usage_is_none_when_a_part_lacks_it(fake: Fake) -> None:
    fake.replies = [Reply(body=completion(["a"], {"prompt_tokens": 1, "completion_tokens": 1})),
                    Reply(body=completion(["b"]))]
    g = OpenAICompatibleModel(fake.url, "m", supports_n=False).generate(MSGS, n=2)
    assert g.texts == ["a", "b"]
    assert (g.input_tokens, g.output_tokens) == (None, None)


def test_first_choice_usage_counts_every_choice_from_logprobs(fake: Fake) -> None:
    # llama.cpp counts only choice 0 in usage.completion_tokens
    body = {
        "choices": [
            _lp_choice(0, "a b", [("a", -0.1, [("a", -0.1)]), (" b", -0.1, [(" b", -0.1)])]),
            _lp_choice(1, "c d e", [("c", -0.1, []), (" d", -0.1, []), (" e", -0.1, [])]),
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    fake.replies = [Reply(body=body)]
    m = OpenAICompatibleModel(fake.url, "m", usage_scope="first_choice")
    g = m.generate(MSGS, n=2)
    assert fake.requests[0]["body"]["logprobs"] is True and fake.requests[0]["body"]["top_logprobs"] == 1
    assert (g.input_tokens, g.output_tokens) == (9, 5)
    assert g.token_logprobs is None  # not asked for by the caller
    m.generate(MSGS, n=1)  # one choice: usage is taken as reported, no logprobs requested
    assert "logprobs" not in fake.requests[1]["body"]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (502, True), (503, True), (408, True), (400, False), (401, False), (404, False)],
)
def test_http_errors_map_to_model_error(fake: Fake, status: int, retryable: bool) -> None:
    fake.replies = [Reply(status=status, body={"error": {"message": f"server says {status}", "type": "x"}})]
    m = OpenAICompatibleModel(fake.url, "m", name="small")
    with pytest.raises(ModelError) as ei:
        m.generate(MSGS)
    assert ei.value.retryable is retryable
    assert ei.value.model == "small"
    assert f"HTTP {status}" in str(ei.value) and f"server says {status}" in str(ei.value)


def test_non_json_error_body_is_quoted(fake: Fake) -> None:
    fake.replies = [Reply(status=502, body=b"<html>Bad Gateway</html>")]
    with pytest.raises(ModelError, match="Bad Gateway") as ei:
        OpenAICompatibleModel(fake.url, "m").generate(MSGS)
    assert ei.value.retryable


def test_malformed_bodies(fake: Fake) -> None:
    m = OpenAICompatibleModel(fake.url, "m")
    fake.replies = [Reply(body={"id": "x", "object": "chat.completion"})]
    with pytest.raises(ModelError, match="malformed response: no 'choices'") as ei:
        m.generate(MSGS)
    assert not ei.value.retryable
    fake.replies = [Reply(body={"error": {"message": "model overloaded"}})]
    with pytest.raises(ModelError, match="model overloaded"):
        m.generate(MSGS)
    fake.replies = [Reply(body={"choices": [{"index": 0}]})]
    with pytest.raises(ModelError, match="no 'message'"):
        m.generate(MSGS)
    fake.replies = [Reply(body=b'{"choices": [')]
    with pytest.raises(ModelError, match="not valid JSON") as ei:
        m.generate(MSGS)
    assert ei.value.retryable
    fake.replies = [Reply(body=[1, 2])]
    with pytest.raises(ModelError, match="expected a JSON object"):
        m.generate(MSGS)


def test_null_content_becomes_empty_text(fake: Fake) -> None:
    fake.replies = [Reply(body={"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]})]
    assert OpenAICompatibleModel(fake.url, "m").generate(MSGS).texts == [""]


def test_timeout_is_retryable(fake: Fake) -> None:
    fake.replies = [Reply(delay=1.0)]
    m = OpenAICompatibleModel(fake.url, "m", timeout=0.2)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="timed out") as ei:
        m.generate(MSGS)
    assert ei.value.retryable
    assert time.monotonic() - t0 < 0.9


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(ModelError, match="connection failed") as ei:
        OpenAICompatibleModel(f"http://127.0.0.1:{port}/v1", "m", timeout=2).generate(MSGS)
    assert ei.value.retryable


def test_api_key_never_shown(fake: Fake) -> None:
    m = OpenAICompatibleModel(fake.url, "m", api_key=KEY)
    assert KEY not in repr(m) and "***" in repr(m)
    assert "None" in repr(OpenAICompatibleModel(fake.url, "m")).split("api_key=")[1]
    # a server that echoes the credentials back in its error body
    fake.replies = [Reply(status=401, body={"error": {"message": f"invalid key {KEY}"}})]
    with pytest.raises(ModelError) as ei:
        m.generate(MSGS)
    assert KEY not in str(ei.value) and "***" in str(ei.value)
    assert ei.value.retryable is False
    fake.replies = [Reply(body=f"not json {KEY}")]
    with pytest.raises(ModelError) as ei:
        m.generate(MSGS)
    assert KEY not in str(ei.value)
    assert KEY not in repr(ei.value) and KEY not in repr(ei.value.args)


def test_invalid_arguments() -> None:
    m = OpenAICompatibleModel("http://127.0.0.1:1/v1", "m")
    with pytest.raises(ValueError):
        m.generate(MSGS, n=0)
    with pytest.raises(ValueError):
        OpenAICompatibleModel("http://h/v1", "m", max_n=0)
    with pytest.raises(ValueError):
        OpenAICompatibleModel("http://h/v1", "m", timeout=0)


async def test_agenerate_runs_in_a_thread(fake: Fake) -> None:
    import asyncio

    m = OpenAICompatibleModel(fake.url, "m")
    fake.replies = [Reply(delay=0.3), Reply(delay=0.3), Reply(delay=0.3)]
    t0 = time.monotonic()
    gens = await asyncio.gather(*(m.agenerate(MSGS, n=2) for _ in range(3)))
    assert time.monotonic() - t0 < 0.85  # the three calls overlapped
    assert all(g.texts == ["answer 0", "answer 1"] for g in gens)


# cached prompt tokens: read from the provider's report, carried into Usage and the ledger's totals


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
        usage: dict[str, Any] = {"prompt_tokens": 40, "completion_tokens": 2,
                                 "prompt_tokens_details": {"cached_tokens": cached}}
        fake.replies.append(Reply(body=completion(["a", "b"], usage)))
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


def test_cached_input_is_priced_at_the_cached_rate() -> None:
    price = Price(input_per_million=2.0, output_per_million=8.0, cached_input_per_million=0.5)
    assert price.cost(1000, 100, 600) == (400 * 2.0 + 600 * 0.5 + 100 * 8.0) / 1e6
    assert Price(input_per_million=2.0, output_per_million=8.0).cost(1000, 100, 600) == (1000 * 2.0 + 800) / 1e6
    table = PriceTable()
    assert table.lookup("gpt-4o").cached_input_per_million == 1.25  # OpenAI: half price
    assert table.lookup("claude-sonnet-4").cached_input_per_million == 0.30  # Anthropic: a tenth
    assert table.lookup("qwen2.5-coder-1.5b").cached_input_per_million == 0.0  # local: not computed again
    gen = Generation(texts=["x"], model="gpt-4o", input_tokens=2000, output_tokens=10, cached_input_tokens=1024)
    usage = usage_from_generation(gen, MSGS, table, "verify", 0)
    assert usage.cost == (976 * 2.50 + 1024 * 1.25 + 10 * 10.0) / 1e6
