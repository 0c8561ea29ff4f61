"""Decode every payload of a fetched workflow history, e.g. to store it as a plaintext replay fixture.

`fetch_history` returns history as the server holds it, encrypted. The SDK's payload visitor only knows the
worker's activation and completion messages, so this walks the history's protobuf tree itself and decodes
every `Payload` it finds: inputs, results, failures, memos, markers, update and signal arguments.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

_PAYLOAD = Payload.DESCRIPTOR.full_name


async def decode_history(history: WorkflowHistory, codec: PayloadCodec | None) -> WorkflowHistory:
    """A copy of `history` with every payload decoded; payloads the codec did not encode stay as they are.

    Pass the codec unbound, as the client holds it (`client.data_converter.payload_codec`): the payloads of
    every scope in the history then open, each under the key its metadata names. None copies the history.
    """
    events = History()
    events.events.extend(history.events)
    if codec is not None:
        await decode_payloads_in(events, codec)
    return WorkflowHistory(history.workflow_id, list(events.events))


async def decode_payloads_in(message: Message, codec: PayloadCodec) -> None:
    """Decode, in place, every payload anywhere inside `message`."""
    found = list(_payloads(message))
    if not found:
        return
    decoded = await codec.decode(found)
    if len(decoded) != len(found):
        raise ValueError("the codec must decode payloads one to one")
    for target, value in zip(found, decoded, strict=True):
        if value is not target:
            target.CopyFrom(value)


def _payloads(message: Message) -> Iterator[Payload]:
    if message.DESCRIPTOR.full_name == _PAYLOAD:
        yield message  # type: ignore[misc]
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            entry_value = entry.fields_by_name["value"]
            if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from _payloads(item)
        elif field.is_repeated:
            for item in value:
                yield from _payloads(item)
        else:
            yield from _payloads(value)
