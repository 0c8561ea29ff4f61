"""Reversible pseudonyms: the same value, the same tag; tags restored in text, in JSON and across deltas."""

from __future__ import annotations

import pytest

from core.pii import Entity, PiiConfig, PiiDetector, names_available
from core.pii.ner import load_names
from core.pii.pseudonyms import Pseudonyms

TEXTS = [
    "I am jane@example.com, card 4111 1111 1111 1111.",
    "Again: jane@example.com, and my colleague is bob@example.org.",
]


def test_the_same_value_gets_the_same_tag_and_comes_back() -> None:
    pseudonyms = Pseudonyms(PiiDetector(), PiiConfig())
    hidden = pseudonyms.hide_many(TEXTS)
    assert hidden == [
        "I am <EMAIL_1>, card <CARD_1>.",
        "Again: <EMAIL_1>, and my colleague is <EMAIL_2>.",
    ]
    assert [pseudonyms.restore(text) for text in hidden] == TEXTS
    assert pseudonyms.restore("<EMAIL_9> is not ours") == "<EMAIL_9> is not ours"
    assert pseudonyms.restore_value({"to": ["<EMAIL_2>"], "n": 3}) == {"to": ["bob@example.org"], "n": 3}


def test_redaction_keeps_nothing_to_restore() -> None:
    pseudonyms = Pseudonyms(PiiDetector(), PiiConfig())
    assert pseudonyms.redact_many(TEXTS[:1]) == ["I am [email], card [card]."]
    assert pseudonyms.count == 0


@pytest.mark.parametrize("cut", range(1, 30))
def test_a_tag_cut_between_deltas_is_restored_whole(cut: int) -> None:
    pseudonyms = Pseudonyms(PiiDetector(), PiiConfig())
    pseudonyms.hide("write to jane@example.com or 8.8.8.8")
    answer = "Sure, <EMAIL_1> and <IP_1> < 3 <b"
    streamer = pseudonyms.streamer()
    out = streamer.feed(answer[:cut]) + streamer.feed(answer[cut:]) + streamer.flush()
    assert out == "Sure, jane@example.com and 8.8.8.8 < 3 <b"


def test_a_lone_angle_bracket_is_not_held_forever() -> None:
    pseudonyms = Pseudonyms(PiiDetector(), PiiConfig())
    streamer = pseudonyms.streamer()
    assert streamer.feed("a < b") == "a "
    assert streamer.feed(" and " + "c" * 30) == "< b and " + "c" * 30


@pytest.mark.skipif(not names_available(), reason="needs the `privacy` extra (spaCy's small English model)")
def test_the_name_model_finds_people_and_places() -> None:
    names = load_names()
    assert names is not None
    [found] = names.find_many(["Yesterday Maria Schmidt flew from Berlin to Paris."])
    text = "Yesterday Maria Schmidt flew from Berlin to Paris."
    spans = {(f.entity, text[f.start : f.end]) for f in found}
    assert (Entity.PERSON, "Maria Schmidt") in spans
    assert {(Entity.LOCATION, "Berlin"), (Entity.LOCATION, "Paris")} <= spans
