"""Record every workflow's histories from real runs into `tests/workflows/histories/` for the replay tests.

    python -m tests.workflows.record_histories [NAME ...]      (or `just replay`, which then replays them)

Every scenario of `SCENARIOS` (or only those named) runs on the platform's worker (`app.worker.build_worker`,
the scripted models answering) against the servers `TEMPORAL_ADDRESS`, `DATABASE_URL` and `REDIS_URL` name,
or a throwaway embedded stack when they are not all set. A scenario's runs are stored as `<name>.json`, or
`<name>_<i>.json` when it keeps several. Histories are stored decoded (the codec's encryption removed): the
data is synthetic, the replay tests need no keys, and a reviewer can read what a workflow did.

Re-record only for changes that keep the recorded histories replaying; see `tests/workflows/test_replay.py`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from temporalio.client import WorkflowHandle
from temporalio.converter import PayloadCodec

from app.worker import build_worker
from core.crypto import decode_history
from core.events import EventBus
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate_regions import migrate_all
from tests.e2e.platform import AGENT_MODELS
from tests.workflows.scenarios import (
    Recording,
    Scenario,
    canary,
    channels,
    conversations,
    dr,
    drift,
    key_rotation,
    knowledge,
    privacy,
    sagas,
    tenant_lifecycle,
)
from tests.workflows.scenarios import early_exit as early_exit_scenario
from tests.workflows.scenarios import evals as eval_runs

HISTORIES = Path(__file__).parent / "histories"

SCENARIOS: dict[str, Scenario] = {
    "conversation_enqueue_and_close": conversations.enqueue_and_close,
    "conversation_interrupt": conversations.interrupt,
    "conversation_model_failures": conversations.model_failures,
    "conversation_continue_as_new": conversations.continue_as_new,
    "conversation_tool_turn": conversations.tool_turn,
    "conversation_approval": conversations.approval,
    "conversation_loop_cut": conversations.loop_cut,
    "conversation_injection": conversations.injection,
    "tenant_lifecycle_offboard": tenant_lifecycle.offboard,
    "tenant_lifecycle_unknown_tenant": tenant_lifecycle.unknown_tenant,
    "place_order_completed": sagas.place_completed,
    "place_order_compensated": sagas.place_compensated,
    "place_order_needs_attention": sagas.place_needs_attention,
    "refund_completed": sagas.refund_completed,
    "refund_compensated": sagas.refund_compensated,
    "ingest_document_ready": knowledge.ready,
    "ingest_document_unreadable": knowledge.unreadable,
    "nightly_drift": drift.nightly,
    "erasure": privacy.erasure,
    "retention": privacy.retention,
    "eval_run": eval_runs.run,
    "conversation_channel_reply": channels.sms_reply,
    "dr_drill": dr.drill,
}
SCENARIOS["key_rotation"] = key_rotation.rotation
SCENARIOS["router_canary"] = canary.router_canary
SCENARIOS["router_canary_agent_version"] = canary.agent_version_canary
SCENARIOS["reembed_collection"] = knowledge.reembed
SCENARIOS["reembed_collection_cancelled"] = knowledge.reembed_cancelled
SCENARIOS["conversation_early_exit"] = early_exit_scenario.repeat
SCENARIOS["conversation_tool_answer"] = early_exit_scenario.tool_answer
# Recorded with a region: AIAAS_REGION_DATABASE_URLS='{"eu-west": "aiaas_record_eu_west"}'.
SCENARIOS["dr_drill_regions"] = dr.drill_regions


async def store_history(name: str, handle: WorkflowHandle[Any, Any], codec: PayloadCodec | None) -> Path:
    """Fetch the run's history, decode it and write it to `tests/workflows/histories/<name>.json`."""
    history = await handle.fetch_history()
    if codec is not None:
        history = await decode_history(history, codec)
    HISTORIES.mkdir(exist_ok=True)
    path = HISTORIES / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"recorded {path.relative_to(HISTORIES.parent.parent)}")
    return path


async def record(settings: Settings, names: list[str], scenarios: dict[str, Scenario] | None = None) -> list[Path]:
    # Every region of `AIAAS_REGION_DATABASE_URLS` too (the regional drill is recorded with one).
    await migrate_all(settings)
    queue = f"record-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(
        update={
            "agent_models": json.dumps(AGENT_MODELS),
            "task_queue": queue,
            "model_small": "scripted/echo",
            # The channel scenario's provider is a receiver on loopback.
            "channel_allow_private_targets": True,
        }
    )
    db = Database(worker_settings.resolved_app_database_url())
    redis = Redis.from_url(worker_settings.redis_url or "", decode_responses=False)
    written: list[Path] = []
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            rec = Recording(settings=worker_settings, client=deps.client, db=db, bus=EventBus(redis), queue=queue)
            codec = deps.client.data_converter.payload_codec
            for name in names:
                handles = await (scenarios or SCENARIOS)[name](rec)
                # Stored at once: a scenario may shred the keys its histories are encrypted with.
                for i, handle in enumerate(handles):
                    written.append(await store_history(f"{name}_{i}" if len(handles) > 1 else name, handle, codec))
    finally:
        await db.close()
        await redis.aclose()
    return written


def main(argv: list[str]) -> int:
    unknown = sorted(set(argv) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    names = [name for name in SCENARIOS if not argv or name in argv]
    base = Settings()
    if base.temporal_address and base.database_url and base.redis_url:
        asyncio.run(record(base, names))
        return 0
    with throwaway_stack("aiaas-record-", env="test") as settings:
        asyncio.run(record(settings, names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
