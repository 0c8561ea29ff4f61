"""Transcripts and tool calls sealed at rest: no clear text in the raw rows, a copied ciphertext does not open,
rows from before sealing stay readable and are sealed by re-encryption, and rotation keeps old rows readable
until their version is retired."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.key_rotation import KeyRotationActivities
from activities.tenant_lifecycle import EXPORT_OPENERS
from agents import steps, transcripts
from contracts.key_rotation import ResealInput, RetireInput, RotateKeyInput
from core.crypto.fields import FieldSealer, FieldUnavailable, keyring
from db.database import Database, run_sql
from tenancy.tenant_data import export_tenant

SECRET = "my card is 4111 1111 1111 1111 and I live at 12 Secret Lane"
ARGUMENT = "ada.secret@example.com"


async def _conversation(db: Database, tenant: str) -> tuple[str, str]:
    conversation_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :tid, 'support', 'api')",
            {"id": conversation_id, "tid": tenant},
        )
        await transcripts.insert_user_message(
            session,
            tenant_id=tenant,
            conversation_id=conversation_id,
            message_id=message_id,
            content=SECRET,
            client_message_id=None,
        )
        await transcripts.insert_assistant_message(
            session,
            tenant_id=tenant,
            conversation_id=conversation_id,
            reply_to=message_id,
            content="Noted, Ada.",
            model="m",
        )
        await steps.upsert_step(
            session,
            tenant_id=tenant,
            conversation_id=conversation_id,
            message_id=message_id,
            call_id="c1",
            tool="crm.lookup",
            status="error",
            arguments={"email": ARGUMENT},
            output={"found": ARGUMENT},
            message=f"no contact {ARGUMENT}",
        )
    return conversation_id, message_id


async def _raw(db: Database, tenant: str, conversation_id: str) -> str:
    async with db.tenant_session(tenant) as session:
        rows = await run_sql(
            session,
            "SELECT (SELECT string_agg(m::text, '|') FROM messages m WHERE conversation_id = :c)"
            " || (SELECT string_agg(t::text, '|') FROM tool_calls t WHERE conversation_id = :c)",
            {"c": conversation_id},
        )
        return str(rows.scalar_one())


async def test_raw_rows_hold_no_clear_text_and_read_back_whole(db: Database, tenant: str) -> None:
    conversation_id, message_id = await _conversation(db, tenant)
    raw = await _raw(db, tenant, conversation_id)
    for needle in ("4111", "Secret Lane", "ada.secret", "Noted", "no contact"):
        assert needle not in raw
    async with db.tenant_session(tenant) as session:
        rows = await transcripts.transcript(session, conversation_id=conversation_id)
        [call] = await steps.turn_steps(session, message_id)
        history = await transcripts.history_for(
            session, conversation_id=conversation_id, up_to_message_id=rows[-1].id, limit=10
        )
        texts = await transcripts.last_user_texts(
            session, conversation_id=conversation_id, up_to_message_id=message_id, count=2
        )
    assert [r.content for r in rows] == [SECRET, "Noted, Ada."]
    assert [h["content"] for h in history] == [SECRET, "Noted, Ada."] and texts == [SECRET]
    assert call.arguments == {"email": ARGUMENT} and call.output == {"found": ARGUMENT}
    assert call.message == f"no contact {ARGUMENT}"


async def test_a_ciphertext_copied_to_another_row_or_tenant_does_not_open(
    db: Database, tenant: str, other_tenant: str
) -> None:
    _, message_id = await _conversation(db, tenant)
    other_conversation, other_message = await _conversation(db, tenant)
    stranger_conversation, stranger_message = await _conversation(db, other_tenant)
    async with db.tenant_session(tenant) as session:
        blob = (
            await run_sql(session, "SELECT content_sealed FROM messages WHERE id = :id", {"id": message_id})
        ).scalar_one()
        await run_sql(
            session, "UPDATE messages SET content_sealed = :b WHERE id = :id", {"b": blob, "id": other_message}
        )
        with pytest.raises(FieldUnavailable):
            await transcripts.transcript(session, conversation_id=other_conversation)
    async with db.tenant_session(other_tenant) as session:
        await run_sql(
            session, "UPDATE messages SET content_sealed = :b WHERE id = :id", {"b": blob, "id": stranger_message}
        )
        with pytest.raises(FieldUnavailable):
            await transcripts.transcript(session, conversation_id=stranger_conversation)


async def test_rows_in_clear_are_sealed_and_old_versions_retired_by_rotation(db: Database, tenant: str) -> None:
    conversation_id, message_id = await _conversation(db, tenant)
    legacy = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        # A row written before sealing existed.
        await run_sql(
            session,
            "INSERT INTO messages (id, tenant_id, conversation_id, role, content) VALUES (:id, :t, :c, 'user', :x)",
            {"id": legacy, "t": tenant, "c": conversation_id, "x": "legacy quokka-4222 secret"},
        )
        old_blob = (
            await run_sql(session, "SELECT content_sealed FROM messages WHERE id = :id", {"id": message_id})
        ).scalar_one()
        before = await FieldSealer(session, tenant).active_version()
    env = ActivityEnvironment()
    keys = KeyRotationActivities(db)
    target = (await env.run(keys.rotate, RotateKeyInput(tenant_id=tenant, above_version=before))).version
    again = (await env.run(keys.rotate, RotateKeyInput(tenant_id=tenant, above_version=before))).version
    assert target == again == before + 1
    async with db.tenant_session(tenant) as session:  # the old version still opens until retired
        assert (await transcripts.transcript(session, conversation_id=conversation_id))[0].content == SECRET
    done = await env.run(keys.reseal, ResealInput(tenant_id=tenant, target_version=target, batch_size=1))
    assert done.done and (done.messages, done.tool_calls) == (3, 1)
    assert (
        await env.run(keys.reseal, ResealInput(tenant_id=tenant, target_version=target, batch_size=5))
    ).messages == 0
    assert "quokka" not in await _raw(db, tenant, conversation_id)
    retire = RetireInput(tenant_id=tenant, actor="test", target_version=target, workflow_id="w")
    assert (await env.run(keys.retire, retire)).retired_versions == list(range(1, target))
    async with db.tenant_session(tenant) as session:
        rows = await transcripts.transcript(session, conversation_id=conversation_id)
        versions = (
            (
                await run_sql(
                    session,
                    "SELECT DISTINCT key_version FROM messages WHERE conversation_id = :c",
                    {"c": conversation_id},
                )
            )
            .scalars()
            .all()
        )
        audit = (await run_sql(session, "SELECT count(*) FROM audit.events WHERE action = 'keys.rotated'")).scalar_one()
        assert [r.content for r in rows] == [SECRET, "Noted, Ada.", "legacy quokka-4222 secret"]
        assert versions == [target] and audit == 1
        # A stale copy under the retired version does not open any more.
        with pytest.raises(FieldUnavailable):
            await FieldSealer(session, tenant).open(transcripts.FIELD, message_id, bytes(old_blob))


async def test_a_tenant_export_holds_the_sealed_fields_opened(db: Database, tenant: str, tmp_path: Path) -> None:
    conversation_id, message_id = await _conversation(db, tenant)
    keyring().forget()  # the export loads the tenant's keys itself, mid-stream, in its own snapshot
    done = await export_tenant(db, tenant, tmp_path / "export", heartbeat=lambda *_: None, openers=EXPORT_OPENERS)
    messages = _archived(Path(done.path) / "public.messages.jsonl.gz")
    assert {m["content"] for m in messages} == {SECRET, "Noted, Ada."}
    assert all("content_sealed" not in m for m in messages)
    [call] = _archived(Path(done.path) / "public.tool_calls.jsonl.gz")
    assert (call["arguments"], call["output"], call["message"]) == (
        {"email": ARGUMENT},
        {"found": ARGUMENT},
        f"no contact {ARGUMENT}",
    )
    assert "arguments_sealed" not in call and "output_sealed" not in call
    assert call["conversation_id"] == conversation_id and call["message_id"] == message_id


def _archived(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]
