"""Finding personal data and secrets in free text, precisely enough that operational data survives.

A detector that turns a budget of `100.000000` into `[phone]` destroys what operators need and teaches them to
switch redaction off, so each detector asks for the shape of the thing it finds, not merely for many digits:

- email: `local@domain.tld`;
- phone: a `+` country code followed by 8 to 15 digits, or a national number written in phone groups
  (`(415) 555-0100`, `415-555-0100`, `415 555 0100`, `020 7946 0958`); a bare run of digits is an id, a count
  or a timestamp as often as a phone number and stays, and so does any decimal number;
- card: 13 to 19 digits, optionally grouped by spaces or dashes, with a card network's first digit and a
  valid Luhn check digit;
- secret: platform API keys and bearer tokens.

The detectors are shared: logs use `redact_text`; anything that needs the spans uses `find`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SECRET = re.compile(r"\bak_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{20,}\b|\bBearer\s+\S+", re.IGNORECASE)
# Not glued to a longer token: ids, versions, decimals and timestamps keep their digits.
_EDGE_BEFORE = r"(?<![\w.:/-])"
_EDGE_AFTER = r"(?![\w:/-]|\.\d)"
_INTERNATIONAL = re.compile(_EDGE_BEFORE + r"\+\d[\d\s().-]{6,22}\d" + _EDGE_AFTER)
# National formats: an optional area code in parentheses, then two or three groups split by one separator.
_NATIONAL = re.compile(
    _EDGE_BEFORE + r"(?:\(\d{2,5}\)\s?\d{3,4}[\s-]\d{3,4}|\d{2,5}(?P<sep>[\s-])\d{3,4}(?P=sep)\d{3,4})" + _EDGE_AFTER
)
# A `+` starts a phone number, never a card.
_CARD = re.compile(r"(?<![\w.:/+-])[2-6](?:[ -]?\d){12,18}" + _EDGE_AFTER)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "email", "phone", "card" or "secret"
    start: int
    end: int


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(number)):
        digit = int(ch)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _is_card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_international(text: str) -> bool:
    return 8 <= len(_digits(text)) <= 15 and text.count("(") == text.count(")")


def _is_national(text: str) -> bool:
    return 7 <= len(_digits(text)) <= 12


def find(text: str) -> list[Finding]:
    """Non-overlapping findings in `text`, in order; a span claimed by an earlier detector is not reused."""
    findings: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def claim(kind: str, match: re.Match[str]) -> None:
        start, end = match.span()
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            return
        taken.append((start, end))
        findings.append(Finding(kind, start, end))

    for match in _SECRET.finditer(text):
        claim("secret", match)
    for match in _EMAIL.finditer(text):
        claim("email", match)
    for match in _CARD.finditer(text):
        if _is_card(match.group()):
            claim("card", match)
    for match in _INTERNATIONAL.finditer(text):
        if _is_international(match.group()):
            claim("phone", match)
    for match in _NATIONAL.finditer(text):
        if _is_national(match.group()):
            claim("phone", match)
    return sorted(findings, key=lambda f: f.start)


_PLACEHOLDER = {"email": "[email]", "phone": "[phone]", "card": "[number]", "secret": "[secret]"}


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
