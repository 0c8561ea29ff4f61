"""Countries by name: a closed list the small model knows only in part (it reads `Cyprus` after `from` as a
place and at the end of an address line as nothing).

The names are the English region names `phonenumbers` ships for its geocoder (ISO 3166 regions), so the list
needs no download and follows that package's updates. A name counts written as a name (`Cyprus`, `CYPRUS`),
never in lower case; names that are more often a person's or a word (`Jordan`, `Chad`, `Turkey`) are left
to the model, which reads their context.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.pii.types import Entity, Finding

# Above the model's guess (0.8), below a street address found by shape.
SCORE = 0.85
_AMBIGUOUS = frozenset({"Jordan", "Chad", "Turkey", "Georgia", "Guinea", "Niger", "Man", "Reunion", "Jersey"})


def _locale_data() -> dict[str, dict[str, str]]:
    """`phonenumbers.geodata.locale.LOCALE_DATA`, read without importing `phonenumbers.geodata`, whose package
    import loads every geocoding table (about 100 MiB resident) for a list of 250 names."""
    import phonenumbers

    path = Path(phonenumbers.__file__).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    assert spec is not None and spec.loader is not None, path
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its one import, `..util`, resolves to `phonenumbers.util`
    data: dict[str, dict[str, str]] = module.LOCALE_DATA
    return data


@functools.cache
def country_names() -> frozenset[str]:
    names = set()
    for languages in _locale_data().values():
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
