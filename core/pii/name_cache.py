"""The name model's answers, remembered for texts it has already read.

Boundaries read the same texts again and again: every call to an external model sends the conversation so
far, so each earlier message passes the provider boundary once per call of every later turn, and a tool's
result reappears in the events and exports of the same conversation. The model's answer depends on the text
alone, so it is kept for the most recent texts and a text read before costs a dictionary lookup instead of a
pass through the model; texts not seen yet still go to the model together, in one batch.

The cache holds a keyed digest of each text and the offsets of what was found in it, never the text: what it
keeps names no one, and the key is drawn per process, so a digest cannot be matched against guesses elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

from core.pii.types import Finding, NameModel

# About 100 bytes an entry: a few hundred kilobytes for the recent messages of every open conversation.
DEFAULT_SIZE = 4096


class RememberedNames:
    """A `NameModel` that asks `model` only about texts it has not answered recently (least recently used
    first out, `size` texts at most). Safe to share between threads."""

    def __init__(self, model: NameModel, size: int = DEFAULT_SIZE) -> None:
        self.model = model
        self._size = size
        self._key = os.urandom(16)
        self._answers: OrderedDict[bytes, tuple[Finding, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16).digest()

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        keys = [self._digest(text) for text in texts]
        answers: list[tuple[Finding, ...] | None] = []
        with self._lock:
            for key in keys:
                answer = self._answers.get(key)
                if answer is not None:
                    self._answers.move_to_end(key)
                answers.append(answer)
        missing = [i for i, answer in enumerate(answers) if answer is None]
        if missing:
            unique = {keys[i]: i for i in missing}
            found = self.model.find_many([texts[i] for i in unique.values()])
            fresh = {key: tuple(named) for key, named in zip(unique, found, strict=True)}
            with self._lock:
                for key, named in fresh.items():
                    self._answers[key] = named
                    self._answers.move_to_end(key)
                while len(self._answers) > self._size:
                    self._answers.popitem(last=False)
            for i in missing:
                answers[i] = fresh[keys[i]]
        return [list(answer or ()) for answer in answers]

    def __len__(self) -> int:
        return len(self._answers)
