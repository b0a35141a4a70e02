"""Issue 17 in the core: prices checked when the cascade is built, programming errors surfaced,
router names checked, eval's empty cost range explained, calibrate on the train split."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from automix_core import AutoMix, Price, PriceTable
from automix_core.accounting.prices import PRESET_PRICES
from automix_core.backends.local import MODELS
from automix_core.cli.main import main
from automix_core.errors import UnknownPriceError
from automix_core.integration import is_programming_error, model_error, surfaced
from automix_core.router import Router, coerce_router
from automix_core.shipped import shipped_records
from automix_core.testing import ScriptedModel
from tests.fakes.records import make_records, write_records

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))


def test_default_table_prices_the_local_catalog() -> None:
    table = PriceTable()
    for name, local in MODELS.items():
        assert table.lookup(name) == local.price
    assert table.lookup("gpt-4o") == PRESET_PRICES["gpt-4o"]


def test_unknown_price_raises_when_built_not_mid_request() -> None:
    small = ScriptedModel("smollm2-135m", default="yes")
    with pytest.raises(UnknownPriceError, match=r"tier 1 \('mystery'\).*with_prices.*PriceTable\(default="):
        AutoMix([small, ScriptedModel("mystery", default="yes")])
    assert small.calls == []
    AutoMix([small, ScriptedModel("qwen2.5-coder-1.5b", default="yes")])  # catalog models are priced


def test_programming_error_is_raised_unchanged_without_escalation() -> None:
    bug = TypeError("bad operand")
    small, large = ScriptedModel("small", replies=[bug, bug, bug]), ScriptedModel("large", default="yes")
    mix = AutoMix([small, large], prices=PRICES, retries=2, k=1)
    with pytest.raises(TypeError) as info:
        mix.run("q?")
    assert info.value is bug and len(small.calls) == 1 and large.calls == []


async def test_programming_error_is_raised_unchanged_async() -> None:
    bug = KeyError("question")
    mix = AutoMix([ScriptedModel("small", replies=[bug]), ScriptedModel("large", default="yes")], prices=PRICES, k=1)
    with pytest.raises(KeyError) as info:
        await mix.arun("q?")
    assert info.value is bug


def test_model_error_keeps_the_cause_for_surfacing() -> None:
    bug = TypeError("x")
    wrapped = model_error("tier 0 (small) answer failed", bug)
    assert wrapped.__cause__ is bug and not wrapped.retryable and surfaced(wrapped) is bug
    assert is_programming_error(bug) and not is_programming_error(RuntimeError("down"))
    assert not is_programming_error(TimeoutError()) and surfaced(model_error("w", RuntimeError("503"))) is None

    class BadRequest(ValueError):
        status_code = 400

    class NotFound(LookupError):
        status_code = 404

    assert not is_programming_error(BadRequest()) and not is_programming_error(NotFound())


# -- bug 4: an undefined ΔIBC is explained, not a table of zeros; a dear verification is pointed out ----

SHIPPED = shipped_records("pubmedqa-qwen-pair")
QWEN = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"


def test_eval_on_the_shipped_recording_explains_what_its_costs_mean(capsys: pytest.CaptureFixture[str]) -> None:
    # recorded costs: ΔIBC starts from the 0.5B alone, which is cheaper than the 1.5B, so it is defined;
    # but the 0.5B with its k=8 verification costs more than the 1.5B alone, which the output says
    assert main(["eval", str(SHIPPED), "--models", QWEN]) == 0
    captured = capsys.readouterr()
    assert "mean ΔIBC" in captured.out and "tier 0's answer alone" in captured.out
    assert "dearer than the large model" in captured.err and "--unit-costs" in captured.err
    pomdp = next(line for line in captured.out.splitlines() if line.startswith("pomdp"))
    assert float(pomdp.split()[1]) < 0  # verification paid out of the gain: below the small-to-large line
    # a large tier no dearer than the small one: ΔIBC undefined, explained instead of a table of zeros
    rc = main(["eval", str(SHIPPED), "--models", QWEN, "--unit-costs", "1,1"])
    captured = capsys.readouterr()
    assert rc == 1 and "mean ΔIBC" not in captured.out
    assert "undefined" in captured.err and "--unit-costs 1,15" in captured.err
    assert main(["eval", str(SHIPPED), "--models", QWEN, "--unit-costs", "1,15"]) == 0
    out = capsys.readouterr().out
    assert "oracle" in out and any(float(line.split()[1]) != 0.0 for line in out.splitlines()[2:]
                                   if line.startswith("oracle"))


def test_plot_puts_always_small_on_the_curves_cost_basis(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from automix_core.calibration.evaluate import cost_range, evaluate
    from automix_core.calibration.plot import plot_cost_quality
    from automix_core.calibration.records import read_records, to_arrays

    recs = read_records([str(SHIPPED)])
    models = QWEN.split(",")
    train = to_arrays([r for r in recs if r.split == "train"], models).with_unit_costs([1, 15])
    test = to_arrays([r for r in recs if r.split == "test"], models).with_unit_costs([1, 15])
    res = evaluate(train, test, ["threshold"])
    fig = plot_cost_quality(res, title="t", cost_range=cost_range(train))
    lines = {str(ln.get_label()): ln for ln in fig.axes[0].get_lines()}
    small = next(v for k, v in lines.items() if k.startswith("always qwen2.5-coder-0.5b"))
    xs: Any = small.get_xdata()
    assert float(xs[0]) == pytest.approx(cost_range(train)[0])


# -- friction: calibrate on the train split, router names -------------------------------------------------

def test_calibrate_uses_the_train_split_by_default_and_says_so(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    recs = make_records(300, split="train") + make_records(200, seed=7, split="test")
    path = write_records(tmp_path / "r.jsonl", recs)
    assert main(["calibrate", str(path), "--models", "small,large", "-o", str(tmp_path / "r.json")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["split"] == "train" and info["records"] == 300
    plain = write_records(tmp_path / "p.jsonl", make_records(100))
    assert main(["calibrate", str(plain), "--models", "small,large", "-o", str(tmp_path / "p.json")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["split"] == "all" and info["records"] == 100


def test_router_for_other_model_names_warns_naming_both() -> None:
    router = Router.default(["gpt-4o-mini", "gpt-4o"])
    with pytest.warns(UserWarning, match=r"\['gpt-4o-mini', 'gpt-4o'\].*\['small', 'large'\]"):
        coerce_router(router, ["small", "large"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coerce_router(router, ["gpt-4o-mini", "gpt-4o"])
