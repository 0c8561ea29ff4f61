"""Personal data detection: `PiiDetector.find(text, PiiConfig) -> list[Finding]`, and pseudonyms that undo."""

from core.pii.detector import PiiDetector, replace
from core.pii.ner import load_names, names_available, shared_names
from core.pii.types import ALL, NAMED, STRUCTURED, Entity, Finding, PiiConfig, parse_entities

__all__ = [
    "ALL",
    "NAMED",
    "STRUCTURED",
    "Entity",
    "Finding",
    "PiiConfig",
    "PiiDetector",
    "load_names",
    "names_available",
    "parse_entities",
    "replace",
    "shared_names",
]
