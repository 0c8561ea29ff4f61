"""The name model runs its entity recogniser alone: the recogniser embeds its own token vectors, so leaving
the shared `tok2vec` out changes no entity (a model whose recogniser listened to it would fail here)."""

from __future__ import annotations

import pytest

from core.pii import Entity, names_available
from core.pii.ner import SpacyNames, shared_names

pytestmark = pytest.mark.skipif(not names_available(), reason="needs the `privacy` extra (spaCy's small English model)")


def test_only_the_entity_recogniser_runs_and_it_listens_to_no_shared_layer() -> None:
    names = shared_names()
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
