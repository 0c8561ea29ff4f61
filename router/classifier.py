"""The pass classifier: P(the small tier's answer passes | features), calibrated, stored as plain JSON.

Fitting uses scikit-learn: a logistic regression on standardised features, then a calibration map fitted on
held-out rows turns its scores into calibrated probabilities: Platt scaling for small tables; for tables with
rows enough for its steps, an isotonic map shared by the five fold models, whose calibrated probabilities are
averaged (`members`; scikit-learn's CalibratedClassifierCV(ensemble=True) with one map), which smooths the
steps. The artefact keeps only numbers (means, scales, weights, the isotonic knots, the cost/quality curve),
a few kilobytes, so loading it needs neither scikit-learn nor pickle nor a network, and scoring is a few dot
products and binary searches: microseconds.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.features import FEATURE_NAMES, vector
from router.static_embedding import EMBEDDING_NAMES, SOURCE

# 2 adds `members` (an ensemble of fold models); format 1 artefacts (one linear model) still load.
ARTEFACT_FORMAT = 2
_READABLE_FORMATS = (1, 2)
DEFAULT_ARTEFACT = Path(__file__).resolve().parent / "data" / "router_global.json"


@dataclass(frozen=True)
class CurvePoint:
    """Routing small when p >= threshold gives this strong share, quality and relative cost on held-out rows."""

    threshold: float
    strong_share: float
    quality: float
    cost: float


@dataclass(frozen=True)
class Member:
    """One linear model of an ensemble: standardisation and weights over the classifier's `names`."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float


def _linear(
    values: list[float], means: Sequence[float], scales: Sequence[float], weights: Sequence[float], bias: float
) -> float:
    z = bias
    for value, mean, scale, weight in zip(values, means, scales, weights, strict=True):
        z += weight * (value - mean) / scale
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


