"""Exports and eval datasets built from real conversations, through each tenant's privacy policy.

What leaves the platform as a file (a decoded workflow history exported for the replay regression, a
dataset of recorded conversations) leaves it as surely as a prompt to an external provider does, so the
same policy decides: the entities the tenant's provider boundary hides are redacted (`[email]`,
`[person]`), with names and places through the name model where it is installed. An export cannot restore
a pseudonym, so `pseudonymise` and `redact` both redact here; `off` exports the text as typed. A payload
of no tenant (platform workflows) gets the default policy: everything redacted.

Temporal payloads are redacted where they are JSON (`json/plain`, what the platform's converter writes);
every string inside is scanned, in one batch per tenant. Other encodings carry no text and pass unchanged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from core.crypto.codec import recorded_scope
from core.crypto.store import PLATFORM_TENANT
from core.pii import PiiConfig, PiiDetector, shared_names
from core.pii.scrub import Scrubber
from policies.privacy import PrivacyPolicies, PrivacyPolicy

_JSON = b"json/plain"
_ENCODING = "encoding"


def export_config(policy: PrivacyPolicy) -> PiiConfig:
    """What an export of this tenant's conversations hides: nothing when its boundary is off."""
    return policy.outbound_config()


class ExportRedaction:
    """Redacts exported documents and payloads per tenant; policies are read through the per-process cache."""

    def __init__(self, policies: PrivacyPolicies, detector: PiiDetector | None = None) -> None:
        self._policies = policies
        self._detector = detector

    def _get_detector(self) -> PiiDetector:
        if self._detector is None:
            self._detector = PiiDetector(shared_names())
        return self._detector

    async def scrubber(self, tenant_id: str | None) -> Scrubber:
        if tenant_id is None or tenant_id == PLATFORM_TENANT:
            policy = PrivacyPolicy()
        else:
            policy = await self._policies.get(tenant_id)
        detector = await asyncio.to_thread(self._get_detector)
        return Scrubber(detector, export_config(policy))

    async def document(self, tenant_id: str | None, document: Any) -> Any:
        """A copy of a JSON-like document with the tenant's entities redacted."""
        scrubber = await self.scrubber(tenant_id)
        return await asyncio.to_thread(scrubber.value, document)

    async def payloads(self, decoded: Sequence[Payload], scopes: Sequence[str | None]) -> list[Payload]:
        """Decoded payloads redacted, each under the policy of the tenant its encrypted form named (`scopes`,
        in the same order; None where the payload was not encrypted, which the default policy covers)."""
        out = list(decoded)
        by_scope: dict[str | None, list[int]] = {}
        for index, (payload, scope) in enumerate(zip(decoded, scopes, strict=True)):
            if payload.metadata.get(_ENCODING) == _JSON:
                by_scope.setdefault(scope, []).append(index)
        for scope, indices in by_scope.items():
            values = [_load(decoded[i]) for i in indices]
            redacted = await self.document(scope, values)
            for i, value, original in zip(indices, redacted, values, strict=True):
                if value != original:
                    out[i] = _with_data(decoded[i], value)
        return out

    async def encrypted_then_decoded(self, encrypted: Sequence[Payload], decoded: Sequence[Payload]) -> list[Payload]:
        return await self.payloads(decoded, [recorded_scope(p) for p in encrypted])


def _load(payload: Payload) -> Any:
    try:
        return json.loads(payload.data)
    except ValueError:
        return None  # not JSON after all: nothing is read from it, and it is left as it was


def _with_data(payload: Payload, value: Any) -> Payload:
    copy = Payload()
    copy.CopyFrom(payload)
    copy.data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return copy


class ExportCodec(PayloadCodec):
    """A codec that decodes for export: what `inner` opens comes out redacted per tenant. Encoding is
    `inner`'s own (an export is read, never written back)."""

    def __init__(self, inner: PayloadCodec, redaction: ExportRedaction) -> None:
        self._inner = inner
        self._redaction = redaction

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self._inner.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = await self._inner.decode(payloads)
        return await self._redaction.encrypted_then_decoded(payloads, decoded)
