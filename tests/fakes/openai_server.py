"""A tiny stdlib OpenAI-compatible chat-completions server for the reliability tests.

``FakeOpenAI`` serves ``POST /v1/chat/completions`` on 127.0.0.1 from a daemon thread. Replies are
scripted by ``reply(body) -> content`` (one call per choice; default: a verdict for verification
prompts, ``"yes"`` otherwise), usage is reported as whitespace-token counts, and ``delay`` seconds
are slept per request; ``max_n`` caps the choices per request (a server that ignores ``n`` has
``max_n=1``; ``reject_n`` answers HTTP 400 to ``n`` > 1), a request with ``logprobs`` gets one entry
per token in each choice's ``logprobs.content`` (unless ``logprobs=False``), ``first_choice_usage``
reports the first choice's completion tokens only (as llama.cpp does), ``alternatives`` (token ->
logprob) are added to the first position's ``top_logprobs`` (a verdict's competing words), and
``bodies`` keeps every request body.
With ``api_key`` set, a request whose ``Authorization`` header is not ``Bearer <api_key>`` gets
HTTP 401 with a body that echoes the header it received (like a careless proxy), so tests can check
that the key never leaks from the client's errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from automix_core.testing import is_verification_text


def default_reply(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    if is_verification_text(messages[0].get("content")):
        return "Justification: fine.\nVerdict: correct"
    return "yes"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:  # a killed client: not our concern
        return


class FakeOpenAI:
    """See the module docs; use as a context manager (``with FakeOpenAI() as server: server.url``)."""

    def __init__(self, reply: Callable[[dict[str, Any]], str] = default_reply, *, delay: float = 0.0,
                 api_key: str | None = None, max_n: int | None = None, reject_n: bool = False,
                 first_choice_usage: bool = False, logprobs: bool = True,
                 alternatives: dict[str, float] | None = None) -> None:
        self.reply = reply
        self.alternatives = alternatives or {}
        self.first_choice_usage = first_choice_usage
        self.logprobs = logprobs
        self.max_n = max_n
        self.reject_n = reject_n
        self.bodies: list[dict[str, Any]] = []
        self.delay = delay
        self.api_key = api_key
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, obj: object) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                with fake._lock:
                    fake.requests += 1
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with fake._lock:
                    fake.bodies.append(body)
                if fake.delay:
                    time.sleep(fake.delay)
                auth = self.headers.get("Authorization") or ""
                if fake.api_key is not None and auth != f"Bearer {fake.api_key}":
                    self._send(401, {"error": {"message": f"Incorrect API key provided: {auth}",
                                               "type": "invalid_request_error", "code": "invalid_api_key"}})
                    return
                if fake.reject_n and body.get("n") not in (None, 1):
                    self._send(400, {"error": {"message": "n is not supported with this model",
                                               "type": "invalid_request_error", "param": "n"}})
                    return
                n = min(int(body.get("n") or 1), fake.max_n or 1 << 30)
                texts = [fake.reply(body) for _ in range(n)]
                completion = sum(len(t.split()) for t in texts[:1 if fake.first_choice_usage else n])
                prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                    "model": body.get("model", "fake"),
                    "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop",
                                 **({"logprobs": _logprobs(t, fake.alternatives)} if body.get("logprobs")
                                    and fake.logprobs else {})}
                                for i, t in enumerate(texts)],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion},
                })

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _logprobs(text: str, alternatives: dict[str, float] | None = None) -> dict[str, Any]:
    """OpenAI's ``choice.logprobs`` for ``text``: one entry per (whitespace) token, as usage counts them;
    ``alternatives`` join the first position's ``top_logprobs``."""
    content: list[dict[str, Any]] = [
        {"token": w, "logprob": -0.1, "top_logprobs": [{"token": w, "logprob": -0.1}]} for w in text.split()]
    if content and alternatives:
        content[0]["top_logprobs"] += [{"token": tok, "logprob": lp} for tok, lp in alternatives.items()]
    return {"content": content}


def assert_one_verification_request(entries: Sequence[Any], total_calls: int, verify_body: dict[str, Any]) -> None:
    """Ledger ``entries`` of one answer and one verification request with ``n``: the shared prompt of
    ``verify_body`` billed once, at the server's own count, and ``total_calls`` provider requests."""
    assert [(u.purpose, u.requests, u.estimated) for u in entries] == [("answer", 1, False), ("verify", 1, False)]
    prompt_words = sum(len(str(m["content"]).split()) for m in verify_body["messages"])
    assert entries[1].input_tokens == prompt_words
    assert total_calls == 2


@contextmanager
def fake_openai(**kwargs: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(**kwargs) as server:
        yield server
