"""The tool calls of a turn as rows of `tool_calls`: what the runtime and the workflow record, what a turn reads.

A row is keyed by (tenant, message, call id). The first write fixes where the call sits in the turn (step,
index, tool, arguments); later writes of the same call (a retried attempt, the workflow recording an outcome
the runtime already recorded) only update its outcome. So upserting twice never adds a row, and recording a
result cannot move or rename a call.

Every reader and writer of a call's arguments and results goes through this module. They are sealed under the
tenant's data key (`core.crypto.fields`, bound to the tenant and the call's row): `arguments_sealed` holds
the arguments, `output_sealed` the output with the failure message, and the clear columns stay empty. A row
from before sealing (`arguments_sealed` NULL) is read in clear until key rotation seals it; `key_version` is
the oldest key version the row's fields are under, NULL while any is in clear.
"""

# ruff: noqa: S608  # statements assembled from this module's constants; every value is a bound parameter
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import FieldSealer, key_version_of
from db.database import run_sql

ARGUMENTS = "tool_calls.arguments"
OUTPUT = "tool_calls.output"

_UPSERT = """
INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, step, call_index, tool, version,
                        arguments_sealed, status, output_sealed, error_type, attempts, key_version)
VALUES (:tenant_id, :message_id, :call_id, :conversation_id, :step, :call_index, :tool, :version,
        :arguments_sealed, :status, :output_sealed, :error_type, :attempts, :key_version)
ON CONFLICT (tenant_id, message_id, call_id) DO UPDATE SET
    status = EXCLUDED.status,
    output = '{}'::jsonb,
    output_sealed = EXCLUDED.output_sealed,
    error_type = EXCLUDED.error_type,
    message = '',
    attempts = GREATEST(tool_calls.attempts, EXCLUDED.attempts),
    key_version = CASE WHEN tool_calls.arguments_sealed IS NULL THEN NULL
                       ELSE LEAST(tool_calls.key_version, EXCLUDED.key_version) END,
    updated_at = now()
"""

_SEALED_COLUMNS = "tenant_id, message_id, call_id, arguments, arguments_sealed, output, output_sealed, message"
_TURN = f"""
SELECT step, call_index, tool, version, status, error_type, attempts, {_SEALED_COLUMNS}
FROM tool_calls WHERE message_id = :message_id ORDER BY step, call_index, created_at, call_id
"""
_CONVERSATION = f"""
SELECT step, call_index, tool, version, status, error_type, attempts, {_SEALED_COLUMNS}
FROM tool_calls WHERE conversation_id = :cid ORDER BY created_at, step, call_index LIMIT :limit
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


def row_key(message_id: str, call_id: str) -> str:
    """What a call's sealed fields are bound to: its row, by primary key within the tenant."""
    return f"{message_id}/{call_id}"


async def seal_call(
    session: AsyncSession,
    tenant_id: str,
    row: str,
    arguments: dict[str, Any],
    output: dict[str, Any],
    message: str,
) -> dict[str, Any]:
    """Bound parameters `arguments_sealed`, `output_sealed` and `key_version` of a call's fields."""
    sealer = FieldSealer(session, tenant_id)
    sealed_arguments = await sealer.seal_json(ARGUMENTS, row, arguments)
    sealed_output = await sealer.seal_json(OUTPUT, row, {"output": output, "message": message})
    return {
        "arguments_sealed": sealed_arguments,
        "output_sealed": sealed_output,
        "key_version": key_version_of(sealed_arguments),
    }


async def open_call(session: AsyncSession, row: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Arguments, output and failure message of a row read with the sealed columns (`_SEALED_COLUMNS`)."""
    sealer = FieldSealer(session, str(row.tenant_id))
    key = row_key(str(row.message_id), str(row.call_id))
    arguments = _json(row.arguments)
    if row.arguments_sealed is not None:
        arguments = _json(await sealer.open_json(ARGUMENTS, key, row.arguments_sealed))
    output, message = _json(row.output), str(row.message)
    if row.output_sealed is not None:
        opened = await sealer.open_json(OUTPUT, key, row.output_sealed)
        output, message = _json(opened.get("output")), str(opened.get("message") or "")
    return arguments, output, message


async def export_row(session: AsyncSession, row: Any) -> dict[str, Any]:
    """A whole `tool_calls` row as a tenant's data export holds it: arguments, output and message in clear."""
    exported = dict(row._mapping)
    exported["arguments"], exported["output"], exported["message"] = await open_call(session, row)
    exported.pop("arguments_sealed", None)
    exported.pop("output_sealed", None)
    return exported


async def _steps(session: AsyncSession, rows: Any) -> list[ToolStepRow]:
    steps = []
    for row in rows:
        arguments, output, message = await open_call(session, row)
        steps.append(
            ToolStepRow(
                step=row.step,
                call_index=row.call_index,
                call_id=row.call_id,
                tool=row.tool,
                arguments=arguments,
                status=row.status,
                output=output,
                error_type=row.error_type,
                message=message,
                version=row.version,
                attempts=row.attempts,
            )
        )
    return steps


async def turn_steps(session: AsyncSession, message_id: str) -> list[ToolStepRow]:
    """The tool calls answering `message_id` (in the session's tenant), in the order the turn made them."""
    return await _steps(session, await run_sql(session, _TURN, {"message_id": message_id}))


async def conversation_steps(
    session: AsyncSession, conversation_id: str, limit: int = 500
) -> list[tuple[str, ToolStepRow]]:
    """The tool calls of a whole conversation with the message each answers, oldest first (console, evals)."""
    rows = (await run_sql(session, _CONVERSATION, {"cid": conversation_id, "limit": limit})).all()
    return list(zip((str(r.message_id) for r in rows), await _steps(session, rows), strict=True))


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
    # Round-tripped through JSON as the jsonb columns did, so what is read back equals what was stored.
    sealed = await seal_call(
        session,
        tenant_id,
        row_key(message_id, call_id),
        json.loads(json.dumps(arguments or {}, default=str)),
        json.loads(json.dumps(output or {}, default=str)),
        message[:MAX_MESSAGE_CHARS],
    )
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
            "status": status,
            "error_type": error_type,
            "attempts": max(attempts, 1),
            **sealed,
        },
    )
