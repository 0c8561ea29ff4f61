"""Structured personal data: a cheap regular expression proposes a candidate, a validator decides.

Candidates must not be glued to a longer token (ids, versions, decimals and timestamps keep their digits), and
numbers that could be anything (nine or ten bare digits) count only next to a word that names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from core.pii import validators
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
# Phone-shaped: `+` or `00` and a country code, or groups split by separators, or parentheses round an
# area code; an extension may follow. Validation is `phonenumbers`' numbering plans.
_PHONE = re.compile(
    _BEFORE
    + r"(?:\+|00)?\d{0,3}[\s.-]?(?:\(\d{1,5}\)\s?\d{1,5}|\d{1,5})(?:[\s.-]?\d{2,5}){1,4}(?:\s?(?:x|ext\.?)\s?\d{1,6})?"
    + _AFTER,
    re.IGNORECASE,
)
_PHONE_CONTEXT = re.compile(
    r"(?:\b|(?<=\\n))(?:phone|call|tel|mobile|cell|fax|number|reach|text|contact|dial|ring|messages?|sms|whatsapp|registered|answer"
    r"|office|home|work)",
    re.I,
)
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
_PHONE_DIGITS = (7, 15)
# Words that say a number is something other than a phone number, right before it, or a unit right after it.
_NOT_PHONE_BEFORE = re.compile(
    r"(?:\b(?:order|orders|ref|reference|id|invoice|amount|total|price|cost|balance|account|acct|iban|zip|postcode"
    r"|postal|code|apt|apartment|suite|unit|box|room|version|port|pin|ticket|tracking|sku|item|qty|quantity|serial"
    r"|no|nr|batch|lot|page|pages|between|and|to|from|transaction|txn|case|policy|member|customer|user|build"
    r"|job|run|step|row|rows|line|isbn|vat|tax|bsn|ssn|card|visa|mastercard|iban|bic|swift|routing)|[$\u20ac\u00a3#%])"
    r"[\s:.#-]*$",
    re.IGNORECASE,
)
_NOT_PHONE_AFTER = re.compile(
    r"\s?(?:%|ms\b|s\b|sec|seconds|minutes|hours|days|years|units|items|pieces|usd|eur|gbp|kg|g\b|km|m\b|mb|gb|kb"
    r"|bytes|px|times|rows|words|people|users|points|dollars|euros|pounds|x\b|\.\d)",
    re.IGNORECASE,
)
_FIVE_DIGITS = re.compile(r"(?<!\d)\d{5}(?!\d)")
# `license number`, `passport no.`: the cue word names another number.
_OTHER_NUMBER = re.compile(
    r"\b(?:licen[cs]e|passport|order|invoice|tracking|policy|member|customer|serial|reference)"
    r"\s+(?:number|no\.?|nr\.?|#)\s*(?:is|was|:)?\s*$",
    re.IGNORECASE,
)
_YEAR_PAIR = re.compile(r"(?:19|20)\d{2}\s(?:19|20)\d{2}")
# Three pairs (`61 60 34`): a six-digit local number, counted only where a word says it is one.
_SIX_DIGITS = re.compile(r"\d{2}([\s.-])\d{2}\1\d{2}")
_LAST_GROUP = re.compile(r"[\s.-]\d+$")
_NUMERIC_DATE = re.compile(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})")


def _date_valid(candidate: str) -> bool:
    """A numeric date needs a month and a day in range, whichever order it is written in."""
    match = _NUMERIC_DATE.match(candidate)
    if match is None:
        return True
    first, second, third = (int(part) for part in match.groups())
    if len(match.group(1)) == 4:
        return 1 <= second <= 12 and 1 <= third <= 31
    if len(match.group(3)) not in (2, 4):
        return False
    return (1 <= first <= 12 and 1 <= second <= 31) or (1 <= second <= 12 and 1 <= first <= 31)


def _context(text: str, start: int, pattern: re.Pattern[str], width: int = 40, end: int | None = None) -> bool:
    """A word naming the thing within `width` characters before it (or, given `end`, right after it)."""
    if pattern.search(text, max(0, start - width), start):
        return True
    return end is not None and bool(pattern.match(text, end + 1, end + 12))


def _unclaimed(text: str, start: int, end: int) -> bool:
    """No word before the number says it is something else (`order`, `$`, `apt`) and no unit follows it."""
    return _NOT_PHONE_BEFORE.search(text, max(0, start - 24), start) is None and not _NOT_PHONE_AFTER.match(text, end)


def _phone_valid(candidate: str, *, has_context: bool, regions: tuple[str, ...], unclaimed: bool = False) -> bool:
    number = validators.digits(candidate.split("x")[0].split("X")[0].split("ext")[0])
    # Three pairs split by spaces (`61 60 34`) are a local number unless a word claims them; split by dots or
    # hyphens they are as often a date or a code, so only a cue word makes them one.
    local_six = _SIX_DIGITS.fullmatch(candidate.strip()) is not None and (
        has_context or (unclaimed and " " in candidate.strip())
    )
    if not (_PHONE_DIGITS[0] <= len(number) <= _PHONE_DIGITS[1] or local_six):
        return False
    shaped = candidate.lstrip().startswith(("+", "00", "(")) or bool(re.search(r"\d[\s.-]\d", candidate))
    # A run of ten or eleven digits, nothing claiming it, is written as a phone number is (`2869904137`,
    # `07700960940`); one that starts with a 1 is more often a Unix time than a number without its `+1`.
    bare_phone = unclaimed and not shaped and len(number) in (10, 11) and not number.startswith("1")
    if not (shaped or has_context or bare_phone):
        return False  # a bare run of digits is an id or a count until a word says otherwise
    groups = len(re.findall(r"\d+", candidate.split("x")[0]))
    trunk = number.startswith("0") and len(number) >= 9  # `06-12345678`: a national number with its trunk 0
    # Two groups (`329 3803`, `22 829038`, `9147 0918`) read as a local number unless a word claims them,
    # they are a pair of years, or a hyphen splits them (`555-0100`: a range or a code as often as a phone).
    # A group of five digits is a postcode or a house number (`43289 1783 49th Avenue`, `Mayara, 32 94936`).
    local = (
        unclaimed
        and groups == 2
        and " " in candidate.strip()
        and not _YEAR_PAIR.fullmatch(candidate.strip())
        and not _FIVE_DIGITS.search(candidate)
    )
    prefixed = candidate.lstrip().startswith(("+", "00", "("))
    if not (prefixed or has_context or trunk or local or bare_phone) and groups < 3:
        return False  # `555-0100`, `1500000.25`: numbers until a word or a `+` says it is a phone
    if candidate.count(".") == 1:
        return False  # a decimal
    if "." in candidate and not re.fullmatch(r"[+(\d][\d().\s]*\d(?:\s?x\d+)?", candidate):
        return False
    if re.fullmatch(r"\d{1,4}\.\d+", candidate.strip()):
        return False  # a decimal
    if _SSN.fullmatch(candidate.strip()):
        return False  # the shape of a social security number, never of a phone number
    if _NUMERIC_DATE.fullmatch(candidate.strip()) and _date_valid(candidate.strip()):
        return False  # a date, whether or not dates are looked for
    if has_context:
        return True
    for region in regions:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return True
    return False


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
            if _date_valid(m.group()):
                yield Finding(Entity.DATE, *m.span(), score=0.9)
        for m in _YEAR.finditer(text):
            yield Finding(Entity.DATE, *m.span(1), score=0.9)
    if wants(Entity.PHONE):
        for m in _PHONE.finditer(text):
            start = m.start() + (len(m.group()) - len(m.group().lstrip()))
            candidate = text[start : m.end()]
            end = m.end()
            # A number run together with the next one (`+1 326 877 7353 4123 ...`): shorter readings, last group off.
            while candidate:
                context = _context(text, start, _PHONE_CONTEXT, end=end)
                if context and _OTHER_NUMBER.search(text, max(0, start - 40), start):
                    break  # `my driver's license number is 071518203`
                unclaimed = not context and _unclaimed(text, start, end)
                if _phone_valid(candidate, has_context=context, regions=config.phone_regions, unclaimed=unclaimed):
                    yield Finding(Entity.PHONE, start, end)
                    break
                shorter = _LAST_GROUP.sub("", candidate)
                if shorter == candidate or not _LAST_GROUP.search(shorter):
                    break
                candidate, end = shorter, start + len(shorter)
