from collections.abc import Sequence

import numpy as np
import pytest

from automix_core.calibration.evaluate import route_point
from automix_core.calibration.records import Record, RecordArrays, to_arrays
from automix_core.policies import (
    KERNEL_SCALE,
    POLICIES,
    DoubleThresholdPolicy,
    Policy,
    PolicyError,
    POMDPPolicy,
    SelfConsistencyPolicy,
    ThresholdPolicy,
    get_policy_class,
)
from tests.fakes.records import make_records


def arrays(n: int = 400, models: tuple[str, ...] = ("small", "large"), seed: int = 0) -> RecordArrays:
    return to_arrays([Record.model_validate(r) for r in make_records(n, models, seed)], list(models))


def test_registry_and_unknown_name() -> None:
    assert set(POLICIES) == {"threshold", "double-threshold", "self-consistency", "greedy", "pomdp"}
    with pytest.raises(PolicyError, match="unknown policy 'nope'.*pomdp"):
        get_policy_class("nope")


def test_threshold_decisions() -> None:
    p = ThresholdPolicy(3, [0.6, 0.7])
    assert p.decide([(0, 0.9)]).action == "accept"
    d = p.decide([(0, 0.1)])
    assert (d.action, d.tier) == ("escalate", 1)
    assert p.decide([(0, 0.1), (1, 0.65)]).tier == 2
    assert p.decide([(0, 0.1), (1, 0.1), (2, 0.0)]).action == "accept"
    assert SelfConsistencyPolicy(2).decide([(0, 0.51)]).action == "accept"
    assert SelfConsistencyPolicy(2).decide([(0, 0.49)]).action == "escalate"
    assert p.decide([(0, 0.6)]).action == "accept"  # a fitted threshold accepts at its value


def test_untrained_rule_needs_more_than_half() -> None:
    # "accept when most verdicts say correct": 4 of 8 (exactly 0.5) is no majority, live and on records alike
    assert SelfConsistencyPolicy(2).decide([(0, 0.5)]).action == "escalate"
    answer, _ = SelfConsistencyPolicy(2).route(np.array([[0.5, 1.0], [0.625, 1.0]]))
    assert answer.tolist() == [1, 0]


def test_double_threshold_keeps_hopeless_answers() -> None:
    p = DoubleThresholdPolicy(2, [0.2], [0.8])
    assert p.decide([(0, 0.1)]).action == "accept"
    assert p.decide([(0, 0.5)]).action == "escalate"
    assert p.decide([(0, 0.9)]).action == "accept"


@pytest.mark.parametrize("bad", [[], [(0, float("nan"))], [(0, 1.5)], [(3, 0.5)], [(1, 0.5), (0, 0.5)]])
def test_bad_observations_rejected(bad: list[tuple[int, float]]) -> None:
    with pytest.raises(PolicyError):
        ThresholdPolicy(2, [0.5]).decide(bad)


def test_fewer_than_two_tiers_rejected() -> None:
    with pytest.raises(PolicyError, match="at least two tiers"):
        ThresholdPolicy(1, [])


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("tiers", [2, 3])
def test_route_matches_decide(name: str, tiers: int) -> None:
    models = ("a", "b", "c")[:tiers]
    data = arrays(150, models)
    cands = get_policy_class(name).candidates(data, grid=12)
    rng = np.random.default_rng(1)
    for pol in [cands[i] for i in rng.choice(len(cands), size=min(4, len(cands)), replace=False)]:
        fast_answer, fast_visited = pol.route(data.confidence)
        slow_answer, slow_visited = Policy.route(pol, data.confidence)  # the loop over decide()
        assert np.array_equal(fast_answer, slow_answer), pol.describe()
        assert np.array_equal(fast_visited, slow_visited), pol.describe()


def _p_small_right(belief: dict[str, float]) -> float:
    return sum(v for s, v in belief.items() if s[0] == "1")


def test_pomdp_escalates_low_confidence_and_frontier_spans_costs() -> None:
    data = arrays(400)
    pol = POMDPPolicy.fit(data, lam=0.03)
    lo = pol.decide([(0, 0.05)])
    hi = pol.decide([(0, 0.99)])
    assert lo.action == "escalate" and hi.action == "accept"
    assert lo.belief is not None and abs(sum(lo.belief.values()) - 1) < 1e-9
    # a small model that is confident is believed right more often than an unsure one
    assert hi.belief is not None and lo.belief is not None
    assert _p_small_right(hi.belief) > _p_small_right(lo.belief)
    cands = POMDPPolicy.candidates(data, grid=40)
    costs = sorted(route_point(p, data).cost for p in cands)
    assert costs[0] == pytest.approx(1.0)  # never escalate
    assert costs[-1] > 10.0  # escalate (almost) everything
    # costs spread over the range: no gap wider than a third of it
    assert max(np.diff(costs)) < (costs[-1] - costs[0]) / 3


def test_pomdp_kernel_scale_sets_how_smooth_the_escalation_gain_is() -> None:
    data = arrays(400)
    rough = POMDPPolicy.fit(data, lam=0.03, kernel_scale=0.3).model.escalation_gain(1)
    default = POMDPPolicy.fit(data, lam=0.03).model.escalation_gain(1)
    smooth = POMDPPolicy.fit(data, lam=0.03, kernel_scale=6.0).model.escalation_gain(1)

    def wiggle(g: np.ndarray) -> float:  # total variation over the grid
        return float(np.abs(np.diff(g)).sum())

    assert wiggle(rough) > wiggle(default) > wiggle(smooth)
    assert np.array_equal(default, POMDPPolicy.fit(data, lam=0.03, kernel_scale=KERNEL_SCALE).model.escalation_gain(1))
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(PolicyError, match="kernel_scale must be a finite number > 0"):
            POMDPPolicy.candidates(data, grid=10, kernel_scale=bad)


