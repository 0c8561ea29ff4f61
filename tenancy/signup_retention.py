"""Retention of the platform's signup data (`signups`, `mail_outbox`, migration 0019).

Neither table has a `tenant_id`, so no tenant's retention policy or erasure reaches them; this rule does,
run by the daily `RetentionWorkflow` (activity `signup.retention`) after `AIAAS_SIGNUP_RETENTION_DAYS`:

- `mail_outbox`: every message older than that is deleted. Its recipient is an address, and any token in it
  expired long before (the retention is longer than the longest signup TTL).
- `signups` that made no tenant (expired, existing, or abandoned pending ones): deleted.
- `signups` that made a tenant: the address and company are blanked; the keyed digest stays, because it is
  the "one tenant per address" check, and it names no address.

Each batch is its own transaction of at most `batch` rows, so a large backlog holds no long lock.
"""

from __future__ import annotations

from db.database import Database, run_sql

MAX_BATCHES = 50

_STATEMENTS = {
    "mail_outbox": (
        "DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox"
        " WHERE created_at < now() - make_interval(days => CAST(:d AS integer)) ORDER BY created_at LIMIT :n)"
    ),
    "signups": (
        "DELETE FROM signups WHERE id IN (SELECT id FROM signups WHERE status <> 'created'"
        " AND updated_at < now() - make_interval(days => CAST(:d AS integer)) ORDER BY updated_at LIMIT :n)"
    ),
    "signups.redacted": (
        "UPDATE signups SET email = '', company = '', updated_at = now() WHERE id IN (SELECT id FROM signups"
        " WHERE status = 'created' AND email <> '' AND updated_at < now() - make_interval(days => CAST(:d AS integer))"
        " ORDER BY updated_at LIMIT :n)"
    ),
}


async def purge_signup_data(db: Database, *, days: int, batch: int) -> tuple[dict[str, int], bool]:
    """Rows deleted (or blanked) per table, and whether more is left than `MAX_BATCHES` batches took."""
    done = dict.fromkeys(_STATEMENTS, 0)
    more = False
    for name, sql in _STATEMENTS.items():
        for _ in range(MAX_BATCHES):
            async with db.admin_session() as session:
                n = int(getattr(await run_sql(session, sql, {"d": days, "n": batch}), "rowcount", 0) or 0)
            done[name] += n
            if n < batch:
                break
        else:
            more = True
    return done, more
