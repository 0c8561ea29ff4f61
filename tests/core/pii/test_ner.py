"""The name model runs its entity recogniser alone: the recogniser embeds its own token vectors, so leaving
the shared `tok2vec` out changes no entity (a model whose recogniser listened to it would fail here)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from core.pii import Entity, PiiConfig, PiiDetector, names_available
from core.pii.combine import CombinedNames
from core.pii.name_cache import RememberedNames
from core.pii.ner import SpacyNames, load_names, shared_names

pytestmark = pytest.mark.skipif(not names_available(), reason="needs the `privacy` extra (spaCy's small English model)")


def test_only_the_entity_recogniser_runs_and_it_listens_to_no_shared_layer() -> None:
    names = load_names()
    assert isinstance(names, SpacyNames)
    nlp = names._nlp
    assert nlp.pipe_names == ["ner"]
    assert not [node.name for node in nlp.get_pipe("ner").model.walk() if "listener" in node.name]


def test_people_and_places_are_still_found() -> None:
    names = shared_names()
    assert names is not None
    text = "Yesterday Angela Merkel flew from Berlin to Paris."
    found = {(f.entity, text[f.start : f.end]) for f in names.find_many([text])[0]}
    assert (Entity.PERSON, "Angela Merkel") in found and (Entity.LOCATION, "Berlin") in found


def test_a_text_alone_gets_the_entities_it_gets_in_a_batch() -> None:
    names = load_names()
    assert isinstance(names, SpacyNames)
    texts = [
        "Yesterday Angela Merkel flew from Berlin to Paris.",
        "Please ship it to Maria Schmidt, 12 Hauptstrasse, Rovaniemi.",
        "MARIA SCHMIDT\\nETFS Ltd, London",
        "Weronika Martinsen's order",
        "",
    ]
    assert [names.find_many([text])[0] for text in texts] == names.find_many(texts)


def test_the_shared_model_still_finds_names_alone_in_concurrent_and_repeated_calls() -> None:
    names = shared_names()
    assert isinstance(names, RememberedNames) and isinstance(names.model, CombinedNames)
    detector = PiiDetector(names)
    text = "My neighbour Angela Merkel moved to Hamburg."
    want = {(Entity.PERSON, "Angela Merkel"), (Entity.LOCATION, "Hamburg")}
    for _ in range(2):  # read by the model, then remembered
        assert {(f.entity, text[f.start : f.end]) for f in detector.find(text, PiiConfig())} >= want
    texts = [f"Ticket {i}: Angela Merkel wrote from Hamburg." for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: detector.find(t, PiiConfig()), texts))
    assert together == [PiiDetector(load_names()).find(t, PiiConfig()) for t in texts]
