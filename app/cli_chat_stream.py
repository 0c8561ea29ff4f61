"""Following one message's turn on a conversation's Server-Sent Events for `aiaas chat`, and printing it:
the answer's tokens as they arrive, everything else the agent does on a line of its own.

The stream replays the conversation's retained events, so a turn is picked out by its message id. Events
that name no message (saga progress, budget thresholds) count once the message was accepted: they belong
to the turn running then. A dropped stream resumes from the last event seen, so nothing shows twice.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import httpx

from contracts.events import EventType

# Beyond the gateway's keepalive (15 s by default), so only a dead connection times out.
READ_TIMEOUT = 60.0
MAX_RECONNECTS = 5


class TurnPrinter:
    """Prints one turn; `handle` answers True once the turn is over."""

    def __init__(self, message_id: str, agent: str, out: TextIO = sys.stdout) -> None:
        self.message_id = message_id
        self.agent = agent
        self.out = out
        self._accepted = False
        self._stream: tuple[Any, Any] | None = None
        self._streamed = ""

    def handle(self, event: str, data: dict[str, Any]) -> bool:
        owner = data.get("reply_to") or data.get("message_id")
        if owner is not None and owner != self.message_id:
            if event == EventType.AGENT_HANDOFF:
                # An earlier turn's handoff, replayed: the agent that answers from then on.
                self.agent = str(data.get("to") or self.agent)
            return False
        if owner is None and not self._accepted:
            return False
        if event == EventType.MESSAGE_ACCEPTED:
            self._accepted = True
        elif event == EventType.TOKEN:
            self._token(data)
        elif event == EventType.MESSAGE_COMPLETED:
            self._answer(str(data.get("content", "")))
            return True
        elif event == EventType.TURN_FAILED:
            self._note(f"[failed] {data.get('reason') or data.get('error_type') or 'the turn failed'}")
            return True
        elif event == EventType.AGENT_HANDOFF:
            self.agent = str(data.get("to") or self.agent)
            reason = f": {data['reason']}" if data.get("reason") else ""
            self._note(f"[handoff] {data.get('from')} -> {data.get('to')}{reason}")
        elif event == EventType.TURN_STARTED and int(data.get("attempt") or 1) > 1:
            self._note(f"[retry] answering again, attempt {data['attempt']}")
        else:
            line = describe(event, data)
            if line:
                self._note(line)
        return False

    def _token(self, data: dict[str, Any]) -> None:
        key = (data.get("step"), data.get("attempt"))
        if key != self._stream:
            # A new model call (the next step, or a retry) starts a fresh line of answer.
            self._close_line()
            self._stream = key
            self.out.write(f"{self.agent}> ")
        delta = str(data.get("delta", ""))
        self._streamed += delta
        self.out.write(delta)
        self.out.flush()

    def _answer(self, content: str) -> None:
        if self._stream is not None and self._streamed.strip() == content.strip():
            self._close_line()
            return
        self._close_line()
        self.out.write(f"{self.agent}> {content}\n")
        self.out.flush()

    def _note(self, line: str) -> None:
        self._close_line()
        self.out.write(f"  {line}\n")
        self.out.flush()

    def _close_line(self) -> None:
        if self._stream is not None:
            self.out.write("\n")
            self._stream = None
            self._streamed = ""


def describe(event: str, data: dict[str, Any]) -> str | None:
    """One line for an event a person should see, or None."""
    tool = data.get("tool", "")
    if event == EventType.TOOL_STARTED:
        return f"[tool] {tool} started"
    if event == EventType.TOOL_COMPLETED:
        return f"[tool] {tool} completed" + (f": {data['summary']}" if data.get("summary") else "")
    if event in (EventType.TOOL_FAILED, EventType.TOOL_UNAVAILABLE):
        state = "unavailable" if event == EventType.TOOL_UNAVAILABLE else str(data.get("status") or "failed")
        return f"[tool] {tool} {state}: {data.get('error_type', '')} {data.get('message', '')}".rstrip()
    if event == EventType.APPROVAL_REQUESTED:
        arguments = json.dumps(data.get("arguments") or {}, separators=(",", ":"))
        return (
            f"[approval] {tool} {arguments} waits for a person's decision "
            f"(approval {data.get('approval_id')}, until {data.get('expires_at')})"
        )
    if event == EventType.APPROVAL_RESOLVED:
        return f"[approval] {tool}: {data.get('status')}"
    if event == EventType.CONFIRMATION_REQUESTED:
        return (
            f"[confirm] {data.get('question', '')} (answer: POST .../confirmations/{data.get('confirmation_id')}"
            ' {"confirmed": true|false})'
        )
    if event == EventType.CONFIRMATION_RESOLVED:
        return f"[confirm] {tool}: {data.get('status')}"
    if event == EventType.TOOL_POLICY and data.get("verdict") == "refuse":
        return f"[policy] {tool} refused: {data.get('reason', '')}"
    if event == EventType.TURN_CUT:
        ticket = f", ticket {data['ticket_id']}" if data.get("ticket_id") else ""
        return f"[cut] {data.get('reason')}: {data.get('detail', '')}{ticket}"
    if event.startswith("saga."):
        return f"[saga] {data.get('saga', '')} {event.removeprefix('saga.')}"
    if event == EventType.BUDGET_THRESHOLD:
        return f"[budget] {data.get('percent')}% of the {data.get('period')} {data.get('limit')} budget used"
    return None


def follow_turn(client: httpx.Client, conversation_id: str, printer: TurnPrinter, cursor: str | None) -> str | None:
    """Read the conversation's events from `cursor` until the turn is over; returns the last event id."""
    attempts = 0
    problem = "the gateway closed it"
    while True:
        # Reset by every event received: only a stream that keeps failing without progress is given up.
        attempts += 1
        if attempts > MAX_RECONNECTS:
            raise RuntimeError(f"lost the conversation's event stream: {problem}")
        headers = {"Last-Event-ID": cursor} if cursor else {}
        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT)
        try:
            with client.stream(
                "GET", f"/v1/conversations/{conversation_id}/events", headers=headers, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise RuntimeError(f"the event stream was refused: {error_text(response)}")
                for event_id, event, data in _frames(response):
                    cursor = event_id or cursor
                    attempts = 0
                    if printer.handle(event, data):
                        return cursor
        except httpx.TransportError as exc:
            problem = str(exc) or type(exc).__name__


def _frames(response: httpx.Response) -> Any:
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line:
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
            continue
        if "data" in fields:
            payload = json.loads(fields["data"])
            yield fields.get("id"), str(fields.get("event") or payload.get("type")), payload.get("data") or {}
        fields = {}


def error_text(response: httpx.Response) -> str:
    """`<status> <code>: <message>` from the gateway's error shape, or the status alone."""
    try:
        error = response.json()["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
