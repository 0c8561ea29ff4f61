"""The deploy drill on the session's real Temporal dev server: an incompatible `ConversationWorkflow` made
current while 20 conversations are open (50 in the benchmark) fails none of them, and a rollback strands
none (`deploy_drill.py`)."""

from __future__ import annotations

import json
import uuid

from benchmarks.deploy_drill import run_drill
from core.settings import Settings
from tenancy.tenants import create_tenant

# The benchmark (`python -m benchmarks deploy_drill`) runs the full 50; the suite keeps its own time down.
OPEN = 20


async def test_incompatible_release_fails_no_open_conversation(migrated: Settings) -> None:
    settings = migrated.model_copy(
        update={
            "agent_models": json.dumps({"support": "scripted/echo"}),
            "model_small": "scripted/echo",
            "model_large": None,
        }
    )
    tenant = await create_tenant(
        settings.database_url or "",
        name=f"Deploy drill {uuid.uuid4().hex[:6]}",
        plan="enterprise",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    result = await run_drill(settings, tenant.tenant_id, conversations=OPEN, further=10, fresh=5)
    counts = result.counts
    # Every open conversation answered its turn after B became current, with A's code (it is pinned to A)...
    assert counts["further turns answered"] == OPEN
    assert counts["further turns run by B's code"] == 0
    # ...then continued-as-new onto B, whose code answers from then on.
    assert counts["open conversations moved to B"] == OPEN
    assert counts["next turns run by B's code"] == 10
    assert counts["new conversations on B"] == 5
    assert counts["new conversations' turns run by B's code"] == 5
    # Rollback: new conversations start on A again; those on B finish their turn on B and move back to A.
    assert counts["rolled back to A"] == 1
    assert counts["new conversations on A after rollback"] == 5
    assert counts["their turns run by B's code"] == 0
    assert counts["B conversations answered after rollback"] == 5
    assert counts["B conversations moved back to A"] == 5
    assert counts["failed runs"] == 0
    # The change is really incompatible: the history A wrote does not replay on B's code.
    assert counts["A's first runs replaying on A's code"] == 3
    assert counts["A's first runs replaying on B's code"] == 0
