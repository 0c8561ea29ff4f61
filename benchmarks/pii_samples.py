"""The sentences the PII benchmark scores: `presidio-evaluator`'s generator (its own templates and fake-person
records, offline, fixed seed), its templates split once into a development half and a held-out half, and
the per-token labels both detectors are scored on."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from core.pii import Entity

SEED = 42
_GOLD = {
    "PERSON": Entity.PERSON,
    "STREET_ADDRESS": Entity.LOCATION,
    "GPE": Entity.LOCATION,
    "ZIP_CODE": Entity.LOCATION,
    "CREDIT_CARD": Entity.CARD,
    "PHONE_NUMBER": Entity.PHONE,
    "EMAIL_ADDRESS": Entity.EMAIL,
    "IBAN_CODE": Entity.IBAN,
    "US_SSN": Entity.NATIONAL_ID,
    "IP_ADDRESS": Entity.IP,
    "DOMAIN_NAME": Entity.URL,
    "DATE_TIME": Entity.DATE,
}
# Tokens are split at whitespace and at a literal `\n`: presidio-evaluator's templates write line breaks
# that way (`{{name}}\n{{address}}`), so `75094\n06-91776738` is a postcode and a phone number, two tokens.
_TOKEN = re.compile(r"(?:(?<!\\)n|\\(?!n)|[^\s\\n])+")
Spans = list[tuple[Entity, int, int]]


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    spans: Spans


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)")


def template_entities(template: str, mapping: dict[str, str]) -> frozenset[Entity]:
    """The scored entities a template's placeholders (`{{phone_number}}`) produce."""
    kinds = (mapping.get(name) for name in _PLACEHOLDER.findall(template))
    return frozenset(_GOLD[kind] for kind in kinds if kind in _GOLD)


def split_templates(templates: Sequence[str], mapping: dict[str, str], seed: int = SEED) -> tuple[list[int], list[int]]:
    """Development and held-out template indices: disjoint, seeded, and stratified by entity type, so that
    every entity with two templates or more has templates in both halves. The rarest entities are placed
    first; each template goes to the half holding the smaller share of its entities so far (then the smaller
    half, then a seeded coin)."""
    rng = random.Random(seed)
    kinds = [template_entities(t, mapping) for t in templates]
    totals = Counter(e for k in kinds for e in k)
    order = list(range(len(templates)))
    rng.shuffle(order)
    order.sort(key=lambda i: min((totals[e] for e in kinds[i]), default=len(templates) + 1))
    halves: tuple[list[int], list[int]] = ([], [])
    held: tuple[Counter[Entity], Counter[Entity]] = (Counter(), Counter())

    def share(side: int, i: int) -> float:
        return sum(held[side][e] / totals[e] for e in kinds[i])

    for i in order:
        key = [(share(side, i), len(halves[side]), rng.random()) for side in (0, 1)]
        side = 0 if key[0] < key[1] else 1
        halves[side].append(i)
        held[side].update(kinds[i])
    return halves


def generate(count: int, split: str) -> list[Sample]:
    from presidio_evaluator.data_generator import PresidioSentenceFaker
    from presidio_evaluator.data_generator.presidio_sentence_faker import presidio_templates_file_path

    templates = [line.strip() for line in presidio_templates_file_path.read_text().splitlines() if line.strip()]
    mapping = dict(PresidioSentenceFaker.ENTITY_TYPE_MAPPING)
    dev, heldout = split_templates(templates, mapping)
    half = dev if split == "dev" else heldout
    random.seed(SEED)
    faker = PresidioSentenceFaker(
        "en_US", lower_case_ratio=0.05, sentence_templates=[templates[i] for i in half], random_seed=SEED
    )
    samples = []
    for result in faker.generate_new_fake_sentences(count):
        spans = [
            (_GOLD[s.entity_type], s.start_position, s.end_position) for s in result.spans if s.entity_type in _GOLD
        ]
        samples.append(Sample(result.full_text, spans))
    return samples


def token_labels(text: str, spans: Spans) -> list[Entity | None]:
    labels: list[Entity | None] = []
    for token in _TOKEN.finditer(text):
        label = None
        for entity, start, end in spans:
            if start < token.end() and token.start() < end:
                label = entity
                break
        labels.append(label)
    return labels
