"""A residency refusal raised out of an activity fails it at the first attempt, even under a retry policy
with no limit: the deployment decides where a tenant's data lives, and no retry moves it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from contracts.errors import NON_RETRYABLE_RESIDENCY_ERRORS, ResidencyErrorType
from core.failure_types import fail_fast_type
from core.temporal_plugin import aiaas_plugin
from db.database import run_sql
from db.regions import CrossRegionSession, RegionalDatabase, RegionNotServed, TenantNotProvisioned
from tests.residency.conftest import Regional, new_tenant

from .fail_fast_workflows import PROBE_ACTIVITY, ResidencyProbe


def test_every_residency_error_declares_a_registered_failure_type() -> None:
    declared = {
        fail_fast_type(error("refused", tenant_id="t", region=None))
        for error in (CrossRegionSession, RegionNotServed, TenantNotProvisioned)
    }
    assert declared == {str(t) for t in NON_RETRYABLE_RESIDENCY_ERRORS}
    assert fail_fast_type(ValueError("no")) is None


@pytest.mark.parametrize("region", ["us-east", "eu-west"])
async def test_a_residency_refusal_fails_the_activity_at_its_first_attempt(
    rdb: RegionalDatabase, regional: Regional, region: str
) -> None:
    tenant, _ = await new_tenant(rdb, regional.settings, "eu-west")
    attempts: list[int] = []

    @activity.defn(name=PROBE_ACTIVITY)
    async def probe(tenant_id: str) -> str:
        attempts.append(activity.info().attempt)
        async with rdb.region_session(region, tenant_id) as session:
            return str((await run_sql(session, "SELECT data_region FROM tenants")).scalar_one())

    settings = regional.settings
    client = await Client.connect(
        settings.temporal_address or "", namespace=settings.temporal_namespace, plugins=[aiaas_plugin()]
    )
    queue = f"residency-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[ResidencyProbe], activities=[probe]):
        outcome = await client.execute_workflow(
            ResidencyProbe.run,
            tenant,
            id=f"{tenant}:residency-probe:{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),  # bounds the test should the refusal be retried
        )
    if region == "eu-west":  # the tenant's own region: the same activity succeeds, so the refusal is the cause
        assert outcome == ["completed", ""] and attempts == [1]
        return
    assert outcome == [ResidencyErrorType.REGION_MISMATCH.value, "True"]
    assert attempts == [1]
