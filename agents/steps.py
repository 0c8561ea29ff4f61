"""The tool calls of a turn as rows of `tool_calls`: what the runtime and the workflow record, what a turn reads.

A row is keyed by (tenant, message, call id). The first write fixes where the call sits in the turn (step,
index, tool, arguments); later writes of the same call (a retried attempt, the workflow recording an outcome
the runtime already recorded) only update its outcome. So upserting twice never adds a row, and recording a
result cannot move or rename a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

_UPSERT = """
INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, step, call_index, tool, version,
                        arguments, status, output, error_type, message, attempts)
VALUES (:tenant_id, :message_id, :call_id, :conversation_id, :step, :call_index, :tool, :version,
        CAST(:arguments AS jsonb), :status, CAST(:output AS jsonb), :error_type, :message, :attempts)
ON CONFLICT (tenant_id, message_id, call_id) DO UPDATE SET
    status = EXCLUDED.status,
    output = EXCLUDED.output,
    error_type = EXCLUDED.error_type,
    message = EXCLUDED.message,
    attempts = GREATEST(tool_calls.attempts, EXCLUDED.attempts),
    updated_at = now()
"""

_TURN = """
SELECT step, call_index, call_id, tool, version, arguments, status, output, error_type, message, attempts
FROM tool_calls WHERE message_id = :message_id ORDER BY step, call_index, created_at, call_id
"""

# Messages stored for a failed call are shown to models and operators; keep them short.
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ToolStepRow:
    step: int
    call_index: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    status: str
    output: dict[str, Any]
    error_type: str
    message: str
    version: int = 1
    attempts: int = 1


def _json(value: Any) -> dict[str, Any]:
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    return dict(decoded or {})


async def turn_steps(session: AsyncSession, message_id: str) -> list[ToolStepRow]:
    """The tool calls answering `message_id` (in the session's tenant), in the order the turn made them."""
    result = await run_sql(session, _TURN, {"message_id": message_id})
    return [
        ToolStepRow(
            step=row.step,
            call_index=row.call_index,
            call_id=row.call_id,
            tool=row.tool,
            arguments=_json(row.arguments),
            status=row.status,
            output=_json(row.output),
            error_type=row.error_type,
            message=row.message,
            version=row.version,
            attempts=row.attempts,
        )
        for row in result
    ]


async def upsert_step(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    message_id: str,
    call_id: str,
    tool: str,
    status: str,
    version: int = 1,
    step: int = 0,
    call_index: int = 0,
    arguments: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
    error_type: str = "",
    message: str = "",
    attempts: int = 1,
) -> None:
    await run_sql(
        session,
        _UPSERT,
        {
            "tenant_id": tenant_id,
            "message_id": message_id,
            "call_id": call_id,
            "conversation_id": conversation_id,
            "step": step,
            "call_index": call_index,
            "tool": tool,
            "version": version,
            "arguments": json.dumps(arguments or {}, default=str),
            "status": status,
            "output": json.dumps(output or {}, default=str),
            "error_type": error_type,
            "message": message[:MAX_MESSAGE_CHARS],
            "attempts": max(attempts, 1),
        },
    )
