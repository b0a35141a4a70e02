"""Traffic capture in the server (in process, over the scripted upstream): records after the response,
shadow metrics, no added latency, and the state's failure policy."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from automix_core.traffic import agreement_rule, read_traffic
from automix_server.state import MemoryState


def traffic_config(h: Any, folder: Path, **traffic: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = h.base_config(traffic={"dir": str(folder), "shadow_rate": 1.0, **traffic})
    return cfg


async def test_record_after_response_with_every_tier(make_client: Any, h: Any, tmp_path: Path) -> None:
    ac = make_client(traffic_config(h, tmp_path))
    r = await ac.chat(h.ask("What is it? [[id:q1]]"))
    assert r.status_code == 200 and r.json()["model"] == "small"
    assert ac.server.capture is not None
    await ac.server.capture.drain(10)
    [rec] = read_traffic(tmp_path)
    assert rec["id"] == r.json()["id"] and rec["route"] == "automix" and rec["served"] == "small"
    assert rec["router"] == "untrained"
    small, large = rec["outputs"]["small"], rec["outputs"]["large"]
    assert small["visited"] and not large["visited"] and large["answer"] == "answer from large: q1"
    expected = agreement_rule()(rec["query"], small["answer"], large["answer"])  # whichever rule is installed
    assert small["agrees"] is expected and large["agrees"] is True and rec["weight"] == 1.0
    assert h.UPSTREAM_KEY not in next(tmp_path.iterdir()).read_text()
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["by_purpose"]["shadow"]["cost"] == pytest.approx(large["cost"])
    assert ledger["budgets"]["global"]["spent_usd"] == pytest.approx(r.json()["automix"]["cost_usd"])
    text = (await ac.client.get("/metrics")).text
    assert 'automix_shadow_records_total{route="automix",shadowed="true"} 1.0' in text
    assert f'automix_shadow_agreement{{bound="estimate"}} {float(expected)}' in text
    assert f'automix_shadow_agreeing_total{{route="automix"}} {float(expected)}' in text
    assert "automix_shadow_spend_usd_total" in text and "automix_shadow_cost_ratio" in text


async def test_store_text_false(make_client: Any, h: Any, tmp_path: Path) -> None:
    ac = make_client(traffic_config(h, tmp_path, store_text=False))
    await ac.chat(h.ask("private question [[id:q2]]"))
    await ac.server.capture.drain(10)
    raw = next(tmp_path.iterdir()).read_text()
    assert "private" not in raw and "answer from" not in raw
    [rec] = read_traffic(tmp_path)
    assert all(o["answer"] is None and isinstance(o["agrees"], bool) for o in rec["outputs"].values())


async def test_shadowing_adds_no_response_time(make_client: Any, fake: Any, h: Any, tmp_path: Path) -> None:
    fake.model_delays = {"large": 0.8}  # the shadowed reference is slow: waiting for it would show
    plain = make_client(h.base_config())
    shadowed = make_client(traffic_config(h, tmp_path))

    async def timed(ac: Any, i: int) -> float:
        t0 = time.perf_counter()
        r = await ac.chat(h.ask(f"q [[id:{i}]]"))
        assert r.status_code == 200 and r.json()["model"] == "small"
        return time.perf_counter() - t0

    without = [await timed(plain, i) for i in range(4)]
    with_shadow = [await timed(shadowed, i) for i in range(4)]
    assert statistics.median(with_shadow) < statistics.median(without) + 0.15  # 0.8 s if it waited
    await shadowed.server.capture.drain(20)
    assert len(read_traffic(tmp_path)) == 4


class BrokenState(MemoryState):
    async def check_rate(self, scopes: Any) -> Any:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    async def reserve(self, rid: str, amount: float, scopes: Any, ttl: float) -> Any:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")


async def test_unreachable_state_fails_closed_with_503(make_client: Any, h: Any) -> None:
    ac = make_client(h.base_config(budget={"total_usd": 1.0}), state=BrokenState())
    r = await ac.chat(h.ask("hi"))
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "state_unavailable" and "Redis" in err["message"] and "fail closed" in err["message"]


async def test_unreachable_state_fails_open_when_configured(make_client: Any, h: Any,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    ac = make_client(h.base_config(budget={"total_usd": 1.0, "on_state_error": "open"}), state=BrokenState())
    r = await ac.chat(h.ask("hi"))
    assert r.status_code == 200
    assert "on_state_error: open" in caplog.text


def test_traffic_in_cascade_section_is_rejected(h: Any) -> None:
    from automix_server import ConfigError, parse_config

    cfg = h.base_config(route={"cascade": {"traffic": {"dir": "x"}}})
    with pytest.raises(ConfigError, match="top-level traffic"):
        parse_config(cfg)


def test_cli_flags_reach_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from automix_server.cli import main

    rc = main(["--local", "smollm2-135m,qwen2.5-coder-0.5b", "--check", "--traffic", str(tmp_path / "t"),
               "--shadow-rate", "0.25", "--shadow-budget", "2"])
    assert rc == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["traffic"] == {"dir": str(tmp_path / "t"), "shadow_rate": 0.25, "shadow_budget_usd": 2}


def test_shadow_rate_overrides_the_files_traffic_section(tmp_path: Path, h: Any) -> None:
    import yaml

    from automix_server import load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(h.base_config(traffic={"dir": "recs", "shadow_rate": 0.1, "store_text": False})))
    cfg = load_config(path, {"traffic": {"shadow_rate": 0.5}})
    assert cfg.traffic is not None
    assert (cfg.traffic.dir, cfg.traffic.shadow_rate, cfg.traffic.store_text) == ("recs", 0.5, False)
