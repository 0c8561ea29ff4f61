"""Country names come from `phonenumbers`' locale table, read without loading its geocoding tables."""

from __future__ import annotations

import subprocess
import sys

from core.pii.places import country_names, find_countries


def test_country_names_are_names_of_the_locale_table() -> None:
    from phonenumbers.geodata.locale import LOCALE_DATA

    written = {name for languages in LOCALE_DATA.values() for name in languages.values()}
    names = country_names()
    assert {"Cyprus", "Germany", "New Zealand"} <= names <= written
    assert "Jordan" not in names  # more often a person's name: left to the model
    assert [text[f.start : f.end] for text in ["from Cyprus"] for f in find_countries(text)] == ["Cyprus"]


def test_reading_the_names_leaves_the_geocoding_tables_unloaded() -> None:
    """`phonenumbers.geodata` loads about 100 MiB of tables on import; every worker and gateway reads the names."""
    code = (
        "import sys\n"
        "from core.pii.places import country_names\n"
        "assert len(country_names()) > 200\n"
        "print(sorted(m for m in sys.modules if m.startswith('phonenumbers.geodata')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
