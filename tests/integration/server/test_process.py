"""``automix serve`` as a process: SIGHUP reload (all or nothing, several workers), graceful shutdown."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import yaml


def chat(url: str, auth: dict[str, str], model: str = "automix", text: str = "x [[id:p]]") -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={**auth, "connection": "close"}, timeout=60,
                      json={"model": model, "messages": [{"role": "user", "content": text}]})


def wait_for(pred: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_sighup_reload_is_all_or_nothing_across_workers(it: Any, start_fake: Any, start_server: Any) -> None:
    upstream = start_fake()
    cfg = it.fake_config(upstream)
    served = start_server(cfg, "--workers", "2")
    # both workers up (each logs it) before the reload is passed on to them
    assert wait_for(lambda: served.logs().count("automix server up") >= 2)
    assert chat(served.url, it.AUTH).status_code == 200
    # a broken config: rejected by the supervisor, both workers keep serving the old one
    broken = it.fake_config(upstream)
    broken["routes"]["automix"]["tiers"][0]["base_url"] = "not-a-url"
    broken["routes"]["second"] = broken["routes"]["automix"]
    served.config_path.write_text(yaml.safe_dump(broken))
    served.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reload rejected" in served.logs())
    assert "routes.automix.tiers.0.base_url" in served.logs()
    assert all(chat(served.url, it.AUTH).status_code == 200 for _ in range(10))
    assert all(chat(served.url, it.AUTH, "second").status_code == 400 for _ in range(10))
    # a valid one: every worker swaps it in (fresh connections reach both workers)
    good = it.fake_config(upstream)
    good["routes"]["second"] = good["routes"]["automix"]
    served.config_path.write_text(yaml.safe_dump(good))
    served.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: served.logs().count("config reloaded from") >= 2)
    assert all(chat(served.url, it.AUTH, "second").status_code == 200 for _ in range(20))
    assert all(chat(served.url, it.AUTH).status_code == 200 for _ in range(5))


def test_single_worker_sighup_reload(it: Any, start_fake: Any, start_server: Any) -> None:
    upstream = start_fake()
    served = start_server(it.fake_config(upstream))
    new = it.fake_config(upstream, api_keys=[{"name": "n", "key": "rotated-key-123456"}])
    served.config_path.write_text(yaml.safe_dump(new))
    served.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reloaded from" in served.logs())
    assert chat(served.url, it.AUTH).status_code == 401
    assert chat(served.url, {"Authorization": "Bearer rotated-key-123456"}).status_code == 200


def test_graceful_shutdown_finishes_in_flight_requests(it: Any, start_fake: Any, start_server: Any) -> None:
    upstream = start_fake(delay_ms=700)
    served = start_server(it.fake_config(upstream, cascade={"k": 2, "retries": 0, "timeout": 30},
                                         route={"tiers": [dict(t, timeout=30) for t in it.fake_config(upstream)[
                                             "routes"]["automix"]["tiers"]]}))
    results: list[httpx.Response] = []
    t = threading.Thread(target=lambda: results.append(chat(served.url, it.AUTH, text="slow [[id:g]]")))
    t.start()
    time.sleep(0.5)  # the request is in flight (the upstream takes 0.7 s per call)
    served.proc.send_signal(signal.SIGTERM)
    t.join(60)
    assert results and results[0].status_code == 200
    assert results[0].json()["choices"][0]["message"]["content"] == "answer from small: g"
    assert served.proc.wait(30) == 0
