"""Pictures: `automix eval --plot` and `automix_core.calibration.plot` (skipped only when matplotlib is absent)."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from automix_core.calibration.evaluate import cost_range, evaluate
from automix_core.calibration.records import read_records, to_arrays
from automix_core.cli.main import main
from tests.fakes.records import make_records, write_records

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def records(tmp_path: Path) -> Path:
    recs = make_records(300, split="train") + make_records(200, seed=7, split="test")
    return write_records(tmp_path / "r.jsonl", recs)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_eval_plot_writes_a_png(records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "pics" / "curves.png"
    rc = main(["eval", str(records), "--models", "small,large", "--grid", "40", "--plot", str(out)])
    assert rc == 0
    assert out.exists() and out.stat().st_size > 20_000  # a drawn picture, not an empty canvas
    w, h = _png_size(out)
    assert w >= 800 and h >= 500
    assert f"wrote {out}" in capsys.readouterr().out


def test_eval_plot_with_json_keeps_stdout_json(records: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "c.png"
    assert main(["eval", str(records), "--models", "small,large", "--grid", "30", "--json", "--unit-costs", "1,20",
                 "--plot", str(out), "--title", "synthetic"]) == 0
    assert "pomdp" in json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 20_000


def test_plot_figure_content(records: Path) -> None:
    pytest.importorskip("matplotlib")
    from automix_core.calibration.plot import plot_cost_quality

    recs = read_records([str(records)])
    tr = to_arrays([r for r in recs if r.split == "train"], ["small", "large"])
    te = to_arrays([r for r in recs if r.split == "test"], ["small", "large"])
    res = evaluate(tr, te, ["pomdp", "threshold"], grid=30)
    fig = plot_cost_quality(res, title="synthetic: small → large", cost_range=cost_range(tr), cost_unit="units")
    ax = fig.axes[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith("pomdp (ΔIBC") for lab in labels)
    assert {"always small", "always large", "random mixing (small ↔ large)"} <= set(labels)
    assert any(lab.startswith("oracle") for lab in labels)
    assert "cost" in ax.get_xlabel() and "units" in ax.get_xlabel()
    assert "quality" in ax.get_ylabel()
    assert "synthetic" in ax.get_title()
    assert sum(t.get_text().startswith("R") for t in ax.texts) == 5  # the shaded cost regions are labelled


def test_missing_matplotlib_is_a_clear_error(records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "x.png"
    assert main(["eval", str(records), "--models", "small,large", "--plot", str(out)]) == 2
    assert "pip install 'automix[plot]'" in capsys.readouterr().err
    assert not out.exists()
    from automix_core.calibration.plot import require_matplotlib

    with pytest.raises(ImportError, match=r"automix\[plot\]"):
        require_matplotlib()
