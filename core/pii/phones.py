"""Phone numbers: a shape proposes a candidate; a word near it, the way it is written, or a numbering plan of
`phonenumbers` decides.

A word naming a phone (`call`, `tel:`, `mobile`) makes a phone-shaped number one. Without such a word a number
counts when it is written as phone numbers are (`+` or `00` and a country code, an area code in parentheses, three
groups or more, a local number of two groups) and no word claims it for something else (`order`, `$`, `apt`, a
unit after it, the other end of a range). Amounts with spaces between thousands, dates and postcodes in front
of a number are not phones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from core.pii import validators
from core.pii.types import Entity, Finding, PiiConfig

_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")
# Phone-shaped: `+` or `00` and a country code, or groups split by separators, or parentheses round an
# area code; an extension may follow. Validation is `phonenumbers`' numbering plans.
# A phone number may also follow a label glued to it (`tel:`, `Phone:`, `ph#`, `Tel.`) or another number and a slash
# (`042 058 2886/+41 39 118 62 52`), and may be followed by a slash and the next number.
_PHONE_BEFORE = r"(?:(?<=\\n)|(?<=[A-Za-z][:#.])|(?<=\d/)|(?<![\w.:/+-]))"
# A label may be glued after it with a hyphen (`555-201-7788-Office`, `020 7946 0958-Fax`).
_LABEL_AFTER = r"-(?:office|fax|mobile|home|work|cell|tel|phone|direct|main|desk|landline|private|business)\b"
_PHONE_AFTER = r"(?!\w|:|-(?!" + _LABEL_AFTER[1:] + r")|/(?![+(\d])|\.\d)"
_PHONE = re.compile(
    _PHONE_BEFORE
    + r"(?:\+|00)?\d{0,3}[\s.-]?(?:\(\d{1,5}\)\s?\d{1,5}|\d{1,5})(?:[\s.-]?\d{2,5}){1,4}(?:\s?(?:x|ext\.?)\s?\d{1,6})?"
    + _PHONE_AFTER,
    re.IGNORECASE,
)
_PHONE_CONTEXT = re.compile(
    r"(?:\b|(?<=\\n))(?:phone|call|tel|mobile|cell|fax|number|reach|text|contact|dial|ring|messages?|sms|whatsapp|registered|answer"
    r"|office|home|work|landline|ph(?=[\s#:.]))",
    re.I,
)
_PHONE_DIGITS = (7, 15)
# Words that say a number is something other than a phone number, right before it, or a unit right after it.
_NOT_PHONE_BEFORE = re.compile(
    r"(?:\b(?:order|orders|ref|reference|id|invoice|amount|total|price|cost|balance|account|acct|iban|zip|postcode"
    r"|postal|code|apt|apartment|suite|unit|box|room|version|port|pin|ticket|tracking|sku|item|qty|quantity|serial"
    r"|no|nr|batch|lot|page|pages|between|transaction|txn|case|policy|member|customer|user|build"
    r"|job|run|step|row|rows|line|isbn|vat|tax|bsn|ssn|card|visa|mastercard|iban|bic|swift|routing)s?|[$\u20ac\u00a3#%])"
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
# Two years joined by a hyphen or a dash (`1999-2005`, `2024 - 2025`): a span of years, whatever word is near.
_YEAR_RANGE = re.compile(r"(?:19|20)\d{2}\s?[-\u2013]\s?(?:19|20)\d{2}")
# Three pairs (`61 60 34`): a six-digit local number, counted only where a word says it is one.
_SIX_DIGITS = re.compile(r"\d{2}([\s.-])\d{2}\1\d{2}")
_POSTCODE_FIRST = re.compile(r"[1-9]\d{4}[ \t]+\d")
_THOUSANDS = re.compile(r"\d( \d{3}){2,}")
_DOTTED_DATE = re.compile(r"(?:19|20)\d{2}\.(?:0?[1-9]|1[0-2])\.\d{1,2}(?:\.|$)")
_LAST_GROUP = re.compile(r"[\s.-]\d+$")


def _context(text: str, start: int, end: int) -> bool:
    """A word naming a phone within 40 characters before the number, or right after it (`555 0100 office`,
    `555-201-7788-Fax`) unless a word right before it says what else it is (`SKU 123-456-7890 home`)."""
    if _PHONE_CONTEXT.search(text, max(0, start - 40), start):
        return True
    after = _PHONE_CONTEXT.match(text, end + 1, end + 12) is not None
    return after and _NOT_PHONE_BEFORE.search(text, max(0, start - 24), start) is None


# A range (`from 1 250 000 to 1 500 000`, `between 2 000 and 3 000`): a number with another one across `to` or
# `and`. `to`, `from` and `and` alone claim nothing (`forward it to 22 860949`, `and 66 31 35`).
_RANGE_AFTER = re.compile(r"\s*(?:to|and|\u2013)\s*[$\u20ac\u00a3]?\d", re.IGNORECASE)
# A street number and name after it (`389 1090 43rd Avenue`): the digits belong to an address.
_HOUSE_NUMBER_AFTER = re.compile(r"\s\d{1,5}(?:st|nd|rd|th)?\s+[A-Z]")
# Ten digits starting with a 1 after a word of time (`at 1733500000`, `created: 1733500000`): a Unix time.
_UNIX_TIME = re.compile(r"1\d{9}")
_TIME_BEFORE = re.compile(
    r"\b(?:at|time|timestamp|ts|epoch|since|until|created|updated|modified|expires?|exp|iat|nbf|when)[\s:=]*$", re.I
)
_RANGE_BEFORE = re.compile(r"\d[%kKmM]?\s*(?:to|and|\u2013)\s*[$\u20ac\u00a3]?$", re.IGNORECASE)


# A number written with separators in groups other than thousands, eight digits or more (`393.544.2197`,
# `0488 51 54 25`, `287-638-1699x618`): phone-shaped, so never one end of a range. Thousands (`12 500 000`) may
# be either; in a range they are an amount.
_GROUPED = re.compile(r"[+(]?\d+(?:[\s.()-]+\d+)+(?:\s?(?:x|ext\.?)\s?\d{1,6})?", re.IGNORECASE)
_AMOUNT = re.compile(r"\d{1,3}(?:[ .,]\d{3})+")
_AND_AFTER = re.compile(r"\s*and\b", re.IGNORECASE)


def _range_end(text: str, start: int, end: int, in_list: bool) -> bool:
    """One end of a range (`from 1 250 000 to 1 500 000`, `between 555 1234 and 555 9999`), not a number in a list
    of phones: one after a phone found (`555 0100, 555 0199 and 555 0123`), one grouped as phones are, and before
    `and` a run of ten or eleven digits or an item after a comma (`..., 689 556 892 and 689 556 893`)."""
    if in_list:
        return False
    candidate = text[start:end]
    if _GROUPED.fullmatch(candidate) and len(validators.digits(candidate)) >= 8 and not _AMOUNT.fullmatch(candidate):
        return False
    if _RANGE_BEFORE.search(text, max(0, start - 24), start):
        return True
    if not _RANGE_AFTER.match(text, end):
        return False
    listed = (candidate.isdigit() and len(candidate) in (10, 11)) or text[:start].rstrip().endswith(",")
    return not (listed and _AND_AFTER.match(text, end))


def _unclaimed(text: str, start: int, end: int, in_list: bool = False) -> bool:
    """No word before the number says it is something else (`order`, `$`, `apt`), no unit follows it, and it
    is not one end of a range."""
    return (
        _NOT_PHONE_BEFORE.search(text, max(0, start - 24), start) is None
        and not _NOT_PHONE_AFTER.match(text, end)
        and not _HOUSE_NUMBER_AFTER.match(text, end)
        and not (_UNIX_TIME.fullmatch(text, start, end) and _TIME_BEFORE.search(text, max(0, start - 24), start))
        and not _range_end(text, start, end, in_list)
    )


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
    # `07700960940`, `1994761342`); a Unix time is claimed by the word before it (`at 1733500000`).
    bare_phone = unclaimed and candidate.strip().isdigit() and len(number) in (10, 11)
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
    # An area code and a seven-digit number joined by a hyphen (`231-6284512`): too long for a range or a code.
    area_and_number = unclaimed and groups == 2 and re.fullmatch(r"\d{3,4}-\d{6,8}", candidate.strip()) is not None
    prefixed = candidate.lstrip().startswith(("+", "00", "("))
    if not (prefixed or has_context or unclaimed):
        return False  # `SKU: 123-456-789`, `member 123 456 789`: a word before it says what the number is
    if not (prefixed or has_context) and _THOUSANDS.fullmatch(candidate.strip()):
        return False  # `1 250 000`, `3 500 000`: an amount written with spaces between its thousands
    if _DOTTED_DATE.match(candidate.strip()):
        return False  # `2024.11.05.1234`: a date or a build number
    if not (prefixed or has_context or trunk or local or bare_phone or area_and_number) and groups < 3:
        return False  # `555-0100`, `1500000.25`: numbers until a word or a `+` says it is a phone
    if candidate.count(".") == 1:
        return False  # a decimal
    if "." in candidate and not re.fullmatch(r"[+(\d][\d().\s]*\d(?:\s?x\d+)?", candidate):
        return False
    if re.fullmatch(r"\d{1,4}\.\d+", candidate.strip()):
        return False  # a decimal
    if _SSN_SHAPE.fullmatch(candidate.strip()):
        return False  # the shape of a social security number, never of a phone number
    if validators.is_numeric_date(candidate.strip()) or _YEAR_RANGE.fullmatch(candidate.strip()):
        return False  # a date or a span of years, whether or not dates are looked for
    if has_context or bare_phone:
        return True  # `00` and nine digits is an international number whatever the plans say of its country
    for region in regions:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return True
    return False


# What separates the numbers of a list (`555 0100, 555 0199 and 555 0123`, `.../...`, `... or ...`).
_DIGIT = re.compile(r"\d")
_LIST_GAP = re.compile(r"\s*(?:[,;/&]|and\b|or\b)(?:\s*(?:and|or)\b)?\s*", re.IGNORECASE)


def find_phones(text: str, config: PiiConfig) -> Iterator[Finding]:
    position = 0
    # Where the last phone found ends, and where the last number a word claimed ends and how it is written
    # (`ids 1234567890, ...`): the numbers listed after a phone are phones, those listed after a claimed number
    # and written as it is are of its kind.
    previous = claimed = -1
    claimed_shape = ""
    while (m := _PHONE.search(text, position)) is not None:
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        in_list = previous >= 0 and _LIST_GAP.fullmatch(text, previous, start) is not None
        after_claimed = (
            claimed >= 0
            and _LIST_GAP.fullmatch(text, claimed, start) is not None
            and _DIGIT.sub("#", text[start : m.end()]) == claimed_shape
        )
        # Five digits without a trunk 0 in front of more groups are a postcode (`FPO AA 53787 419-420-8100`).
        postcode = _POSTCODE_FIRST.match(text, start, m.end())
        found = None if postcode or after_claimed else _phone_at(text, start, m.end(), config, in_list)
        if found is not None:
            yield found
            position = previous = found.end
            continue
        if after_claimed or _NOT_PHONE_BEFORE.search(text, max(0, start - 24), start):
            claimed, claimed_shape = m.end(), _DIGIT.sub("#", text[start : m.end()])
        # Nothing at the first group: the number may start at the next one (`4346 8535 6068 8316 081 901 72 95`,
        # a card and then a phone number; `FPO AA 53787 419-420-8100`, a postcode and then one).
        following = re.search(r"[\s.-][+(]?\d", text[start : m.end()])
        position = start + following.start() + 1 if following else m.end()


def _phone_at(text: str, start: int, end: int, config: PiiConfig, in_list: bool = False) -> Finding | None:
    """The longest valid phone reading of the candidate `text[start:end]`: a number run together with the next
    one (`+1 326 877 7353 4123 ...`) gets shorter readings, its last group off."""
    candidate = text[start:end]
    while candidate:
        context = _context(text, start, end)
        if context and _OTHER_NUMBER.search(text, max(0, start - 40), start):
            return None  # `my driver's license number is 071518203`
        unclaimed = not context and _unclaimed(text, start, end, in_list)
        if _phone_valid(candidate, has_context=context, regions=config.phone_regions, unclaimed=unclaimed):
            return Finding(Entity.PHONE, start, end)
        shorter = _LAST_GROUP.sub("", candidate)
        if shorter == candidate or not _LAST_GROUP.search(shorter):
            return None
        candidate, end = shorter, start + len(shorter)
    return None
