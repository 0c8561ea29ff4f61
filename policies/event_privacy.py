"""A conversation's event stream, through the tenant's privacy policy.

The stream is kept in Redis for days and read by every client of the conversation (the customer's widget,
the console, integrations holding a stream ticket). Two kinds of event carry text:

- the answer itself (`token`, `message.completed`): what the customer reads, already the result of the
  provider boundary (restored pseudonyms under `pseudonymise`, placeholders under `redact`). It stays as
  the transcript has it: removing the customer's own details from the answer they asked for breaks the
  product, and the answer goes where the transcript goes (erasure and retention reach both).
- everything else (tool arguments, tool result summaries, error messages, saga, approval, fallback and
  policy events): what systems said about the turn. Under a policy that is not `off`, the entities the
  tenant hides from providers are redacted here too, `[email]`, `[card]`, `[person]`; dates and links
  excepted, which is what these events are about (a delivery date, a tracking link) and name no one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.events import EventType
from core.pii import Entity, PiiConfig, PiiDetector, shared_names
from core.pii.scrub import Scrubber
from policies.privacy import PrivacyPolicies

# The answer the customer reads: left as the provider boundary made it.
ANSWER_EVENTS = frozenset({EventType.TOKEN, EventType.MESSAGE_COMPLETED})
# Fields that hold ids, names of tools and kinds of things, never free text: not scanned.
_KEPT_ENTITIES = frozenset({Entity.DATE, Entity.URL})
_KEPT_FIELDS = frozenset(
    {"message_id", "reply_to", "call_id", "tool", "status", "error_type", "model", "client_message_id", "attempt"}
)


class EventRedaction:
    """Without a detector of its own it uses the process's name model once the provider boundary has loaded
    it (the first external model call does), and structured entities alone until then: it never loads the
    model itself, because an event must not wait for it and a second concurrent load would slow the turn
    that is loading it."""

    def __init__(self, policies: PrivacyPolicies, detector: PiiDetector | None = None) -> None:
        self._policies = policies
        self._detector = detector
        self._structured = PiiDetector()

    def _get_detector(self) -> PiiDetector:
        if self._detector is None and shared_names.cache_info().currsize:
            self._detector = PiiDetector(shared_names())
        return self._detector or self._structured

    async def __call__(self, tenant_id: str, event_type: EventType, data: dict[str, Any]) -> dict[str, Any]:
        if event_type in ANSWER_EVENTS:
            return data
        scanned = {k: v for k, v in data.items() if k not in _KEPT_FIELDS and not isinstance(v, bool | int | float)}
        if not scanned:
            return data
        hidden = (await self._policies.get(tenant_id)).outbound_config().entities - _KEPT_ENTITIES
        config = PiiConfig(entities=hidden)
        if not config.entities:
            return data
        redacted = await asyncio.to_thread(Scrubber(self._get_detector(), config).value, scanned)
        return {**data, **redacted}
