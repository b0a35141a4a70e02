"""Router and config files: unknown fields, wrong types, wrong schema version, truncated JSON, NaN
are rejected with the field named; the packages never eval, exec, pickle or import code from a config."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from automix_core.router import Router, RouterError
from automix_langchain import ConfigError, load_config
from tests.fakes.langchain_models import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("automix_core", "automix_langchain", "automix_llamaindex")


def router_dict() -> dict[str, Any]:
    return Router.default(["small", "large"]).to_dict() | {
        "operating_point": {"cost": 1.0, "quality": 0.5, "dibc": 0.1, "selection": "manual"}, "n_train": 10}


def write(tmp_path: Path, obj: object) -> Path:
    p = tmp_path / "file.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return p


@pytest.mark.parametrize(("path", "value", "field"), [
    (("operating_point", "cost"), "cheap", "operating_point.cost"),
    (("operating_point", "surprise"), 1, "operating_point.surprise"),
    (("n_train",), -1, "n_train"),
    (("n_train",), "ten", "n_train"),
    (("policy", "params"), "none", "policy.params"),
    (("policy", "extra"), True, "policy.extra"),
    (("models",), ["only-one"], "models"),
    (("models",), [1, 2], "models.0"),
    (("mix",), {"policy": {"name": "threshold", "params": {"thresholds": [0.5]}}, "p": 1.5}, "mix.p"),
    (("version",), "1", "version"),
    (("version",), None, "version"),
    (("schema",), None, "schema"),
])
def test_router_file_field_errors_name_the_field(tmp_path: Path, path: tuple[str, ...], value: object,
                                                 field: str) -> None:
    obj = router_dict()
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RouterError, match=re.escape(field)):
        Router.load(write(tmp_path, obj))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_router_non_finite_numbers_rejected(tmp_path: Path, constant: str) -> None:
    text = json.dumps(router_dict()).replace('"cost": 1.0', f'"cost": {constant}')
    with pytest.raises(RouterError, match=f"{re.escape(constant)} is not allowed"):
        Router.load(write(tmp_path, text))
    with pytest.raises(RouterError, match="operating_point.cost"):  # a dict holding a NaN float, not via JSON
        obj = router_dict()
        obj["operating_point"]["cost"] = float(constant.replace("Infinity", "inf"))
        Router.from_dict(obj)


def test_router_truncated_anywhere_is_rejected(tmp_path: Path) -> None:
    text = json.dumps(router_dict(), indent=1)
    cuts = sorted({*range(0, len(text), max(1, len(text) // 40)), len(text) - 1})
    for cut in cuts:
        with pytest.raises(RouterError):
            Router.load(write(tmp_path, text[:cut]))
    for top in ("[]", '"router"', "null", "42"):
        with pytest.raises(RouterError, match="expected a JSON object"):
            Router.load(write(tmp_path, top))


def test_router_unreadable_file_is_a_router_error(tmp_path: Path) -> None:
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RouterError):
        Router.load(tmp_path / "bin.json")
    with pytest.raises(RouterError):
        Router.load(tmp_path)


# --- automix_langchain from_config files ---------------------------------------------------------------


def init(model: str, **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(model_name=model.split(":")[-1], **kwargs)


BASE: dict[str, Any] = {"tiers": ["fake:small", "fake:large"],
                        "price_default": {"input_per_million": 0, "output_per_million": 0}}


@pytest.mark.parametrize(("change", "field"), [
    ({"surprise": 1}, "surprise"),
    ({"k": "many"}, "k"),
    ({"k": 0}, "k"),
    ({"timeout": -5}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
    ({"tool_calls": "run"}, "tool_calls"),
    ({"context_from": "__import__('os').system('true')"}, "context_from"),
    ({"verifiers": 5}, "verifiers"),
    ({"verifiers": [3, None]}, "verifiers[0]"),
    ({"tiers": [1, "fake:large"]}, "tiers[0]"),
    ({"tiers": "fake:small"}, "tiers"),
    ({"prices": [1]}, "prices"),
    ({"prices": {"small": 5}}, "prices.small"),
    ({"prices": {"small": {"input_per_million": 1, "output_per_million": 1, "x": 2}}}, "prices.small"),
    ({"prices": {"small": {"input_per_million": -1, "output_per_million": 1}}}, "input_per_million"),
    ({"price_default": "free"}, "price_default"),
    ({"router": 5}, "router"),
    ({"router": {"schema": "automix.router", "version": 99}}, "version"),
    ({"router": "missing-router.json"}, "router"),
])
def test_langchain_config_file_errors_name_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(field)):
        load_config(write(tmp_path, {**BASE, **change}), init=init)


@pytest.mark.parametrize("text", [
    '{"tiers": ["fake:small", "fake:large"], "k": NaN}',
    '{"tiers": ["fake:small", "fake:large"], "timeout": Infinity}',
    '{"tiers": ["fake:small", "fake:large"], "prices": {"small": {"input_per_million": NaN, "output_per_million": 1}}}',
])
def test_langchain_config_non_finite_numbers_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="is not allowed"):
        load_config(write(tmp_path, text), init=init)


def test_langchain_config_non_finite_numbers_in_a_dict_rejected() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        load_config({**BASE, "timeout": float("nan")}, init=init)
    with pytest.raises(ConfigError, match="prices.small"):
        load_config({**BASE, "prices": {"small": {"input_per_million": float("nan"), "output_per_million": 1}}},
                    init=init)


def test_langchain_config_truncated_and_not_an_object(tmp_path: Path) -> None:
    text = json.dumps({**BASE, "k": 2})
    for cut in range(0, len(text), 7):
        with pytest.raises(ConfigError):
            load_config(write(tmp_path, text[:cut]), init=init)
    for top in ("[1, 2]", '"x"', "null"):
        with pytest.raises(ConfigError, match="JSON object"):
            load_config(write(tmp_path, top), init=init)
    assert load_config(write(tmp_path, text), init=init).k == 2  # the untruncated file loads


# --- never eval, exec, pickle, or code from a config -------------------------------------------------------

BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "yaml",
                  "runpy", "codeop"}


def violations(source: str) -> list[str]:
    """Calls of eval/exec/compile/__import__ and uses of code-loading modules, found in the syntax tree
    (docstrings and comments that mention them do not count; ``re.compile`` is a method, not the builtin)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BANNED_CALLS:
            found.append(f"{node.lineno}: call {node.func.id}()")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Name) and node.id in BANNED_MODULES:
            found.append(f"{node.lineno}: name {node.id}")
    return found


