"""The LangChain and LlamaIndex adapters import only the core's public face and its integration kit
(issue 25): ``automix_core`` and ``automix_core.integration``, at any depth of their source (function
bodies included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import automix_core

ROOT = Path(automix_core.__file__).parents[1]
ALLOWED = {"automix_core", "automix_core.integration"}


def core_imports(package: Path) -> list[str]:
    """Every ``automix_core...`` module imported by the source under ``package`` outside ``ALLOWED``;
    ``from automix_core import <district>`` counts as importing the district."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "automix_core":
                    names += [f"automix_core.{a.name}" for a in node.names
                              if (Path(automix_core.__file__).parent / a.name).exists()
                              or (Path(automix_core.__file__).parent / f"{a.name}.py").exists()]
            else:
                continue
            found += [f"{path.relative_to(package.parent)}: {n}" for n in names
                      if n.split(".")[0] == "automix_core" and n not in ALLOWED]
    return found


@pytest.mark.parametrize("package", ["automix_langchain", "automix_llamaindex"])
def test_adapter_imports_only_the_public_face_and_the_kit(package: str) -> None:
    assert core_imports(ROOT / package) == []


def test_the_check_sees_an_internal_import(tmp_path: Path) -> None:
    pkg = tmp_path / "adapter_x"
    pkg.mkdir()
    (pkg / "a.py").write_text("from automix_core import AutoMix, backends\nimport automix_core.router\n"
                              "def f():\n    from automix_core.backends.wire import parse_logprobs\n")
    assert core_imports(pkg) == ["adapter_x/a.py: automix_core.backends", "adapter_x/a.py: automix_core.router",
                                 "adapter_x/a.py: automix_core.backends.wire"]
