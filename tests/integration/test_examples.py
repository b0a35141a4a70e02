"""The examples run as a user runs them (a subprocess, their own ``main``), on the real llama.cpp server, with
the plumbing pair (SmolLM2-135M -> Qwen2.5-Coder-0.5B) and one question: no embedding model (BM25 / keyword
retrieval), the untrained default announced, and its verification one logprob call, not k samples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from automix_core.backends.local import is_installed
from tests.conftest import require_xllamacpp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PAIR = ("smollm2-135m", "qwen2.5-coder-0.5b")


@pytest.mark.local
@pytest.mark.parametrize("example", ["llamaindex_rag.py", "langchain_rag.py"])
def test_rag_example_runs_offline_with_one_verification_call(example: str, tmp_path: Path) -> None:
    require_xllamacpp()
    for name in PAIR:
        if not is_installed(name):
            pytest.skip(f"{name} is not installed: automix models install {name}")
    proc = subprocess.run([sys.executable, str(EXAMPLES / example), "--small", PAIR[0], "--large", PAIR[1],
                           "--questions", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          check=False, env=None)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[1] " in proc.stdout and "total: $" in proc.stdout
    assert "has no calibrated router" in proc.stderr  # the untrained default says so
    # its answer, the restatements of its claim when the answer is longer than one (SmolLM2 answers in a sentence or
    # a word, by the run: the claim, then the claim on its own when the first gave the answer's value; another value
    # escalates unjudged) and one logprob verdict: not k sampled verdicts
    calls = re.search(rf"{re.escape(PAIR[0])}: (\d+) calls", proc.stdout)
    assert calls is not None and int(calls.group(1)) in (2, 3, 4), proc.stdout
