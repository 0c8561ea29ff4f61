"""Reversible pseudonyms: `<EMAIL_1>` goes out in place of a value, the value comes back in the answer.

One `Pseudonyms` serves one model call: the same value gets the same tag wherever it appears in the prompt,
so the model can still tell two customers or two cards apart, and any tag the model writes back is restored
from the table before the customer sees it. Tags the table does not hold (the model made one up) stay as
written. `StreamRestorer` restores a streamed answer whose deltas may cut a tag in two.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from core.pii.detector import PiiDetector, replace
from core.pii.types import Finding, PiiConfig

_TAG = re.compile(r"<([A-Z_]{2,16})_(\d{1,6})>")
# The longest tag a stream may hold back while waiting for its closing `>`.
_MAX_TAG = 26


class Pseudonyms:
    def __init__(self, detector: PiiDetector, config: PiiConfig) -> None:
        self._detector = detector
        self._config = config
        self._tags: dict[str, str] = {}
        self._values: dict[str, str] = {}
        self._counts: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return len(self._values)

    def _tag(self, text: str, finding: Finding) -> str:
        value = text[finding.start : finding.end]
        tag = self._tags.get(value)
        if tag is None:
            kind = finding.entity.value.upper()
            self._counts[kind] += 1
            tag = f"<{kind}_{self._counts[kind]}>"
            self._tags[value] = tag
            self._values[tag] = value
        return tag

    def hide_many(self, texts: list[str]) -> list[str]:
        found = self._detector.find_many(texts, self._config)
        return [self._hide_one(text, findings) for text, findings in zip(texts, found, strict=True)]

    def _hide_one(self, text: str, findings: list[Finding]) -> str:
        return replace(text, findings, lambda finding: self._tag(text, finding))

    def redact_many(self, texts: list[str]) -> list[str]:
        """Irreversible: `[email]` in place of each value, nothing kept to restore."""
        found = self._detector.find_many(texts, self._config)
        return [replace(t, f, lambda finding: f"[{finding.entity.value}]") for t, f in zip(texts, found, strict=True)]

    def hide(self, text: str) -> str:
        return self.hide_many([text])[0]

    def restore(self, text: str) -> str:
        if "<" not in text:
            return text
        return _TAG.sub(lambda m: self._values.get(m.group(), m.group()), text)

    def restore_value(self, value: Any) -> Any:
        """Restores strings inside a JSON-like value (tool-call arguments the model wrote with tags)."""
        if isinstance(value, str):
            return self.restore(value)
        if isinstance(value, dict):
            return {k: self.restore_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore_value(v) for v in value]
        return value

    def streamer(self) -> StreamRestorer:
        return StreamRestorer(self)


class StreamRestorer:
    """Holds back a possible tag cut at the end of a delta until the next delta completes or denies it."""

    def __init__(self, pseudonyms: Pseudonyms) -> None:
        self._pseudonyms = pseudonyms
        self._held = ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        cut = text.rfind("<")
        if cut != -1 and ">" not in text[cut:] and len(text) - cut < _MAX_TAG:
            self._held = text[cut:]
            text = text[:cut]
        else:
            self._held = ""
        return self._pseudonyms.restore(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self._pseudonyms.restore(held)
