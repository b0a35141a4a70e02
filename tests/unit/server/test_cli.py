"""``automix serve``'s command line: the subcommand registration, --check, and --local's config."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from automix_server import parse_config
from automix_server.cli import SHIPPED_PAIR, add_cli, build_parser, local_config, main


def test_add_cli_registers_serve_like_the_core_subcommands() -> None:
    p = argparse.ArgumentParser(prog="automix")
    sub = p.add_subparsers(dest="command", required=True)
    add_cli(sub)
    args = p.parse_args(["serve", "--local", "a,b", "--port", "0", "--api-key", "k" * 10])
    assert args.command == "serve" and args.local == "a,b" and args.port == 0 and callable(args.func)
    with pytest.raises(SystemExit):
        p.parse_args(["serve"])  # --config or --local is required
    with pytest.raises(SystemExit):
        p.parse_args(["serve", "--config", "x.yaml", "--local", "a,b"])


def test_check_validates_and_prints_the_redacted_config(h: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(h.base_config()))
    assert main(["--config", str(path), "--check", "--port", "9999", "--redis", "redis://127.0.0.1:6379/0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["port"] == 9999 and out["state"] == "redis://127.0.0.1:6379/0"
    assert out["api_keys"][0]["key"] == "***"


def test_bad_config_exits_2_naming_the_field(h: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = h.base_config()
    cfg["routes"]["automix"]["tiers"][0]["timeout"] = -1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(path), "--check"]) == 2
    assert "routes.automix.tiers.0.timeout" in capsys.readouterr().err


def test_short_api_key_is_refused(h: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(h.base_config()))
    assert main(["--config", str(path), "--check", "--api-key", "short"]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_local_config_uses_the_shipped_router_for_the_shipped_pair() -> None:
    args = build_parser().parse_args(["--local", ",".join(SHIPPED_PAIR), "--k", "3"])
    urls = {n: f"http://127.0.0.1:{i}/v1" for i, n in enumerate(SHIPPED_PAIR, 1)}
    data = local_config(*SHIPPED_PAIR, urls, dict.fromkeys(SHIPPED_PAIR, 4096), 4, args)
    cfg = parse_config(data)
    route = cfg.routes["automix"]
    assert [t.name for t in route.tiers] == list(SHIPPED_PAIR)
    assert route.cascade.k == 3 and route.tiers[0].usage_scope == "first_choice"
    small_price, large_price = route.tiers[0].price, route.tiers[1].price
    assert small_price is not None and large_price is not None
    assert large_price.input_per_million > small_price.input_per_million
    assert route.router is not None and route.router.endswith("router_pubmedqa_qwen_pair.json")
    other = parse_config(local_config("smollm2-135m", "qwen2.5-coder-0.5b",
                                      {"smollm2-135m": "http://a/v1", "qwen2.5-coder-0.5b": "http://b/v1"},
                                      {"smollm2-135m": 2048, "qwen2.5-coder-0.5b": 2048}, 4, args))
    assert other.routes["automix"].router is None  # the untrained default
    assert other.routes["automix"].cascade.k == 3


def test_local_config_leaves_verification_to_the_shipped_router_unless_told() -> None:
    args = build_parser().parse_args(["--local", ",".join(SHIPPED_PAIR)])
    urls = {n: f"http://127.0.0.1:{i}/v1" for i, n in enumerate(SHIPPED_PAIR, 1)}
    data = local_config(*SHIPPED_PAIR, urls, dict.fromkeys(SHIPPED_PAIR, 4096), 4, args)
    route = parse_config(data).routes["automix"]
    assert route.router is not None
    assert (route.cascade.k, route.cascade.verify_mode, route.cascade.verify_prompt) == (None, "auto", "auto")
    other = parse_config(local_config("smollm2-135m", "qwen2.5-coder-0.5b",
                                      {"smollm2-135m": "http://a/v1", "qwen2.5-coder-0.5b": "http://b/v1"},
                                      {"smollm2-135m": 2048, "qwen2.5-coder-0.5b": 2048}, 4, args))
    untrained = other.routes["automix"].cascade
    assert untrained.k is None and untrained.verify_mode == "logprob"  # llama.cpp: one logprob call per verification


def test_local_router_flag_and_check_name_the_router_and_verification(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from automix_core.shipped import shipped_router_path

    assert main(["--local", ",".join(SHIPPED_PAIR), "--check"]) == 0
    out = capsys.readouterr()
    line = next(x for x in out.err.splitlines() if x.startswith("route 'automix'"))
    assert str(shipped_router_path()) in line and "version 2" in line and "qwen2.5-coder-0.5b logprob/continue" in line
    assert json.loads(out.out)["routes"]["automix"]["router"] == str(shipped_router_path())
    k8 = shipped_router_path("pubmedqa-qwen-pair-k8")
    assert main(["--local", ",".join(SHIPPED_PAIR), "--router", str(k8), "--check"]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("route 'automix'"))
    assert str(k8) in line and "sample/few-shot/k=8" in line
    assert main(["--local", "smollm2-135m,qwen2.5-coder-0.5b", "--check"]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("route 'automix'"))
    assert "untrained" in line and "smollm2-135m logprob/few-shot" in line
    assert main(["--local", ",".join(SHIPPED_PAIR), "--router", str(tmp_path / "none.json"), "--check"]) == 2
    assert "router file not found" in capsys.readouterr().err


def test_every_start_logs_each_routes_line(caplog: pytest.LogCaptureFixture) -> None:
    from automix_server.service import Runtime

    args = build_parser().parse_args(["--local", ",".join(SHIPPED_PAIR)])
    urls = {n: f"http://127.0.0.1:{i}/v1" for i, n in enumerate(SHIPPED_PAIR, 1)}
    cfg = parse_config(local_config(*SHIPPED_PAIR, urls, dict.fromkeys(SHIPPED_PAIR, 4096), 8, args))
    with caplog.at_level(logging.INFO, logger="automix_server"):
        Runtime.build(cfg)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("route 'automix'")]
    assert len(lines) == 1 and "router_pubmedqa_qwen_pair.json (version 2" in lines[0]


def test_router_flag_needs_local(h: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(h.base_config()))
    assert main(["--config", str(path), "--router", "r.json", "--check"]) == 2
    assert "--router goes with --local" in capsys.readouterr().err


def test_local_needs_two_different_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--local", "smollm2-135m"]) == 2
    assert "two different local models" in capsys.readouterr().err
