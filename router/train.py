"""Fit a pass classifier from a routing table: rows of features with the small and the large tier's verdict.

The table comes from eval runs (each task answered by both tiers and graded) or, for the benchmark, from
MT-Bench questions with synthetic labels. Rows are grouped by their key (a task, a question: the same prompt
graded many times) into five folds by a hash of it. Each row is scored by a logistic regression fitted on
the other four folds, so no score comes from a model that saw its prompt; the calibration map (Platt or
isotonic) is fitted on these out-of-fold scores, and the expected calibration error and the cost/quality
curve are measured out of fold too: each fold is scored by the whole procedure (models, map, averaging)
fitted on the other four, as the router will predict for keys it never saw (the benchmark measures both
on questions the whole fit never saw).

Platt: the stored weights are a last fit on every row (scikit-learn's CalibratedClassifierCV(ensemble=False),
with groups). Isotonic: the five fold models are kept and their calibrated probabilities averaged
(CalibratedClassifierCV(ensemble=True), with groups and one map fitted on all out-of-fold scores). A single
isotonic map is a staircase: whole groups of prompts share one probability, so a threshold cannot separate
them, and its steps carry the table's noise; the mean over five models that each read the features a little
differently is a finer, smoother map, better calibrated on unseen prompts. `auto` (the default) takes
isotonic from `ISOTONIC_MIN_ROWS` rows, scikit-learn's advice for isotonic calibration, and Platt below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from router.classifier import CurvePoint, Member, PassClassifier, expected_calibration_error
from router.features import FEATURE_NAMES, vector
from router.static_embedding import EMBEDDING_NAMES

CURVE_POINTS = 41
FOLDS = 5
ISOTONIC_MIN_ROWS = 1000
# Strong: a table has few distinct prompts behind many graded answers, and a router must not learn them.
REGULARISATION = 0.3
# With the 384 static-embedding dimensions the penalty is chosen among these by grouped cross-validation
# (log-loss) inside the rows given to `fit`: the rows it is later judged on never choose it.
EMBEDDING_REGULARISATION_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


@dataclass(frozen=True, slots=True)
class TrainingRow:
    key: str
    features: dict[str, float]
    small_pass: int
    large_pass: int


def fold_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % FOLDS


def cost_quality_curve(
    probabilities: Sequence[float],
    small_pass: Sequence[int],
    large_pass: Sequence[int],
    *,
    cost_ratio: float,
    points: int = CURVE_POINTS,
) -> list[CurvePoint]:
    """Quality and cost (always-large = 1) of routing small when p >= t, for t on a grid from 0 to 1."""
    n = len(probabilities)
    curve = []
    for i in range(points):
        t = i / (points - 1)
        small = [p >= t for p in probabilities]
        quality = sum(s if go_small else g for go_small, s, g in zip(small, small_pass, large_pass, strict=True)) / n
        strong = 1.0 - sum(small) / n
        cost = strong + (1.0 - strong) * cost_ratio
        curve.append(CurvePoint(threshold=t, strong_share=strong, quality=quality, cost=cost))
    return curve


def fit(
    rows: Sequence[TrainingRow],
    *,
    cost_ratio: float = 0.06,
    calibration: str = "auto",
    seed: int = 0,
    embeddings: bool = False,
) -> PassClassifier:
    """A calibrated classifier with its out-of-fold ECE and cost/quality curve.

    `cost_ratio` is the small tier's price over the large tier's, which only shapes the stored curve.
    `calibration` is "platt" (two parameters: steady on a few hundred rows), "isotonic" (a step map shared by
    the five fold models, whose probabilities are averaged: finer, but it needs a thousand rows or more not to
    learn their noise) or "auto": isotonic from `ISOTONIC_MIN_ROWS` rows, else Platt.
    `embeddings`: the rows carry the static embedding of their text (`router.static_embedding`) and the
    classifier reads it beside the features, with a penalty chosen by grouped cross-validation on `rows`.
    """
    if calibration not in ("platt", "isotonic", "auto"):
        raise ValueError("calibration is platt, isotonic or auto")
    if calibration == "auto":
        calibration = "isotonic" if len(rows) >= ISOTONIC_MIN_ROWS else "platt"
    import numpy as np
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    folds = [fold_of(r.key) for r in rows]
    if len(set(folds)) < FOLDS or len(rows) < 50:
        raise ValueError("a routing table needs at least 50 rows in every fold of its keys")
    y = np.array([r.small_pass for r in rows])
    if len(set(y.tolist())) < 2:
        raise ValueError("the small tier must both pass and fail in the table")
    names = FEATURE_NAMES + EMBEDDING_NAMES if embeddings else FEATURE_NAMES
    if embeddings and any(EMBEDDING_NAMES[0] not in r.features for r in rows):
        raise ValueError("fitting with embeddings needs every row's static embedding")
    x = np.array([vector(r.features, names) for r in rows], dtype=float)
    fold_ids = np.array(folds)
    penalty = REGULARISATION

    def linear(mask: np.ndarray) -> Member:
        mean = x[mask].mean(axis=0)
        scale = x[mask].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        # A prompt graded many times repeats its row: identical (features, verdict) rows are fitted once with
        # their count as weight, the same objective as the repeated rows, several times faster.
        both, counts = np.unique(np.column_stack([x[mask], y[mask]]), axis=0, return_counts=True)
        model = LogisticRegression(C=penalty, max_iter=3000, random_state=seed)
        model.fit((both[:, :-1] - mean) / scale, both[:, -1].astype(int), sample_weight=counts.astype(float))
        return Member(
            tuple(float(v) for v in mean),
            tuple(float(v) for v in scale),
            tuple(float(v) for v in model.coef_[0]),
            float(model.intercept_[0]),
        )

    def score(member: Member, mask: np.ndarray) -> np.ndarray:
        z = ((x[mask] - np.array(member.means)) / np.array(member.scales)) @ np.array(member.weights) + member.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))

    def log_loss(c: float) -> float:
        nonlocal penalty
        penalty, total = c, 0.0
        for k in range(FOLDS):
            p = np.clip(score(linear(fold_ids != k), fold_ids == k), 1e-9, 1 - 1e-9)
            total -= float(np.sum(np.where(y[fold_ids == k] == 1, np.log(p), np.log(1 - p))))
        return total

    if embeddings:
        penalty = min(EMBEDDING_REGULARISATION_GRID, key=log_loss)

    def procedure(mask: np.ndarray) -> PassClassifier:
        """The whole fit on the rows of `mask`: a model per fold they hold, scored out of fold, then the map."""
        held = sorted(set(fold_ids[mask].tolist()))
        raw = np.zeros(len(rows))
        members = []
        for k in held:
            member = linear(mask & (fold_ids != k))
            members.append(member)
            raw[mask & (fold_ids == k)] = score(member, mask & (fold_ids == k))
        full = linear(mask)
        mapping: dict[str, Any]
        if calibration == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw[mask], y[mask])
            mapping = {
                "iso_x": tuple(float(v) for v in iso.X_thresholds_),
                "iso_y": tuple(float(v) for v in iso.y_thresholds_),
                "members": tuple(members),
            }
        else:
            clipped = np.clip(raw[mask], 1e-9, 1 - 1e-9)
            logits = np.log(clipped / (1 - clipped)).reshape(-1, 1)
            platt = LogisticRegression(C=1e6, max_iter=1000).fit(logits, y[mask])
            mapping = {"platt_a": float(platt.coef_[0][0]), "platt_b": float(platt.intercept_[0])}
        return PassClassifier(
            names=names,
            means=full.means,
            scales=full.scales,
            weights=full.weights,
            bias=full.bias,
            **({"iso_x": (), "iso_y": ()} | mapping),
        )

    calibrated = procedure(np.ones(len(rows), dtype=bool))
    # The stored ECE and curve score each fold with the whole procedure fitted on the other folds (models,
    # map and, for isotonic, the averaging), so they describe the router as it predicts, on unseen keys.
    p_oof = [0.0] * len(rows)
    for k in range(FOLDS):
        held_out = procedure(fold_ids != k)
        for i in np.flatnonzero(fold_ids == k):
            p_oof[i] = held_out.predict(rows[int(i)].features)
    small = [r.small_pass for r in rows]
    large = [r.large_pass for r in rows]
    ece = expected_calibration_error(p_oof, small)
    curve = cost_quality_curve(p_oof, small, large, cost_ratio=cost_ratio)
    done = PassClassifier(
        **{**calibrated.__dict__, "ece": round(ece, 6), "large_quality": sum(large) / len(large), "curve": tuple(curve)}
    )
    # The version names the content (`to_json` derives it when unset), so it is set last.
    return PassClassifier.from_json(done.to_json())
