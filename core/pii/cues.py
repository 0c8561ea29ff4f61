"""Names announced by the words around them: `my name is`, `call me`, `Mr.`; the model misses names it
has not seen (and most names with diacritics), the announcement does not."""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.pii.types import Entity, Finding

# Upper-case letters of the Latin alphabets (ASCII, Latin-1, Latin Extended-A), for names with diacritics.
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0100-\u017f"
_APOSTROPHES = "'\u2019"
_NAME = rf"(?P<name>(?-i:[{_UPPER}])[\w{_APOSTROPHES}-]*\.?(?:\s(?-i:[{_UPPER}])\w*\.?){{0,3}})"
_CUE = re.compile(
    r"(?:\bmy name is|\bname is|\bcall me|\bcalls me|\bcalled|\bnamed(?: him| her)?|\bname:\s*|\bname\?|\bsigned,?"
    r"|\bregards,?|\b(?:hi|hello|hey|dear|greetings),?|\bthis is|\bi'm|\bi am|\b(?:directed|written|founded) by:?"
    r"|\b(?:mr|mrs|ms|miss|dr|prof)\.?)\s+" + _NAME,
    re.IGNORECASE,
)
# What follows `hi`, `this is` or `I'm` and is no one's name.
_NOT_NAMES_WORDS = (
    "I Im A An The This That There Here It We You Everyone All Team Guys Folks Sir Madam Again Sorry Not "
    "So Very Just Still Also Looking Trying Having Going Calling Writing Interested Happy Glad Afraid "
    "Sure Back Done Good Great Fine Okay Ok Thanks Thank Please Support Customer Service Help Regarding "
    "About Your My Our Mr Mrs Ms Miss Dr Prof"
)
_NOT_NAMES = frozenset(_NOT_NAMES_WORDS.split())
_SCORE = 0.9
# Words that end a name: what follows a name on an envelope.
_AFTER_NAME = re.compile(r"\s(?:Suite|Apt|Unit|Flat|Box|PSC)\b|\n")


def find_cued_names(text: str) -> Iterator[Finding]:
    position = 0
    while (match := _CUE.search(text, position)) is not None:
        start, end = match.span("name")
        words = match.group("name").split()
        if words[0].rstrip(".,") in _NOT_NAMES:
            position = start  # `this is Dr. Frank`: the title is a cue of its own
            continue
        position = end
        # A sentence ends the name: `Rolando. Please ...`.
        for i, word in enumerate(words[1:], 1):
            if words[i - 1].endswith(".") and len(words[i - 1]) > 2 and word.rstrip(".,") in _NOT_NAMES:
                end = start + match.group("name").index(word, len(" ".join(words[:i]))) - 1
                break
        cut = _AFTER_NAME.search(text, start, end)
        end = cut.start() if cut else end
        while end > start and text[end - 1] in ".,":
            end -= 1
        yield Finding(Entity.PERSON, start, end, _SCORE)


# Places announced by a verb of living or moving (`I live in Leeds`, `moved here from Kooigem`, `flew to Oslo`).
_PLACE = rf"(?P<place>(?-i:[{_UPPER}])[\w{_APOSTROPHES}-]*(?:[ -](?-i:[{_UPPER}])[\w{_APOSTROPHES}-]*){{0,3}})"
_PLACE_CUE = re.compile(
    r"\b(?:flew|flying|fly|travel(?:l)?ing|travel(?:l)?ed|moved(?: here)?|moving|relocat(?:ed|ing)|lives?(?: on| at)?"
    r"|living|born|grew up|based|located|originally|ship(?:ped)?|deliver(?:ed)?)\s+(?:to|in|from|at|near)\s+" + _PLACE,
    re.IGNORECASE,
)
_PLACE_SCORE = 0.85


def find_cued_places(text: str) -> Iterator[Finding]:
    for match in _PLACE_CUE.finditer(text):
        if match.group("place").split()[0] in _NOT_NAMES:
            continue
        yield Finding(Entity.LOCATION, *match.span("place"), _PLACE_SCORE)
