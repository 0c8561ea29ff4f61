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
    r"(?:\bmy name is|\bname is|\bcall me|\bcalls me|\bcalled|\bnamed(?: him| her)?|\bname:\s*|\bsigned,?|\bregards,?"
    r"|\b(?:mr|mrs|ms|miss|dr|prof)\.?)\s+" + _NAME,
    re.IGNORECASE,
)
_SCORE = 0.9
# Words that end a name: what follows a name on an envelope.
_AFTER_NAME = re.compile(r"\s(?:Suite|Apt|Unit|Flat|Box|PSC)\b")


def find_cued_names(text: str) -> Iterator[Finding]:
    for match in _CUE.finditer(text):
        start, end = match.span("name")
        cut = _AFTER_NAME.search(text, start, end)
        end = cut.start() if cut else end
        while end > start and text[end - 1] in ".,":
            end -= 1
        yield Finding(Entity.PERSON, start, end, _SCORE)
