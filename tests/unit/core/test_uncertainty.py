"""Bootstrap intervals of the cost-region ΔIBC and paired differences between methods (issue 16),
on synthetic records whose answer is known."""

import math

import numpy as np
import pytest

from automix_core.calibration import uncertainty
from automix_core.calibration.evaluate import (
    DIBC_DEFINITION,
    _labels,
    cost_range,
    evaluate,
    evaluate_selections,
    ref_outcomes,
    refs,
    route_outcome,
    route_point,
    verification_note,
)
from automix_core.calibration.metrics import Point, delta_ibc
from automix_core.calibration.records import RecordArrays
from automix_core.calibration.uncertainty import (
    CaseDifference,
    boot_region_dibc,
    interval,
    pool_cases,
    resample_counts,
)
from automix_core.policies import ThresholdPolicy, get_policy_class
from automix_core.shipped import shipped_records


def test_the_module_face_is_pinned() -> None:
    assert set(uncertainty.__all__) == {"CaseDifference", "Outcome", "PooledDifference", "boot_region_dibc",
                                        "interval", "pool_cases", "resample_counts", "wilson"}


def test_wilson_interval() -> None:
    from automix_core.calibration.uncertainty import wilson

    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)  # textbook values
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(10, 10)
    assert hi == 1.0 and 0.69 < lo < 0.73


def records(n: int, seed: int, *, informative: bool = True, verify: float = 0.0) -> RecordArrays:
    """Small right 60%, large right 85%; the small model's confidence tells its correctness (or not)."""
    rng = np.random.default_rng(seed)
    small = (rng.random(n) < 0.6).astype(float)
    large = np.maximum(small, (rng.random(n) < 0.6).astype(float))
    conf = np.clip((0.3 + 0.4 * small if informative else 0.5) + rng.normal(0, 0.12, n), 0, 1)
    cost = np.tile([1.0, 10.0], (n, 1))
    vcost = np.tile([verify, verify], (n, 1))
    return RecordArrays(("s", "l"), tuple(f"q{i}" for i in range(n)), np.stack([small, large], 1),
                        np.stack([conf, np.ones(n)], 1), cost, vcost)


def test_resample_counts_are_resamples_with_replacement() -> None:
    c = resample_counts(40, 30, seed=1)
    assert c.shape == (30, 40) and np.all(c.sum(axis=1) == 40) and c.min() >= 0
    assert not np.array_equal(c[0], c[1])  # different resamples
    assert np.array_equal(c, resample_counts(40, 30, seed=1))  # reproducible
    with pytest.raises(ValueError):
        resample_counts(0, 10)


def test_boot_region_dibc_on_unit_weights_equals_delta_ibc() -> None:
    data = records(80, 0)
    pol = get_policy_class("threshold").candidates(data, grid=20)[5]
    ones = np.ones((1, len(data)))
    got = boot_region_dibc([route_outcome(pol, data), None], *ref_outcomes(data), ones)
    want = delta_ibc(route_point(pol, data), *refs(data))
    assert got.shape == (1, 2) and got[0, 0] == pytest.approx(want) and got[0, 1] == 0.0
    c, q = route_outcome(pol, data)  # per query, the same point as route_point
    assert Point(float(c.mean()), float(q.mean())) == pytest.approx(route_point(pol, data))


def test_refs_start_from_the_small_model_alone_and_verification_is_paid_by_the_method() -> None:
    data = records(100, 1, verify=2.0)
    small, large = refs(data)
    assert small.cost == pytest.approx(1.0) and large.cost == pytest.approx(10.0)  # no verification in either
    accept_all = ThresholdPolicy(2, thresholds=[0.0])
    point = route_point(accept_all, data)
    assert point.cost == pytest.approx(3.0)  # tier 0 answered and verified
    assert delta_ibc(point, small, large) == pytest.approx(-100.0)  # paid for verification, gained nothing
    assert "alone" in DIBC_DEFINITION and "verification" in DIBC_DEFINITION
    assert verification_note(data) is None
    assert cost_range(data) == pytest.approx((3.0, 13.0))  # the last tier's verification decides nothing
    assert verification_note(records(100, 1, verify=9.5)) is not None  # verified tier 0 dearer than the large


def test_dibc_ci95_brackets_the_point_and_shrinks_with_more_queries() -> None:
    widths = []
    for n in (100, 1600):
        res = evaluate(records(n, 2), records(n, 3), ["threshold"], bootstrap=200)["threshold"]
        lo, hi = res.dibc_ci95 or (math.nan, math.nan)
        assert lo <= res.mean_dibc <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def paired(a: str, b: str, train: RecordArrays, test: RecordArrays, seed: int = 0) -> CaseDifference:
    res = {**evaluate(train, test, [a] if a == b else [a, b])}
    counts = resample_counts(len(test), 300, seed)
    small, large = ref_outcomes(test)
    ra, rb = res[a], res[b]
    assert ra.outcomes is not None and rb.outcomes is not None
    return CaseDifference.of(ra.dibc_regions, rb.dibc_regions,
                             boot_region_dibc(ra.outcomes(test), small, large, counts),
                             boot_region_dibc(rb.outcomes(test), small, large, counts))


