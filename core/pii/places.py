"""Countries by name: a closed list the small model knows only in part (it reads `Cyprus` after `from` as a
place and at the end of an address line as nothing).

The names are the English region names `phonenumbers` ships for its geocoder (ISO 3166 regions), so the list
needs no download and follows that package's updates. A name counts written as a name (`Cyprus`, `CYPRUS`),
never in lower case; names that are more often a person's or a word (`Jordan`, `Chad`, `Turkey`) are left
to the model, which reads their context.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from core.pii.types import Entity, Finding

# Above the model's guess (0.8), below a street address found by shape.
SCORE = 0.85
_AMBIGUOUS = frozenset({"Jordan", "Chad", "Turkey", "Georgia", "Guinea", "Niger", "Man", "Reunion", "Jersey"})


@functools.cache
def country_names() -> frozenset[str]:
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = set()
    for languages in LOCALE_DATA.values():
        name = languages.get("en", "")
        while name.startswith("*"):  # `*aa`: the same as the name in that language
            name = languages.get(name[1:], "")
        if name and name not in _AMBIGUOUS and not any(ch in name for ch in "(),&"):
            names.add(name)
    return frozenset(names)


@functools.cache
def _pattern() -> re.Pattern[str]:
    alternatives = sorted(country_names(), key=len, reverse=True)
    variants = [re.escape(n) for n in alternatives] + [re.escape(n.upper()) for n in alternatives]
    return re.compile(r"(?<![\w-])(?:" + "|".join(variants) + r")(?![\w-])")


def find_countries(text: str) -> Iterator[Finding]:
    for match in _pattern().finditer(text):
        yield Finding(Entity.LOCATION, *match.span(), SCORE)
