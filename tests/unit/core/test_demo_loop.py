"""The demo's learning loop without models (``automix demo --recorded-only``): the shipped recordings replayed
as traffic, a router learnt from them without labels, before/after on the recorded test part, the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from automix_core import Router
from automix_demo.loop import learn_loop


def test_learning_loop_from_replayed_recordings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = learn_loop(tmp_path, n_live=0)
    out = capsys.readouterr().out
    assert report is not None
    run = report.parent
    assert report.exists() and report.read_text().count("<svg") == 3
    router = Router.load(run / "router.json")
    assert router.models == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] and router.fitted
    rows = [json.loads(line) for f in (run / "traffic").glob("traffic-*.jsonl") for line in f.read_text().splitlines()]
    assert len(rows) == 70 and all(r["replayed"] is True and r["shadow"] is True for r in rows)
    assert "equal to the gold label on" in out and "In plain words" in out and str(report) in out

    def quality(label: str) -> float:
        m = re.search(rf"{re.escape(label)}\s+([0-9.]+)\s", out)
        assert m is not None, label
        return float(m.group(1))

    # learnt without a label, scored on gold: better than the untrained default, short of always-large
    before, after = quality("before: no router (untrained default)"), quality("after: learnt from traffic")
    assert before < after <= quality("always qwen2.5-coder-1.5b")


def test_learning_loop_without_matplotlib_still_reports_its_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A user who installed `automix[local]` without `plot`: the loop ends with its figures and says how to get
    the report, instead of a traceback (found by the wheel test: the demo exited 1 there)."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert learn_loop(tmp_path, n_live=0) is None
    out = capsys.readouterr().out
    assert "In plain words" in out and "Report not written" in out and "pip install" in out
    routers = list(tmp_path.rglob("router.json"))
    assert len(routers) == 1 and Router.load(routers[0]).fitted and not list(tmp_path.rglob("report.html"))
