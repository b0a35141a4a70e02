"""Traffic capture end to end on the real llama.cpp server: ``automix serve --local SMALL,LARGE --traffic DIR
--shadow-rate 1 --workers 2`` through the official openai client writes complete records (every tier's
answer, the small tier's confidence, the agreement label), the ``automix_shadow_*`` metrics appear, and a
worker killed with SIGKILL mid-run loses no record already written. SmolLM2-135M and Qwen2.5-Coder-0.5B:
plumbing, not judgement. The route's router accepts every small answer (a threshold of 0), so every shadowed
request makes a shadow call: with the default router, SmolLM2's answers escalate at random (its confidences
come from one sample, and its restated claims are mostly unfaithful) and a run whose requests all escalated
would make no shadow call at all."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from automix_core import Router
from automix_core.policies import ThresholdPolicy
from automix_core.traffic import read_traffic

pytestmark = pytest.mark.local

KEY = "traffic-client-key-0123"
QUESTIONS = ["What is the capital of France?", "What color is the sky on a clear day?", "How many legs has a cat?",
             "What is 2 plus 2?", "Name a large ocean.", "What is the opposite of hot?"]


def wait_records(folder: Path, n: int, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        recs = read_traffic(folder) if folder.exists() else []
        if len(recs) >= n or time.monotonic() > deadline:
            return recs
        time.sleep(0.5)


def worker_pids(url: str) -> set[int]:
    pids: set[int] = set()
    for _ in range(200):
        with httpx.Client(timeout=10) as c:  # a fresh connection each time: the kernel picks a worker
            pids.add(c.get(f"{url}/health").json()["pid"])
        if len(pids) == 2:
            break
        time.sleep(0.02)
    return pids


def test_local_traffic_records_metrics_and_kill(tmp_path: Path, start_server: Any) -> None:
    import openai

    folder = tmp_path / "traffic"
    accept_all = Router(["smollm2-135m", "qwen2.5-coder-0.5b"], ThresholdPolicy(2, [0.0])).save(tmp_path / "r.json")
    served = start_server(None, "--local", "smollm2-135m,qwen2.5-coder-0.5b", "--router", str(accept_all),
                          "--traffic", str(folder),
                          "--shadow-rate", "1", "--workers", "2", "--k", "1", "--max-tokens", "16",
                          "--parallel", "2", "--api-key", KEY, timeout=300)
    client: Any = openai.OpenAI(base_url=f"{served.url}/v1", api_key=KEY, max_retries=0, timeout=600)
    ids = []
    for q in QUESTIONS[:3]:
        resp = client.chat.completions.create(model="automix", messages=[{"role": "user", "content": q}],
                                              max_tokens=16)
        assert resp.choices[0].message.content
        ids.append(resp.id)
    recs = {r["id"]: r for r in wait_records(folder, 3)}
    assert set(ids) <= set(recs), (ids, list(recs))
    for rid in ids:
        r = recs[rid]
        assert r["models"] == ["smollm2-135m", "qwen2.5-coder-0.5b"] and r["shadow"] is True and r["weight"] == 1.0
        assert r["reference_model"] == "qwen2.5-coder-0.5b" and r["served"] == "smollm2-135m" and r["query"]
        small, large = r["outputs"]["smollm2-135m"], r["outputs"]["qwen2.5-coder-0.5b"]
        assert small["visited"] is True and small["answer"] and 0.0 <= small["confidence"] <= 1.0
        assert large["answer"] and large["agrees"] is True and isinstance(small["agrees"], bool)
        assert small["cost"] > small["verifier_cost"] > 0 and large["cost"] > 0 and large["input_tokens"] > 0
        assert r["decisions"] and r["decisions"][0]["model"] == "smollm2-135m"
    files = sorted(p.name for p in folder.iterdir())
    assert all(f.startswith("traffic-") for f in files)
    text = ""
    for _ in range(40):  # both workers' samples are aggregated; the records may still be counting
        text = httpx.get(f"{served.url}/metrics", timeout=30).text
        if "automix_shadow_records_total" in text and "automix_shadow_agreement" in text:
            break
        time.sleep(0.5)
    for name in ("automix_shadow_records_total", "automix_shadow_agreement", "automix_shadow_spend_usd_total",
                 "automix_shadow_reference_cost_usd_total", "automix_shadow_cost_ratio"):
        assert name in text, name
    # the counters are summed over both workers; each worker's in-memory ledger holds only its own calls, and
    # the shared socket may hand every request to one worker, so the ledger is not asked here
    spend = 0.0
    for _ in range(60):
        text = httpx.get(f"{served.url}/metrics", timeout=30).text
        spend = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith("automix_shadow_spend_usd_total{"))
        if spend > 0:
            break
        time.sleep(0.5)
    assert spend > 0

    # a worker killed mid-run: what was written stays, whole
    before = {r["id"]: r for r in read_traffic(folder)}
    pids = worker_pids(served.url)
    assert len(pids) == 2
    errors: list[BaseException] = []

    def load() -> None:
        for q in QUESTIONS[3:]:
            try:
                client.chat.completions.create(model="automix", messages=[{"role": "user", "content": q}],
                                               max_tokens=16)
            except Exception as exc:  # the killed worker's request fails; that is the point
                errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(3)
    victim = sorted(pids)[0]
    os.kill(victim, signal.SIGKILL)
    for t in threads:
        t.join(600)
    after = {r["id"]: r for r in wait_records(folder, len(before) + 1)}
    assert set(before) <= set(after)
    assert all(after[i] == before[i] for i in before)  # nothing already written was lost or damaged
    assert len(after) > len(before)  # and the surviving worker kept recording
    resp = client.chat.completions.create(model="automix", messages=[{"role": "user", "content": QUESTIONS[0]}],
                                          max_tokens=16)
    assert resp.choices[0].message.content  # the supervisor replaced the killed worker
