"""Street addresses by shape, grown from an anchor: a house number before a capitalised word, a unit
(`Apt. 12`, `Suite 5`, `PSC 1234`, `Box 9`) or a street type (`Main Street`).

From the anchor the span grows over what an address is made of (capitalised words, numbers, commas, line
breaks, units) and stops at an ordinary lowercase word or the end of a sentence. A grown span counts only
with evidence that it is an address and not `3 Blue Shirts`: a street type, a unit, a line break inside, or a
postcode at its end. A named-entity model tags the city of an address and rarely the street; this is
cheaper and surer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.pii.types import Entity, Finding

_STREET_TYPES_WORDS = (
    "street st avenue ave road rd lane ln drive dr boulevard blvd court ct way place pl square sq terrace"
    " parkway pkwy highway hwy circle cir trail trl crescent close row plaza ridge hill park path pike"
    " alley run loop crossing point mews gardens walk green estates rue via strasse straße calle ul. ul"
    " avda. avda ctra. piazza strada"
)
_STREET_TYPES = frozenset(_STREET_TYPES_WORDS.split())
_UNITS = frozenset({"apt", "apt.", "suite", "unit", "flat", "psc", "uss", "box", "#", "floor", "fl", "ste"})
_PARTICLES_WORDS = "de la del van der von di da do dos le du of degli della delle dei des den het am im zum zur"
_PARTICLES = frozenset(_PARTICLES_WORDS.split())
# Capitalised words that start sentences and requests, never part of an address.
_STOP_WORDS = (
    "i my please the a an we you our your it this that he she they his her ship send deliver bot user"
    " name address where when zip"
)
_STOP = frozenset(_STOP_WORDS.split())
_TOKEN = re.compile(r"\\n|\n|,|(?:[^\s,\\]|\\(?!n))+")
_ANCHOR = re.compile(r"(?:\b|(?<=\\n))\d{1,6}[A-Za-z]?\s+(?=[^\W\d_])|\b(?:Apt\.?|Suite|Unit|Flat|PSC|USS|Box)\s+#?\d")
_POSTCODE = re.compile(r"^(?:\d{4,6}(?:-\d{4})?|[A-Z]\d[A-Z]|\d[A-Z]\d)$")
SCORE = 0.95


def _part_of_address(token: str) -> bool:
    if token in {",", "\n", "\\n"}:
        return True
    word = token.rstrip(".,")
    if not word or word.endswith(":"):
        return False
    lowered = word.lower()
    if word[0].isdigit() or token.lower() in _UNITS or lowered in _PARTICLES or token.lower() in _STREET_TYPES:
        return True
    return word[0].isupper() and word.lower() not in _STOP


_PHONE_LINE = re.compile(r"\b(?:office|fax|mobile|phone|tel|cell|home|work)\b", re.I)


def _phone_line(text: str, start: int) -> bool:
    """A line that holds a phone number ends the address before it (`...Slovenia 92406\\n905-549-7359 office`)."""
    line_end = min((i for i in (text.find("\n", start), text.find("\\n", start)) if i != -1), default=len(text))
    return bool(_PHONE_LINE.search(text, start, line_end))


# What is left of a line (or up to a comma) when it is only a phone number: seven digits or more, or three pairs,
# perhaps labelled (`office`). A ZIP+4 (`62704-1234`) or a Portuguese postcode (`1000-001`) is not one.
_LABELS = r"(?:office|fax|mobile|phone|tel|cell|home|work)"
_PHONE_REST = re.compile(
    r"[+(]?\d[\d \t().-]*\d(?:[ \t]?(?:x|ext\.?)[ \t]?\d{1,6})?(?:[ \t]+" + _LABELS + r")?[ \t]*(?=$|\n|\\n|,)",
    re.IGNORECASE,
)
_POSTCODE_SHAPE = re.compile(r"\d{4,5}-\d{3,4}")
_PAIRS = re.compile(r"\d{2}([\s.-])\d{2}\1\d{2}")


def _phone_rest(text: str, start: int) -> bool:
    match = _PHONE_REST.match(text, start)
    if match is None:
        return False
    number = re.sub(r"\s+" + _LABELS + r"\s*$", "", match.group(), flags=re.I).strip()
    if _POSTCODE_SHAPE.fullmatch(number):
        return False
    return sum(ch.isdigit() for ch in number) >= 7 or bool(_PAIRS.fullmatch(number))


def _phone_follows(text: str, tokens: list[tuple[str, int, int]], last: int) -> bool:
    """The rest of the line after `tokens[last]` is a phone number (`...Germany 79442\\n84 23 30`,
    `...Upper Hutt, 042 217 1895`, `...Spain 040 899 2631`): the address ends before it. A postcode in front
    of the number stays with the address (`Netherlands 61037 05.58.14.70.35`)."""
    following, start, end = tokens[last + 1]
    if not following[:1].isdigit() and following[:1] not in "+(":
        return False
    if not _phone_rest(text, start):
        return False
    if tokens[last][0] in {"\n", "\\n", ","} or not _POSTCODE.match(following):
        return True
    after = re.match(r"[ \t]+", text[end:])
    return after is None or not _phone_rest(text, end + after.end())


def _evidence(tokens: list[str]) -> bool:
    words = [t.lower().rstrip(".,") for t in tokens]
    if any(w in _STREET_TYPES or w + "." in _UNITS or w in _UNITS for w in words):
        return True
    inner = tokens[1:-1]
    if any(t in {"\n", "\\n"} for t in inner):
        return True
    content = [t for t in tokens if t not in {",", "\n", "\\n"}]
    # Numbers alone (`050 882 9549`) are no address, whatever the last one looks like.
    named = any(not t.replace(".", "").isdigit() for t in content)
    return named and len(content) >= 3 and bool(_POSTCODE.match(content[-1]))


_POSTCODE_CUE = re.compile(
    r"\b(?:zip|zip code|postcode|postal code)\s*:?\s*([A-Z0-9]{2,5}(?: ?[A-Z0-9]{3,4})?)\b", re.I
)


def find_addresses(text: str) -> Iterator[Finding]:
    if not any(ch.isdigit() for ch in text):
        return
    for cue in _POSTCODE_CUE.finditer(text):
        if any(ch.isdigit() for ch in cue.group(1)):
            yield Finding(Entity.LOCATION, *cue.span(1), SCORE)
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    starts = {start: i for i, (_t, start, _e) in enumerate(tokens)}
    claimed_until = -1
    for anchor in _ANCHOR.finditer(text):
        first = starts.get(anchor.start())
        if first is None or first <= claimed_until:
            continue
        following = tokens[first + 1][0] if first + 1 < len(tokens) else ""
        if tokens[first][0][0].isdigit() and (
            not (following[:1].isupper() or following.lower() in _STREET_TYPES) or following.lower() in _STOP
        ):
            continue  # `1595 office`, `3 items`, `9549 I want`: a number before an ordinary word starts no address
        last = first
        while last + 1 < len(tokens) and _part_of_address(tokens[last + 1][0]):
            if tokens[last][0] in {"\n", "\\n"} and _phone_line(text, tokens[last + 1][1]):
                break
            if _phone_follows(text, tokens, last):
                break
            last += 1
            word = tokens[last][0]
            abbreviation = word.lower() in _UNITS or word.lower() in _STREET_TYPES or len(word) <= 3
            if word[-1] in ".!?" and not abbreviation and not word[0].isdigit():
                break  # the end of a sentence, unless an abbreviation such as `Apt.` or `St.`
        # Back over a street name written before its number (`Rua Graciliano Ramos 1950`), never past a line
        # break, a title (`Mrs.`) or a unit anchor's own start.
        unit_anchor = not tokens[first][0][0].isdigit()
        words_back = 0
        while first > claimed_until + 1 and not unit_anchor and words_back < 4:
            previous = tokens[first - 1][0]
            dotted = previous.endswith(".") and previous.lower() not in _STREET_TYPES
            if previous in {",", "\n", "\\n"} or dotted or not _part_of_address(previous):
                break
            first -= 1
            words_back += 1
        while last > first and tokens[last][0] in {",", "\n", "\\n"}:
            last -= 1
        span = [t for t, _s, _e in tokens[first : last + 1]]
        if len(span) >= 2 and _evidence(span):
            claimed_until = last
            end = tokens[last][2]
            if tokens[last][0].lower() not in _UNITS:
                while text[end - 1] in ".?!;:":
                    end -= 1
            yield Finding(Entity.LOCATION, tokens[first][1], end, SCORE)
