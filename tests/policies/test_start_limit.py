"""The adaptive width of the fair start queue: it narrows when the engine's latency says starts are queuing
there, widens again when they are not, stays within its bounds, and the queue never lets more out at once
than the width of the moment."""

from __future__ import annotations

import asyncio
import random

import pytest

from policies.start_limit import VegasLimit
from policies.start_queue import FairStartQueue


def test_starts_at_the_ceiling_and_holds_while_latency_stays_at_its_base() -> None:
    limit = VegasLimit(16)
    for _ in range(50):
        assert limit.observe(0.010, in_flight=16) == 16
    assert limit.base == pytest.approx(0.010)


def test_queuing_in_the_engine_narrows_the_width_one_start_at_a_time_down_to_the_floor() -> None:
    limit = VegasLimit(16, floor=2, alpha=0.5, beta=1.0)
    limit.observe(0.010, in_flight=16)
    widths = [limit.observe(0.100, in_flight=16) for _ in range(30)]
    # Ten times the base latency: nine in ten starts out are waiting in the engine, far above beta.
    assert widths[:3] == [15, 14, 13]
    assert widths[-1] == 2 and min(widths) == 2


def test_the_width_settles_where_the_estimated_queue_drops_below_beta() -> None:
    limit = VegasLimit(16, floor=1, alpha=2.0, beta=4.0)
    limit.observe(0.010, in_flight=16)
    for _ in range(30):
        limit.observe(0.100, in_flight=16)
    # 4 * (1 - 10/100) = 3.6 starts queued is within beta, 5 * 0.9 = 4.5 is not.
    assert limit.limit == 4


def test_a_latency_back_at_its_base_widens_it_again_up_to_the_ceiling() -> None:
    limit = VegasLimit(8, floor=2, alpha=0.5, beta=1.0)
    limit.observe(0.010, in_flight=8)
    for _ in range(20):
        limit.observe(0.200, in_flight=8)
    assert limit.limit == 2
    widths = [limit.observe(0.0101, in_flight=limit.limit) for _ in range(10)]
    assert widths[:3] == [3, 4, 5]
    assert widths[-1] == 8


def test_between_alpha_and_beta_the_width_holds() -> None:
    limit = VegasLimit(10, alpha=2.0, beta=4.0)
    limit.observe(0.010, in_flight=10)
    # 10 * (1 - 10/13) = 2.3 starts queued: more than alpha, fewer than beta.
    assert [limit.observe(0.013, in_flight=10) for _ in range(5)] == [10] * 5


def test_an_idle_gateway_does_not_widen_on_evidence_of_a_width_it_does_not_use() -> None:
    limit = VegasLimit(16, floor=2, alpha=2.0, beta=4.0)
    limit.observe(0.010, in_flight=1)
    for _ in range(20):
        limit.observe(0.100, in_flight=16)
    narrowed = limit.limit
    assert narrowed == 4
    for _ in range(20):
        limit.observe(0.010, in_flight=1)  # fast, but one start out of `narrowed` allowed
    assert limit.limit == narrowed


def test_a_base_the_engine_no_longer_reaches_is_forgotten_after_two_windows() -> None:
    limit = VegasLimit(16, floor=2, window=10)
    limit.observe(0.001, in_flight=16)  # a fast start once, e.g. before the database grew
    for _ in range(30):
        limit.observe(0.050, in_flight=limit.limit)
    # Measured against 1 ms every 50 ms start looked queued and the width fell; once that minimum aged out
    # of both windows, 50 ms is the base and the width climbs back.
    assert limit.base == pytest.approx(0.050)
    assert limit.limit > 2


def test_nonsense_latencies_are_ignored_and_bad_bounds_refused() -> None:
    limit = VegasLimit(4)
    for rtt in (0.0, -1.0, float("nan"), float("inf")):
        assert limit.observe(rtt, in_flight=4) == 4
    assert limit.base == float("inf")
    with pytest.raises(ValueError, match="floor"):
        VegasLimit(4, floor=5)
    with pytest.raises(ValueError, match="alpha"):
        VegasLimit(4, alpha=3.0, beta=2.0)
    with pytest.raises(ValueError, match="ceiling"):
        FairStartQueue(in_flight=4, per_tenant_waiting=1, max_wait_seconds=1, adaptive=VegasLimit(8))


async def test_the_queue_lets_out_no_more_than_the_width_of_the_moment_and_every_start_runs() -> None:
    limit = VegasLimit(8, floor=2, window=1000)
    queue = FairStartQueue(in_flight=8, per_tenant_waiting=1000, max_wait_seconds=30, adaptive=limit)
    rng = random.Random(5)
    running = done = 0
    over: list[tuple[int, int]] = []

    async def start(tenant: str) -> None:
        nonlocal running, done
        await asyncio.sleep(rng.random() / 200)
        async with queue.slot(tenant):
            running += 1
            if running > queue.in_flight_limit + 1:
                # One over is allowed for a moment: a width that narrows takes effect as calls finish.
                over.append((running, queue.in_flight_limit))
            # An engine whose latency grows with the starts out at once, 4 ms more for each: steep enough that
            # a busy machine's scheduling delay does not hide it.
            await asyncio.sleep(0.004 * running)
            running -= 1
            done += 1

    await asyncio.gather(*(start(rng.choice("ab")) for _ in range(200)))
    assert done == 200 and queue.in_flight == 0 and queue.waiting() == 0
    assert not over
    # Latency that rises with every start out keeps the width below its ceiling.
    assert limit.limit < 8


async def test_a_narrowed_queue_serves_a_quiet_tenant_next_and_widens_when_the_engine_is_quick() -> None:
    limit = VegasLimit(4, floor=1, alpha=0.5, beta=1.0, window=1000)
    queue = FairStartQueue(in_flight=4, per_tenant_waiting=100, max_wait_seconds=30, adaptive=limit)
    limit.observe(0.001, in_flight=4)
    for _ in range(10):
        limit.observe(0.050, in_flight=4)
    assert queue.in_flight_limit == 1
    served: list[str] = []
    release = asyncio.Event()

    async def start(name: str, tenant: str, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant):
            served.append(name)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("a0", "a", release))
    await asyncio.sleep(0)
    flood = [asyncio.create_task(start(f"a{n}", "a")) for n in range(1, 6)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(start("b1", "b"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert served == ["a0"] and queue.waiting() == 6
    release.set()
    await asyncio.gather(holder, quiet, *flood)
    assert served[:3] == ["a0", "a1", "b1"]
    # Quick starts (well under the 50 ms that narrowed it) widened the queue again on the way.
    assert queue.in_flight_limit > 1


def test_the_gateways_default_band_narrows_a_flooded_engine_to_its_floor() -> None:
    limit = VegasLimit(16)  # as `api.admission.starts` builds it, floor 2 and a band of 1 to 2 queued
    limit.observe(0.020, in_flight=16)
    for _ in range(20):
        limit.observe(0.100, in_flight=16)
    # Five times the base: four in five starts out wait; 3 * 0.8 = 2.4 is above the band, 2 * 0.8 = 1.6 in it.
    assert limit.limit == 2
