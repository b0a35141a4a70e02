"""Agreement labels on the command line; collection with free-text scoring and without gold answers;
the warning of a router that loses against always-large."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from automix_core import Message, Price, PriceTable
from automix_core.calibration.collect import Item, collect, load_jsonl, scorer_for
from automix_core.calibration.records import read_records
from automix_core.cli.main import main
from automix_core.router import Router
from automix_core.testing import ScriptedModel
from tests.fakes.traffic import answered_records


def _write(path: Path, recs: list[object], *, drop_scores: bool = False, split: str | None = None) -> Path:
    lines = []
    for r in recs:
        obj = r.model_dump(exclude_none=True)  # type: ignore[attr-defined]
        if split:
            obj["split"] = split
        if drop_scores:
            for o in obj["outputs"].values():
                o.pop("score", None)
        lines.append(json.dumps(obj))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_calibrate_with_agreement_labels_needs_no_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = _write(tmp_path / "r.jsonl", answered_records(300), drop_scores=True)  # type: ignore[arg-type]
    out = tmp_path / "router.json"
    assert main(["calibrate", str(recs), "--models", "small,large", "-o", str(out)]) == 2
    assert "--labels agreement" in capsys.readouterr().err  # unlabelled: the error names the fix
    assert main(["calibrate", str(recs), "--models", "small,large", "-o", str(out), "--labels", "agreement"]) == 0
    err = capsys.readouterr().err
    assert "agreement labels against large: 600 (300 by auto, 300 by reference)" in err
    assert "rule auto: exact on option letters" in err
    assert Router.load(out).models == ["small", "large"]


def test_eval_with_agreement_train_labels_scores_on_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = _write(tmp_path / "r.jsonl", answered_records(300), split="train")  # type: ignore[arg-type]
    args = ["eval", str(recs), "--models", "small,large", "--cv", "2", "--methods", "pomdp", "--grid", "40"]
    assert main([*args, "--train-labels", "agreement", "--agreement", "exact"]) == 0
    out = capsys.readouterr()
    # "exact" never matches a sentence against a bare name: every small answer is labelled wrong
    assert "300 by exact" in out.err and "equal to the gold label on" in out.err
    assert main([*args, "--train-labels", "agreement", "--agreement", "contain"]) == 0
    agreement_out = capsys.readouterr()
    gold = (float(line.split()[1]) for line in agreement_out.out.splitlines() if line.startswith("pomdp"))
    assert next(gold) > 0  # fitted on agreement labels, scored on gold: the confidence still routes well
    assert "300 by contain" in agreement_out.err


def test_judge_rule_needs_a_judge_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recs = _write(tmp_path / "r.jsonl", answered_records(50))  # type: ignore[arg-type]
    assert main(["calibrate", str(recs), "--models", "small,large", "-o", str(tmp_path / "r.json"), "--labels",
                 "agreement", "--agreement", "judge"]) == 2
    assert "--judge-model" in capsys.readouterr().err


def test_calibrate_warns_when_the_router_loses_against_always_large(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # a verifier that tells nothing and costs more than half the large model: no operating point beats the line
    recs = _write(tmp_path / "r.jsonl", answered_records(300, informative=False, verifier_cost=6.0))  # type: ignore[arg-type]
    assert main(["calibrate", str(recs), "--models", "small,large", "-o", str(tmp_path / "r.json")]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["train_dibc"] < 0
    assert "warning: the fitted router loses against always-large" in cap.err
    good = _write(tmp_path / "g.jsonl", answered_records(300))  # type: ignore[arg-type]
    assert main(["calibrate", str(good), "--models", "small,large", "-o", str(tmp_path / "g.json")]) == 0
    assert "loses against" not in capsys.readouterr().err


# --- collection ---------------------------------------------------------------------------------------------


def test_free_text_scoring_uses_containment_and_number_words() -> None:
    default = scorer_for()
    assert default("The capital of Australia is Canberra.", "Canberra") == 1.0  # token F1 said 0.29
    assert default("A spider has eight legs.", "8") == 1.0  # token F1 said 0.00
    assert default("A spider has six legs.", "8") == 0.0
    assert scorer_for("exact")("The capital of Australia is Canberra.", "Canberra") == 0.0
    assert 0 < scorer_for("f1")("The capital of Australia is Canberra.", "Canberra") < 1
    assert scorer_for(None, ("yes", "no"))("No, it is not.", "no") == 1.0
    with pytest.raises(ValueError, match="judge model"):
        scorer_for("judge")


PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=1),
                            "large": Price(input_per_million=10, output_per_million=10)})


def _tier(name: str, answer: str) -> ScriptedModel:
    def reply(messages: Sequence[Message]) -> str:
        if "Verdict" in messages[0]["content"]:
            return "Justification: ok.\nVerdict: correct"
        return answer

    return ScriptedModel(name, default=reply)


def test_collect_without_gold_answers_labels_by_agreement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "q.jsonl"
    data.write_text('{"id": "1", "question": "Capital of Australia?"}\n{"id": "2", "question": "Legs of a spider?"}\n')
    items = load_jsonl(data)  # no "answer" field: no KeyError
    assert [it.reference for it in items] == [None, None]
    out = tmp_path / "r.jsonl"
    s = collect(items, [_tier("small", "Canberra"), _tier("large", "The capital is Canberra.")], out, prices=PRICES,
                k=1, progress=False)
    assert s.written == 2 and not s.failed
    recs = read_records(out)
    assert all(o.score is None for r in recs for o in r.outputs.values())
    assert all((r.outputs["small"].model_extra or {}).get("agrees") is True for r in recs)
    router = tmp_path / "router.json"
    assert main(["calibrate", str(out), "--models", "small,large", "-o", str(router), "--labels", "agreement"]) == 0
    assert "2 by recorded" not in capsys.readouterr().err  # the texts are there: labelled by the rule


def test_collect_with_gold_scores_free_text_by_containment(tmp_path: Path) -> None:
    items = [Item(id="1", question="Capital of Australia?", reference="Canberra")]
    out = tmp_path / "r.jsonl"
    collect(items, [_tier("small", "The capital of Australia is Canberra."), _tier("large", "Sydney")], out,
            prices=PRICES, k=1, progress=False)
    [rec] = read_records(out)
    assert rec.outputs["small"].score == 1.0 and rec.outputs["large"].score == 0.0
