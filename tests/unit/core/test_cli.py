import json
from pathlib import Path

import pytest

from automix_core.cli.main import main
from automix_core.router import Router
from tests.fakes.records import make_records, write_records


@pytest.fixture
def records(tmp_path: Path) -> Path:
    recs = make_records(300, split="train") + make_records(200, seed=7, split="test")
    return write_records(tmp_path / "r.jsonl", recs)


def test_eval_json_has_every_method(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", str(records), "--models", "small,large", "--json", "--grid", "40"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("pomdp", "greedy", "threshold", "double-threshold", "self-consistency", "random",
                 "always-small", "always-large", "oracle"):
        r = out[name]
        assert set(r) >= {"mean_dibc", "dibc_regions", "auc", "points"}
        assert len(r["dibc_regions"]) == 5
        assert r["mean_dibc"] == pytest.approx(sum(r["dibc_regions"]) / 5, abs=1e-4)
    assert out["always-small"]["mean_dibc"] == 0.0
    # informative confidences: the learned policies beat random mixing
    assert out["pomdp"]["mean_dibc"] > out["random"]["mean_dibc"] + 10
    assert out["threshold"]["mean_dibc"] > out["random"]["mean_dibc"] + 10


def test_eval_table_unit_costs_and_cv(records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(records), "--models", "small,large", "--unit-costs", "1,20", "--cv", "3",
                 "--methods", "threshold,pomdp", "--grid", "30"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation" in out and "pomdp" in out and "threshold" in out


def test_calibrate_writes_router(records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "router.json"
    assert main(["calibrate", str(records), "--models", "small,large", "--train-split", "train",
                 "--budget", "5", "-o", str(out), "--grid", "40"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["train_cost"] <= 5 and Router.load(out).models == ["small", "large"]


def test_kernel_scale_reaches_the_pomdp(records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", str(records), "--models", "small,large", "--json", "--grid", "40", "--methods", "pomdp,threshold"]
    outs = []
    for extra in ([], ["--kernel-scale", "3"], ["--kernel-scale", "0.3"]):
        assert main([*base, *extra]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0]["pomdp"] == outs[1]["pomdp"]  # 3 is the default
    assert outs[2]["pomdp"]["points"] != outs[0]["pomdp"]["points"]  # a narrower kernel: other policies
    assert outs[2]["threshold"] == outs[0]["threshold"]  # other policies ignore it
    out = tmp_path / "router.json"
    assert main(["calibrate", str(records), "--models", "small,large", "--kernel-scale", "0.3", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["calibrate", str(records), "--models", "small,large", "--policy", "threshold",
                 "--kernel-scale", "1", "-o", str(out)]) == 2
    assert "--kernel-scale applies to the pomdp policy only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "small,nope"], "no record lists all of the models"),
        (["--models", "small,large", "--methods", "pomdp,magic"], "unknown policy 'magic'"),
        (["--models", "small,large", "--unit-costs", "1,2,3"], "--unit-costs has 3 values for 2 models"),
        (["--models", "small,large", "--task", "zzz"], "no records match task='zzz'"),
        (["--models", "small,large", "--kernel-scale", "0"], "kernel_scale must be a finite number > 0, got 0.0"),
        (["--models", "small,large", "--kernel-scale", "nan"], "kernel_scale must be a finite number > 0"),
    ],
)
def test_eval_bad_input(records: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(records), *argv]) == 2
    assert message in capsys.readouterr().err


def test_models_needs_two(records: Path) -> None:
    with pytest.raises(SystemExit):
        main(["eval", str(records), "--models", "small"])


def test_eval_json_reports_a_bootstrap_interval_and_the_mean_of_regions_2_to_5(
        records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(records), "--models", "small,large", "--json", "--grid", "40",
                 "--methods", "threshold", "--bootstrap", "50"]) == 0
    r = json.loads(capsys.readouterr().out)["threshold"]
    lo, hi = r["dibc_ci95"]
    assert lo <= r["mean_dibc"] <= hi and hi > lo  # a real interval around the point estimate
    assert r["mean_dibc_regions_2_5"] == pytest.approx(sum(r["dibc_regions"][1:]) / 4, abs=1e-5)


def test_eval_paper_selection_uses_deterministic_points_and_ties_to_the_cheapest(
        records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", str(records), "--models", "small,large", "--json", "--grid", "40", "--methods", "threshold",
            "--bootstrap", "0"]
    assert main([*base, "--selection", "paper"]) == 0
    paper = json.loads(capsys.readouterr().out)["threshold"]
    assert main(base) == 0
    extended = json.loads(capsys.readouterr().out)["threshold"]
    assert not any(c and c.startswith("mix(") for c in paper["chosen"])  # no randomized mixtures
    assert any(c and c.startswith("mix(") for c in extended["chosen"])
    assert paper["dibc_ci95"] is None


def test_best_level_breaks_ties_either_way() -> None:
    from automix_core.calibration.metrics import best_level

    assert best_level([1.0, 3.0, 3.0, 2.0], [1.0, 2.0, 5.0, 9.0]) == 2
    assert best_level([1.0, 3.0, 3.0, 2.0], [1.0, 2.0, 5.0, 9.0], prefer="cheapest") == 1
