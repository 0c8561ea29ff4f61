"""The shedding level as backlog samples move it: up at once, down one level at a time after a calm spell."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.settings import Settings
from policies.load_shedding import BacklogSample, Shedder, ShedPolicy

POLICY = ShedPolicy(counts=(100, 1000, 5000), ages=(10.0, 60.0, 300.0), recover_ratio=0.5, recover_samples=3)


def _levels(shedder: Shedder, counts: list[int], age: float = 0.0) -> list[int]:
    return [shedder.observe(BacklogSample(count=count, age_seconds=age)) for count in counts]


def test_levels_rise_at_once_with_the_backlog_count_or_its_age() -> None:
    assert _levels(Shedder(POLICY), [0, 99, 100, 999, 6000]) == [0, 0, 1, 1, 3]
    assert _levels(Shedder(POLICY), [0], age=61.0) == [2]


def test_a_level_falls_only_after_several_calm_samples_and_one_level_at_a_time() -> None:
    shedder = Shedder(POLICY)
    _levels(shedder, [1200])
    # Below level 2's threshold but above half of it: not calm, the level holds.
    assert _levels(shedder, [900, 800, 700, 600]) == [2, 2, 2, 2]
    # Calm for level 2 (under 500), three samples in a row: down to 1; then calm for 1 (under 50).
    assert _levels(shedder, [400, 400, 400]) == [2, 2, 1]
    assert _levels(shedder, [60, 40, 40, 40]) == [1, 1, 1, 0]


def test_a_spike_during_recovery_restarts_the_calm_count() -> None:
    shedder = Shedder(POLICY)
    _levels(shedder, [150])
    assert _levels(shedder, [10, 10, 80, 10, 10, 10]) == [1, 1, 1, 1, 1, 0]


def test_sheds_the_lowest_ranks_first() -> None:
    shedder = Shedder(POLICY)
    _levels(shedder, [150])
    assert [shedder.sheds(rank) for rank in (1, 2, 3)] == [True, False, False]
    _levels(shedder, [5000])
    assert [shedder.sheds(rank) for rank in (1, 2, 3)] == [True, True, True]


@pytest.mark.parametrize(
    "build",
    [
        lambda: ShedPolicy(counts=(), ages=()),
        lambda: ShedPolicy(counts=(1, 2), ages=(1.0,)),
        lambda: ShedPolicy(counts=(1,), ages=(1.0,), recover_ratio=0),
        lambda: ShedPolicy(counts=(1,), ages=(1.0,), recover_samples=0),
    ],
)
def test_a_broken_policy_is_refused(build: Callable[[], ShedPolicy]) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    ("counts", "ages"),
    [([100, 1000], [10.0]), ([1000, 100], [10.0, 60.0]), ([0], [10.0]), ([], [])],
)
def test_settings_refuse_shedding_thresholds_that_do_not_rise_per_level(counts: list[int], ages: list[float]) -> None:
    with pytest.raises(ValueError):
        Settings(shed_backlog_counts=counts, shed_backlog_age_seconds=ages)
