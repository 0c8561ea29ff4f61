"""The recogniser's encoder run as one function gives the library's vectors and entities, and stands aside for a
model of another shape."""

from __future__ import annotations

from typing import Any

import numpy
import pytest

from core.pii import names_available
from core.pii.encoder import fast_encoder
from core.pii.ner import _UNUSED_PIPES, MODEL_PACKAGE, SpacyNames, load_names

pytestmark = pytest.mark.skipif(not names_available(), reason="needs the `privacy` extra (spaCy's small English model)")

TEXTS = [
    "Yesterday Angela Merkel flew from Berlin to Paris.",
    "Please ship it to Maria Schmidt, 12 Hauptstrasse, Rovaniemi.",
    "MARIA SCHMIDT\\nETFS Ltd, London",
    "Weronika Martinsen's order from Zoë Ångström in Malmö",
    "my card is 4111 1111 1111 1111 and my email jan.kowalski@example.com",
    "A",
    "",
    " ".join(["Dr. Jamie Nickel of 4 Elm Street, Springfield, called about the refund."] * 12),
]


def _library() -> Any:
    import spacy

    return spacy.load(MODEL_PACKAGE, exclude=list(_UNUSED_PIPES))


def _entities(nlp: Any, text: str) -> list[tuple[int, int, str]]:
    doc = nlp.get_pipe("ner")(nlp.make_doc(text))
    return [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_the_loaded_model_runs_the_fast_encoder_with_the_librarys_entities_alone_and_in_a_batch() -> None:
    names = load_names()
    assert isinstance(names, SpacyNames)
    fast, library = names._nlp, _library()
    assert fast.get_pipe("ner").model.layers[0].name == "fast_tok2vec"
    want = [_entities(library, text) for text in TEXTS]
    assert [_entities(fast, text) for text in TEXTS] == want
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in fast.pipe(TEXTS)] == want


def test_its_vectors_are_the_librarys() -> None:
    library = _library()
    encoder = library.get_pipe("ner").model.layers[0]
    fast = fast_encoder(library)
    assert fast is not None
    docs = [library.make_doc(text) for text in TEXTS if text]
    for doc in docs:
        assert numpy.allclose(fast.predict([doc]), encoder.predict([doc]), rtol=1e-4, atol=1e-4)
    assert numpy.allclose(fast.predict(docs), encoder.predict(docs), rtol=1e-4, atol=1e-4)


def test_it_only_reads_and_leaves_blas_threads_as_it_found_them() -> None:
    from threadpoolctl import threadpool_info

    library = _library()
    fast = fast_encoder(library)
    assert fast is not None
    before = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()]
    fast.predict([library.make_doc(TEXTS[0])])
    assert [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()] == before
    with pytest.raises(ValueError, match="only reads"):
        fast.begin_update([library.make_doc(TEXTS[0])])


@pytest.mark.parametrize("window, depth", [(2, 4), (1, 2)])
def test_a_recogniser_of_another_shape_keeps_its_own_encoder(window: int, depth: int) -> None:
    import spacy

    nlp = spacy.blank("en")
    tok2vec = {
        "@architectures": "spacy.HashEmbedCNN.v2",
        "width": 96,
        "depth": depth,
        "embed_size": 500,
        "window_size": window,
        "maxout_pieces": 3,
        "subword_features": True,
        "pretrained_vectors": None,
    }
    ner = nlp.add_pipe(
        "ner",
        config={
            "model": {
                "@architectures": "spacy.TransitionBasedParser.v2",
                "state_type": "ner",
                "extra_state_tokens": False,
                "hidden_width": 64,
                "maxout_pieces": 2,
                "use_upper": True,
                "tok2vec": tok2vec,
            }
        },
    )
    ner.add_label("PERSON")
    nlp.initialize()
    assert fast_encoder(nlp) is None


def test_the_same_shape_is_read_whatever_its_weights() -> None:
    import spacy

    nlp = spacy.blank("en")
    ner = nlp.add_pipe("ner")
    ner.add_label("PERSON")
    nlp.initialize()
    fast = fast_encoder(nlp)
    assert fast is not None
    doc = nlp.make_doc(TEXTS[1])
    assert numpy.allclose(fast.predict([doc]), ner.model.layers[0].predict([doc]), rtol=1e-4, atol=1e-4)


def test_one_thread_holds_from_any_thread_and_puts_back_what_it_found() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    from core.pii.blas import OneThread

    def openblas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["internal_api"] == "openblas"]

    one_thread = OneThread()
    before = openblas_threads()

    def inside() -> list[int]:
        with one_thread():
            return openblas_threads()

    with ThreadPoolExecutor(2) as pool:
        seen = [pool.submit(inside).result() for _ in range(3)]
    assert seen == [[1] * len(before)] * 3
    assert openblas_threads() == before
