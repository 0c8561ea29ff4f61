"""The provider boundary's own path: each call to an external model sends the conversation so far.

The generated sentences are grouped into conversations of `size` customer messages; at turn k the boundary
reads messages 1..k, the history a model call carries. The platform's boundary runs as in production
(`Pseudonyms.hide_many` over the call's texts, the process's name model remembering what it has read);
Presidio analyses every message of every call, as a guardrail in front of the provider does. Both are
timed per conversation, one after the other, so load spikes fall on both alike. Outside the clock the
findings are checked against the detector without the remembered answers: the same entities, text by text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core.pii import PiiConfig, PiiDetector
from core.pii.combine import CombinedNames
from core.pii.name_cache import RememberedNames
from core.pii.ner import NameModel
from core.pii.pseudonyms import Pseudonyms


@dataclass
class BoundaryTimings:
    calls: int = 0
    texts: int = 0
    ours: float = 0.0
    presidio: float = 0.0
    # Texts whose findings differ from the detector's without remembered answers (must stay 0).
    differing: int = 0


def histories(texts: Sequence[str], size: int) -> list[list[list[str]]]:
    """Per conversation, the texts each of its model calls carries: [m1], [m1, m2], ..., [m1 .. m_size]."""
    conversations = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
    return [[conversation[: k + 1] for k in range(len(conversation))] for conversation in conversations]


def run(
    texts: Sequence[str], names: NameModel, config: PiiConfig, presidio: Callable[[str], Any], size: int
) -> BoundaryTimings:
    remembered = PiiDetector(RememberedNames(names))
    fresh = PiiDetector(names)
    timings = BoundaryTimings()
    for calls in histories(texts, size):
        started = time.perf_counter()
        for history in calls:
            Pseudonyms(remembered, config).hide_many(history)
        timings.ours += time.perf_counter() - started
        started = time.perf_counter()
        for history in calls:
            for text in history:
                presidio(text)
        timings.presidio += time.perf_counter() - started
        timings.calls += len(calls)
        timings.texts += sum(len(history) for history in calls)
        last = calls[-1]
        with_memory, without = remembered.find_many(last, config), fresh.find_many(last, config)
        timings.differing += sum(a != b for a, b in zip(with_memory, without, strict=True))
    return timings


def report(timings: BoundaryTimings, size: int) -> None:
    print(
        f"\nprovider boundary, conversations of {size} messages ({timings.calls} model calls, {timings.texts} "
        f"texts read): {timings.calls / timings.ours:,.0f} calls/s against Presidio's "
        f"{timings.calls / timings.presidio:,.0f} ({timings.presidio / timings.ours:.1f}x); "
        f"texts whose findings differ from a fresh detector's: {timings.differing}"
    )


@dataclass
class ConcurrentTimings:
    threads: int
    texts: int = 0
    ours: float = 0.0
    presidio: float = 0.0
    # The same detector and threads with every ask a pass of its own: what combining buys.
    uncombined: float = 0.0
    passes: int = 0
    # Texts whose findings differ from the same detector's one at a time (must stay 0).
    differing: int = 0


def _in_threads(texts: Sequence[str], threads: int, read: Callable[[str], Any]) -> tuple[list[Any], float]:
    """Each of `threads` threads reads its share of `texts` one at a time, as concurrent boundaries do."""
    results: list[Any] = [None] * len(texts)

    def work(offset: int) -> None:
        for i in range(offset, len(texts), threads):
            results[i] = read(texts[i])

    workers = [threading.Thread(target=work, args=(offset,)) for offset in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, time.perf_counter() - started


def concurrent(
    texts: Sequence[str],
    names: NameModel,
    config: PiiConfig,
    presidio: Callable[[str], Any],
    threads: int,
    expected: Sequence[Any],
) -> ConcurrentTimings:
    """One text per call from `threads` threads at once: the event stream's path under several conversations.
    The platform's model is the process's shared one (remembering and combining), and the same detector
    without combining is timed beside it; `expected` holds each text's spans found one at a time. Timed in
    chunks, the contenders alternating."""
    combined = CombinedNames(names)
    detector = PiiDetector(RememberedNames(combined))
    uncombined = PiiDetector(names)
    timings = ConcurrentTimings(threads)
    for start in range(0, len(texts), 100):
        chunk = texts[start : start + 100]
        found, seconds = _in_threads(
            chunk, threads, lambda t: [(f.entity, f.start, f.end) for f in detector.find(t, config)]
        )
        timings.ours += seconds
        timings.uncombined += _in_threads(chunk, threads, lambda t: uncombined.find(t, config))[1]
        timings.presidio += _in_threads(chunk, threads, presidio)[1]
        timings.differing += sum(a != b for a, b in zip(found, expected[start : start + 100], strict=True))
        timings.texts += len(chunk)
    timings.passes = combined.passes
    return timings


def report_concurrent(timings: ConcurrentTimings) -> None:
    print(
        f"\n{timings.threads} threads, one text per call ({timings.texts} texts, {timings.passes} passes of the"
        f" name model): {timings.texts / timings.ours:,.0f} sentences/s against Presidio's "
        f"{timings.texts / timings.presidio:,.0f} in the same threads ({timings.presidio / timings.ours:.1f}x); "
        f"texts whose findings differ from one at a time: {timings.differing}\n  without combining the threads' "
        f"asks: {timings.texts / timings.uncombined:,.0f} sentences/s ({timings.presidio / timings.uncombined:.1f}x)"
    )
