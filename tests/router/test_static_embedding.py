"""The static embedding distilled from the offline MiniLM model, and a router that reads it beside the features."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from router.classifier import PassClassifier
from router.features import TurnContext, extract
from router.static_embedding import (
    DIMENSION,
    EMBEDDING_NAMES,
    StaticEmbedder,
    StaticEmbeddingUnavailable,
    distil,
    model_file,
    tokenizer,
)
from router.table import read_table
from router.train import fit


def _embedder(directory: Path, seed: int = 1) -> StaticEmbedder:
    """An embedder whose token table is already in its cache directory (seeded values, the real shape), so
    these tests skip the 40 s distillation; `distil` itself is tested on a slice of the vocabulary."""
    embedder = StaticEmbedder(directory)
    table = np.random.default_rng(seed).standard_normal((tokenizer().get_vocab_size(), DIMENSION))
    directory.mkdir(parents=True, exist_ok=True)
    np.save(embedder.table_path(), table.astype(np.float16))
    return embedder


def test_distillation_runs_the_wheel_model_once_per_token_deterministically() -> None:
    words = tokenizer()
    first = distil(model_file(), words, 2000, 2004)
    assert first.shape == (4, DIMENSION) and first.dtype == np.float16
    assert np.array_equal(first, distil(model_file(), words, 2000, 2004))
    assert all(np.linalg.norm(row.astype(np.float32)) > 0.1 for row in first)
    # Tokens of one meaning sit closer than tokens of unrelated ones.
    ids = [words.token_to_id(w) for w in ("cat", "dog", "integral")]
    vectors = [distil(model_file(), words, i, i + 1)[0].astype(np.float32) for i in ids]
    cos = [
        float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        for a, b in ((vectors[0], vectors[1]), (vectors[0], vectors[2]))
    ]
    assert cos[0] > cos[1]


def test_a_text_is_the_unit_mean_of_its_tokens_rows(tmp_path: Path) -> None:
    embedder = _embedder(tmp_path / "cache")
    table = np.load(embedder.table_path()).astype(np.float32)
    ids = tokenizer().encode("Solve the integral", add_special_tokens=False).ids
    expected = table[ids].mean(axis=0)
    expected /= np.linalg.norm(expected)
    vector = embedder.embed("Solve the integral")
    assert len(vector) == DIMENSION and vector == pytest.approx(expected.tolist(), abs=2e-6)
    assert math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-4)
    assert vector == StaticEmbedder(tmp_path / "cache").embed("Solve the integral")  # deterministic
    assert embedder.embed("") == [0.0] * DIMENSION
    assert list(embedder.features("hi")) == list(EMBEDDING_NAMES)


def test_a_table_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    embedder = StaticEmbedder(tmp_path)
    np.save(embedder.table_path(), np.zeros((10, DIMENSION), dtype=np.float16))
    with pytest.raises(StaticEmbeddingUnavailable, match="delete it to rebuild"):
        embedder.embed("hi")


def test_a_router_reads_the_embedding_chooses_its_penalty_and_stays_small(tmp_path: Path) -> None:
    embedder = _embedder(tmp_path / "cache")
    rng = random.Random(4)
    # Two kinds of prompt that no word list reads: only the embedding tells them apart.
    kinds = {"Tell me about the lighthouse keeper": 2.0, "Tell me about the quantum annealer": -2.0}
    lines = []
    for i in range(100):
        text, logit = list(kinds.items())[i % 2]
        p = 1 / (1 + math.exp(-(logit + rng.uniform(-0.3, 0.3))))
        for _ in range(6):
            row = {"key": f"p{i}", "text": f"{text} {i % 7}", "small_pass": int(rng.random() < p), "large_pass": 1}
            lines.append(json.dumps(row))
    rows = read_table(lines, embedder)
    clf = fit(rows, embeddings=True)
    # 600 rows: Platt's map on one model, as without the embedding.
    assert clf.reads_embedding and clf.names[-DIMENSION:] == EMBEDDING_NAMES and clf.platt_a != 1.0
    assert clf.ece < 0.08
    easy = extract("Tell me about the lighthouse keeper 3") | embedder.features("Tell me about the lighthouse keeper 3")
    hard = extract("Tell me about the quantum annealer 3") | embedder.features("Tell me about the quantum annealer 3")
    assert clf.predict(easy) > 0.7 and clf.predict(hard) < 0.3
    # Without the embedding the router refuses rather than read zeros.
    with pytest.raises(ValueError, match="reads the static embedding"):
        clf.predict(extract("Tell me about the quantum annealer 3", TurnContext()))
    # Stored and loaded as plain JSON, the same probabilities; small enough to store per tenant.
    path = tmp_path / "router.json"
    clf.save(path)
    assert PassClassifier.load(path).predict(hard) == clf.predict(hard)
    assert len(path.read_text()) < 200_000
    assert fit(rows, embeddings=True).version == clf.version
    with pytest.raises(ValueError, match="static embedding"):
        fit(read_table(lines), embeddings=True)
