"""The PII detector: validated structures first, the named-entity model only where they leave doubt.

A text is sent to the model only when the tenant asks for names or places and a capitalised word remains
outside every structured finding, and only its part around such words (`_window`); a model's span that
overlaps a validated structure is dropped. Findings never overlap: precedence follows how sure a detector is
(a checksum beats a shape beats a model's guess).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from core.pii.addresses import SCORE as ADDRESS_SCORE
from core.pii.addresses import find_addresses
from core.pii.cues import find_cued_names, find_cued_places
from core.pii.ner import NameModel
from core.pii.places import find_countries
from core.pii.structured import find_structured
from core.pii.types import Entity, Finding, PiiConfig

_PRECEDENCE = {
    entity: rank
    for rank, entity in enumerate(
        [
            Entity.EMAIL,
            Entity.URL,
            Entity.IBAN,
            Entity.CARD,
            Entity.NATIONAL_ID,
            Entity.IP,
            Entity.DATE,
            Entity.PHONE,
            Entity.LOCATION,
            Entity.PERSON,
        ]
    )
}
# A street address (found by shape) outranks a phone-shaped run of its numbers; a model's place does not.
_ADDRESS_RANK = _PRECEDENCE[Entity.DATE]


def _rank(finding: Finding) -> float:
    if finding.entity == Entity.LOCATION and finding.score >= ADDRESS_SCORE:
        return _ADDRESS_RANK + 0.5
    return _PRECEDENCE[finding.entity]


_CAPITALISED = re.compile(r"\b[A-Z][a-z]+")
# Capitalised words that are no one's name: sentence openers, pronouns, greetings, days and months are
# found by their own detectors. A text whose only capitalised words are these never reaches the model.
_ORDINARY_WORDS = (
    "I Im Ive Id Ill A An The This That These Those My Our Your His Her Their Its We You He She They It Me Us"
    " Is Are Was Were Be Been Do Does Did Have Has Had Can Could Would Should Will Shall May Might Must"
    " What When Where Why How Who Which Whose If Then So But And Or Not No Yes Ok Okay Please Thanks Thank"
    " Hello Hi Hey Dear Good Sorry Just Also Now Today Tomorrow Yesterday There Here Is Any Some All Every"
    " Need Want Would Help Order Card Account Payment Refund Where Pls Regards Best Cheers"
    # Titles (the name after one is a word of its own, still asked about), a company's legal form, weekdays:
    # 11% of the development half's model calls, with the same scores.
    " Mr Mrs Ms Mx Dr Prof Sir Madam Rev Inc Ltd Llc Corp Co Plc Gmbh"
    " Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
)
_ORDINARY = frozenset(_ORDINARY_WORDS.split())


def _resolve(candidates: list[Finding]) -> list[Finding]:
    chosen: list[Finding] = []
    for finding in sorted(candidates, key=lambda f: (_rank(f), -f.score, -(f.end - f.start), f.start)):
        if all(finding.end <= c.start or c.end <= finding.start for c in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_REPEAT_SCORE = 0.7


def _with_repeats(text: str, found: list[Finding]) -> list[Finding]:
    """A name found once is the same name where it appears again (`Rolando had given Rolando his address`):
    each capitalised word of a found person, at least three letters long, is a person wherever else it
    stands outside every other finding."""
    names = {
        m.group()
        for f in found
        if f.entity == Entity.PERSON
        for m in _WORD.finditer(text, f.start, f.end)
        if len(m.group()) >= 3 and m.group()[0].isupper() and m.group() not in _ORDINARY
    }
    if not names:
        return found
    repeats = [
        Finding(Entity.PERSON, m.start(), m.end(), _REPEAT_SCORE)
        for m in _WORD.finditer(text)
        if m.group() in names and all(m.end() <= f.start or f.end <= m.start() for f in found)
    ]
    return found + repeats


def _worth_a_model(text: str, taken: list[Finding]) -> bool:
    return any(
        m.group() not in _ORDINARY and all(not f.start <= m.start() < f.end for f in taken)
        for m in _CAPITALISED.finditer(text)
    )


class PiiDetector:
    def __init__(self, names: NameModel | None = None) -> None:
        self._names = names

    @property
    def finds_names(self) -> bool:
        return self._names is not None

    def find(self, text: str, config: PiiConfig) -> list[Finding]:
        return self.find_many([text], config)[0]

    def find_many(self, texts: Sequence[str], config: PiiConfig) -> list[list[Finding]]:
        """Findings of each text, in order, never overlapping; model calls are batched across texts."""
        found = [self._cheap(text, config) for text in texts]
        if self._names is not None and config.needs_ner:
            _add_names(self._names, texts, found, config)
        if not config.wants(Entity.PERSON):
            return [_resolve(f) for f in found]
        return [_resolve(_with_repeats(text, f)) for text, f in zip(texts, found, strict=True)]

    def _cheap(self, text: str, config: PiiConfig) -> list[Finding]:
        found = list(find_structured(text, config))
        if config.wants(Entity.LOCATION):
            found.extend(find_addresses(text))
            found.extend(find_countries(text))
            found.extend(find_cued_places(text))
        if config.wants(Entity.PERSON):
            found.extend(find_cued_names(text))
        return found

    def redact(self, text: str, config: PiiConfig, placeholder: Callable[[Finding], str] | None = None) -> str:
        return replace(text, self.find(text, config), placeholder or (lambda f: f"[{f.entity.value}]"))


def _add_names(names: NameModel, texts: Sequence[str], found: list[list[Finding]], config: PiiConfig) -> None:
    """The model's people and places, for the texts the cheaper detectors left a capitalised word in; each text's
    window around its words with a capital letter is read, and the model's offsets are moved back into the text."""
    pending = [i for i, text in enumerate(texts) if _worth_a_model(text, found[i])]
    if not pending:
        return
    windows = [_window(texts[i], found[i]) for i in pending]
    named = names.find_many([texts[i][start:end] for i, (start, end) in zip(pending, windows, strict=True)])
    for i, (start, _end), spans in zip(pending, windows, named, strict=True):
        found[i].extend(
            Finding(f.entity, f.start + start, f.end + start, f.score) for f in spans if config.wants(f.entity)
        )


