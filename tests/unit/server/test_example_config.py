"""``examples/server.yaml``, the complete config the README shows, loads and builds with the server's own loader."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from automix_core import Record, calibrate
from automix_core.calibration import to_arrays
from automix_server import ConfigError, Runtime, load_config
from tests.fakes.records import make_records

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "server.yaml"
ENV = ("TEAM_A_KEY", "BATCH_KEY", "OPENAI_API_KEY")


def test_example_config_validates_with_every_section_set() -> None:
    cfg = load_config(EXAMPLE)
    route = cfg.routes["automix"]
    assert [t.name for t in route.tiers] == ["gpt-4o-mini", "gpt-4o"]
    assert all(t.api_key_env == "OPENAI_API_KEY" and t.price is not None for t in route.tiers)
    assert cfg.default_route == "automix" and cfg.workers == 2 and cfg.state == "memory"
    assert {k.name: k.key_env for k in cfg.api_keys} == {"team-a": "TEAM_A_KEY", "batch-jobs": "BATCH_KEY"}
    assert cfg.budget.total_usd == 100.0 and cfg.rate_limit is not None
    assert route.router is not None and Path(cfg.base_dir or "", route.router) == EXAMPLE.parent / "router.json"


MODELS = ["gpt-4o-mini", "gpt-4o"]


def _beside_its_router(tmp_path: Path) -> Path:
    """The example config copied into ``tmp_path`` with a router for its two tiers beside it."""
    records = [Record.model_validate(r) for r in make_records(200, models=tuple(MODELS))]
    calibrate(to_arrays(records, MODELS), "pomdp", grid=20).save(tmp_path / "router.json")
    return Path(shutil.copy(EXAMPLE, tmp_path / "server.yaml"))


async def test_example_config_builds_a_runtime_like_serve_check(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # what `automix serve --config examples/server.yaml --check` does, with its router.json beside it
    config = _beside_its_router(tmp_path)
    for name in ENV:
        monkeypatch.setenv(name, f"secret-{name.lower()}-value")
    rt = Runtime.build(load_config(config))
    try:
        assert list(rt.routes) == ["automix"]
        assert rt.routes["automix"].router.models == MODELS
    finally:
        await rt.aclose()


def test_example_config_without_its_environment_names_the_variable(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = _beside_its_router(tmp_path)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=r"environment variable (TEAM_A_KEY|BATCH_KEY|OPENAI_API_KEY) is not set"):
        Runtime.build(load_config(config))


def test_readme_shows_the_example_config_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks, "README.md's config block differs from examples/server.yaml"
