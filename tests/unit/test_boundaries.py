"""The rules of the architecture, held by tests: adapters import only the core's public faces; the
server is under the same structural rules as the core (module size, ``__all__``, a pinned public API,
errors in the one tree)."""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

import automix_core
import automix_server
from automix_core.errors import AutoMixError
from tests.source_imports import imported_modules

ROOT = Path(automix_core.__file__).parents[1]

PUBLIC_FACES = {"automix_core", "automix_core.integration", "automix_core.errors", "automix_core.calibration",
                "automix_core.local", "automix_core.testing", "automix_core.traffic"}
"""What an adapter may import from the core: the top-level face, the integration kit, and the sub-namespaces
that are public faces of their own (the exception tree, calibration and fitting, local models, test doubles,
traffic capture)."""


def core_imports(package: str) -> list[str]:
    """Every ``automix_core...`` module that ``package``'s source imports, at any depth (``file: module``)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node, name in imported_modules(path):
            names = [name]
            # ``from automix_core import backends`` reaches a district as surely as a dotted import
            if name == "automix_core" and isinstance(node, ast.ImportFrom):
                names += [f"automix_core.{a.name}" for a in node.names
                          if importlib.util.find_spec(f"automix_core.{a.name}") is not None]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names
                      if n.split(".")[0] == "automix_core" and n not in PUBLIC_FACES]
    return found


def test_the_boundary_check_sees_an_internal_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "adapter_x"
    pkg.mkdir()
    (pkg / "a.py").write_text("from automix_core import AutoMix, backends\n"
                              "def f():\n    from automix_core.backends.wire import parse_logprobs\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert core_imports("adapter_x") == ["adapter_x/a.py: automix_core.backends",
                                         "adapter_x/a.py: automix_core.backends.wire"]


@pytest.mark.parametrize("package", ["automix_server", "automix_langchain", "automix_llamaindex"])
def test_adapters_import_only_the_public_faces(package: str) -> None:
    assert core_imports(package) == []


def test_the_allowed_faces_pin_their_names() -> None:
    for face in PUBLIC_FACES:
        module = importlib.import_module(face)
        assert isinstance(module.__all__, list) and module.__all__, face


# -- the server under the structural rules ------------------------------------------------------------

SERVER_API = {
    "APIError", "BudgetConfig", "CascadeConfig", "ClientKey", "ClientKeyConfig", "ConfigError", "LearnConfig",
    "MemoryState", "PriceConfig", "RateLimitConfig", "RedisState", "RedisTrafficSink", "RouteConfig", "Runtime",
    "Scrubber", "ServerApp", "ServerConfig", "State", "TierConfig", "UsageRecord", "create_app", "load_config",
    "open_state", "parse_config", "read_stream",
}


def test_server_public_api_is_pinned() -> None:
    assert set(automix_server.__all__) == SERVER_API
    for name in SERVER_API:
        assert hasattr(automix_server, name), name


def test_every_server_module_pins_its_names() -> None:
    missing = []
    for path in sorted((ROOT / "automix_server").rglob("*.py")):
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        names = getattr(module, "__all__", None)
        if not isinstance(names, list) or not all(hasattr(module, n) for n in names):
            missing.append(str(path.relative_to(ROOT)))
    assert missing == []


def test_no_server_module_over_450_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "automix_server").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}


def test_server_errors_are_in_the_one_tree() -> None:
    assert issubclass(automix_server.ConfigError, AutoMixError) and automix_server.ConfigError is \
        automix_core.ConfigError
    assert issubclass(automix_server.APIError, AutoMixError)
    defined = []
    for path in (ROOT / "automix_server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if any(isinstance(getattr(builtins, b, None), type) and issubclass(getattr(builtins, b), Exception)
                       for b in bases):
                    defined.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert defined == []
