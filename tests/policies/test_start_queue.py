"""The fair start queue: a flood of one tenant's starts does not hold back another tenant's, no slot is ever
lost or doubled, and a start that cannot get a slot is refused with a time to come back."""

from __future__ import annotations

import asyncio
import random

import pytest

from policies.start_queue import FairStartQueue, StartQueueFull, StartWaitExpired


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_quiet_tenants_start_is_served_next_not_after_the_flood() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=100, max_wait_seconds=30)
    served: list[str] = []
    release = asyncio.Event()

    async def start(name: str, tenant: str, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant):
            served.append(name)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("a0", "a", release))
    await _settle()
    flood = [asyncio.create_task(start(f"a{n}", "a")) for n in range(1, 21)]
    await _settle()
    quiet = asyncio.create_task(start("b1", "b"))
    await _settle()
    assert queue.waiting("a") == 20 and queue.waiting("b") == 1
    release.set()
    await asyncio.gather(holder, quiet, *flood)

    # First in, first out would serve b1 last, after all twenty of a's; round-robin serves it second.
    assert served[:3] == ["a0", "a1", "b1"]
    assert sorted(served) == sorted(["a0", "b1", *(f"a{n}" for n in range(1, 21))])
    assert queue.in_flight == 0 and queue.waiting() == 0


async def test_tenants_take_turns_while_each_has_starts_waiting() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=100, max_wait_seconds=30)
    served: list[str] = []
    release = asyncio.Event()

    async def start(tenant: str, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant):
            served.append(tenant)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("x", release))
    await _settle()
    tasks = [asyncio.create_task(start("a")) for _ in range(6)]
    await _settle()
    tasks += [asyncio.create_task(start("b")) for _ in range(3)]
    await _settle()
    tasks += [asyncio.create_task(start("c")) for _ in range(2)]
    await _settle()
    release.set()
    await asyncio.gather(holder, *tasks)
    assert "".join(served) == "xabcabcabaaa"


async def _served_in_order(queue: FairStartQueue, lines: list[tuple[str, int, float]]) -> str:
    """Hold the one slot, put each (tenant, starts, weight) line in the queue in that order, then release:
    the order the starts were served in."""
    served: list[str] = []
    release = asyncio.Event()

    async def start(tenant: str, weight: float, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant, weight):
            served.append(tenant)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("x", 1.0, release))
    await _settle()
    tasks = []
    for tenant, count, weight in lines:
        tasks += [asyncio.create_task(start(tenant, weight)) for _ in range(count)]
        await _settle()
    release.set()
    await asyncio.gather(holder, *tasks)
    assert queue.in_flight == 0 and queue.waiting() == 0
    return "".join(served[1:])


async def test_a_turn_is_as_long_as_the_plan_weight() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=100, max_wait_seconds=30)
    # While both wait, a weight-3 tenant gets three starts for each one of a weight-1 tenant...
    order = await _served_in_order(queue, [("a", 9, 3.0), ("b", 5, 1.0)])
    assert order == "aaabaaabaaabbb"
    # ...whichever of them got in line first.
    order = await _served_in_order(queue, [("b", 5, 1.0), ("a", 9, 3.0)])
    assert order == "baaabaaabaaabb"


async def test_a_weight_below_one_gets_a_start_every_few_turns() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=100, max_wait_seconds=30)
    # Weight 0.5 against 1: one start for every two of the other's, once the other's line is done all of it.
    assert await _served_in_order(queue, [("a", 6, 0.5), ("b", 6, 1.0)]) == "babbabbabaaa"
    assert await _served_in_order(queue, [("b", 6, 1.0), ("a", 6, 0.5)]) == "bbabbabbaaaa"


async def test_shares_follow_the_weights_under_a_long_backlog() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=1000, max_wait_seconds=30)
    order = await _served_in_order(queue, [("f", 200, 1.0), ("p", 200, 5.0), ("e", 400, 20.0)])
    first = order[:260]  # ten whole rounds: 1 + 5 + 20 starts each
    assert (first.count("f"), first.count("p"), first.count("e")) == (10, 50, 200)


async def test_a_weight_must_be_positive() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=10, max_wait_seconds=30)
    for weight in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            async with queue.slot("a", weight):
                pytest.fail("a start with no weight got a slot")
    assert queue.in_flight == 0


async def test_a_full_line_refuses_that_tenant_only_and_queues_nothing() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=2, max_wait_seconds=30)
    release = asyncio.Event()

    async def start(tenant: str, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant):
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("a", release))
    await _settle()
    waiting = [asyncio.create_task(start("a")) for _ in range(2)]
    await _settle()
    with pytest.raises(StartQueueFull) as refused:
        await start("a")
    assert refused.value.retry_after_seconds >= 1
    assert queue.waiting("a") == 2
    # Another tenant's line is its own: b still gets in line behind the slot a holds.
    other = asyncio.create_task(start("b"))
    await _settle()
    assert queue.waiting("b") == 1
    release.set()
    await asyncio.gather(holder, other, *waiting)
    assert queue.in_flight == 0 and queue.waiting() == 0


async def test_a_start_that_waits_too_long_is_refused_and_leaves_the_slots_whole() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=10, max_wait_seconds=0.05)
    async with queue.slot("a"):
        with pytest.raises(StartWaitExpired) as expired:
            async with queue.slot("b"):
                pytest.fail("b got a slot a still holds")
        assert expired.value.retry_after_seconds >= 1
        assert queue.waiting() == 0
    assert queue.in_flight == 0
    async with queue.slot("b"):
        assert queue.in_flight == 1


async def test_a_cancelled_waiter_gives_up_its_place_and_the_slot_goes_on() -> None:
    queue = FairStartQueue(in_flight=1, per_tenant_waiting=10, max_wait_seconds=30)
    served: list[str] = []
    release = asyncio.Event()

    async def start(tenant: str, hold: asyncio.Event | None = None) -> None:
        async with queue.slot(tenant):
            served.append(tenant)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(start("a", release))
    await _settle()
    gone = asyncio.create_task(start("b"))
    stays = asyncio.create_task(start("c"))
    await _settle()
    gone.cancel()
    await _settle()
    assert queue.waiting("b") == 0
    release.set()
    await asyncio.gather(holder, stays)
    assert served == ["a", "c"]
    assert queue.in_flight == 0


async def test_under_a_random_load_no_more_than_the_limit_run_and_every_start_runs() -> None:
    queue = FairStartQueue(in_flight=3, per_tenant_waiting=1000, max_wait_seconds=30)
    rng = random.Random(11)
    running = peak = done = 0

    async def start(tenant: str) -> None:
        nonlocal running, peak, done
        await asyncio.sleep(rng.random() / 1000)
        async with queue.slot(tenant):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(rng.random() / 1000)
            running -= 1
            done += 1

    weights = {"a": 1.0, "b": 0.3, "c": 5.0, "d": 20.0, "e": 1.0}
    await asyncio.gather(*(start(rng.choice("abcde")) for _ in range(300)))
    assert done == 300 and peak == 3
    done = peak = 0

    async def weighted(tenant: str) -> None:
        nonlocal running, peak, done
        await asyncio.sleep(rng.random() / 1000)
        async with queue.slot(tenant, weights[tenant]):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(rng.random() / 1000)
            running -= 1
            done += 1

    await asyncio.gather(*(weighted(rng.choice("abcde")) for _ in range(300)))
    assert done == 300 and peak == 3
    assert queue.in_flight == 0 and queue.waiting() == 0
