import json
from pathlib import Path

import pytest

from automix_core.calibration.records import RecordError, append_record, filter_records, read_records, to_arrays
from tests.fakes.records import make_records, write_records


def test_read_and_stack(tmp_path: Path) -> None:
    p = write_records(tmp_path / "r.jsonl", make_records(20))
    recs = read_records(p)
    assert len(recs) == 20
    arr = to_arrays(recs, ["small", "large"])
    assert arr.score.shape == (20, 2) and arr.confidence.shape == (20, 2)
    assert arr.cost[:, 1].tolist() == [10.0] * 20
    sub = arr.subset(arr.score[:, 0] == 1)
    assert len(sub) == int(arr.score[:, 0].sum())
    unit = arr.with_unit_costs([1, 5])
    assert unit.cost[:, 1].tolist() == [5.0] * 20 and unit.verifier_cost.sum() == 0


def _bad(tmp_path: Path, mutate: object) -> str:
    rec = make_records(1)[0]
    mutate(rec)  # type: ignore[operator]
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(rec).replace("\"__NaN__\"", "NaN") + "\n")
    with pytest.raises(RecordError) as e:
        read_records(p)
    return str(e.value)


def test_nan_score_named(tmp_path: Path) -> None:
    msg = _bad(tmp_path, lambda r: r["outputs"]["small"].__setitem__("score", "__NaN__"))
    assert "bad.jsonl:1" in msg and "NaN" in msg


def test_out_of_range_confidence_named(tmp_path: Path) -> None:
    msg = _bad(tmp_path, lambda r: r["outputs"]["large"].__setitem__("confidence", 1.5))
    assert "outputs.large.confidence" in msg and "q0-0" in msg


def test_missing_models_field(tmp_path: Path) -> None:
    assert "models" in _bad(tmp_path, lambda r: r.pop("models"))


def test_not_json_and_duplicates(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text("{not json\n")
    with pytest.raises(RecordError, match="x.jsonl:1: not valid JSON"):
        read_records(p)
    recs = make_records(2)
    recs[1]["id"] = recs[0]["id"]
    with pytest.raises(RecordError, match="duplicate record id"):
        read_records(write_records(tmp_path / "d.jsonl", recs))


def test_to_arrays_errors(tmp_path: Path) -> None:
    recs = read_records(write_records(tmp_path / "r.jsonl", make_records(3)))
    with pytest.raises(RecordError, match="at least two models"):
        to_arrays(recs, ["small"])
    with pytest.raises(RecordError, match="has no output for model 'medium'"):
        to_arrays(recs, ["small", "medium"])
    with pytest.raises(RecordError, match="no records"):
        to_arrays([], ["small", "large"])


def test_append_record_roundtrip_and_filter(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    for r in make_records(3, split="train") + make_records(2, seed=1, split="test"):
        append_record(p, r)
    recs = read_records(p)
    assert [r.id for r in recs][:3] == ["q0-0", "q0-1", "q0-2"]
    assert len(filter_records(recs, split="test")) == 2
    assert len(filter_records(recs, task="other")) == 0
