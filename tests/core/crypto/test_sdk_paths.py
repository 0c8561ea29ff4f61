"""Every payload path of the SDK on a real server and worker: none leaves plaintext in history, every payload
is under its workflow's tenant key, the codec reads them all back, and the Replayer replays either form."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.worker import Replayer, Worker

from core.crypto import decode_history, is_encrypted, recorded_scope
from core.settings import Settings
from core.temporal_plugin import aiaas_plugin
from db.codec import build_codec
from db.database import Database

from .probe_workflows import Probe, ProbeChild, ProbeFailing, echo, fail

# Not payloads of the application: trace context and correlation ids (headers), and the indexed search
# attributes, which the server must read to filter runs.
_SERVER_READ_FIELDS = frozenset({"header", "search_attributes"})
# The local activity marker's bookkeeping (sequence number, attempt, activity id and type, times), which the
# SDK's core writes itself and reads on replay; the activity's result sits beside it, encrypted.
# Likewise a version marker (`workflow.patched`): its data is the patch id and a flag, written by the core.
_CORE_MARKER_DATA = (
    "marker_recorded_event_attributes.details[data].payloads[0]",
    "marker_recorded_event_attributes.details[patch-data].payloads[0]",
)


def application_payloads(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """(where, payload) for every payload outside headers and search attributes."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name in _SERVER_READ_FIELDS:
            continue
        if field.message_type.GetOptions().map_entry:
            is_message = field.message_type.fields_by_name["value"].message_type is not None
            items = [(f"{field.name}[{k}]", v) for k, v in value.items()] if is_message else []
        elif field.is_repeated:
            items = [(f"{field.name}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(field.name, value)]
        for name, item in items:
            yield from application_payloads(item, f"{path}.{name}")


def assert_sealed(history: WorkflowHistory, tenant: str, *plaintexts: str) -> None:
    """No plaintext anywhere in the serialized history, and every application payload encrypted for `tenant`."""
    raw = History(events=history.events).SerializeToString()
    for plaintext in plaintexts:
        assert plaintext.encode() not in raw, f"{plaintext!r} in the history of {history.workflow_id}"
    payloads = [(f"event {e.event_id}{where}", p) for e in history.events for where, p in application_payloads(e)]
    assert payloads, "the history should carry payloads"
    assert [where for where, p in payloads if not is_encrypted(p) and not where.endswith(_CORE_MARKER_DATA)] == []
    assert {recorded_scope(p) for _, p in payloads if is_encrypted(p)} == {tenant}


async def test_every_sdk_payload_path_is_encrypted_at_rest(crypto_settings: Settings, app_db: Database) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    tenant = str(uuid.uuid4())
    codec = build_codec(crypto_settings, app_db)
    address, namespace = crypto_settings.temporal_address or "", crypto_settings.temporal_namespace
    client = await Client.connect(address, namespace=namespace, plugins=[aiaas_plugin(codec)])
    queue = f"crypto-{uuid.uuid4().hex[:8]}"
    probe_id, failing_id = f"{tenant}:probe:{uuid.uuid4()}", f"{tenant}:probe-failing:{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Probe, ProbeChild, ProbeFailing], activities=[echo, fail]):
        handle = await client.start_workflow(
            Probe.run,
            secret,
            id=probe_id,
            task_queue=queue,
            memo={"started": f"memo:{secret}"},
            static_summary=f"summary:{secret}",
            static_details=f"details:{secret}",
        )
        assert await handle.query(Probe.secret) == f"query:{secret}"
        await handle.signal(Probe.hint, f"signal:{secret}")
        assert await handle.execute_update(Probe.answer, f"upd:{secret}") == f"update:upd:{secret}"
        result = await handle.result()
        assert result.split("|") == [
            f"activity:{secret}",
            f"activity:{secret}",
            f"child:{secret}",
            f"signal:{secret}",
            f"upd:{secret}",
        ]
        memo = await (await handle.describe()).memo()
        assert memo == {"started": f"memo:{secret}", "upserted": f"memo:{secret}"}
        failing = await client.start_workflow(ProbeFailing.run, secret, id=failing_id, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await failing.result()
        assert getattr(failed.value.cause, "message", None) == f"workflow failed:{secret}"

    plain = await Client.connect(address, namespace=namespace)
    for workflow_id in (probe_id, f"{probe_id}:child", failing_id):
        history = await plain.get_workflow_handle(workflow_id).fetch_history()
        assert_sealed(history, tenant, secret)
        decoded = await decode_history(history, codec)
        assert secret.encode() in History(events=decoded.events).SerializeToString()

    raw = await plain.get_workflow_handle(probe_id).fetch_history()
    workflows = [Probe, ProbeChild]
    # Encrypted history replays through the codec; the decoded copy (what `tests/workflows/histories` stores) without.
    encrypted_replay = await Replayer(workflows=workflows, plugins=[aiaas_plugin(codec)]).replay_workflow(
        raw, raise_on_replay_failure=False
    )
    assert encrypted_replay.replay_failure is None
    plain_replay = await Replayer(workflows=workflows, plugins=[aiaas_plugin()]).replay_workflow(
        await decode_history(raw, codec), raise_on_replay_failure=False
    )
    assert plain_replay.replay_failure is None
