"""The usage ledger's row transitions as SQL, for `policies.cost_guard.CostGuard`.

Each transition is one statement whose WHERE clause is the state it leaves, so a concurrent attempt, a retry
or a replay finds the row moved already and changes nothing. The guard owns what follows a transition (the
month's token counter, the budget mode, metrics); these functions only move rows and read them back.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

# Rows the admin sweep refunds per transaction.
SWEEP_BATCH = 1000
LEDGER_COLUMNS = (
    "status, kind, agent, model, tool, conversation_id, prompt_tokens, completion_tokens, reserved_usd, "
    "cost_usd, settled_at"
)


async def reserve_row(session: AsyncSession, params: dict[str, Any]) -> Any:
    """Insert the reservation, or take over a live one, or arm again a refunded one never settled.

    None when the row is settled (or refunded after settling): it is left alone.
    """
    return (
        await run_sql(
            session,
            f"""
            INSERT INTO usage_ledger AS l (tenant_id, key, kind, status, workflow_id, conversation_id,
                agent, model, tool, reserved_usd, expires_at)
            VALUES (:t, :k, :kind, 'reserved', :wf, :conv, :agent, :model, :tool, :est,
                now() + make_interval(secs => :ttl))
            ON CONFLICT (tenant_id, key) DO UPDATE SET
                status = 'reserved',
                reserved_usd = CASE WHEN l.status = 'refunded' THEN EXCLUDED.reserved_usd
                                    ELSE l.reserved_usd END,
                expires_at = greatest(l.expires_at, EXCLUDED.expires_at)
            WHERE l.status = 'reserved' OR (l.status = 'refunded' AND l.settled_at IS NULL)
            RETURNING {LEDGER_COLUMNS}, (xmax = 0) AS inserted
            """,  # noqa: S608
            params,
        )
    ).first()


async def settle_row(session: AsyncSession, params: dict[str, Any]) -> Any:
    """reserved (or refunded, never settled) -> settled, with the tenant's plan; None when nothing moved."""
    return (
        await run_sql(
            session,
            f"""
            UPDATE usage_ledger AS l SET status = 'settled', cost_usd = :cost, prompt_tokens = :p,
                completion_tokens = :c, settled_at = now(), model = coalesce(CAST(:model AS text), l.model)
            WHERE tenant_id = :t AND key = :k AND status IN ('reserved', 'refunded') AND settled_at IS NULL
            RETURNING {LEDGER_COLUMNS}, (SELECT plan FROM tenants WHERE id = l.tenant_id) AS plan
            """,  # noqa: S608
            params,
        )
    ).first()


async def select_row(session: AsyncSession, tenant_id: str, key: str, *, lock: bool = False) -> Any:
    lock_clause = " FOR UPDATE" if lock else ""
    return await run_sql(
        session,
        f"SELECT {LEDGER_COLUMNS} FROM usage_ledger WHERE tenant_id = :t AND key = :k{lock_clause}",  # noqa: S608
        {"t": tenant_id, "k": key},
    )


async def mark_refunded(session: AsyncSession, tenant_id: str, key: str) -> None:
    await run_sql(
        session,
        "UPDATE usage_ledger SET status = 'refunded' WHERE tenant_id = :t AND key = :k",
        {"t": tenant_id, "k": key},
    )


async def expire_tenant(session: AsyncSession, tenant_id: str) -> int:
    """Refund one tenant's reservations past their expiry; how many."""
    result = await run_sql(
        session,
        "UPDATE usage_ledger SET status = 'refunded' "
        "WHERE tenant_id = :t AND status = 'reserved' AND expires_at <= now()",
        {"t": tenant_id},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def expire_batch(session: AsyncSession) -> int:
    """Refund up to `SWEEP_BATCH` expired reservations of any tenant (an admin session); how many."""
    return int((await run_sql(session, "SELECT usage_expire_reservations(:n)", {"n": SWEEP_BATCH})).scalar_one())