def test_a_method_against_itself_differs_by_exactly_zero() -> None:
    d = paired("threshold", "threshold", records(150, 4), records(150, 5))
    assert d.mean == 0.0 and d.ci() == (0.0, 0.0) and d.sign() == 0


def test_paired_interval_contains_zero_for_methods_that_route_alike() -> None:
    # on two tiers with one confidence the POMDP acts as a threshold: same routes, a difference near 0
    diffs = [paired("pomdp", "threshold", records(150, 10 + s), records(150, 20 + s), seed=s) for s in range(3)]
    pooled = pool_cases(diffs)
    assert pooled.ci[0] <= 0.0 <= pooled.ci[1]


def test_paired_interval_excludes_zero_for_a_dominated_method() -> None:
    # self-consistency escalates everything under 0.5 whatever the cost; on an informative confidence a
    # swept threshold dominates it
    train, test = records(400, 6), records(400, 7)
    d = paired("threshold", "self-consistency", train, test)
    assert d.ci()[0] > 0 and d.sign() == 1
    pooled = pool_cases([d, paired("threshold", "self-consistency", records(400, 8), records(400, 9), seed=1)])
    assert pooled.ci[0] > 0 and pooled.above == 2 and pooled.below == 0


def test_pairing_narrows_the_interval_of_a_difference() -> None:
    train, test = records(200, 11), records(200, 12)
    res = evaluate(train, test, ["threshold", "double-threshold"])
    small, large = ref_outcomes(test)
    a, b = res["threshold"].outcomes, res["double-threshold"].outcomes
    assert a is not None and b is not None
    same = resample_counts(len(test), 400, 0)
    other = resample_counts(len(test), 400, 1)
    sa = boot_region_dibc(a(test), small, large, same).mean(axis=1)
    paired_width = np.subtract(*interval(sa - boot_region_dibc(b(test), small, large, same).mean(axis=1))[::-1])
    unpaired_width = np.subtract(*interval(sa - boot_region_dibc(b(test), small, large, other).mean(axis=1))[::-1])
    assert paired_width < unpaired_width


def test_pool_cases_means_cases_and_skips_the_first_region_on_request() -> None:
    a = CaseDifference(np.array([100.0, 1.0, 1.0, 1.0, 1.0]), np.tile([100.0, 1.0, 1.0, 1.0, 1.0], (10, 1)))
    b = CaseDifference(np.array([-100.0, 3.0, 3.0, 3.0, 3.0]), np.tile([-100.0, 3.0, 3.0, 3.0, 3.0], (10, 1)))
    assert pool_cases([a, b]).mean == pytest.approx((20.8 - 17.6) / 2)
    two_to_five = pool_cases([a, b], skip_first=True)
    assert two_to_five.mean == pytest.approx(2.0) and two_to_five.regions[0] == 0.0
    assert a.mean == pytest.approx(20.8) and a.mean_2_5 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        CaseDifference.of([0.0], [0.0], np.zeros((3, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError):
        pool_cases([])


def test_both_selections_fit_once_and_the_paper_one_uses_no_mixture() -> None:
    res = evaluate_selections(records(200, 13), records(200, 14), ["threshold"], ("paper", "extended"))
    assert set(res) == {"paper", "extended"}
    assert not any(c and c.startswith("mix(") for c in res["paper"]["threshold"].chosen)
    assert res["paper"]["oracle"] is res["extended"]["oracle"]  # the references are scored once


def test_setting_labels_are_exact_and_unique() -> None:
    data = records(200, 15)
    pomdps = get_policy_class("pomdp").candidates(data, grid=40)
    for pol in pomdps:  # the label gives the setting's lambda exactly
        assert float(pol.describe().split("lam=")[1].split(",")[0]) == float(pol.lam)  # type: ignore[attr-defined]
    twins = [ThresholdPolicy(2, thresholds=[0.5]) for _ in range(2)]
    assert _labels(twins) == ["threshold(thresholds=[0.5]) #0", "threshold(thresholds=[0.5]) #1"]
    assert len(set(_labels(pomdps))) == len(pomdps)


def test_eval_states_the_definition_beside_its_table(capsys: pytest.CaptureFixture[str]) -> None:

    from automix_core.cli import main

    shipped = shipped_records("pubmedqa-qwen-pair")
    models = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b"
    assert main(["eval", str(shipped), "--models", models, "--unit-costs", "1,15", "--selection", "paper"]) == 0
    out = capsys.readouterr().out
    assert DIBC_DEFINITION in out and "verification not billed" in out and "selection 'paper'" in out
