"""What every history recorder shares: where histories live, how one is stored, and how a recorder runs.

Histories are stored decoded (the codec's encryption removed), so the replay tests need no keys and a
reviewer can read what a workflow did. A recorder uses the servers named by `TEMPORAL_ADDRESS`,
`DATABASE_URL` and `REDIS_URL` when all are set, and a throwaway embedded stack otherwise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.converter import PayloadCodec

from core.crypto import decode_history
from core.settings import Settings
from core.stack.stack import throwaway_stack

HISTORIES = Path(__file__).parent / "histories"


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


def run_recorder(record: Callable[[Settings], Coroutine[Any, Any, object]], **stack_overrides: Any) -> int:
    base = Settings()
    if base.temporal_address and base.database_url and base.redis_url:
        asyncio.run(record(base))
        return 0
    with throwaway_stack("aiaas-record-", **stack_overrides) as settings:
        asyncio.run(record(settings))
    return 0
