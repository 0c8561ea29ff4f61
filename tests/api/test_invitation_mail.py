"""Mailed invitations on the running platform: the link reaches the invited address once, through the mail
outbox and its run, and works; the run's history never holds the link; bad input is refused."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from contracts.signup import SendMailInput, mail_workflow_id
from db.codec import connect
from db.database import Database
from tests.api.helpers import error, fresh_tenant
from tests.api.test_invitations_api import accept, identity, owner_sql
from tests.e2e.platform import Platform
from tests.workflows.record_histories import store_history


def _mails(platform: Platform, recipient: str, timeout: float = 120.0) -> list[str]:
    """The bodies of the invitation mails sent to `recipient`, once at least one is there."""
    folder = Path(platform.data_dir) / "mail"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for path in folder.glob("*.eml") if folder.is_dir() else []:
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            if parsed["To"] == recipient and parsed["X-Aiaas-Kind"] == "invitation":
                found.append(str(parsed.get_body().get_content()))  # type: ignore[union-attr]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail to {recipient}")


def _run_input(platform: Platform, message_id: str) -> list[object]:
    """The decoded input of the message's finished `MailWorkflow` run."""

    async def fetch() -> list[object]:
        db = Database(platform.settings.resolved_app_database_url())
        try:
            client = await connect(platform.settings, db=db)
            handle = client.get_workflow_handle(mail_workflow_id(message_id))
            await handle.result()
            if os.environ.get("AIAAS_RECORD_MAIL_HISTORY"):
                # `AIAAS_RECORD_MAIL_HISTORY=1 pytest tests/api/test_invitation_mail.py` re-records the run
                # the replay tests replay for `MailWorkflow`.
                await store_history("mail_invitation", handle, client.data_converter.payload_codec)
            started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
            return await client.data_converter.decode(started.input.payloads, [SendMailInput])
        finally:
            await db.close()

    return asyncio.run(fetch())


def test_a_mailed_invitation_arrives_once_and_its_link_works(platform: Platform) -> None:
    address = f"bea.{uuid.uuid4().hex[:8]}@example.com"
    with fresh_tenant(platform, "Mailed invites") as (tenant_id, owner):
        made = owner.post("/v1/tenant/invitations", json={"email": address, "role": "viewer", "send_email": True})
        assert made.status_code == 201, made.text
        created = made.json()
        assert created["email_status"] == "queued"
        (body,) = _mails(platform, address)
        assert created["accept_url"] in body and "Mailed invites" in body and "viewer" in body
        token = parse_qs(urlparse(created["accept_url"]).query)["token"][0]

        (row,) = owner_sql(
            platform,
            "SELECT id, status, body FROM mail_outbox WHERE idempotency_key = :k",
            {"k": f"invitation:{created['id']}"},
        )
        # Sent, and the outbox no longer holds the link; the run carried only the message's id.
        assert row[1] == "sent" and row[2] == ""
        assert _run_input(platform, str(row[0])) == [SendMailInput(message_id=str(row[0]))]

        joined = accept(platform, token, identity(platform, f"bea-{uuid.uuid4().hex[:6]}", email=address))
        assert joined.status_code == 200 and joined.json()["tenant_id"] == tenant_id

        # Without `send_email` nothing is mailed: the link is only in the answer.
        other = f"cy.{uuid.uuid4().hex[:8]}@example.com"
        quiet = owner.post("/v1/tenant/invitations", json={"email": other, "role": "viewer"})
        assert quiet.status_code == 201 and quiet.json()["email_status"] == "not_requested"
        assert owner_sql(platform, "SELECT 1 FROM mail_outbox WHERE recipient = :r", {"r": other}) == []

        for bad in ("yes", None, 1.5, {"a": 1}):
            error(
                owner.post("/v1/tenant/invitations", json={"email": other, "role": "viewer", "send_email": bad}),
                422,
                "invalid_request",
            )


def test_another_tenants_key_mails_nothing_for_this_tenant(platform: Platform) -> None:
    with fresh_tenant(platform, "Mail A") as (tenant_a, owner_a), fresh_tenant(platform, "Mail B") as (_, owner_b):
        address = f"dee.{uuid.uuid4().hex[:8]}@example.com"
        made = owner_b.post("/v1/tenant/invitations", json={"email": address, "role": "viewer", "send_email": True})
        assert made.status_code == 201
        (body,) = _mails(platform, address)
        # The mail names B, whose key asked; its token can only ever make a member of B.
        assert "Mail B" in body and "Mail A" not in body
        assert f"inv_{tenant_a}." not in body
        error(owner_a.delete(f"/v1/tenant/invitations/{made.json()['id']}"), 404, "invitation_not_found")
        assert json.loads(made.text)["token"].split(".")[0] != f"inv_{tenant_a}"
