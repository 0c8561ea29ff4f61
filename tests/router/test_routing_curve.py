"""The routing benchmark's cost/quality curve: equal scores are one block, whatever the table's order."""

from __future__ import annotations

import random

import pytest

from benchmarks.routing_curves import cost_at_quality, curve, curve_in_table_order


def test_tied_scores_count_with_their_mean_gain_not_in_table_order() -> None:
    # Four rows with one score: the first two gain from the large tier, the last two do not.
    small, large = [0, 0, 1, 1], [1, 1, 1, 1]
    tied = curve([0.5] * 4, small, large)
    by_index = curve_in_table_order([0.5] * 4, small, large)
    half = dict(tied)[0.5]
    # Half of the block goes large: on average half of its gain (2 rows) is recovered, quality 0.5 + 0.25.
    assert half == pytest.approx(0.75)
    # Broken by row index, the gaining rows happen to come first: a gain no router earned.
    assert dict(by_index)[0.5] == pytest.approx(1.0)
    assert tied[0] == (0.0, 0.5) and tied[-1] == (1.0, 1.0)


def test_the_curve_does_not_depend_on_the_order_of_rows() -> None:
    rng = random.Random(3)
    rows = [(rng.choice([0.1, 0.4, 0.4, 0.7, 0.9]), rng.randrange(2), 1) for _ in range(400)]
    shuffled = rows[:]
    rng.shuffle(shuffled)
    curves = [curve([r[0] for r in rs], [r[1] for r in rs], [r[2] for r in rs]) for rs in (rows, shuffled)]
    assert [q for _, q in curves[0]] == pytest.approx([q for _, q in curves[1]])
    # Distinct scores: blocks of one row, the same curve as any tie-break.
    scores = [rng.random() for _ in range(300)]
    small = [rng.randrange(2) for _ in scores]
    large = [1] * len(scores)
    blocks, in_order = curve(scores, small, large), curve_in_table_order(scores, small, large)
    assert [q for _, q in blocks] == pytest.approx([q for _, q in in_order])
    # Quality never falls as more rows go large when large never loses to small.
    quality = [q for _, q in curve(scores, small, large)]
    assert quality == sorted(quality)
    assert cost_at_quality(curve(scores, small, large), 2.0) == pytest.approx(1.0)
