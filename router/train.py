"""Fit a pass classifier from a routing table: rows of features with the small and the large tier's verdict.

The table comes from eval runs (each task answered by both tiers and graded) or, for the benchmark, from
MT-Bench questions with synthetic labels. Rows are split by a hash of their key into fit (60 %), calibration
(20 %) and validation (20 %): the logistic regression learns on the first, the isotonic map on the second,
and the expected calibration error and the cost/quality curve are measured on the third, which neither saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from router.classifier import CurvePoint, PassClassifier, expected_calibration_error
from router.features import FEATURE_NAMES, vector

CURVE_POINTS = 41


@dataclass(frozen=True, slots=True)
class TrainingRow:
    key: str
    features: dict[str, float]
    small_pass: int
    large_pass: int


def split_of(key: str) -> str:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10
    return "fit" if bucket < 6 else "calibrate" if bucket < 8 else "validate"


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
    """A calibrated classifier with its ECE and cost/quality curve on the validation rows.

    `cost_ratio` is the small tier's price over the large tier's, which only shapes the stored curve.
    `calibration` is "platt" (two parameters: steady on a few hundred rows) or "isotonic" (a step map: finer,
    but it needs thousands of calibration rows not to learn their noise).
    """
    if calibration not in ("platt", "isotonic"):
        raise ValueError("calibration is platt or isotonic")
    import numpy as np
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    parts: dict[str, list[TrainingRow]] = {"fit": [], "calibrate": [], "validate": []}
    for row in rows:
        parts[split_of(row.key)].append(row)
    if min(len(p) for p in parts.values()) < 10:
        raise ValueError("a routing table needs enough rows for fit, calibration and validation (>= 50)")
    for name, part in parts.items():
        if len({r.small_pass for r in part}) < 2 and name == "fit":
            raise ValueError("the small tier must both pass and fail in the table")

    def matrix(part: list[TrainingRow]) -> np.ndarray:
        return np.array([vector(r.features) for r in part], dtype=float)

    x_fit = matrix(parts["fit"])
    scaler = StandardScaler().fit(x_fit)
    scales = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=0.05, max_iter=2000, random_state=seed)
    model.fit((x_fit - scaler.mean_) / scales, [r.small_pass for r in parts["fit"]])
    base = PassClassifier(
        names=FEATURE_NAMES,
        means=tuple(float(v) for v in scaler.mean_),
        scales=tuple(float(v) for v in scales),
        weights=tuple(float(v) for v in model.coef_[0]),
        bias=float(model.intercept_[0]),
        iso_x=(),
        iso_y=(),
    )
    raw_cal = [base.raw(r.features) for r in parts["calibrate"]]
    y_cal = [r.small_pass for r in parts["calibrate"]]
    if calibration == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw_cal, y_cal)
        mapping: dict[str, Any] = {
            "iso_x": tuple(float(v) for v in iso.X_thresholds_),
            "iso_y": tuple(float(v) for v in iso.y_thresholds_),
        }
    else:
        logits = np.log(np.clip(raw_cal, 1e-9, 1 - 1e-9) / (1 - np.clip(raw_cal, 1e-9, 1 - 1e-9))).reshape(-1, 1)
        platt = LogisticRegression(C=1e6, max_iter=1000).fit(logits, y_cal)
        mapping = {"platt_a": float(platt.coef_[0][0]), "platt_b": float(platt.intercept_[0])}
    calibrated = PassClassifier(**{**base.__dict__, **mapping})
    validate = parts["validate"]
    p_val = [calibrated.predict(r.features) for r in validate]
    small = [r.small_pass for r in validate]
    large = [r.large_pass for r in validate]
    ece = expected_calibration_error(p_val, small)
    curve = cost_quality_curve(p_val, small, large, cost_ratio=cost_ratio)
    large_quality = sum(large) / len(large)
    done = PassClassifier(
        **{**calibrated.__dict__, "ece": round(ece, 6), "large_quality": large_quality, "curve": tuple(curve)}
    )
    # The version names the content (`to_json` derives it when unset), so it is set last.
    return PassClassifier.from_json(done.to_json())
