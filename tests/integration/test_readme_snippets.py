"""The README's runnable snippets run as written against the embedded llama.cpp server (SmolLM2-135M).

The snippet is read out of README.md at test time, so an edit that breaks it fails here.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from automix_core.backends.local import is_installed
from tests.conftest import require_xllamacpp

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(first_line: str) -> str:
    """The README's fenced python block that begins with ``first_line``."""
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"expected one README block starting with {first_line!r}, found {len(found)}"
    return found[0]


def _run(code: str, label: str) -> tuple[io.StringIO, list[str]]:
    """Run a README snippet as written; what it printed, and its non-empty lines."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md ({label})", "exec"), {"__name__": "readme_snippet"})
    return out, [line for line in out.getvalue().splitlines() if line.strip()]


def test_langchain_first_snippet_runs_as_written() -> None:
    require_xllamacpp()
    pytest.importorskip("langchain_openai")
    if not is_installed("smollm2-135m"):
        pytest.skip("smollm2-135m is not installed: automix models install smollm2-135m")
    out, lines = _run(_block("from langchain_core.output_parsers import StrOutputParser"), "LangChain snippet")
    # the chain's answer (a non-empty string), then: the answering tier, the tiers visited, usage of every call
    assert len(lines) >= 2, out.getvalue()
    last = lines[-1]
    assert last.startswith("smollm2-135m "), last
    assert "'input_tokens':" in last and "'total_tokens':" in last, last


def test_core_snippet_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    require_xllamacpp()
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        if not is_installed(name):
            pytest.skip(f"{name} is not installed: automix models install {name}")
    monkeypatch.chdir(README.parent)  # the snippet loads the shipped router by its path in the repository
    out, lines = _run(_block("from automix_core import AutoMix, LocalServer, Router"), "core snippet")
    assert len(lines) >= 3, out.getvalue()
    assert "qwen2.5-coder-" in lines[0], lines[0]  # the answer, then the tier that gave it, then the cost
    assert "'confidence'" in lines[1] or '"confidence"' in lines[1], lines[1]
    assert "verify" in lines[-1], lines[-1]  # the ledger's totals by purpose list the verification