@dataclass(frozen=True)
class PassClassifier:
    names: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    # Isotonic steps: raw probability -> calibrated probability, both ascending (empty: Platt or none).
    iso_x: tuple[float, ...]
    iso_y: tuple[float, ...]
    # Platt scaling: calibrated = sigmoid(platt_a * logit(raw) + platt_b); (1, 0) is the identity.
    platt_a: float = 1.0
    platt_b: float = 0.0
    version: str = ""
    ece: float = 0.0
    # Quality of always-large on the held-out rows, the reference of `curve`'s quality.
    large_quality: float = 1.0
    curve: tuple[CurvePoint, ...] = field(default_factory=tuple)
    # When set, the probability is the mean of the members' calibrated probabilities (the top-level weights,
    # a fit on every row, are then unused by `predict`).
    members: tuple[Member, ...] = field(default_factory=tuple)

    @property
    def reads_embedding(self) -> bool:
        """Whether this router reads the static embedding of the text (`router.static_embedding`)."""
        return EMBEDDING_NAMES[0] in self.names

    def _values(self, features: dict[str, float]) -> list[float]:
        if self.reads_embedding and EMBEDDING_NAMES[0] not in features:
            # Zeros would be a silent, wrong embedding: the caller must add it (`StaticEmbedder.features`).
            raise ValueError(f"router {self.version} reads the static embedding, which the features lack")
        return vector(features, self.names)

    def raw(self, features: dict[str, float]) -> float:
        return _linear(self._values(features), self.means, self.scales, self.weights, self.bias)

    def calibrate(self, raw: float) -> float:
        xs, ys = self.iso_x, self.iso_y
        if not xs:
            if self.platt_a == 1.0 and self.platt_b == 0.0:
                return raw
            clipped = min(max(raw, 1e-9), 1 - 1e-9)
            z = self.platt_a * math.log(clipped / (1 - clipped)) + self.platt_b
            return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
        if raw <= xs[0]:
            return ys[0]
        if raw >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, raw)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)

    def predict(self, features: dict[str, float]) -> float:
        if not self.members:
            return min(max(self.calibrate(self.raw(features)), 0.0), 1.0)
        values = self._values(features)
        total = sum(self.calibrate(_linear(values, m.means, m.scales, m.weights, m.bias)) for m in self.members)
        return min(max(total / len(self.members), 0.0), 1.0)

    def threshold_for(self, quality_target: float) -> float:
        """The cheapest point of the curve whose quality is at least `quality_target` x always-large's."""
        goal = quality_target * self.large_quality
        fitting = [p for p in self.curve if p.quality >= goal - 1e-12]
        if not fitting:
            return 1.0  # nothing cheaper meets the goal: everything goes large
        return min(fitting, key=lambda p: (p.cost, -p.threshold)).threshold

    # ---- storage -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        body = {
            "format": ARTEFACT_FORMAT,
            "names": list(self.names),
            "means": list(self.means),
            "scales": list(self.scales),
            "weights": list(self.weights),
            "bias": self.bias,
            "iso_x": list(self.iso_x),
            "iso_y": list(self.iso_y),
            "platt": [self.platt_a, self.platt_b],
            "ece": self.ece,
            "large_quality": self.large_quality,
            "curve": [[p.threshold, p.strong_share, p.quality, p.cost] for p in self.curve],
            "members": [
                {"means": list(m.means), "scales": list(m.scales), "weights": list(m.weights), "bias": m.bias}
                for m in self.members
            ],
        }
        if self.reads_embedding:
            body["embedding"] = SOURCE  # the vectors it reads: the static table of this model file
        return {"version": self.version or content_version(body), **body}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassClassifier:
        if data.get("format") not in _READABLE_FORMATS:
            raise ValueError(f"unknown router artefact format {data.get('format')!r}")
        names = tuple(str(n) for n in data["names"])
        unknown = set(names) - set(FEATURE_NAMES) - set(EMBEDDING_NAMES)
        if unknown:
            raise ValueError(f"router artefact reads unknown features: {sorted(unknown)}")
        if data.get("embedding", SOURCE) != SOURCE:
            raise ValueError(f"router artefact reads another embedding: {data['embedding']}")
        lengths = {len(data[k]) for k in ("means", "scales", "weights")} | {len(names)}
        members = data.get("members", [])
        lengths |= {len(m[k]) for m in members for k in ("means", "scales", "weights")}
        if len(lengths) != 1 or len(data["iso_x"]) != len(data["iso_y"]):
            raise ValueError("router artefact arrays disagree in length")
        return cls(
            names=names,
            means=tuple(float(v) for v in data["means"]),
            scales=tuple(float(v) or 1.0 for v in data["scales"]),
            weights=tuple(float(v) for v in data["weights"]),
            bias=float(data["bias"]),
            iso_x=tuple(float(v) for v in data["iso_x"]),
            iso_y=tuple(float(v) for v in data["iso_y"]),
            platt_a=float(data.get("platt", [1.0, 0.0])[0]),
            platt_b=float(data.get("platt", [1.0, 0.0])[1]),
            version=str(data.get("version", "")),
            ece=float(data.get("ece", 0.0)),
            large_quality=float(data.get("large_quality", 1.0)),
            curve=tuple(CurvePoint(*(float(v) for v in point)) for point in data.get("curve", [])),
            members=tuple(
                Member(
                    means=tuple(float(v) for v in m["means"]),
                    scales=tuple(float(v) or 1.0 for v in m["scales"]),
                    weights=tuple(float(v) for v in m["weights"]),
                    bias=float(m["bias"]),
                )
                for m in members
            ),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path | None = None) -> PassClassifier:
        return cls.from_json(json.loads(Path(path or DEFAULT_ARTEFACT).read_text()))


def content_version(body: dict[str, Any]) -> str:
    """A version that names the content: the same fit is the same version, anywhere."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    return f"v{ARTEFACT_FORMAT}-{digest}"


def expected_calibration_error(probabilities: Sequence[float], outcomes: Sequence[int], bins: int = 10) -> float:
    """ECE: the row-weighted mean gap between predicted and observed pass rate over equal-width bins."""
    if len(probabilities) != len(outcomes) or not probabilities:
        raise ValueError("ECE needs as many outcomes as probabilities, and at least one")
    totals = [0] * bins
    predicted = [0.0] * bins
    observed = [0.0] * bins
    for p, y in zip(probabilities, outcomes, strict=True):
        b = min(int(p * bins), bins - 1)
        totals[b] += 1
        predicted[b] += p
        observed[b] += y
    n = len(probabilities)
    return sum(abs(predicted[b] - observed[b]) / n for b in range(bins) if totals[b])
