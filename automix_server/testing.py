"""The one fake OpenAI-compatible upstream, for tests, the load test and the benchmarks.

``python -m automix_server.testing --port 9000 [--delay-ms 20] [--fault-rate 0.1] [--seed 0]
[--model-delay large=1.5]``; in process, :class:`FakeUpstream`'s ASGI ``app`` (through
``httpx.ASGITransport``), or ``with FakeUpstream(...) as fake: fake.url`` (served on a loopback port
from a thread).

Any model name is served. Given ``reply(body) -> text`` (called once per choice), that is the answer;
else what it answers is scripted by markers in the last user message:

* ``[[id:X]]``: the answer is ``answer from MODEL: X`` (so a response's trace can be traced to its request);
* ``[[escalate]]``: verification samples of tiers whose model name does not contain ``large`` say
  ``Verdict: incorrect`` (else ``Verdict: correct``);
* ``[[fail:MODEL]]``: every call to ``MODEL`` answers HTTP 500; ``[[slow:MODEL]]``: it sleeps 30 s;
* ``[[tool]]``: with ``tools`` in the request, the answer is a call of the first tool.

``response_format`` of type ``json_object``/``json_schema`` makes the answer a JSON object. With
``fault_rate`` > 0, that share of calls fails at random (HTTP 500, 429, a body without ``choices``, an
empty answer, or a reply slower than ``slow_s``). Usage is reported as word counts, with half the
prompt tokens reported as cached. ``GET /_requests`` returns the latest request bodies.

Like a real server it can also: check ``api_key`` (HTTP 401 whose message echoes the header it got, as
a careless proxy does), take at most ``max_n`` choices or refuse ``n`` > 1 (``reject_n``: HTTP 400),
count only the first choice's completion tokens (``first_choice_usage``, as llama.cpp), and return
per-token ``logprobs`` when asked (``logprobs=True``; ``alternatives`` join the first position).
A verification call is told by the verifier's own prompt (:func:`automix_core.testing.is_verification_text`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from automix_core.testing import is_verification_text

__all__ = ["FakeUpstream", "logprob_block", "main"]

_ID = re.compile(r"\[\[id:([^\]]+)\]\]")


def _words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class FakeUpstream:
    """The fake's behaviour and its ASGI app (``.app``)."""

    def __init__(self, *, delay_s: float = 0.0, fault_rate: float = 0.0, seed: int | None = 0,
                 slow_s: float = 30.0, cached_share: float = 0.5, keep: int | None = 200,
                 model_delays: dict[str, float] | None = None, reply: Callable[[dict[str, Any]], str] | None = None,
                 api_key: str | None = None, max_n: int | None = None, reject_n: bool = False,
                 first_choice_usage: bool = False, logprobs: bool = False,
                 alternatives: dict[str, float] | None = None, prompt_overhead: int = 3) -> None:
        self.reply, self.api_key, self.max_n, self.reject_n = reply, api_key, max_n, reject_n
        self.first_choice_usage, self.logprobs, self.prompt_overhead = first_choice_usage, logprobs, prompt_overhead
        self.alternatives = dict(alternatives or {})
        self.delay_s = delay_s
        self.model_delays = dict(model_delays or {})  # seconds added to every call of a model
        self.fault_rate = fault_rate
        self.slow_s = slow_s
        self.cached_share = cached_share
        self.rng = random.Random(seed)
        self.requests: deque[dict[str, Any]] = deque(maxlen=keep)
        self.calls = 0
        self.faults = 0
        self.cancelled = 0  # calls whose client went away while they were delayed (in-process only)
        self.cancelled_event = asyncio.Event()
        self._served: tuple[Any, threading.Thread, int] | None = None
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/_requests", self.recent, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
        ])

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "fake"}]})

    async def recent(self, request: Request) -> JSONResponse:
        return JSONResponse({"requests": list(self.requests), "calls": self.calls, "faults": self.faults})

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The request bodies received (the latest ``keep``), oldest first."""
        return [r["body"] for r in self.requests]

    async def chat(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ClientDisconnect:
            return JSONResponse({}, status_code=499)
        auth = request.headers.get("authorization") or ""
        self.requests.append({"body": body, "authorization": bool(auth)})
        self.calls += 1
        status, payload, delay = self.respond(body)
        if delay:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.cancelled += 1
                self.cancelled_event.set()
                raise
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {auth}",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}}, 401)
        return JSONResponse(payload, status_code=status)

    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """(HTTP status, JSON body, seconds to wait before answering) for a request body."""
        if self.reject_n and body.get("n") not in (None, 1):
            return 400, {"error": {"message": "n is not supported with this model", "type": "invalid_request_error",
                                   "param": "n"}}, self.delay_s
        if self.reply is not None:
            n = min(int(body.get("n") or 1), self.max_n or 1 << 30)
            texts = [_content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
            return 200, self._completion(str(body.get("model", "fake")), [self.reply(body) for _ in range(n)],
                                         "\n".join(texts), None, body), self.delay_s
        return self._scripted(body)

    def _scripted(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        model = str(body.get("model", "fake"))
        messages = body.get("messages") or []
        texts = [_content_text(m.get("content")) for m in messages if isinstance(m, dict)]
        user = [_content_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        last = user[-1] if user else ""
        everything = "\n".join(texts)
        delay = self.delay_s + self.model_delays.get(model, 0.0)
        if f"[[fail:{model}]]" in everything:
            return 500, {"error": {"message": f"scripted failure of {model}", "type": "server_error"}}, delay
        if f"[[slow:{model}]]" in everything:
            return 500, {"error": {"message": "too late"}}, self.slow_s
        if self.fault_rate > 0 and self.rng.random() < self.fault_rate:
            self.faults += 1
            kind = self.rng.choice(["500", "429", "malformed", "empty", "slow"])
            if kind == "500":
                return 500, {"error": {"message": "injected fault", "type": "server_error"}}, delay
            if kind == "429":
                return 429, {"error": {"message": "injected rate limit", "type": "rate_limit"}}, delay
            if kind == "malformed":
                return 200, {"id": "x", "object": "chat.completion"}, delay
            if kind == "slow":
                return 200, self._completion(model, ["late"], everything, None, body), self.slow_s
            return 200, self._completion(model, [""], everything, None, body), delay
        n = min(int(body.get("n") or 1), self.max_n or 1 << 30)
        verifying = any(is_verification_text(t) for t in texts)
        if verifying:
            bad = "[[escalate]]" in everything and "large" not in model
            word = "incorrect" if bad else "correct"
            return 200, self._completion(model, [f"Justification: scripted.\nVerdict: {word}"] * n, everything,
                                         None, body), delay
        m = _ID.search(last)
        marker = m.group(1) if m else last[:40]
        tools = body.get("tools")
        if tools and "[[tool]]" in last:
            fn = tools[0].get("function", {}).get("name", "tool")
            call = {"id": f"call_{marker}", "type": "function",
                    "function": {"name": fn, "arguments": json.dumps({"q": marker})}}
            return 200, self._completion(model, [None] * n, everything, [call], body), delay
        fmt = body.get("response_format") or {}
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            return 200, self._completion(model, [json.dumps({"answer": f"{model}: {marker}"})] * n, everything,
                                         None, body), delay
        return 200, self._completion(model, [f"answer from {model}: {marker}"] * n, everything, None, body), delay

    def _completion(self, model: str, contents: list[str | None], prompt: str,
                    tool_calls: list[dict[str, Any]] | None, body: dict[str, Any]) -> dict[str, Any]:
        prompt_tokens = _words(prompt) + self.prompt_overhead
        counted = contents[:1] if self.first_choice_usage else contents
        completion = sum(_words(c or "") for c in counted) + (len(json.dumps(tool_calls)) // 8 if tool_calls else 0)
        with_logprobs = self.logprobs and bool(body.get("logprobs"))
        choices = []
        for i, c in enumerate(contents):
            msg: dict[str, Any] = {"role": "assistant", "content": c}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            choices.append({"index": i, "message": msg, "finish_reason": "tool_calls" if tool_calls else "stop",
                            "logprobs": logprob_block(c or "", self.alternatives) if with_logprobs else None})
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                                 "total_tokens": prompt_tokens + completion}
        if self.cached_share:
            usage["prompt_tokens_details"] = {"cached_tokens": int(prompt_tokens * self.cached_share)}
        return {"id": f"fake-{self.calls}", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": choices, "usage": usage}

    # -- served from a thread ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL while served (``with FakeUpstream(...) as fake``): ``http://127.0.0.1:PORT/v1``."""
        if self._served is None:
            raise RuntimeError("not served: use `with FakeUpstream(...) as fake:`")
        return f"http://127.0.0.1:{self._served[2]}/v1"

    def __enter__(self) -> FakeUpstream:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            raise RuntimeError("the fake upstream did not start")
        self._served = (server, thread, sock.getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self._served is not None:
            server, thread, _ = self._served
            server.should_exit = True
            thread.join(timeout=10)
            self._served = None


def logprob_block(text: str, alternatives: dict[str, float] | None = None) -> dict[str, Any]:
    """OpenAI's ``choice.logprobs`` for ``text``: one entry per (whitespace) token, as usage counts them;
    ``alternatives`` (token -> logprob) join the first position's ``top_logprobs``."""
    content: list[dict[str, Any]] = [
        {"token": w, "logprob": -0.1, "top_logprobs": [{"token": w, "logprob": -0.1}]} for w in text.split()]
    if content and alternatives:
        content[0]["top_logprobs"] += [{"token": tok, "logprob": lp} for tok, lp in alternatives.items()]
    return {"content": content}


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m automix_server.testing")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--slow-s", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-delay", action="append", default=[], metavar="MODEL=SECONDS",
                    help="extra seconds before every answer of MODEL (repeatable)")
    a = ap.parse_args(argv)
    delays = {m: float(v) for m, _, v in (d.partition("=") for d in a.model_delay)}
    fake = FakeUpstream(delay_s=a.delay_ms / 1000, fault_rate=a.fault_rate, seed=a.seed, slow_s=a.slow_s,
                        model_delays=delays)
    uvicorn.run(fake.app, host=a.host, port=a.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
