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


def test_langchain_first_snippet_runs_as_written() -> None:
    require_xllamacpp()
    pytest.importorskip("langchain_openai")
    if not is_installed("smollm2-135m"):
        pytest.skip("smollm2-135m is not installed: automix models install smollm2-135m")
    code = _block("from langchain_core.output_parsers import StrOutputParser")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (LangChain snippet)", "exec"), {"__name__": "readme_snippet"})
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    # the chain's answer (a non-empty string), then: the answering tier, the tiers visited, usage of every call
    assert len(lines) >= 2, out.getvalue()
    last = lines[-1]
    assert last.startswith("smollm2-135m "), last
    assert "'input_tokens':" in last and "'total_tokens':" in last, last
