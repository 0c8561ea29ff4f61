"""What a canary tries (`contracts.canary.CanarySubject`) and how its share is assigned: the request's forms,
the sticky share of every kind, and a threshold canary's share routing with the candidate threshold."""

from __future__ import annotations

import math
import uuid

import pytest
from pydantic import ValidationError

from contracts.canary import AgentVersionSubject, CanaryRequest, ModelSubject, RouterThresholdSubject
from router.canary import Canary, SubjectCanary, assignment
from router.policy import decide, threshold
from tests.router.test_policy import CATALOG, FEATURES, _classifier, _ctx

SUBJECTS = [
    ModelSubject(model="azure/gpt-4o-mini-eu"),
    AgentVersionSubject(agent="support", version=3),
    RouterThresholdSubject(threshold=0.42),
]


def _ids(n: int, seed: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"conversation/{seed}/{i}")) for i in range(n)]


def test_a_request_names_a_model_or_a_subject_and_defaults_to_a_model() -> None:
    plain = CanaryRequest.model_validate({"model": "azure/gpt-4o-mini-eu", "share": 0.1})
    assert plain.target == ModelSubject(model="azure/gpt-4o-mini-eu") and plain.subject is None
    agent = CanaryRequest.model_validate(
        {"subject": {"kind": "agent_version", "agent": "support", "version": 2}, "share": 0.1}
    )
    assert agent.target == AgentVersionSubject(agent="support", version=2)
    same = CanaryRequest.model_validate({"subject": {"kind": "model", "model": "gpt-4o"}, "share": 0.2})
    assert same.target == ModelSubject(model="gpt-4o")


@pytest.mark.parametrize(
    "body",
    [
        {"share": 0.1},  # nothing tried
        {"model": "gpt-4o", "subject": {"kind": "router_threshold", "threshold": 0.5}, "share": 0.1},  # both
        {"subject": {"kind": "router_threshold", "threshold": 1.0}, "share": 0.1},
        {"subject": {"kind": "router_threshold", "threshold": 0}, "share": 0.1},
        {"subject": {"kind": "router_threshold", "threshold": -0.2}, "share": 0.1},
        {"subject": {"kind": "agent_version", "agent": "Support!", "version": 1}, "share": 0.1},
        {"subject": {"kind": "agent_version", "agent": "support", "version": -1}, "share": 0.1},
        {"subject": {"kind": "prompt", "agent": "support"}, "share": 0.1},  # no such kind
        {"subject": {"kind": "router_threshold", "threshold": 0.5}, "control_model": "gpt-4o", "share": 0.1},
    ],
)
def test_malformed_subjects_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CanaryRequest.model_validate(body)


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.kind)
@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_share_of_1000_conversations_is_unbiased_for_every_kind(
    subject: ModelSubject | AgentVersionSubject | RouterThresholdSubject, share: float
) -> None:
    """One tenant's 1,000 conversations land within 4 binomial standard deviations of the share (a sticky hash
    cannot do better than independent coin flips: at share 0.5 one deviation is 1.6 points); pooled over 50
    tenants (50,000 conversations) the share is within +-1 point, in fact +-0.5."""
    sd = math.sqrt(share * (1 - share) / 1000)
    pooled = 0
    for tenant in range(50):
        canary = assignment(f"tenant-{tenant}", subject, share)
        inside = sum(canary.includes(c) for c in _ids(1000, tenant))
        assert abs(inside / 1000 - share) <= 4 * sd, (tenant, inside)
        pooled += inside
    assert abs(pooled / 50_000 - share) <= 0.005


def test_each_kind_is_sticky_and_reshuffled_by_what_it_tries() -> None:
    ids = _ids(2000, 99)
    agent_v3 = assignment("t", AgentVersionSubject(agent="support", version=3), 0.3)
    agent_v4 = assignment("t", AgentVersionSubject(agent="support", version=4), 0.3)
    tried = assignment("t", RouterThresholdSubject(threshold=0.42), 0.3)
    model = assignment("t", ModelSubject(model="gpt-4o"), 0.3)
    assert isinstance(model, Canary) and model.id == "t:gpt-4o"  # the id the router's model canary has always had
    assert isinstance(agent_v3, SubjectCanary) and isinstance(tried, SubjectCanary)
    assert [agent_v3.includes(c) for c in ids] == [agent_v3.includes(c) for c in ids]
    overlap = sum(agent_v3.includes(c) and agent_v4.includes(c) for c in ids) / len(ids)
    assert overlap == pytest.approx(0.09, abs=0.03)  # independent: 0.3 x 0.3
    inside = next(c for c in ids if agent_v3.includes(c))
    outside = next(c for c in ids if not agent_v3.includes(c))
    assert agent_v3.agent_version("support", inside) == 3
    assert agent_v3.agent_version("support", outside) is None
    assert agent_v3.agent_version("orders", inside) is None  # another agent of the tenant
    assert agent_v3.threshold_for(inside) is None
    assert SubjectCanary.from_json(agent_v3.as_json()) == agent_v3
    assert SubjectCanary.from_json(tried.as_json()) == tried
    assert SubjectCanary.from_json(None) is None and SubjectCanary.from_json({**tried.as_json(), "share": 0}) is None


def test_a_threshold_canary_routes_its_share_with_the_candidate_threshold() -> None:
    tried = assignment("t", RouterThresholdSubject(threshold=0.95), 0.5)
    assert isinstance(tried, SubjectCanary)
    ids = _ids(200, 7)
    inside = next(c for c in ids if tried.includes(c))
    outside = next(c for c in ids if not tried.includes(c))
    ctx = _ctx(subject_canary=tried)
    # p = 0.9: small at the tenant's threshold (0.6 from its curve), large at the candidate's 0.95.
    clf = _classifier(0.9)
    canary_turn = decide(FEATURES, ctx, clf, CATALOG, conversation_id=inside)
    control_turn = decide(FEATURES, ctx, clf, CATALOG, conversation_id=outside)
    assert (canary_turn.tier, canary_turn.threshold, canary_turn.threshold_canary) == ("large", 0.95, True)
    assert (control_turn.tier, control_turn.threshold, control_turn.threshold_canary) == ("small", 0.6, False)
    # The tenant's own threshold (a promoted canary's) replaces its curve's; the budget still lowers it.
    own = _ctx(threshold=0.95)
    assert decide(FEATURES, own, clf, CATALOG, conversation_id=outside).tier == "large"
    assert threshold(clf, _ctx(threshold=0.8, budget_left_fraction=0.125)) == pytest.approx(0.4)
    # An agent-version canary does not touch routing.
    agent = assignment("t", AgentVersionSubject(agent="support", version=1), 1.0)
    assert isinstance(agent, SubjectCanary)
    unchanged = decide(FEATURES, _ctx(subject_canary=agent), clf, CATALOG, conversation_id=inside)
    assert unchanged.threshold == 0.6 and not unchanged.threshold_canary
