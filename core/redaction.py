"""Personal data and secrets out of log lines, precisely enough that operational data survives.

A detector that turns a budget of `100.000000` into `[phone]` destroys what operators need and teaches them to
switch redaction off, so logs use the platform's PII detector (`core.pii`), whose every finding passed a
validator: an email's shape, a phone number's numbering plan, a card's or an IBAN's check digits, a national
id's issuing rules, a public IP address. Dates, URLs and private addresses are what logs are made of and stay;
names and places are not looked for in log lines (the model is too slow for every line, and the fields that
carry what people typed, `content` and `delta`, are never logged at all). Platform API keys and bearer
tokens are found here as secrets.

Logs use `redact_text`; anything that needs the spans uses `find`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.pii import Entity, PiiConfig, PiiDetector
from core.pii.validators import luhn_valid

__all__ = ["LOG_CONFIG", "Finding", "find", "luhn_valid", "redact_text"]

_SECRET = re.compile(r"\bak_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{20,}\b|\bBearer\s+\S+", re.IGNORECASE)
LOG_CONFIG = PiiConfig(
    entities=frozenset({Entity.EMAIL, Entity.PHONE, Entity.CARD, Entity.IBAN, Entity.NATIONAL_ID, Entity.IP}),
    private_ips=False,
)
_DETECTOR = PiiDetector()
_PLACEHOLDER = {
    "email": "[email]",
    "phone": "[phone]",
    "card": "[number]",
    "iban": "[iban]",
    "national_id": "[national_id]",
    "ip": "[ip]",
    "secret": "[secret]",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # an entity of `core.pii.Entity` by value, or "secret"
    start: int
    end: int


def find(text: str) -> list[Finding]:
    """Non-overlapping findings in `text`, in order; a secret outranks whatever it contains."""
    findings = [Finding("secret", *m.span()) for m in _SECRET.finditer(text)]
    for found in _DETECTOR.find(text, LOG_CONFIG):
        if all(found.end <= f.start or f.end <= found.start for f in findings):
            findings.append(Finding(found.entity.value, found.start, found.end))
    return sorted(findings, key=lambda f: f.start)


def redact_text(text: str) -> str:
    findings = find(text)
    if not findings:
        return text
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor : finding.start])
        parts.append(_PLACEHOLDER[finding.kind])
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)
