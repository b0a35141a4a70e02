"""Learn first (in process, over the scripted upstream): a route without a router serves its reference tier
and shadows every request; after ``learn.records`` shadowed records a router is fitted, saved next to the
traffic and swapped in whole (as a reload); the cascade then runs. The fitter is injected here (plumbing):
the real one is the calibration side's ``fit_from_traffic``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from automix_core import Router
from automix_core.errors import RecordError
from automix_core.traffic import read_traffic
from automix_server.config import LearnConfig


def learn_config(h: Any, folder: Path, records: int = 20) -> dict[str, Any]:
    cfg: dict[str, Any] = h.base_config(traffic={"dir": str(folder), "shadow_rate": 0.0},
                                        learn={"records": records})
    return cfg


async def test_learns_then_switches_to_the_cascade(make_client: Any, h: Any, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "automix_server")
    ac = make_client(learn_config(h, tmp_path))
    calls: list[int] = []

    def fit(records: Sequence[dict[str, Any]], route: str, cfg: LearnConfig) -> tuple[Router, str]:
        calls.append(len(records))
        if len(calls) == 1:
            raise RecordError("too few: at least 24 are needed")
        assert route == "automix" and all(r["shadow"] and r["route"] == "automix" for r in records)
        return Router.default(["small", "large"]), "test fit"

    assert ac.server.learner is not None and ac.server.runtime.routes["automix"].learning
    ac.server.learner.fit = fit
    served = []
    for i in range(24):
        r = await ac.chat(h.ask(f"q [[id:{i}]]"))
        assert r.status_code == 200
        served.append(r.json()["model"])
        await ac.server.capture.drain(10)
    assert served == ["large"] * 24  # the reference tier serves while learning
    assert calls == [20, 24]  # the failed fit was tried again 20 // 5 records later
    assert "trying again after 24 shadowed records" in caplog.text
    recs = read_traffic(tmp_path)
    assert len(recs) == 24 and all(r["shadow"] and r["weight"] == 1.0 for r in recs)
    assert all(r["outputs"]["small"]["visited"] is False and r["outputs"]["small"]["confidence"] is not None
               for r in recs)  # the small tier answered and verified in the shadow
    route = ac.server.runtime.routes["automix"]
    assert not route.learning and route.config.router == str(tmp_path / "router-automix.json")
    assert Router.load(tmp_path / "router-automix.json").models == ["small", "large"]
    assert "switched from the reference tier to the cascade" in caplog.text
    r = await ac.chat(h.ask("q [[id:after]]"))
    assert r.json()["model"] == "small"  # the cascade: the verifier says correct, the small answer is kept
    await ac.server.capture.drain(10)
    after = next(x for x in read_traffic(tmp_path) if x["id"] == r.json()["id"])
    assert after["router"] == "router-automix.json" and all(x["router"] == "untrained" for x in recs)
    text = (await ac.client.get("/metrics")).text
    assert 'automix_shadow_router_swaps_total{route="automix"} 1.0' in text
    assert 'automix_shadow_learning{route="automix"} 0.0' in text


async def test_a_learnt_router_is_taken_at_start(make_client: Any, h: Any, tmp_path: Path) -> None:
    Router.default(["small", "large"]).save(tmp_path / "router-automix.json")
    ac = make_client(learn_config(h, tmp_path))
    assert not ac.server.runtime.routes["automix"].learning
    r = await ac.chat(h.ask("q [[id:1]]"))
    assert r.json()["model"] == "small"


def test_learn_needs_traffic(h: Any) -> None:
    from automix_server import ConfigError, parse_config

    with pytest.raises(ConfigError, match="learn: needs traffic capture"):
        parse_config(h.base_config(learn={"records": 50}))


async def test_learns_with_the_calibration_sides_fit(make_client: Any, h: Any, tmp_path: Path) -> None:
    pytest.importorskip("automix_core.calibration.from_traffic")
    ac = make_client(learn_config(h, tmp_path, records=30))
    for i in range(30):
        marker = " [[escalate]]" if i % 2 else ""  # the small tier's verifier says incorrect on half
        r = await ac.chat(h.ask(f"q [[id:{i}]]{marker}"))
        assert r.json()["model"] == "large"
        await ac.server.capture.drain(30)
    assert not ac.server.runtime.routes["automix"].learning  # fitted on the 30 records, swapped in
    assert Router.load(tmp_path / "router-automix.json").fitted
