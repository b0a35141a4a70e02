"""The Python snippets of README.md and of the documentation pages (docs/*.md), read out of the files at test time.

Every ```python block is checked: it parses, every module it imports is installed, every name it imports
from an ``automix_*`` package exists, and every attribute it reads off such a name exists
(``Router.shipped``), so a renamed API fails here. A block preceded by a marker comment is also run as written:

    <!-- snippet: run -->                                        runs with what the test extra installs
    <!-- snippet: run needs=qwen2.5-coder-0.5b,qwen2.5-coder-1.5b -->   ... and these local models

A snippet that needs local models is skipped, with the command that installs them, when they are missing.
Identical blocks (the README's and a guide's) run once. Snippets run from an empty folder, as a user's would.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from automix_core.backends.local import is_installed
from tests.conftest import require_xllamacpp

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^(?:<!-- snippet: (?P<marker>[^>]*?) -->\n)?```python\n(?P<code>.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    code: str
    run: bool
    needs: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _parse_marker(marker: str, where: str) -> tuple[bool, tuple[str, ...]]:
    words = marker.split()
    if not words or words[0] != "run" or any(not w.startswith("needs=") for w in words[1:]):
        raise ValueError(f"{where}: unknown snippet marker {marker!r} (expected 'run' or 'run needs=a,b')")
    needs = tuple(n for w in words[1:] for n in w.removeprefix("needs=").split(",") if n)
    return True, needs


def collect_snippets(pages: list[Path] = PAGES) -> list[Snippet]:
    """Every python block of ``pages``, with its marker read."""
    out = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start("code")) + 1
            run, needs = (False, ()) if m["marker"] is None else _parse_marker(m["marker"], f"{page.name}:{line}")
            out.append(Snippet(page, line, m["code"], run, needs))
    return out


SNIPPETS = collect_snippets()


def _runnable() -> list[Snippet]:
    seen: set[str] = set()
    out = []
    for s in SNIPPETS:
        if s.run and s.code not in seen:
            seen.add(s.code)
            out.append(s)
    return out


def _marks(s: Snippet) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.local] if s.needs else []
    if any(n.startswith("qwen") for n in s.needs):
        marks.append(pytest.mark.qwen)
    return marks


# -- every block: parses, imports resolve ------------------------------------------------------------


def _problems(code: str) -> list[str]:
    """What in ``code`` does not exist: modules not installed, automix names or attributes missing."""
    tree = ast.parse(code)
    problems: list[str] = []
    bound: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if importlib.util.find_spec(alias.name.split(".")[0]) is None:
                    problems.append(f"module {alias.name} is not installed")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                problems.append(f"from {node.module} import ...: {exc}")
                continue
            if not node.module.startswith("automix"):
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    problems.append(f"{node.module} has no {alias.name}")
                else:
                    bound[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and not hasattr(bound[node.value.id], node.attr)):
            problems.append(f"{node.value.id} has no attribute {node.attr}")
    return problems


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.id)
def test_snippet_parses_and_everything_it_names_exists(snippet: Snippet) -> None:
    assert _problems(snippet.code) == [], snippet.id


def test_the_checker_reports_what_does_not_exist() -> None:
    code = ("import no_such_module_here\nfrom automix_core import AutoMix, NoSuchName\n"
            "from automix_core import Router\nRouter.no_such_method()\n")
    assert _problems(code) == ["module no_such_module_here is not installed", "automix_core has no NoSuchName",
                               "Router has no attribute no_such_method"]


def test_snippets_are_found_with_their_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n<!-- snippet: run needs=a,b -->\n```python\ny = 2\n```\n"
                    "\n```bash\nls\n```\n", encoding="utf-8")
    found = [(s.line, s.code, s.run, s.needs) for s in collect_snippets([page])]
    assert found == [(4, "x = 1\n", False, ()), (9, "y = 2\n", True, ("a", "b"))]
    page.write_text("<!-- snippet: skip -->\n```python\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown snippet marker 'skip'"):
        collect_snippets([page])


def test_readme_and_every_guide_have_a_snippet_that_runs() -> None:
    pages = {s.page.name for s in SNIPPETS if s.run}
    assert {"README.md", "core.md", "langchain.md", "llamaindex.md"} <= pages, pages


# -- marked blocks: run as written ----------------------------------------------------------------------


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


def _core_output(out: str) -> None:
    lines = _lines(out)
    assert len(lines) >= 3, out
    assert "qwen2.5-coder-" in lines[0], lines[0]  # the answer, then the tier that gave it, then the cost
    assert "'confidence'" in lines[1] or '"confidence"' in lines[1], lines[1]
    assert "verify" in lines[-1], lines[-1]  # the ledger's totals by purpose list the verification


def _langchain_smollm_output(out: str) -> None:
    lines = _lines(out)
    # the chain's answer (a non-empty string), then: the answering tier, the tiers visited, usage of every call
    assert len(lines) >= 2, out
    assert lines[-1].startswith("smollm2-135m "), lines[-1]
    assert "'input_tokens':" in lines[-1] and "'total_tokens':" in lines[-1], lines[-1]


def _ledger_output(out: str) -> None:
    lines = _lines(out)
    assert len(lines) >= 3, out  # the answer, the totals per model, the totals per purpose
    assert "qwen2.5-coder-0.5b" in lines[-2], lines[-2]
    assert "'answer'" in lines[-1] and "'verify'" in lines[-1], lines[-1]  # the verification is billed


def _route_output(out: str) -> None:
    lines = _lines(out)
    assert len(lines) >= 2, out
    model, cost = lines[-1].split()
    assert model in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b") and float(cost) > 0, lines[-1]


def _scripted_output(out: str) -> None:
    assert _lines(out)[:2] == ["Canberra large", "0.0"], out


# what a snippet prints, keyed by a line of its code
EXPECTED: dict[str, Callable[[str], None]] = {
    "print(res.answer, res.model, res.cost)": _core_output,
    'msg = llm.invoke("What colour is grass?")': _langchain_smollm_output,
    "print(llm.ledger.by_purpose())": _ledger_output,
    'route = response.metadata["automix"]': _route_output,
    'res = am.run("What is the capital of Australia?")': _scripted_output,
}


@pytest.mark.parametrize("snippet", [pytest.param(s, marks=_marks(s), id=s.id) for s in _runnable()])
def test_snippet_runs_as_written(snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if snippet.needs:
        require_xllamacpp()
        for name in snippet.needs:
            if not is_installed(name):
                pytest.skip(f"{name} is not installed: automix models install {name}")
    monkeypatch.chdir(tmp_path)  # from an empty folder, as a user's script would run
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet.code, snippet.id, "exec"), {"__name__": "snippet"})
    assert out.getvalue().strip(), f"{snippet.id} printed nothing"
    for key, check in EXPECTED.items():
        if key in snippet.code:
            check(out.getvalue())