def test_pomdp_higher_lambda_never_costs_more() -> None:
    data = arrays(300)
    costs = [route_point(POMDPPolicy.fit(data, lam=lam), data).cost for lam in (0.0, 0.001, 0.01, 0.03, 1.0)]
    assert costs == sorted(costs, reverse=True)
    assert costs[-1] == pytest.approx(1.0)


def test_pomdp_fits_from_50_records_and_three_tiers() -> None:
    small = arrays(50, seed=3)
    pol = POMDPPolicy.fit(small, lam=0.01)
    assert pol.decide([(0, 0.02)]).action == "escalate"
    three = arrays(300, ("a", "b", "c"))
    p3 = POMDPPolicy.fit(three, lam=0.001)
    answer, visited = p3.route(three.confidence)
    assert visited[:, 0].all() and set(np.unique(answer)) <= {0, 1, 2}
    assert visited[:, 2].any()  # some queries reach the top tier
    d = p3.decide([(0, 0.01)])
    assert d.action == "escalate" and d.tier in (1, 2)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_params_roundtrip(name: str) -> None:
    data = arrays(120)
    cls = get_policy_class(name)
    pol = cls.candidates(data, grid=10)[len(cls.candidates(data, grid=10)) // 2]
    again = cls.from_params(2, pol.params())
    a1, v1 = pol.route(data.confidence)
    a2, v2 = again.route(data.confidence)
    assert np.array_equal(a1, a2) and np.array_equal(v1, v2)


def _routes(pols: Sequence[Policy], data: RecordArrays) -> set[bytes]:
    return {pol.route(data.confidence)[1].tobytes() for pol in pols}


@pytest.mark.parametrize("tiers", [2, 3])
def test_two_tier_pomdp_closed_form_matches_the_dynamic_programme(
    tiers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = arrays(300, ("a", "b", "c")[:tiers], seed=3)
    cands = [p for p in POMDPPolicy.candidates(data, grid=40) if isinstance(p, POMDPPolicy) and len(p.tiers) == 2]
    assert cands
    fast = [p.route(data.confidence) for p in cands]
    fast_decisions = [[p.decide([(0, float(c))]) for c in data.confidence[:25, 0]] for p in cands]
    monkeypatch.setattr(POMDPPolicy, "_pair", property(lambda self: None))  # force the general DP
    for p, (answer, visited), decisions in zip(cands, fast, fast_decisions):
        p._memo.clear()
        p._last_route = None
        slow_answer, slow_visited = p.route(data.confidence)
        assert np.array_equal(answer, slow_answer) and np.array_equal(visited, slow_visited), p.describe()
        slow = [p.decide([(0, float(c))]) for c in data.confidence[:25, 0]]
        assert [(d.action, d.tier) for d in decisions] == [(d.action, d.tier) for d in slow]


def test_two_tier_pomdp_candidates_enumerate_every_distinct_policy() -> None:
    data = arrays(300, seed=4)
    cands = POMDPPolicy.candidates(data)
    model = cands[0].model  # type: ignore[attr-defined]
    costs = cands[0].tier_costs  # type: ignore[attr-defined]
    lams = np.concatenate([np.linspace(-0.3, 0.3, 4001), [-30.0, 30.0]])
    swept = [POMDPPolicy(2, model, costs, lam) for lam in lams]
    assert _routes(swept, data) <= _routes(cands, data)
    assert len(_routes(cands, data)) == len(cands)  # and no duplicates
    assert len(POMDPPolicy.candidates(data, grid=10)) <= 12  # a coarse grid thins them


@pytest.mark.parametrize("name", ["pomdp", "threshold", "double-threshold"])
@pytest.mark.parametrize("tiers", [2, 3])
def test_grouped_route_point_equals_routing_every_record(name: str, tiers: int) -> None:
    data = arrays(250, ("a", "b", "c")[:tiers], seed=5)
    cands = get_policy_class(name).candidates(data, grid=15)
    assert all(p.route_key(data.confidence) is not None for p in cands)
    for pol in cands[:: max(1, len(cands) // 12)]:
        grouped = route_point(pol, data)
        answer, visited = Policy.route(pol, data.confidence)  # every record through decide()
        observed = visited.copy()
        if not pol.observes_last:
            last = visited.shape[1] - 1 - np.argmax(visited[:, ::-1], axis=1)
            observed[np.arange(len(last)), last] = False
            observed[:, 0] = True
        cost = ((visited * data.cost).sum(axis=1) + (observed * data.verifier_cost).sum(axis=1)).mean()
        quality = data.score[np.arange(len(answer)), answer].mean()
        assert grouped.cost == pytest.approx(cost, rel=1e-12) and grouped.quality == pytest.approx(quality, rel=1e-12)


def test_batch_points_of_two_tier_pomdp_equal_routing_each() -> None:
    train, other = arrays(300, seed=6), arrays(200, seed=7)
    cands = POMDPPolicy.candidates(train, grid=60)
    for data in (train, other):
        fast = POMDPPolicy.batch_points(cands, data)
        assert fast is not None and len(fast) == len(cands)
        for pol, pt in zip(cands, fast):
            slow = route_point(pol, data)
            assert pt.cost == pytest.approx(slow.cost, rel=1e-12)
            assert pt.quality == pytest.approx(slow.quality, abs=1e-12)
    three = arrays(200, ("a", "b", "c"), seed=8)
    assert POMDPPolicy.batch_points(POMDPPolicy.candidates(three, grid=10), three) is None  # N tiers: route each
    assert ThresholdPolicy.batch_points(ThresholdPolicy.candidates(train, grid=10), train) is None
