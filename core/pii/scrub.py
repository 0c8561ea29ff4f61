"""Redaction of whole documents: every string inside a JSON-like value, found in one batched pass.

Exports and datasets built from real conversations are nested values (a report, a transcript, a list of
rows). `Scrubber.value` walks one, collects its strings, runs the detector over all of them at once (the
name model batches across texts) and rebuilds the value with each finding replaced by its placeholder,
`[email]`, `[person]`. Keys are the document's own vocabulary and stay; numbers and booleans stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.pii.detector import PiiDetector, replace
from core.pii.types import Finding, PiiConfig


def placeholder(finding: Finding) -> str:
    return f"[{finding.entity.value}]"


class Scrubber:
    def __init__(self, detector: PiiDetector, config: PiiConfig, mark: Callable[[Finding], str] = placeholder):
        self._detector = detector
        self._config = config
        self._mark = mark

    @property
    def config(self) -> PiiConfig:
        return self._config

    def text(self, text: str) -> str:
        return self.texts([text])[0]

    def texts(self, texts: list[str]) -> list[str]:
        if not self._config.entities:
            return list(texts)
        found = self._detector.find_many(texts, self._config)
        return [replace(t, f, self._mark) for t, f in zip(texts, found, strict=True)]

    def value(self, document: Any) -> Any:
        """A copy of `document` (dicts, lists, tuples, strings, scalars) with every string redacted."""
        strings: list[str] = []
        _collect(document, strings)
        redacted = iter(self.texts(strings))
        return _rebuild(document, redacted)


def _collect(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, into)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, into)


def _rebuild(value: Any, redacted: Any) -> Any:
    if isinstance(value, str):
        return next(redacted)
    if isinstance(value, dict):
        return {key: _rebuild(item, redacted) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebuild(item, redacted) for item in value]
    if isinstance(value, tuple):
        return tuple(_rebuild(item, redacted) for item in value)
    return value
