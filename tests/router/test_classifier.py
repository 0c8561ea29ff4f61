"""Turn features, the pass classifier's fit and calibration, and its stored artefact."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from router.classifier import DEFAULT_ARTEFACT, PassClassifier, content_version, expected_calibration_error
from router.features import FEATURE_NAMES, TurnContext, extract
from router.train import ISOTONIC_MIN_ROWS, TrainingRow, fit


def _table(n_prompts: int = 200, draws: int = 6, seed: int = 5) -> list[TrainingRow]:
    """Prompts whose true pass probability is known: code and maths are hard, chat is easy."""
    rng = random.Random(seed)
    kinds = {
        "chat": ("Hello, where is my order and when will it arrive?", 2.0),
        "code": ("Implement a python function with an efficient algorithm for binary trees", -1.5),
        "math": ("Solve the equation and prove the integral of x is 42", -2.0),
        "write": ("Write a short poem about the sea", 1.0),
    }
    rows = []
    for i in range(n_prompts):
        kind = list(kinds)[i % len(kinds)]
        text, logit = kinds[kind]
        text = f"{text} {'please ' * rng.randrange(4)}"
        p = 1 / (1 + math.exp(-(logit + rng.uniform(-0.5, 0.5))))
        features = extract(text, TurnContext(depth=i % 3))
        for _ in range(draws):
            rows.append(TrainingRow(f"p{i}", features, int(rng.random() < p), int(rng.random() < 0.95)))
    return rows


def test_features_are_named_bounded_and_deterministic() -> None:
    text = "Please implement a Python function that solves this equation: x^2 = 4?\n```def f(): pass```"
    first = extract(text, TurnContext(tool_count=3, step=2, depth=4, plan="pro"))
    assert list(first) == list(FEATURE_NAMES)
    assert first == extract(text, TurnContext(tool_count=3, step=2, depth=4, plan="pro"))
    assert all(0.0 <= v <= 1.5 for v in first.values())
    assert first["signal_code"] > 0 and first["signal_math"] > 0 and first["plan_pro"] == 1.0
    assert first["retrieval_missing"] == 1.0
    assert extract("Où est ma commande ?")["non_ascii"] > 0
    # A follow-up inherits the intent of the message it follows.
    assert extract("Now do it in a faster way", previous="Implement a sorting algorithm in Python")["signal_code"] > 0
    assert extract("x y z")["signal_math"] > 0 and extract("your yard")["signal_math"] == 0


def test_ece_measures_the_gap_between_predicted_and_observed() -> None:
    assert expected_calibration_error([0.9] * 10, [1] * 9 + [0]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [0] * 10) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        expected_calibration_error([0.5], [])


def test_a_fitted_router_is_calibrated_and_ranks_hard_prompts_low() -> None:
    clf = fit(_table(), calibration="platt")
    assert clf.ece < 0.05
    easy = clf.predict(extract("Hello, where is my order and when will it arrive?"))
    hard = clf.predict(extract("Solve the equation and prove the integral of x is 42"))
    assert easy > 0.7 and hard < 0.3
    # A higher quality target never sends fewer turns to the large tier.
    thresholds = [clf.threshold_for(q) for q in (0.8, 0.9, 0.95, 0.99)]
    assert thresholds == sorted(thresholds)
    # On fresh draws from the same prompts the stated probability holds.
    fresh = _table(seed=6)
    assert expected_calibration_error([clf.predict(r.features) for r in fresh], [r.small_pass for r in fresh]) < 0.06


def test_an_isotonic_router_is_fitted_stored_and_calibrated(tmp_path: object) -> None:
    clf = fit(_table(), calibration="isotonic")
    assert clf.iso_x and len(clf.iso_x) == len(clf.iso_y) and list(clf.iso_y) == sorted(clf.iso_y)
    assert clf.ece < 0.05
    path = tmp_path / "router.json"  # type: ignore[operator]
    clf.save(path)
    features = extract("Solve the equation and prove the integral of x is 42")
    assert PassClassifier.load(path).predict(features) == clf.predict(features) < 0.3
    # Isotonic steps learn some of 1,200 rows' noise (hence Platt by default): looser on fresh draws.
    fresh = _table(seed=6)
    assert expected_calibration_error([clf.predict(r.features) for r in fresh], [r.small_pass for r in fresh]) < 0.08
    with pytest.raises(ValueError, match="platt, isotonic or auto"):
        fit(_table(), calibration="beta")


def test_the_artefact_round_trips_and_its_version_names_its_content(tmp_path: object) -> None:
    clf = fit(_table(n_prompts=120, draws=4))
    path = tmp_path / "router.json"  # type: ignore[operator]
    clf.save(path)
    loaded = PassClassifier.load(path)
    features = extract("Implement a function")
    assert loaded.predict(features) == clf.predict(features)
    assert loaded.version == clf.version and clf.version.startswith("v2-")
    data = json.loads(path.read_text())
    body = {k: v for k, v in data.items() if k != "version"}
    assert content_version(body) == data["version"]
    assert len(path.read_text()) < 20_000  # small enough to ship and to store per tenant
    with pytest.raises(ValueError, match="unknown features"):
        PassClassifier.from_json({**data, "names": [*data["names"][:-1], "nonsense"]})


def test_the_shipped_global_router_loads_without_scikit_learn() -> None:
    clf = PassClassifier.load(DEFAULT_ARTEFACT)
    assert clf.names == FEATURE_NAMES and clf.curve and 0 <= clf.ece < 0.2
    assert 0.0 <= clf.predict(extract("hi")) <= 1.0
    probe = "import sys; from router.classifier import PassClassifier as C; C.load(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_auto_calibration_averages_five_fold_models_through_one_isotonic_map_on_large_tables() -> None:
    rows = _table()  # 1,200 rows
    assert len(rows) >= ISOTONIC_MIN_ROWS
    clf = fit(rows)
    assert len(clf.members) == 5 and clf.iso_x and (clf.platt_a, clf.platt_b) == (1.0, 0.0)
    features = extract("Solve the equation and prove the integral of x is 42")
    by_hand = [
        clf.calibrate(
            1
            / (
                1
                + math.exp(
                    -(
                        m.bias
                        + sum(
                            w * (features[n] - mu) / sd
                            for n, mu, sd, w in zip(clf.names, m.means, m.scales, m.weights, strict=True)
                        )
                    )
                )
            )
        )
        for m in clf.members
    ]
    assert clf.predict(features) == pytest.approx(sum(by_hand) / 5) and clf.predict(features) < 0.3
    assert clf.predict(extract("Hello, where is my order and when will it arrive?")) > 0.7
    # The stored ECE reads each fold through a map fitted on the others: an isotonic map fitted on its own
    # rows would be exactly calibrated there and report 0.
    assert 0.0 < clf.ece < 0.06
    # Averaging five models through the map gives finer probabilities than the map's own steps.
    texts = ["Write a short poem about the sea", "Implement a python function", "Solve the equation", "Hello"]
    turns = [extract(f"{t} {'please ' * i}", TurnContext(depth=d)) for t in texts for i in range(4) for d in range(3)]
    assert len({clf.predict(f) for f in turns}) > len(set(clf.iso_y))
    # The same table gives the same router, to the version.
    assert fit(rows).version == clf.version
    # Small tables keep Platt's two parameters, one model, no members.
    small = fit(_table(n_prompts=120, draws=4))
    assert not small.members and not small.iso_x and small.platt_a != 1.0


def test_a_format_1_artefact_without_members_still_loads_and_predicts(tmp_path: object) -> None:
    clf = fit(_table(n_prompts=120, draws=4))
    data = {**clf.to_json(), "format": 1}
    del data["members"]
    old = PassClassifier.from_json(data)
    features = extract("Implement a function")
    assert old.predict(features) == clf.predict(features) and old.version == clf.version
    with pytest.raises(ValueError, match="unknown router artefact format"):
        PassClassifier.from_json({**data, "format": 3})
    with pytest.raises(ValueError, match="disagree in length"):
        member = {"means": [0.0], "scales": [1.0], "weights": [0.0], "bias": 0.0}
        PassClassifier.from_json({**clf.to_json(), "members": [member]})
