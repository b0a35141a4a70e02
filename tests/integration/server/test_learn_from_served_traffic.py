"""From served traffic to a router and a report, end to end on the real llama.cpp server: ``automix serve
--local SMALL,LARGE --traffic DIR --shadow-rate 1`` answers through the official openai client, then
``automix calibrate --from-traffic DIR`` fits a router on what it wrote (agreement labels, no gold) and
``automix report DIR`` writes the page. SmolLM2-135M and Qwen2.5-Coder-0.5B: plumbing, not judgement."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from automix_core import Router
from automix_core.traffic import read_traffic

pytestmark = pytest.mark.local

KEY = "learn-client-key-0123"
QUESTIONS = ["What is the capital of France?", "What color is the sky on a clear day?", "How many legs has a cat?",
             "What is 2 plus 2?", "Name a large ocean.", "What is the opposite of hot?", "What do bees make?",
             "What is frozen water called?", "Which planet do we live on?", "What is the largest mammal?",
             "How many days are in a week?", "What gas do plants take in?"]


def automix(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from automix_core.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)


def test_served_traffic_calibrates_and_reports(tmp_path: Path, start_server: Any) -> None:
    import openai

    folder = tmp_path / "traffic"
    served = start_server(None, "--local", "smollm2-135m,qwen2.5-coder-0.5b", "--traffic", str(folder),
                          "--shadow-rate", "1", "--k", "1", "--max-tokens", "12", "--parallel", "2", "--api-key", KEY,
                          timeout=300)
    client: Any = openai.OpenAI(base_url=f"{served.url}/v1", api_key=KEY, max_retries=0, timeout=600)
    for q in QUESTIONS:
        resp = client.chat.completions.create(model="automix", messages=[{"role": "user", "content": q}],
                                              max_tokens=12)
        assert resp.choices[0].message.content
    deadline = time.monotonic() + 300
    while len(read_traffic(folder)) < len(QUESTIONS) and time.monotonic() < deadline:
        time.sleep(0.5)  # the shadow calls run after each response
    assert len(read_traffic(folder)) == len(QUESTIONS)

    router = tmp_path / "router.json"
    too_few = automix("calibrate", "--from-traffic", str(folder), "-o", str(router))
    assert too_few.returncode == 2, too_few.stderr
    m = re.search(r"(\d+) shadowed traffic records .* \(of (\d+) recorded\); at least 100 are needed", too_few.stderr)
    assert m is not None, too_few.stderr
    assert int(m.group(1)) == int(m.group(2)) == len(QUESTIONS) and not router.exists()

    fitted = automix("calibrate", "--from-traffic", str(folder), "-o", str(router), "--min-records", "10")
    assert fitted.returncode == 0, fitted.stderr
    info = json.loads(fitted.stdout)
    assert info["written"] and info["shadowed_used"] == len(QUESTIONS)
    assert info["train"] + info["validation"] == len(QUESTIONS)
    assert "validation ΔIBC" in fitted.stderr and "agreement labels against qwen2.5-coder-0.5b" in fitted.stderr
    assert Router.load(router).models == ["smollm2-135m", "qwen2.5-coder-0.5b"]

    report = tmp_path / "report.html"
    done = automix("report", str(folder), "-o", str(report), "--router", str(router), "--boot", "50")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["requests"] == summary["shadowed"] == len(QUESTIONS)
    page = report.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert f"{summary['agreement']['k']} of {len(QUESTIONS)} shadowed requests agree" in page