_RUN = re.compile(r"\S+")
# Words of context the model reads on each side: its encoder looks four tokens either way, and a word is at least
# one token. With six, the model's findings on both halves of the benchmark are those it makes on whole texts.
_CONTEXT_WORDS = 6
_PUNCTUATION = ".,;:!?()[]'\"\u2019"


def _window(text: str, taken: list[Finding]) -> tuple[int, int]:
    """From `_CONTEXT_WORDS` words before the first word that holds a capital letter (anywhere: `ROVANIEMI`, a
    name glued to a literal `\\n`), is no ordinary word and lies outside every finding, to as many after the
    last; the whole text when there is none. Per-token work is most of the model's time on a sentence."""
    runs = [(m.start(), m.end()) for m in _RUN.finditer(text)]
    anchors = [
        i
        for i, (start, end) in enumerate(runs)
        if any(ch.isupper() for ch in text[start:end])
        and text[start:end].strip(_PUNCTUATION) not in _ORDINARY
        and not any(f.start <= start and end <= f.end for f in taken)
    ]
    if not anchors:
        return 0, len(text)
    first, last = max(0, anchors[0] - _CONTEXT_WORDS), min(len(runs) - 1, anchors[-1] + _CONTEXT_WORDS)
    return runs[first][0], runs[last][1]


def replace(text: str, findings: Sequence[Finding], placeholder: Callable[[Finding], str]) -> str:
    if not findings:
        return text
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor : finding.start])
        parts.append(placeholder(finding))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)