GREP = re.compile(r"(?<![\w.])(?:eval|exec)\(|^\s*(?:import|from)\s+pickle\b")


def test_packages_never_eval_exec_or_pickle() -> None:
    hits = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            hits += [f"{path.relative_to(ROOT)}:{v}" for v in violations(source)]
            # and a plain grep of the code lines, for good measure
            hits += [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1)
                     if GREP.search(line.split("#", 1)[0])]
    assert hits == []
    # the one dynamic import loads a module named in the built-in provider table, never from a config
    dynamic = [f"{p.relative_to(ROOT)}" for package in PACKAGES for p in (ROOT / package).rglob("*.py")
               if "import_module(" in p.read_text(encoding="utf-8")]
    assert dynamic == ["automix_langchain/config.py"]
    source = (ROOT / "automix_langchain/config.py").read_text(encoding="utf-8")
    assert "module_name, class_name = PROVIDERS[provider]" in source


def test_the_checkers_catch_what_they_should() -> None:
    for bad in ("x = eval(text)", "exec(code)", "import pickle", "from pickle import loads", "import yaml",
                "__import__(n)", "compile(src, 'f', 'exec')", "import marshal as m"):
        assert violations(bad), bad
    for bad in ("x = eval(text)", "exec(code)", "import pickle"):
        assert GREP.search(bad), bad
    for fine in ("_cmd_eval(args)", "evaluate(train)", "re.compile('x')", "'no eval(), no pickle'", "# pickle"):
        assert not violations(fine), fine
    for fine in ("_cmd_eval(args)", "evaluate(train)", "re.compile('x')", "obj.exec(x)"):
        assert not GREP.search(fine), fine


def test_config_module_names_are_not_taken_from_the_config(tmp_path: Path) -> None:
    for model in ("os:system", "subprocess:run", "builtins:eval", "automix_core.cli.main:main"):
        # without the `langchain` package our own provider table answers; with it, init_chat_model
        # (which maps known provider names to known packages only) refuses the name
        with pytest.raises(ConfigError, match=r"tiers\[0\].*(provider:model|Unable to infer model provider)"):
            load_config(write(tmp_path, {"tiers": [model, model]}))
