"""A drift report with advice, stored as the nightly run stores one, for the console's pages to show and apply."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from db.database import Database, run_sql
from policies.drift.store import report_id
from tests.e2e.platform import Platform

NIGHT = date(2026, 11, 30)
SAFE_MODE_ADVICE = {
    "n": 0,
    "kind": "safe_mode",
    "reason": "cost per turn rose 40% against the trailing week",
    "params": {"daily_soft_usd": "12.50"},
}


def seed_drift_report(platform: Platform, tenant_id: str, advice: list[dict[str, Any]]) -> str:
    """Store a detected report for `tenant_id` with `advice`; its id. Runs in a thread of its own, so a test
    with a browser open (whose driver keeps this thread's event loop) can call it too."""

    async def go() -> str:
        db = Database(platform.settings.resolved_app_database_url(), pool_size=1)
        rid = report_id(tenant_id, NIGHT)
        try:
            async with db.tenant_session(tenant_id) as session:
                await run_sql(
                    session,
                    "INSERT INTO drift_reports (id, tenant_id, night, detected, baseline_days, baseline_turns,"
                    " current_turns, findings, costs, advice, tests, workflow_id) VALUES (:id, :tid, :night, true,"
                    " 7, 700, 100, '[]'::jsonb, '[]'::jsonb, CAST(:advice AS jsonb), 12, 'drift-seeded')",
                    {"id": rid, "tid": tenant_id, "night": NIGHT, "advice": json.dumps(advice)},
                )
        finally:
            await db.close()
        return rid

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()
