"""Nothing lost: ``automix collect`` killed with SIGKILL at random moments and resumed.

The collection runs as a real ``automix collect`` subprocess against a tiny stdlib fake
OpenAI-compatible server (with a small per-request delay so that kills land mid-run). After at least
20 kills that hit a running process, a last run finishes the job; the file must then hold every
record exactly once, every line must parse, and each record must be complete.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI

ITEMS = 600
KILLS = 20
TIERS = ("gpt-4o-mini", "gpt-4o")  # preset prices; served by the fake server


def dataset(path: Path) -> Path:
    path.write_text("".join(
        json.dumps({"id": f"q{i:04d}", "question": f"Is {i} even?", "answer": "yes" if i % 2 == 0 else "no",
                    "context": f"{i} is a whole number."}) + "\n"
        for i in range(ITEMS)))
    return path


def command(data: Path, out: Path, url: str) -> list[str]:
    return [sys.executable, "-m", "automix_core.cli.main", "collect", str(data), "--models", ",".join(TIERS),
            "--endpoint", f"{TIERS[0]}={url}", "--endpoint", f"{TIERS[1]}={url}", "--labels", "yes,no",
            "--k", "2", "--concurrency", "3", "--timeout", "30", "-o", str(out)]


def test_collect_survives_sigkill_and_resumes_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = dataset(tmp_path / "items.jsonl")
    out = tmp_path / "records.jsonl"
    landed = torn = grew = 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FakeOpenAI(delay=0.015) as server:
        cmd = command(data, out, server.url)
        for attempt in range(3 * KILLS):
            if landed >= KILLS:
                break
            before = out.stat().st_size if out.exists() else 0
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if attempt % 2:  # at a random moment: some kills land during startup
                time.sleep(rng.uniform(0.05, 1.5))
            else:  # mid-run, however slow the machine: once a record has landed, a little later
                deadline = time.monotonic() + 30
                while proc.poll() is None and time.monotonic() < deadline and (
                        (out.stat().st_size if out.exists() else 0) <= before):
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
            assert proc.wait(timeout=60) in (0, -signal.SIGKILL)
            size = out.stat().st_size if out.exists() else 0
            grew += size > before
            if size and not out.read_bytes().endswith(b"\n"):
                torn += 1  # a line cut mid-write; the next run must repair it
        assert landed >= KILLS, f"only {landed} kills landed on a running process"
        final = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert final.returncode == 0, final.stderr[-2000:]
    lines = out.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line parses
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == ITEMS  # every record exactly once
    assert set(ids) == {f"q{i:04d}" for i in range(ITEMS)}
    for r in records:
        assert r["models"] == list(TIERS) and set(r["outputs"]) == set(TIERS)
        assert all(len(o["verdicts"]) == 2 for o in r["outputs"].values())
    assert grew >= KILLS // 4  # many killed runs had written records: the kills landed mid-run
    print(f"\n{landed} SIGKILLs landed ({grew} after records were written, {torn} torn lines repaired); "
          f"{ITEMS} records, each exactly once")
