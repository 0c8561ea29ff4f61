"""`aiaas audit reseal [--tenant ID] [--batch-size N]`: re-anchor audit chains written before sealing existed.

Events from before migration 0033 keep an approval's arguments or a decision's note in clear, which erasure
cannot remove while the chain commits to them. This moves those values into each event's sealed part and
re-hashes the chain from the first changed event, in batches of one transaction each, every batch signed with
the tenant's key and recorded as an `audit.reanchored` event by `cli:<user>` (`tenancy.audit_reseal`). Without
`--tenant` every tenant is resealed in turn. A run that stops part-way is simply run again: it continues with
the events still in clear, and a run that finds none changes nothing. Prints one JSON line per tenant.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database

if TYPE_CHECKING:
    from core.settings import Settings

_MAX_BATCH = 5000


def add_audit_parser(subparsers: Any) -> None:
    audit = subparsers.add_parser("audit", help="maintain tenants' audit logs")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    reseal = actions.add_parser("reseal", help="seal customer details old audit events hold in clear, signed")
    reseal.add_argument("--tenant", default=None, help="one tenant's id (default: every tenant)")
    reseal.add_argument("--batch-size", type=int, default=500, help=f"events per transaction, 1-{_MAX_BATCH}")
    add_data_dir(reseal)
    reseal.set_defaults(func=_reseal)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _tenants(settings: Settings, only: str | None) -> list[str]:
    if only is not None:
        return [only]
    from db.database import Database
    from tenancy.tenant_admin import list_tenants

    db = Database(settings.resolved_app_database_url(), pool_size=1)
    found: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = await list_tenants(db, cursor=cursor, limit=200)
            found += [tenant.id for tenant in page.items]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor
    finally:
        await db.close()


async def _reseal_all(settings: Settings, only: str | None, batch_size: int) -> list[dict[str, Any]]:
    from core.crypto import fields
    from core.crypto.secretbox import build_keyring
    from db.database import Database
    from policies.erasure.signing import ReportSigner
    from tenancy.audit_reseal import reseal_tenant

    fields.configure(settings)
    tenants = await _tenants(settings, only)
    db = Database(settings.resolved_app_database_url(), pool_size=2)
    signer = ReportSigner(build_keyring(db, settings))
    results = []
    try:
        for tenant_id in tenants:
            done = await reseal_tenant(db, tenant_id, signer, actor=_actor(), batch_size=batch_size)
            result = {
                "tenant_id": tenant_id,
                "resealed": sum(r.resealed for r in done),
                "reanchors": [
                    {"id": r.id, "first_seq": r.first_seq, "last_seq": r.last_seq, "new_head_hash": r.new_head_hash}
                    for r in done
                ],
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        await db.close()
    return results


def _reseal(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= _MAX_BATCH:
        raise RuntimeError(f"--batch-size must be 1 to {_MAX_BATCH}")
    settings = load_settings(args.data_dir)
    require_database(settings)
    run_database(_reseal_all(settings, args.tenant, args.batch_size), "reseal the audit log")
    return 0
