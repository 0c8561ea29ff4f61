"""Concurrent asks of the name model, answered in one batch.

Each boundary calls the detector from a thread of its own (`asyncio.to_thread`), usually with a few short
texts: one event's fields, one turn's new message. The model's cost per call is mostly fixed (a sentence
alone costs about twice its share of a batch), and its passes cannot overlap usefully anyway: they hold the
interpreter. So one pass runs at a time, and the asks that arrive while it runs wait for it to end and are
then answered together, in one batch, by whichever of them gets the model first. A lone ask runs at once:
nothing is held back waiting for company.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.pii.types import Finding, NameModel


@dataclass
class _Ask:
    texts: list[str]
    answer: list[list[Finding]] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class CombinedNames:
    """A `NameModel` whose concurrent callers share passes of `model`. `passes` counts them."""

    def __init__(self, model: NameModel) -> None:
        self.model = model
        self.passes = 0
        self._turn = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Ask] = []

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        if not texts:
            return []
        ask = _Ask(list(texts))
        with self._waiting_lock:
            self._waiting.append(ask)
        # Whoever holds the turn answers every ask waiting when it took them, its own included; an ask found
        # done on taking the turn was answered by an earlier holder.
        with self._turn:
            if not ask.done:
                with self._waiting_lock:
                    batch, self._waiting = self._waiting, []
                self._answer(batch)
        if ask.error is not None:
            raise ask.error
        return ask.answer

    def _answer(self, batch: list[_Ask]) -> None:
        self.passes += 1
        try:
            found = self.model.find_many([text for ask in batch for text in ask.texts])
        except BaseException as error:  # every ask of a failed pass fails with it, in its own thread
            for ask in batch:
                ask.error, ask.done = error, True
            return
        start = 0
        for ask in batch:
            ask.answer, ask.done = found[start : start + len(ask.texts)], True
            start += len(ask.texts)
