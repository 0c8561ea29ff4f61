"""Exports of workflow histories and datasets built from them hold none of the values a tenant's policy hides,
with the platform's real codec, key store and policies in Postgres."""

from __future__ import annotations

import json
import uuid
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from core.pii import Entity, PiiDetector
from core.settings import Settings
from db.codec import build_codec
from db.database import Database
from policies.export_privacy import ExportCodec, ExportRedaction
from policies.privacy import PrivacyPolicies, PrivacyPolicy, ProviderMode, save_policy
from tenancy.tenants import create_tenant
from tests.core.pii.values import known_values

VALUES = known_values(300, seed=2718)
_CONVERTER = DataConverter.default.payload_converter


async def _tenant(settings: Settings, policy: PrivacyPolicy | None, db: Database) -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"Export {uuid.uuid4().hex[:8]}",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    if policy is not None:
        async with db.tenant_session(created.tenant_id) as session:
            await save_policy(session, created.tenant_id, policy)
    return created.tenant_id


def _history_payloads() -> list[Payload]:
    """What a conversation's history holds: messages, tool arguments and results, an error's text."""
    values = [v for _k, v in VALUES]
    documents: list[Any] = [
        {"content": f"My details: {'; '.join(values[i : i + 10])}", "message_id": str(i)} for i in range(0, 300, 10)
    ]
    documents.append({"tool": "crm.lookup", "arguments": {"email": values[0], "phones": values[1:30]}, "limit": 5})
    documents.append({"status": "error", "message": f"no customer with card {values[2]} or IBAN {values[3]}"})
    documents.append(values[4])
    return [_CONVERTER.to_payload(d) for d in documents]


def _dumped(payloads: list[Payload]) -> str:
    return json.dumps([_CONVERTER.from_payload(p) for p in payloads])


async def _export(settings: Settings, db: Database, tenant_id: str) -> str:
    codec = build_codec(settings, db)
    encrypted = await codec.for_scope(tenant_id).encode(_history_payloads())
    redaction = ExportRedaction(PrivacyPolicies(db, cache_seconds=0), PiiDetector())
    return _dumped(await ExportCodec(codec, redaction).decode(encrypted))


async def test_a_default_tenants_export_holds_no_value_and_keeps_its_shape(migrated: Settings, db: Database) -> None:
    tenant_id = await _tenant(migrated, None, db)
    exported = await _export(migrated, db, tenant_id)
    assert [v for _k, v in VALUES if v in exported] == []
    documents = json.loads(exported)
    assert documents[30]["tool"] == "crm.lookup" and documents[30]["limit"] == 5
    assert documents[30]["arguments"]["email"] == "[email]"
    assert documents[31]["message"] == "no customer with card [card] or IBAN [iban]"


async def test_each_tenant_decides_what_its_export_hides(migrated: Settings, db: Database) -> None:
    emails_only = PrivacyPolicy(ProviderMode.REDACT, frozenset({Entity.EMAIL}))
    only_emails = await _tenant(migrated, emails_only, db)
    exported = await _export(migrated, db, only_emails)
    assert [v for k, v in VALUES if k == "email" and v in exported] == []
    assert all(v in exported for k, v in VALUES if k == "card")
    # A boundary turned off exports the text as typed.
    off = await _tenant(migrated, PrivacyPolicy(ProviderMode.OFF), db)
    as_typed = await _export(migrated, db, off)
    assert all(v in as_typed for _k, v in VALUES)


async def test_a_document_is_redacted_under_its_tenants_policy(migrated: Settings, db: Database) -> None:
    tenant_id = await _tenant(migrated, None, db)
    redaction = ExportRedaction(PrivacyPolicies(db, cache_seconds=0), PiiDetector())
    row = {"turns": [{"role": "user", "content": f"mail {VALUES[0][1]}"}], "score": 0.5, "ok": True}
    assert await redaction.document(tenant_id, row) == {
        "turns": [{"role": "user", "content": "mail [email]"}],
        "score": 0.5,
        "ok": True,
    }
