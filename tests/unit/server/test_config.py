"""The config file: YAML, TOML and JSON, validated with every error naming its field; reload all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from automix_server import ConfigError, Runtime, load_config, parse_config


def write(tmp_path: Path, data: dict[str, Any], name: str = "automix.yaml") -> Path:
    p = tmp_path / name
    if name.endswith(".json"):
        p.write_text(json.dumps(data))
    elif name.endswith(".toml"):
        p.write_text(_toml(data))
    else:
        p.write_text(yaml.safe_dump(data))
    return p


def _toml(data: dict[str, Any]) -> str:
    lines = []
    for k in data["api_keys"]:
        lines += ["[[api_keys]]", f'name = "{k["name"]}"', f'key = "{k["key"]}"']
    r = data["routes"]["automix"]
    lines += ["[routes.automix.cascade]", f'k = {r["cascade"]["k"]}']
    for t in r["tiers"]:
        lines += ["[[routes.automix.tiers]]"]
        lines += [f'{f} = "{t[f]}"' for f in ("name", "base_url", "model", "api_key_env")]
        lines += [f"price = {{ input_per_million = {t['price']['input_per_million']}, "
                  f"output_per_million = {t['price']['output_per_million']} }}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["automix.yaml", "automix.toml", "automix.json"])
def test_formats_load_to_the_same_config(h: Any, tmp_path: Path, name: str) -> None:
    cfg = load_config(write(tmp_path, h.base_config(), name))
    assert [t.name for t in cfg.routes["automix"].tiers] == ["small", "large"]
    assert cfg.routes["automix"].cascade.k == 2
    assert cfg.base_dir == str(tmp_path.resolve())


@pytest.mark.parametrize("mutate, field", [
    (lambda c: c["routes"]["automix"]["tiers"][0].update(base_url="ftp://x"), "routes.automix.tiers.0.base_url"),
    (lambda c: c["routes"]["automix"]["tiers"][1].update(api_key="sk-literal"), "routes.automix.tiers.1.api_key"),
    (lambda c: c["routes"]["automix"]["tiers"][1].update(api_key_env="sk-abc def"),
     "routes.automix.tiers.1.api_key_env"),
    (lambda c: c["routes"]["automix"]["tiers"].pop(), "routes.automix.tiers"),
    (lambda c: c["routes"]["automix"]["cascade"].update(k=0), "routes.automix.cascade.k"),
    (lambda c: c["routes"]["automix"]["cascade"].update(verify_mode="vibes"), "routes.automix.cascade.verify_mode"),
    (lambda c: c["routes"]["automix"]["cascade"].update(kk=3), "routes.automix.cascade.kk"),
    (lambda c: c["routes"]["automix"]["tiers"][0]["price"].update(input_per_million=-1),
     "routes.automix.tiers.0.price.input_per_million"),
    (lambda c: c.update(state="mysql://x"), "state"),
    (lambda c: c.update(default_route="other"), "default_route"),
    (lambda c: c["api_keys"][0].update(key_env="ALSO"), "api_keys.0"),
    (lambda c: c.update(budget={"total_usd": "lots"}), "budget.total_usd"),
    (lambda c: c.update(port=70000), "port"),
])
def test_errors_name_the_field(h: Any, mutate: Any, field: str) -> None:
    cfg = h.base_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        parse_config(cfg)
    assert f"\n{field}:" in str(info.value) or str(info.value).startswith(f"{field}:"), str(info.value)


def test_unparsable_files(tmp_path: Path) -> None:
    bad = tmp_path / "a.yaml"
    bad.write_text("routes: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    nan = tmp_path / "a.json"
    nan.write_text('{"port": NaN}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(nan)
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(tmp_path / "a.ini")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_build_errors_name_the_field(h: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TEST_UPSTREAM_KEY")
    with pytest.raises(ConfigError, match=r"routes\.automix\.tiers\.0\.api_key_env: environment variable "
                                          "TEST_UPSTREAM_KEY is not set"):
        Runtime.build(parse_config(h.base_config()))
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-x-123456789")
    cfg = h.base_config()
    del cfg["routes"]["automix"]["tiers"][0]["price"]
    with pytest.raises(ConfigError, match=r"routes\.automix\.tiers\.0\.price: no preset price"):
        Runtime.build(parse_config(cfg))
    cfg = h.base_config(route={"router": "nope.json"})
    with pytest.raises(ConfigError, match=r"routes\.automix\.router"):
        Runtime.build(parse_config(cfg, base_dir=tmp_path))


def test_shipped_router_loads_for_a_two_tier_route(h: Any) -> None:
    from automix_server.cli import shipped_router

    path = shipped_router()  # package data: there in any install
    rt = Runtime.build(parse_config(h.base_config(route={"router": str(path)})))
    assert rt.routes["automix"].router.models == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def test_secrets_never_in_the_redacted_config(h: Any) -> None:
    cfg = parse_config(h.base_config())
    text = json.dumps(cfg.redacted())
    assert "client-key-0123456789" not in text


async def test_reload_swaps_a_complete_config_or_keeps_the_old(h: Any, make_client: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, h.base_config())
    ac: Any = make_client(h.base_config(), reload_path=str(path))
    old = ac.server.runtime
    # a valid change: a second route
    new = h.base_config()
    new["routes"]["second"] = json.loads(json.dumps(new["routes"]["automix"]))
    for t in new["routes"]["second"]["tiers"]:
        t["name"] += "-2"
    write(tmp_path, new)
    assert ac.server.reload() is True
    assert set(ac.server.runtime.routes) == {"automix", "second"}
    assert (await ac.chat({**h.ask("x [[id:r]]"), "model": "second"})).json()["model"] == "small-2"
    applied = ac.server.runtime
    # invalid: a bad field; then an unset environment variable; then a change that needs a restart
    broken = h.base_config()
    broken["routes"]["automix"]["tiers"][1]["base_url"] = "nope"
    write(tmp_path, broken)
    assert ac.server.reload() is False
    unset = h.base_config()
    unset["routes"]["automix"]["tiers"][1]["api_key_env"] = "NOT_SET_ANYWHERE_123"
    write(tmp_path, unset)
    assert ac.server.reload() is False
    write(tmp_path, h.base_config(state="redis://127.0.0.1:1/0"))
    assert ac.server.reload() is False
    assert ac.server.runtime is applied
    assert (await ac.chat({**h.ask("x [[id:r2]]"), "model": "second"})).status_code == 200
    assert old is not applied


async def test_reload_changes_keys(h: Any, make_client: Any, tmp_path: Path) -> None:
    path = write(tmp_path, h.base_config())
    ac: Any = make_client(h.base_config(), reload_path=str(path))
    write(tmp_path, h.base_config(api_keys=[{"name": "new", "key": "brand-new-key-123"}]))
    assert ac.server.reload() is True
    assert (await ac.chat(h.ask("x"))).status_code == 401
    assert (await ac.chat(h.ask("x [[id:n]]"), {"Authorization": "Bearer brand-new-key-123"})).status_code == 200
    assert h.AUTH  # the old key is refused now
