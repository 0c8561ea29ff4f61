"""Starts of callers that cannot pass a 429 on (channel webhooks, the SMTP receiver): a refusal of the start
rate or of the fair start queue is waited out while the caller's patience lasts, and raised as the same 429
when the next try would come too late. Against the real Redis bucket."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from api.admission.plans import TenantPlan
from api.admission.starts import StartAdmission
from api.errors import ApiError
from core.settings import Settings
from core.settings_admission import StartRateSetting


def _patient_waits() -> float:
    return REGISTRY.get_sample_value("admission_start_patient_waits_total") or 0.0


def _admission(settings: Settings, redis: Redis, **update: object) -> StartAdmission:
    # One start a second on the pro plan, no burst beyond it.
    rates = {"pro": StartRateSetting(per_minute=60, burst=1)}
    return StartAdmission(settings.model_copy(update={"start_rates": rates, **update}), redis)


async def test_a_rate_refusal_is_waited_out_within_the_patience(settings: Settings, redis: Redis) -> None:
    starts = _admission(settings, redis)
    plan = TenantPlan.of(str(uuid.uuid4()), "pro")
    async with starts.slot(plan):
        pass
    waits = _patient_waits()
    began = time.monotonic()
    async with starts.patient_slot(plan, patience_seconds=5):
        waited = time.monotonic() - began
    # The bucket refused (one a second), the start waited its Retry-After and got in on the next try.
    assert 0.5 <= waited < 4
    assert _patient_waits() == waits + 1
    # The API's own path still refuses at once: the bucket is empty again.
    with pytest.raises(ApiError) as refused:
        async with starts.slot(plan):
            pytest.fail("the bucket admitted a second start within its second")
    assert (refused.value.status, refused.value.code) == (429, "start_rate_limited")


async def test_without_patience_the_refusal_is_raised_as_the_api_raises_it(settings: Settings, redis: Redis) -> None:
    starts = _admission(settings, redis)
    plan = TenantPlan.of(str(uuid.uuid4()), "pro")
    async with starts.slot(plan):
        pass
    began = time.monotonic()
    with pytest.raises(ApiError) as refused:
        async with starts.patient_slot(plan, patience_seconds=0.5):
            pytest.fail("a start beyond the rate got a slot")
    assert time.monotonic() - began < 0.5  # a wait that would end too late is not begun
    assert (refused.value.status, refused.value.code) == (429, "start_rate_limited")
    assert refused.value.headers is not None and int(refused.value.headers["Retry-After"]) >= 1


async def test_a_full_start_queue_is_waited_out_until_a_slot_frees(settings: Settings, redis: Redis) -> None:
    # One engine call at a time and no room to wait in line: the queue refuses the second start at once.
    starts = _admission(settings, redis, start_queue_in_flight=1, start_queue_per_tenant=0)
    holder_plan = TenantPlan.of(str(uuid.uuid4()), "enterprise")
    plan = TenantPlan.of(str(uuid.uuid4()), "enterprise")
    held = asyncio.Event()

    async def hold() -> None:
        async with starts.slot(holder_plan):
            held.set()
            await asyncio.sleep(1.2)

    holder = asyncio.create_task(hold())
    await held.wait()
    with pytest.raises(ApiError) as refused:
        async with starts.slot(plan):
            pytest.fail("the queue took a start with no room")
    assert refused.value.code == "start_queue_full"
    async with starts.patient_slot(plan, patience_seconds=10):
        assert holder.done()  # the slot it got is the one the holder gave back
        assert starts.queue.in_flight == 1
    await holder
    assert starts.queue.in_flight == 0
