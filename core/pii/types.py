"""The detector's vocabulary: what kinds of personal data it knows, what a finding is, what a tenant chooses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Entity(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"
    IP = "ip"
    URL = "url"
    DATE = "date"
    PERSON = "person"
    LOCATION = "location"


# Found by shape and checked by a validator (checksum, numbering plan, address family).
STRUCTURED = frozenset(
    {Entity.EMAIL, Entity.PHONE, Entity.CARD, Entity.IBAN, Entity.NATIONAL_ID, Entity.IP, Entity.URL, Entity.DATE}
)
# Found by the named-entity model: no shape tells a name from a word.
NAMED = frozenset({Entity.PERSON, Entity.LOCATION})
ALL = STRUCTURED | NAMED


@dataclass(frozen=True, slots=True)
class Finding:
    entity: Entity
    start: int
    end: int
    # 1.0 for a validated structure (a checksum held), lower for a model's guess.
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class PiiConfig:
    """What one boundary of one tenant looks for. `entities` leaves out what the tenant wants kept."""

    entities: frozenset[Entity] = ALL
    # The region a phone number written without `+` is read in (ISO 3166 alpha-2), then the fallbacks.
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR")
    # Whether private, loopback and link-local addresses count: they name machines, not people.
    private_ips: bool = True

    def wants(self, entity: Entity) -> bool:
        return entity in self.entities

    @property
    def needs_ner(self) -> bool:
        return bool(self.entities & NAMED)


def parse_entities(names: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[Entity]:
    """Entity names from configuration; an unknown name is a ValueError, never silently ignored."""
    return frozenset(Entity(name) for name in names)


class NameModel(Protocol):
    """What finds names and places where no shape does (`core.pii.ner`'s spaCy model, or one in a test)."""

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Person and location spans of each text."""
        ...
