"""Fit a pass classifier from a routing table: rows of features with the small and the large tier's verdict.

The table comes from eval runs (each task answered by both tiers and graded) or, for the benchmark, from
MT-Bench questions with synthetic labels. Rows are grouped by their key (a task, a question: the same prompt
graded many times) into five folds by a hash of it. Each row is scored by a logistic regression fitted on
the other four folds, so no score comes from a model that saw its prompt; the calibration map (Platt or
isotonic) is fitted on these out-of-fold scores, and the expected calibration error and the cost/quality
curve are measured on them (the calibration map saw them too, so the stored ECE is in-sample for two
parameters; the benchmark measures it on questions the whole fit never saw). The stored weights are a last
fit on every row. This is scikit-learn's CalibratedClassifierCV(ensemble=False), with groups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from router.classifier import CurvePoint, PassClassifier, expected_calibration_error
from router.features import FEATURE_NAMES, vector

CURVE_POINTS = 41
FOLDS = 5
# Strong: a table has few distinct prompts behind many graded answers, and a router must not learn them.
REGULARISATION = 0.3


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
    rows: Sequence[TrainingRow], *, cost_ratio: float = 0.06, calibration: str = "platt", seed: int = 0
) -> PassClassifier:
    """A calibrated classifier with its out-of-fold ECE and cost/quality curve.

    `cost_ratio` is the small tier's price over the large tier's, which only shapes the stored curve.
    `calibration` is "platt" (two parameters: steady on a few hundred rows) or "isotonic" (a step map: finer,
    but it needs thousands of rows not to learn their noise).
    """
    if calibration not in ("platt", "isotonic"):
        raise ValueError("calibration is platt or isotonic")
    import numpy as np
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    folds = [fold_of(r.key) for r in rows]
    if len(set(folds)) < FOLDS or len(rows) < 50:
        raise ValueError("a routing table needs at least 50 rows in every fold of its keys")
    y = np.array([r.small_pass for r in rows])
    if len(set(y.tolist())) < 2:
        raise ValueError("the small tier must both pass and fail in the table")
    x = np.array([vector(r.features) for r in rows], dtype=float)

    def linear(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        mean = x[mask].mean(axis=0)
        scale = x[mask].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = LogisticRegression(C=REGULARISATION, max_iter=2000, random_state=seed)
        model.fit((x[mask] - mean) / scale, y[mask])
        return mean, scale, model.coef_[0], float(model.intercept_[0])

    # Out-of-fold scores: every row scored by a model that never saw its key.
    raw = np.zeros(len(rows))
    fold_ids = np.array(folds)
    for k in range(FOLDS):
        mean, scale, coef, bias = linear(fold_ids != k)
        z = ((x[fold_ids == k] - mean) / scale) @ coef + bias
        raw[fold_ids == k] = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    mean, scale, coef, bias = linear(np.ones(len(rows), dtype=bool))
    if calibration == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        mapping: dict[str, Any] = {
            "iso_x": tuple(float(v) for v in iso.X_thresholds_),
            "iso_y": tuple(float(v) for v in iso.y_thresholds_),
        }
    else:
        clipped = np.clip(raw, 1e-9, 1 - 1e-9)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.log(clipped / (1 - clipped)).reshape(-1, 1), y)
        mapping = {"platt_a": float(platt.coef_[0][0]), "platt_b": float(platt.intercept_[0])}
    calibrated = PassClassifier(
        names=FEATURE_NAMES,
        means=tuple(float(v) for v in mean),
        scales=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in coef),
        bias=bias,
        **({"iso_x": (), "iso_y": ()} | mapping),
    )
    p_oof = [calibrated.calibrate(float(v)) for v in raw]
    small = [r.small_pass for r in rows]
    large = [r.large_pass for r in rows]
    ece = expected_calibration_error(p_oof, small)
    curve = cost_quality_curve(p_oof, small, large, cost_ratio=cost_ratio)
    done = PassClassifier(
        **{**calibrated.__dict__, "ece": round(ece, 6), "large_quality": sum(large) / len(large), "curve": tuple(curve)}
    )
    # The version names the content (`to_json` derives it when unset), so it is set last.
    return PassClassifier.from_json(done.to_json())
