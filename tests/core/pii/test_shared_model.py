"""The process's shared name model: answers remembered per text, concurrent asks read in one pass."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from core.pii import Entity, Finding, PiiConfig, PiiDetector
from core.pii.combine import CombinedNames
from core.pii.name_cache import RememberedNames


class _Names:
    """A scripted model: `Ada` is a person wherever she is written; every pass is recorded."""

    def __init__(self) -> None:
        self.passes: list[list[str]] = []

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        self.passes.append(list(texts))
        return [[Finding(Entity.PERSON, t.index("Ada"), t.index("Ada") + 3, 0.8)] if "Ada" in t else [] for t in texts]


def test_a_text_read_before_is_answered_without_the_model_and_alike() -> None:
    model = _Names()
    names = RememberedNames(model)
    first = names.find_many(["Ada called", "Bo wrote", "Ada called"])
    assert model.passes == [["Ada called", "Bo wrote"]]  # a text twice in one ask is read once
    again = names.find_many(["Bo wrote", "Ada called", "Cy asked"])
    assert model.passes[1:] == [["Cy asked"]]
    assert again == [first[1], first[0], []]
    assert first[0] == first[2] == [Finding(Entity.PERSON, 0, 3, 0.8)]


def test_the_oldest_answers_go_first_and_no_text_is_kept() -> None:
    model = _Names()
    names = RememberedNames(model, size=2)
    names.find_many(["Ada 1", "Ada 2"])
    names.find_many(["Ada 1"])  # used again: now the most recent
    names.find_many(["Ada 3"])  # evicts "Ada 2"
    assert len(names) == 2
    names.find_many(["Ada 1", "Ada 2"])
    assert model.passes[-1] == ["Ada 2"]
    assert all(isinstance(key, bytes) and len(key) == 16 for key in names._answers)


def test_a_conversation_s_history_costs_the_model_one_read_per_message() -> None:
    model = _Names()
    detector = PiiDetector(RememberedNames(model))
    history = ["Ada wrote twice", "my card is 4111 1111 1111 1111", "Ada again, any news?"]
    calls = [detector.find_many(history[: k + 1], PiiConfig()) for k in range(len(history))]
    assert [text for batch in model.passes for text in batch] == ["Ada wrote twice", "Ada again, any news?"]
    assert calls[-1] == PiiDetector(_Names()).find_many(history, PiiConfig())


def test_a_lone_ask_runs_at_once() -> None:
    model = _Names()
    names = CombinedNames(model)
    assert names.find_many(["Ada"]) == [[Finding(Entity.PERSON, 0, 3, 0.8)]]
    assert names.find_many([]) == []
    assert names.passes == 1 and model.passes == [["Ada"]]


class _Held(_Names):
    """Holds its first pass until told to go, so that other asks queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.running = threading.Event()
        self.go = threading.Event()

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        if not self.passes:
            self.running.set()
            assert self.go.wait(10)
        return super().find_many(texts)


def test_asks_arriving_during_a_pass_are_answered_together_each_with_its_own() -> None:
    model = _Held()
    names = CombinedNames(model)
    asks = [["Ada first"], ["x Ada", "nothing"], ["Ada"], ["no one", "here Ada is"]]
    answers: dict[int, list[list[Finding]]] = {}

    def ask(i: int) -> None:
        answers[i] = names.find_many(asks[i])

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    assert model.running.wait(10)
    others = [threading.Thread(target=ask, args=(i,)) for i in range(1, len(asks))]
    for thread in others:
        thread.start()
    while len(names._waiting) < len(others):  # each has queued its texts behind the running pass
        threading.Event().wait(0.01)
    model.go.set()
    for thread in [first, *others]:
        thread.join(10)
    assert model.passes[0] == ["Ada first"]
    assert len(model.passes) == 2 and sorted(model.passes[1]) == sorted(t for a in asks[1:] for t in a)
    assert {i: answers[i] for i in range(len(asks))} == {i: _Names().find_many(asks[i]) for i in range(len(asks))}


def test_a_failed_pass_fails_every_ask_it_carried() -> None:
    class Broken:
        def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
            raise RuntimeError("model failed")

    names = CombinedNames(Broken())
    with pytest.raises(RuntimeError, match="model failed"):
        names.find_many(["Ada"])
    assert names._waiting == []
