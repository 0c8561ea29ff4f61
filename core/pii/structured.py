"""Structured personal data: a cheap regular expression proposes a candidate, a validator decides.

Candidates must not be glued to a longer token (ids, versions, decimals and timestamps keep their digits), and
numbers that could be anything (nine or ten bare digits) count only next to a word that names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.pii import validators
from core.pii.phones import find_phones
from core.pii.types import Entity, Finding, PiiConfig

# A literal `\n` (text escaped into JSON, a log line) separates like a line break does.
_BEFORE = r"(?:(?<=\\n)|(?<![\w.:/+-]))"
_AFTER = r"(?![\w:/-]|\.\d)"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()]+", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])")
_CARD = re.compile(_BEFORE + r"\d(?:[ -]?\d){11,18}" + _AFTER)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){10,30}\b")
_SSN = re.compile(_BEFORE + r"\d{3}([- ])\d{2}\1\d{4}" + _AFTER)
_BARE_NINE = re.compile(_BEFORE + r"\d{9}" + _AFTER)
_NINO = re.compile(r"\b[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]\b")
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social security|social|taxpayer|tin)\b", re.I)
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    r"(?<![\w./-])(?:\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
    rf"|{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTHS}(?:,? \d{{4}})?"
    rf"|{_MONTHS} \d{{4}})(?![\w/-]|\.\d)",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:in|since|until|from|year|born|of)\s+((?:19|20)\d{2})\b(?![.:/-]\d)", re.IGNORECASE)
_CARD_CONTEXT = re.compile(r"\b(?:card|credit|debit|visa|mastercard|maestro|amex|number)", re.I)


def _context(text: str, start: int, pattern: re.Pattern[str], width: int = 40, end: int | None = None) -> bool:
    """A word naming the thing within `width` characters before it (or, given `end`, right after it)."""
    if pattern.search(text, max(0, start - width), start):
        return True
    return end is not None and bool(pattern.match(text, end + 1, end + 12))


def _card_valid(text: str, start: int, candidate: str) -> bool:
    return validators.card_valid(candidate) or (
        validators.card_with_context_valid(candidate) and _context(text, start, _CARD_CONTEXT)
    )


def _cards(text: str) -> Iterator[Finding]:
    """Cards, also where two numbers run together: the longest valid reading that ends at a group break."""
    position = 0
    while (m := _CARD.search(text, position)) is not None:
        start, candidate = m.start(), m.group()
        while candidate and not _card_valid(text, start, candidate):
            cut = max(candidate.rfind(" "), candidate.rfind("-"))
            candidate = candidate[:cut] if cut > 0 else ""
        if candidate:
            yield Finding(Entity.CARD, start, start + len(candidate))
            position = start + len(candidate)
        else:
            position = start + 1  # the next group may start a card (`+1 326 877 7353 4533 7727 ...`)


def _iban_span(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    """The IBAN at the start of a candidate: exactly its country's length of characters, separators kept."""
    wanted = validators.IBAN_LENGTHS.get(match.group()[:2])
    if wanted is None:
        return None
    count, end = 0, match.start()
    for end in range(match.start(), match.end()):
        if text[end].isalnum():
            count += 1
            if count == wanted:
                break
    if count != wanted or not validators.iban_valid(text[match.start() : end + 1]):
        return None
    return match.start(), end + 1


def find_structured(text: str, config: PiiConfig) -> Iterator[Finding]:
    """Every validated candidate, possibly overlapping; the detector resolves overlaps by precedence."""
    wants = config.wants
    if wants(Entity.EMAIL) and "@" in text:
        for m in _EMAIL.finditer(text):
            # After a literal `\n` (text escaped into JSON) the `n` is the line break's, not the address's.
            start = m.start() + 1 if text[m.start()] == "n" and text[m.start() - 1 : m.start()] == "\\" else m.start()
            yield Finding(Entity.EMAIL, start, m.end())
    if wants(Entity.URL) and ("://" in text or "www." in text.lower()):
        for m in _URL.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] in ".,;:!?":
                end -= 1
            yield Finding(Entity.URL, m.start(), end)
    if wants(Entity.DATE) and "day" in text.lower():
        for m in _WEEKDAY.finditer(text):
            yield Finding(Entity.DATE, *m.span(), score=0.9)
    if not any(ch.isdigit() for ch in text):
        return
    if wants(Entity.IBAN):
        for m in _IBAN.finditer(text):
            span = _iban_span(text, m)
            if span:
                yield Finding(Entity.IBAN, *span)
    if wants(Entity.CARD):
        yield from _cards(text)
    if wants(Entity.NATIONAL_ID):
        for m in _SSN.finditer(text):
            if validators.us_ssn_valid(m.group()):
                yield Finding(Entity.NATIONAL_ID, *m.span())
        for m in _BARE_NINE.finditer(text):
            if _context(text, m.start(), _SSN_CONTEXT) and validators.us_ssn_valid(m.group()):
                yield Finding(Entity.NATIONAL_ID, *m.span())
        for m in _NINO.finditer(text):
            if validators.uk_nino_valid(m.group()):
                yield Finding(Entity.NATIONAL_ID, *m.span())
    if wants(Entity.IP):
        for pattern in (_IPV4, _IPV6):
            for m in pattern.finditer(text):
                if validators.ip_valid(m.group(), private_ips=config.private_ips):
                    yield Finding(Entity.IP, *m.span())
    if wants(Entity.DATE):
        for m in _DATE.finditer(text):
            if validators.numeric_date_valid(m.group()):
                yield Finding(Entity.DATE, *m.span(), score=0.9)
        for m in _YEAR.finditer(text):
            yield Finding(Entity.DATE, *m.span(1), score=0.9)
    if wants(Entity.PHONE):
        yield from find_phones(text, config)
