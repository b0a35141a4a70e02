import math

import numpy as np
import pytest

from automix_core.calibration.metrics import Point, auc_normalized, cost_to_recover, delta_ibc, ibc, region_dibc

S, L = Point(1.0, 0.5), Point(11.0, 0.7)  # baseline slope 0.02 per unit cost


def test_ibc_and_delta() -> None:
    assert ibc(L, S) == pytest.approx(0.02)
    assert delta_ibc(Point(3.0, 0.6), S, L) == pytest.approx(150.0)  # slope 0.05 = 2.5x baseline
    assert delta_ibc(Point(6.0, 0.6), S, L) == pytest.approx(0.0)
    assert delta_ibc(Point(6.0, 0.5), S, L) == pytest.approx(-100.0)
    assert delta_ibc(Point(1.0, 0.9), S, L) == 0.0  # no added cost: no lift measured
    assert math.isnan(delta_ibc(Point(3, 0.6), S, Point(11, 0.4)))  # large worse than small


def test_region_protocol_picks_on_train_and_scores_test() -> None:
    train = [Point(2.0, 0.56), Point(2.5, 0.60), Point(8.0, 0.70)]
    test = [Point(2.0, 0.52), Point(2.5, 0.62), Point(8.0, 0.66)]
    vals, chosen = region_dibc(train, test, (S, L), (S, L), (1.0, 11.0), regions=5)
    # region 1 [1,3): best train dibc is index 1 (slope .0667 vs .06); region 4 [7,9): index 2
    assert chosen == [1, None, None, 2, None]
    assert vals[0] == pytest.approx(100 * ((0.12 / 1.5) - 0.02) / 0.02)
    assert vals[1] == 0.0 and vals[2] == 0.0 and vals[4] == 0.0
    assert vals[3] == pytest.approx(100 * ((0.16 / 7) - 0.02) / 0.02)


def test_a_point_on_a_region_edge_counts_in_both_regions_however_it_was_rounded() -> None:
    ratio = 14.974349131011373
    edge = 1.0 + (ratio - 1.0) / 5  # the edge between regions 1 and 2 of [1, ratio]
    for cost in (np.nextafter(edge, 0.0), edge, np.nextafter(edge, 20.0)):
        train = [Point(1.0 + 0.01 * ratio, 0.501), Point(float(cost), 0.56), Point(edge + 0.5, 0.561)]
        test = list(train)
        refs = (Point(1.0, 0.5), Point(ratio, 0.6))
        _, chosen = region_dibc(train, test, refs, refs, (1.0, ratio), regions=5)
        assert chosen[:2] == [1, 1]  # the best slope in region 1, and still the best of region 2


def test_settings_level_on_train_are_decided_by_cost_not_by_rounding() -> None:
    refs = (Point(1.0, 0.5), Point(11.0, 0.7))
    # three collinear train points (the same slope from the small model's point), one above them
    for wobble in (0.0, 1e-15, -1e-15):
        train = [Point(2.0, 0.53 + wobble), Point(3.0, 0.56), Point(4.0, 0.59 - wobble), Point(5.0, 0.6)]
        test = [Point(2.0, 0.5), Point(3.0, 0.55), Point(4.0, 0.6), Point(5.0, 0.6)]
        _, chosen = region_dibc(train, test, refs, refs, (1.0, 11.0), regions=2)
        assert chosen == [2, None]


def test_auc_and_recovery() -> None:
    assert auc_normalized([], S, L, (1, 11)) == pytest.approx(0.0)
    instant = auc_normalized([Point(1.0, 0.7)], S, L, (1, 11))
    assert instant == pytest.approx(1.0)
    line = auc_normalized([Point(1 + i * 0.1, 0.5 + 0.002 * i) for i in range(101)], S, L, (1, 11))
    assert 0.45 < line < 0.55
    pts = [Point(2, 0.55), Point(4, 0.62), Point(9, 0.7)]
    assert cost_to_recover(pts, S, L, 0.5) == 4
    assert cost_to_recover(pts, S, L, 0.8) == 9
    assert cost_to_recover(pts[:2], S, L, 0.8) is None
