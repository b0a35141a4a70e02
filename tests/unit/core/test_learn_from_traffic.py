"""Fitting a router from recorded traffic without labels, and the report of that traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from automix_core.calibration import from_traffic as ft
from automix_core.calibration.from_traffic import (
    TrafficFit,
    fit_from_traffic,
    read_traffic,
    router_dibc,
    shadowed,
    traffic_arrays,
)
from automix_core.calibration.records import Record, RecordError
from automix_core.calibration.report import write_report
from automix_core.calibration.traffic_stats import summarize_traffic
from automix_core.cli.main import main
from automix_core.router import Router
from tests.fakes.traffic import make_traffic, write_traffic


def _records(traffic: list[dict[str, object]]) -> list[Record]:
    return [Record.model_validate(t) for t in traffic]


def test_traffic_format_reads_and_fit_uses_the_shadowed_sample(tmp_path: Path) -> None:
    d = write_traffic(tmp_path / "traffic", make_traffic(400, shadow_rate=0.5))
    recs = read_traffic(d)
    assert len(recs) == 400
    extra = [r.model_extra or {} for r in recs]
    n_shadow = sum(1 for e in extra if e["shadow"] is True)
    escalated = sum(1 for e in extra if e["shadow"] is False and e["served"] == "large")
    assert 150 < n_shadow < 250 and escalated > 20
    # a record that was not shadowed and not escalated holds the first tier only
    assert any(list(r.outputs) == ["small"] for r in recs)
    fit = fit_from_traffic(recs)
    # the shadowed sample only: an unshadowed escalated record holds every answer but is not in the sample
    assert fit.n_used == n_shadow == len(shadowed(recs)) and fit.n_train + fit.n_validation == fit.n_used
    assert fit.router.models == ["small", "large"] and fit.router.n_train == fit.n_train
    lo, hi = fit.validation_ci
    assert lo <= fit.validation_dibc <= hi
    assert fit.validation_dibc > 0  # the confidence is informative: routing beats the small→large line
    assert fit.labels.compared > 0 and fit.labels.gold_agreement is not None and fit.labels.gold_agreement > 0.8


def test_fit_without_text_uses_recorded_agrees() -> None:
    recs = _records(make_traffic(400, shadow_rate=0.5, store_text=False))
    assert all(o.answer is None for r in recs for o in r.outputs.values())
    fit = fit_from_traffic(recs)
    assert fit.labels.rules["recorded"] == fit.n_used and fit.validation_dibc > 0


def test_too_few_shadowed_records_names_how_many_are_needed() -> None:
    recs = _records(make_traffic(100, shadow_rate=0.2))
    n = len(shadowed(recs))
    with pytest.raises(RecordError, match=rf"{n} shadowed traffic records .* at least 100 are needed"):
        fit_from_traffic(recs)


def test_weights_count_records_as_often_as_they_weigh() -> None:
    recs = _records(make_traffic(300, shadow_rate=1.0))
    from automix_core.calibration.agreement import label_by_agreement

    labelled, _ = label_by_agreement(recs)
    data, w = traffic_arrays(labelled, ["small", "large"])
    assert (w == 1.0).all()
    # costs: a traffic output's cost holds answer and verification; the arrays bill them apart
    assert np.allclose(data.cost[:, 0] + data.verifier_cost[:, 0], [r.outputs["small"].cost for r in recs])
    router = fit_from_traffic(recs, min_records=50).router
    weights = np.where(np.arange(len(data)) % 2 == 0, 3.0, 1.0)
    weighted, _ = router_dibc(router, data, weights, boot=10)
    replicated, _ = router_dibc(router, data.subset(np.repeat(np.arange(len(data)), weights.astype(int))), boot=10)
    assert weighted == pytest.approx(replicated)
    assert ft._replicate(data, weights).score.shape[0] == int(weights.sum())


def test_current_router_is_measured_on_the_same_validation_records() -> None:
    recs = _records(make_traffic(400, shadow_rate=0.5))
    first = fit_from_traffic(recs)
    again = fit_from_traffic(recs, current=first.router)
    assert again.current_dibc == pytest.approx(first.validation_dibc)  # same router, same records
    assert not again.current_is_better
    untrained = fit_from_traffic(recs, current=Router.default(["small", "large"]))
    assert untrained.current_dibc is not None and untrained.current_ci is not None


# --- the command line -----------------------------------------------------------------------------------


def test_cli_calibrate_from_traffic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_traffic(tmp_path / "traffic", make_traffic(400, shadow_rate=0.5))
    out = tmp_path / "router.json"
    assert main(["calibrate", "--from-traffic", str(d), "-o", str(out)]) == 0
    cap = capsys.readouterr()
    info = json.loads(cap.out)
    assert info["written"] and Router.load(out).models == ["small", "large"]
    assert re.search(r"validation ΔIBC -?\d+\.\d% \[95% interval", cap.err)
    # again: the file at -o is the current router, compared on the same records
    assert main(["calibrate", "--from-traffic", str(d), "-o", str(out)]) == 0
    assert "current router" in capsys.readouterr().err


def test_cli_refuses_to_overwrite_a_better_router(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    d = write_traffic(tmp_path / "traffic", make_traffic(400, shadow_rate=0.5))
    out = tmp_path / "router.json"
    Router.default(["small", "large"]).save(out)
    before = out.read_text()
    real = ft.fit_from_traffic

    def worse(*args: object, **kwargs: object) -> TrafficFit:
        fit = real(*args, **kwargs)  # type: ignore[arg-type]
        fit.current_dibc, fit.current_ci = fit.validation_dibc + 5.0, (0.0, 1.0)
        return fit

    monkeypatch.setattr(ft, "fit_from_traffic", worse)
    assert main(["calibrate", "--from-traffic", str(d), "-o", str(out)]) == 1
    assert "validates better" in capsys.readouterr().err and out.read_text() == before
    assert main(["calibrate", "--from-traffic", str(d), "-o", str(out), "--force"]) == 0
    assert out.read_text() != before


def test_cli_calibrate_from_too_little_traffic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_traffic(tmp_path / "traffic", make_traffic(60, shadow_rate=0.5))
    assert main(["calibrate", "--from-traffic", str(d), "-o", str(tmp_path / "r.json")]) == 2
    assert "at least 100 are needed" in capsys.readouterr().err
    assert main(["calibrate", "--from-traffic", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r.json")]) == 2
    assert "traffic directory not found" in capsys.readouterr().err


# --- the report -----------------------------------------------------------------------------------------


def test_report_is_self_contained_and_shows_the_computed_figures(tmp_path: Path) -> None:
    traffic = make_traffic(400, shadow_rate=0.5)
    d = write_traffic(tmp_path / "traffic", traffic)
    recs = read_traffic(d)
    router = fit_from_traffic(recs).router
    out = tmp_path / "report.html"
    summary = write_report(recs, out, router=router, source="synthetic")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3  # cost-quality curve, over time, confidence histograms
    # nothing from elsewhere: no scripts, stylesheets, images or links to fetch
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?:https?:)?//", page)
    # the figures computed from the traffic are on the page, with their intervals
    s = summarize_traffic(recs)
    assert summary["agreement"]["k"] == s.agreement.k and summary["shadowed"] == s.n_shadowed
    assert f"{s.agreement.k} of {s.agreement.records} shadowed requests agree" in page
    lo, hi = s.agreement.ci
    assert f"{s.agreement.value:.1%} [{lo:.1%}, {hi:.1%}]" in page
    assert f"{s.savings:.1%} [{s.savings_ci[0]:.1%}, {s.savings_ci[1]:.1%}]" in page
    assert "current router (95% interval)" in page
    # what the figures say matches the traffic, computed by hand: weighted over the shadowed records
    full = [t for t in traffic if t["shadow"]]
    w = [t["weight"] for t in full]
    agrees = [t["served"] == "large" or t["outputs"]["small"]["agrees"] for t in full]
    assert s.agreement.k == sum(agrees) and s.agreement.records == len(full)
    assert s.agreement.value == pytest.approx(sum(wi * a for wi, a in zip(w, agrees)) / sum(w))
    served = sum(wi * sum(o["cost"] for o in t["outputs"].values() if o["visited"]) for wi, t in zip(w, full))
    always = sum(wi * t["outputs"]["large"]["cost"] for wi, t in zip(w, full))
    assert s.savings == pytest.approx(1 - served / always)
    assert s.escalation.k == sum(t["served"] == "large" for t in traffic)


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_traffic(tmp_path / "traffic", make_traffic(200, shadow_rate=0.5))
    out = tmp_path / "r.html"
    assert main(["report", str(d), "-o", str(out), "--boot", "50"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["requests"] == 200 and out.exists() and "<svg" in out.read_text()


def test_reads_the_capture_folder_as_written_torn_tail_and_spool_replays(tmp_path: Path) -> None:
    traffic = make_traffic(120, shadow_rate=1.0)
    d = write_traffic(tmp_path / "traffic", traffic, files=1)
    # a spool replayed to a stream and also kept: the same record twice; a worker killed mid-write: a torn line
    (d / "spool-1-000001.jsonl").write_text(json.dumps(traffic[0]) + "\n")
    with (d / "traffic-w0-000001.jsonl").open("a") as fh:
        fh.write(json.dumps(traffic[1])[:40])
    recs = read_traffic(d)
    assert len(recs) == 120 and len({r.id for r in recs}) == 120
    (d / "traffic-w0-000002.jsonl").write_text(json.dumps({"id": "bad", "models": ["small"], "outputs": {}}) + "\n")
    with pytest.raises(RecordError, match="traffic record 'bad'"):
        read_traffic(d)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordError, match="no traffic files"):
        read_traffic(empty)


def test_the_weighted_shadowed_sample_estimates_the_whole_traffic_without_bias() -> None:
    # every answer of every request is known to the generator: the truth; a 20% shadow sample estimates it
    traffic = make_traffic(3000, shadow_rate=0.2, seed=3)
    truth = np.mean([t["served"] == "large" or t["outputs"]["small"]["agrees"] is not False for t in
                     make_traffic(3000, shadow_rate=1.0, seed=3)])
    recs = _records(traffic)
    s = summarize_traffic(recs, boot=50)
    lo, hi = s.agreement.ci
    assert lo <= truth <= hi and abs(s.agreement.value - truth) < 0.03
    # every record holding all answers (the sample plus the unshadowed escalated ones) leans towards escalation
    full = [t for t in traffic if set(t["outputs"]) == {"small", "large"}]
    biased = np.mean([t["served"] == "large" or t["outputs"]["small"]["agrees"] for t in full])
    assert abs(biased - truth) > 0.03 and not lo <= biased <= hi


def test_cli_report_without_matplotlib_says_how_to_install_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    d = write_traffic(tmp_path / "traffic", make_traffic(60, shadow_rate=0.5))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main(["report", str(d), "-o", str(tmp_path / "r.html")]) == 2
    assert "pip install 'automix[plot]'" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
