"""Fault injection: make the next calls of one operation fail, fail transiently, or slow down.

Tests, chaos drills and demos use it to show what sagas, retries and circuit breakers do when a dependency
misbehaves. Every sandbox connector operation and every saga write step calls `check_fault(db, tenant_id,
"<operation>")` first; a matching fault is consumed in a transaction of its own, so a tool transaction that
rolls back afterwards does not give the fault back (otherwise a `fail` fault with `times=1` would fail every
retry).

Operations: inventory.reserve, inventory.release, payments.charge, payments.refund, shipments.create,
shipments.cancel, orders.create_pending, orders.confirm, orders.mark_failed, orders.begin_refund,
orders.complete_refund, orders.abort_refund, crm.upsert_contact, tickets.create, tickets.escalate.
"""

from __future__ import annotations

import asyncio
import re

import structlog

from agents.sdk import ToolError, ToolTransientError
from contracts.errors import ToolErrorType
from db.database import Database, run_sql

log = structlog.get_logger("aiaas.connectors")

FAULT_MODES = ("fail", "transient", "latency")
FOREVER = -1
MAX_LATENCY_MS = 600_000
# Dotted lowercase names; a typo fails loudly instead of injecting a fault nothing ever meets.
_OPERATION = re.compile(r"^[a-z][a-z0-9_]{0,30}\.[a-z][a-z0-9_]{0,40}$")

# Takes the oldest live fault of the operation and spends one use of it; `SKIP LOCKED` lets concurrent calls
# each take a different use instead of queueing behind one row.
_CONSUME = """
WITH picked AS (
    SELECT id FROM sandbox_faults
    WHERE tenant_id = :tid AND operation = :operation AND remaining <> 0
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE sandbox_faults AS f
SET remaining = CASE WHEN f.remaining > 0 THEN f.remaining - 1 ELSE f.remaining END
FROM picked WHERE f.id = picked.id
RETURNING f.mode, f.latency_ms
"""


class InjectedFailure(ToolError):
    """A fault injected with mode `fail`: a permanent failure no retry gets past."""

    type: str = ToolErrorType.INJECTED_FAILURE
    retryable = False


def _check_operation(operation: str) -> str:
    if not isinstance(operation, str) or not _OPERATION.fullmatch(operation):
        raise ValueError(f"not an operation name: {operation!r}")
    return operation


async def inject_fault(
    db: Database, tenant_id: str, operation: str, *, mode: str, times: int = 1, latency_ms: int = 0
) -> None:
    """The next `times` calls of `operation` for this tenant meet the fault (`times=-1`: all, until cleared)."""
    _check_operation(operation)
    if mode not in FAULT_MODES:
        raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
    if times != FOREVER and times < 1:
        raise ValueError("times must be at least 1, or -1 for every call")
    if not 0 <= latency_ms <= MAX_LATENCY_MS:
        raise ValueError(f"latency_ms must be between 0 and {MAX_LATENCY_MS}")
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO sandbox_faults (tenant_id, operation, mode, remaining, latency_ms) "
            "VALUES (:tid, :operation, :mode, :remaining, :latency)",
            {"tid": tenant_id, "operation": operation, "mode": mode, "remaining": times, "latency": latency_ms},
        )
    log.info("fault injected", operation=operation, mode=mode, times=times, latency_ms=latency_ms)


async def clear_faults(db: Database, tenant_id: str) -> None:
    async with db.tenant_session(tenant_id) as session:
        await run_sql(session, "DELETE FROM sandbox_faults WHERE tenant_id = :tid", {"tid": tenant_id})


async def check_fault(db: Database, tenant_id: str, operation: str) -> None:
    """Meet the next injected fault of `operation`, if there is one; otherwise return at once."""
    _check_operation(operation)
    async with db.tenant_session(tenant_id) as session:
        row = (await run_sql(session, _CONSUME, {"tid": tenant_id, "operation": operation})).first()
        if row is not None:
            # Spent faults are history nobody reads; dropping them keeps the lookup on a tiny table.
            await run_sql(
                session, "DELETE FROM sandbox_faults WHERE tenant_id = :tid AND remaining = 0", {"tid": tenant_id}
            )
    if row is None:
        return
    mode, latency_ms = str(row.mode), int(row.latency_ms)
    log.info("injected fault met", operation=operation, mode=mode)
    if mode == "latency":
        await asyncio.sleep(latency_ms / 1000)
    elif mode == "transient":
        raise ToolTransientError(f"injected transient failure of {operation}", details={"operation": operation})
    else:
        raise InjectedFailure(f"injected failure of {operation}", details={"operation": operation})
