"""`GET /v1/audit/verify` and the console's audit page on a re-anchored chain: green with each re-anchor listed
and its signature checked; red, naming the failed check, once a re-anchor no longer matches; a tenant sees
only its own chain's re-anchors. The route functions run on the real database, with the gateway's state
reduced to the one database they read."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from api.routes.audit import ChainVerification, verify_audit_log
from api.state import GatewayState
from console.web import templates
from core.crypto.secretbox import build_keyring
from core.settings import Settings
from db.database import Database, run_sql
from policies.erasure.signing import ReportSigner
from tenancy.audit_reseal import reseal_tenant
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal
from tests.tenancy.test_audit_reseal import write_old_events


async def _verify(db: Database, tenant: str) -> ChainVerification:
    principal = TenantPrincipal(tenant_id=tenant, subject="user:auditor", scopes=(Permission.AUDIT_READ.value,))
    return await verify_audit_log(principal, cast(GatewayState, SimpleNamespace(db=db)))


def _page(verification: ChainVerification) -> str:
    page: Any = SimpleNamespace(items=[], next_cursor=None)
    return templates.get_template("audit.html").render(
        viewer=None, prefix="/console", page=page, action="", verification=verification
    )


async def test_verify_lists_re_anchors_and_the_page_shows_them(
    db: Database, admin_db: Database, two_tenants: tuple[str, str], migrated: Settings
) -> None:
    tenant, other = two_tenants
    await write_old_events(db, tenant, "orchid-api")
    await write_old_events(db, other, "orchid-api-other")
    [reanchor] = await reseal_tenant(db, tenant, ReportSigner(build_keyring(db, migrated)), actor="test")

    verified = await _verify(db, tenant)
    assert verified.ok and verified.first_bad_id is None and verified.checked == 5
    [listed] = verified.reanchored
    assert (listed.chain, listed.id, listed.first_seq, listed.last_seq, listed.ok) == (
        "tenant",
        reanchor.id,
        2,
        4,
        True,
    )
    assert listed.old_head_hash == reanchor.old_head_hash and verified.chains[0].reanchored == [listed]
    page = _page(verified)
    assert 'id="reanchors"' in page and "signature verified" in page and 'data-ok="true"' in page
    # The other tenant's answer holds its own chain only.
    theirs = await _verify(db, other)
    assert theirs.ok and theirs.reanchored == [] and 'id="reanchors"' not in _page(theirs)

    async with admin_db.tenant_session(tenant) as session:
        await run_sql(session, "ALTER TABLE audit.reanchors DISABLE TRIGGER refuse_update_delete")
        await run_sql(
            session,
            "UPDATE audit.reanchors SET statement = jsonb_set(statement, '{first_seq}', '1') WHERE tenant_id = :t",
            {"t": tenant},
        )
        await run_sql(session, "ALTER TABLE audit.reanchors ENABLE TRIGGER refuse_update_delete")
    broken = await _verify(db, tenant)
    assert not broken.ok and broken.first_bad_id is None
    assert [(r.ok, r.problem) for r in broken.reanchored] == [(False, "signature")]
    page = _page(broken)
    assert 'data-ok="false"' in page and "signature check failed" in page
