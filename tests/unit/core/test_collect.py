"""Collection: loaders, scorers, resumable crash-safe output (offline, scripted models)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from automix_core import Message, Price, PriceTable
from automix_core.calibration.collect import (
    Item,
    collect,
    done_ids,
    label_scorer,
    load_contractnli,
    load_jsonl,
    load_pubmedqa,
    repair_tail,
    token_f1,
)
from automix_core.calibration.records import read_records, to_arrays
from automix_core.testing import ScriptedModel

PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=1),
                            "large": Price(input_per_million=10, output_per_million=10)})


def model(name: str, answer: str, verdict: str) -> ScriptedModel:
    def reply(messages: Sequence[Message]) -> str:
        if "Verdict" in messages[0]["content"]:  # the verification prompt's system message
            return f"Justification: ok.\nVerdict: {verdict}"
        return answer

    return ScriptedModel(name, default=reply)


def items(n: int) -> list[Item]:
    return [Item(id=f"q{i}", question=f"Question {i}?", reference="yes", context="Some context.",
                 labels=("yes", "no", "maybe"), instruction="Answer yes, no or maybe.") for i in range(n)]


def test_collect_writes_records_v1_with_verifier_costs(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    s = collect(items(5), [model("small", "No.", "incorrect"), model("large", "Yes, it is.", "correct")], out,
                prices=PRICES, k=3, scorer=label_scorer(["yes", "no", "maybe"]), progress=False)
    assert s.written == 5 and not s.failed and set(s.tiers) == {"small", "large"}
    recs = read_records(out)
    arr = to_arrays(recs, ["small", "large"])
    assert arr.score[:, 0].tolist() == [0.0] * 5 and arr.score[:, 1].tolist() == [1.0] * 5
    assert arr.confidence[:, 0].tolist() == [0.0] * 5 and arr.confidence[:, 1].tolist() == [1.0] * 5
    o = json.loads(out.read_text().splitlines()[0])["outputs"]["small"]
    assert o["verdicts"] == [False] * 3 and len(o["verifier_samples"]) == 3
    assert o["verifier_cost"] > 0 and o["verifier_input_tokens"] > 0 and o["cost"] > 0
    assert {r.split for r in recs} <= {"train", "test"}


def test_resume_skips_done_and_repairs_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    tiers = [model("small", "yes", "correct"), model("large", "yes", "correct")]
    collect(items(3), tiers, out, prices=PRICES, k=1, progress=False)
    with out.open("a") as fh:
        fh.write('{"id": "q3", "outputs": {"sm')  # a line torn by a kill -9
    assert done_ids(out) == {"q0", "q1", "q2"}
    assert out.read_text().endswith("\n")
    s = collect(items(6), tiers, out, prices=PRICES, k=1, progress=False)
    assert (s.skipped, s.written) == (3, 3)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == [f"q{i}" for i in range(6)] and len(ids) == len(set(ids))


def test_failing_query_is_reported_not_fatal_and_stop_event(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    flaky = ScriptedModel("small", replies=[RuntimeError("server down")], default="yes")
    s = collect(items(1), [flaky, model("large", "yes", "correct")], out, prices=PRICES, k=1, progress=False)
    assert s.written == 0 and s.failed and "server down" in s.failed[0][1]
    stop = threading.Event()
    stop.set()
    s = collect(items(4), [model("small", "yes", "correct")], out, prices=PRICES, k=1, progress=False, stop=stop)
    assert s.written == 0 and s.interrupted


def test_corrupt_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("not json\n")
    with pytest.raises(ValueError, match="refusing to append"):
        done_ids(out)
    assert repair_tail(tmp_path / "missing.jsonl") == 0


def test_loaders(tmp_path: Path) -> None:
    pq = tmp_path / "pq.json"
    pq.write_text(json.dumps({"123": {"QUESTION": "Does X help?", "CONTEXTS": ["A.", "B."], "final_decision": "no"}}))
    [it] = load_pubmedqa(pq)
    assert (it.id, it.context, it.reference, it.labels) == ("pubmedqa/123", "A.\nB.", "no", ("yes", "no", "maybe"))
    cn = tmp_path / "cn.json"
    cn.write_text(json.dumps({
        "labels": {"nda-1": {"hypothesis": "No sharing."}},
        "documents": [{"id": 7, "text": "The NDA.", "annotation_sets": [
            {"annotations": {"nda-1": {"choice": "NotMentioned", "spans": []}}}]}],
    }))
    [c] = load_contractnli(cn)
    assert c.reference == "not mentioned" and "No sharing." in c.question and c.context == "The NDA."
    jl = tmp_path / "x.jsonl"
    jl.write_text('{"id": "a", "q": "Q?", "a": "A"}\n\n{"q": "Q2?", "a": "B"}\n')
    got = load_jsonl(jl, question="q", answer="a", context=None)
    assert [g.id for g in got] == ["a", "jsonl/3"]
    with pytest.raises(ValueError, match=r"x.jsonl:1: KeyError"):
        load_jsonl(jl)
    with pytest.raises(ValueError, match="lacks field"):
        pq.write_text(json.dumps({"1": {"QUESTION": "q"}}))
        load_pubmedqa(pq)


def test_scorers() -> None:
    s = label_scorer(["yes", "no", "maybe"])
    assert s("Yes.", "yes") == 1.0 and s("No, it does not.", "yes") == 0.0
    assert s("The answer is maybe; yes in some cases", "maybe") == 1.0  # first label named counts
    assert s("I cannot tell", "no") == 0.0
    nm = label_scorer(["entailment", "contradiction", "not mentioned"])
    assert nm("It is not mentioned.", "not mentioned") == 1.0
    assert token_f1("the Eiffel tower", "Eiffel Tower") == 1.0  # articles dropped (SQuAD-style normalisation)
    assert token_f1("the Eiffel tower in Paris", "Eiffel Tower") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "y") == 0.0
