import json
import os
from pathlib import Path

import pytest

from automix_core.calibration.evaluate import route_point
from automix_core.calibration.records import Record, RecordArrays, to_arrays
from automix_core.policies import ThresholdPolicy
from automix_core.router import Router, RouterError, calibrate
from tests.fakes.records import make_records


def data() -> RecordArrays:
    return to_arrays([Record.model_validate(r) for r in make_records(300)], ["small", "large"])


def test_calibrate_budget_and_target() -> None:
    d = data()
    cheap = calibrate(d, "pomdp", budget=3.0, grid=40)
    assert cheap.operating_point is not None and cheap.operating_point.cost <= 3.0 + 1e-9
    rich = calibrate(d, "pomdp", budget=8.0, grid=40)
    assert rich.operating_point is not None and rich.operating_point.quality >= cheap.operating_point.quality
    tgt = calibrate(d, "threshold", target=0.6, grid=40)
    assert tgt.operating_point is not None and tgt.operating_point.quality >= 0.6
    default = calibrate(d, "pomdp", grid=40)
    assert default.operating_point is not None and default.operating_point.selection.startswith("dibc")
    with pytest.raises(RouterError, match=r"no operating point costs <= 0\.5"):
        calibrate(d, "pomdp", budget=0.5, grid=20)
    with pytest.raises(RouterError, match="reaches quality 1"):
        calibrate(d, "threshold", target=1.0, grid=20)
    with pytest.raises(RouterError, match="not both"):
        calibrate(d, budget=1.0, target=0.5)


@pytest.mark.parametrize("policy", ["pomdp", "threshold", "greedy", "double-threshold", "self-consistency"])
def test_save_load_roundtrip(tmp_path: Path, policy: str) -> None:
    d = data()
    r = calibrate(d, policy, grid=30)
    path = r.save(tmp_path / "router.json")
    back = Router.load(path)
    assert back.models == ["small", "large"]
    assert route_point(back.policy, d) == route_point(r.policy, d)
    assert (back.mix is None) == (r.mix is None)
    for key in (0.01, 0.5, 0.99):
        a, b = back.decide([(0, 0.3)], key), r.decide([(0, 0.3)], key)
        assert (a.action, a.tier) == (b.action, b.tier)


def _write(tmp_path: Path, obj: object | str) -> Path:
    p = tmp_path / "r.json"
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.__setitem__("version", 99), "field 'version' is 99"),
        (lambda o: o.__setitem__("schema", "other"), "field 'schema'"),
        (lambda o: o.__setitem__("surprise", 1), "surprise: Extra inputs are not permitted"),
        (lambda o: o.__setitem__("models", "small"), "models"),
        (lambda o: o["policy"].__setitem__("name", "evil"), "unknown policy 'evil'"),
        (lambda o: o["policy"]["params"].__setitem__("thresholds", "x"), "policy"),
        (lambda o: o["policy"]["params"].__setitem__("thresholds", [0.5, 0.5]), "needs 1 thresholds"),
    ],
)
def test_bad_router_files(tmp_path: Path, mutate: object, message: str) -> None:
    obj = Router.default(["small", "large"]).to_dict()
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(RouterError, match=message):
        Router.load(_write(tmp_path, obj))


def test_truncated_and_nan_router_json(tmp_path: Path) -> None:
    text = json.dumps(calibrate(data(), "pomdp", budget=4.0, grid=20).to_dict())
    with pytest.raises(RouterError, match="not valid JSON"):
        Router.load(_write(tmp_path, text[: len(text) // 2]))
    with pytest.raises(RouterError, match="NaN is not allowed"):
        Router.load(_write(tmp_path, text.replace('"lam": ', '"lam": NaN, "x": ', 1)))
    with pytest.raises(RouterError, match="not found"):
        Router.load(tmp_path / "missing.json")


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "router.json"
    Router.default(["small", "large"]).save(path)
    before = path.read_text()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        calibrate(data(), "pomdp", budget=4.0, grid=20).save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["router.json"]  # no temp file left behind


def test_router_point_and_escalation_rate_count_a_mixture_at_its_probability() -> None:
    d = data()
    lo, hi = ThresholdPolicy(2, [0.2]), ThresholdPolicy(2, [0.8])
    alone = Router(["small", "large"], lo)
    mixed = Router(["small", "large"], lo, (hi, 0.25))
    assert alone.point(d) == route_point(lo, d)
    a, b = route_point(lo, d), route_point(hi, d)
    assert mixed.point(d).cost == pytest.approx(0.75 * a.cost + 0.25 * b.cost)
    assert mixed.point(d).quality == pytest.approx(0.75 * a.quality + 0.25 * b.quality)

    def rate(t: float) -> float:
        return float((d.confidence[:, 0] < t).mean())

    assert alone.escalation_rate(d) == pytest.approx(rate(0.2))
    assert mixed.escalation_rate(d) == pytest.approx(0.75 * rate(0.2) + 0.25 * rate(0.8))
    with pytest.raises(RouterError, match="records are for models"):
        Router(["a", "b"], lo).point(d)
