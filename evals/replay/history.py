"""Recorded workflow histories as Python values.

A history is the JSON `temporal workflow show --output json` writes, which is also how the replay tests store
their recordings (`tests/workflows/histories/*.json`, decoded). Production histories are encrypted by the
platform's codec (`core.crypto`, encoding `binary/encrypted`): export them through the gateway's codec
endpoint (`temporal workflow show --codec-endpoint ...`), or load them here with the codec, which opens each
payload under the key its metadata names. An encrypted payload without a codec is an error, never guessed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, PayloadCodec

from core.crypto import decode_history
from core.crypto.codec import ENCODING as ENCRYPTED

_CONVERTER = DataConverter.default.payload_converter


class HistoryError(ValueError):
    """A file that is not a readable workflow history."""


@dataclass(frozen=True)
class LoadedHistory:
    source: str
    workflow_id: str
    workflow_type: str
    events: list[HistoryEvent]


def history_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every `*.json` under the given files and directories, sorted, each once."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(path.glob("*.json")))
        elif path.is_file():
            found.append(path)
        else:
            raise HistoryError(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(found))


def _started(data: dict[str, Any]) -> dict[str, Any]:
    events = data.get("events")
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        raise HistoryError("not a workflow history: no events")
    first = events[0]
    started = first.get("workflowExecutionStartedEventAttributes") or first.get(
        "workflow_execution_started_event_attributes"
    )
    if not isinstance(started, dict):
        raise HistoryError("not a workflow history: the first event is not the start")
    return started


async def load_history(path: Path, codec: PayloadCodec | None = None) -> LoadedHistory:
    """Parse one history file; with `codec`, encrypted payloads are opened first."""
    try:
        text = await asyncio.to_thread(path.read_text)
        data = json.loads(text)
        started = _started(data)
        workflow_id = str(started.get("workflowId") or path.stem)
        history = WorkflowHistory.from_json(workflow_id, text)
    except HistoryError as err:
        raise HistoryError(f"{path}: {err}") from None
    except (OSError, ValueError) as err:
        raise HistoryError(f"{path}: not a readable workflow history ({err})") from None
    if codec is not None:
        history = await decode_history(history, codec)
    elif any(_encrypted(p) for p in _payloads(history.events)):
        raise HistoryError(
            f"{path}: payloads are encrypted; export with the codec endpoint "
            "(temporal workflow show --codec-endpoint ...) or pass the codec"
        )
    workflow_type = str(started.get("workflowType", {}).get("name", ""))
    return LoadedHistory(str(path), workflow_id, workflow_type, list(history.events))


def _encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCRYPTED


def _payloads(events: Iterable[HistoryEvent]) -> Iterator[Payload]:
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind is None:
            continue
        attributes = getattr(event, kind)
        for field in ("input", "result"):
            if attributes.DESCRIPTOR.fields_by_name.get(field) is not None and attributes.HasField(field):
                yield from getattr(attributes, field).payloads


def value(payload: Payload) -> Any:
    """A payload's Python value: JSON as dicts and lists, `binary/null` as None."""
    if _encrypted(payload):
        raise HistoryError("an encrypted payload: load the history with the codec")
    return _CONVERTER.from_payload(payload)


def first_value(payloads: Any) -> Any:
    items = list(getattr(payloads, "payloads", payloads) or [])
    return value(items[0]) if items else None


def innermost(failure: Failure) -> Failure:
    """The failure that says what went wrong, under the activity or child workflow wrappers."""
    while failure.HasField("cause") and (
        failure.HasField("activity_failure_info") or failure.HasField("child_workflow_execution_failure_info")
    ):
        failure = failure.cause
    return failure


def failure_message(failure: Failure) -> str:
    """The message, read from the encoded attributes when the failure converter moved it there."""
    if failure.HasField("encoded_attributes"):
        attributes = value(failure.encoded_attributes)
        if isinstance(attributes, dict) and isinstance(attributes.get("message"), str):
            return str(attributes["message"])
    return failure.message
