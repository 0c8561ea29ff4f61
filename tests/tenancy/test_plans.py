"""Plan limits come from data and are validated; a broken plans file is refused, not half-read."""

from __future__ import annotations

import json

import pytest

from tenancy.models import PLANS
from tenancy.plans import PLANS_FILE, all_plans, limits_for, parse_plans


def test_every_plan_has_limits_and_bigger_plans_allow_more() -> None:
    plans = all_plans()
    assert set(plans) == set(PLANS)
    free, pro, enterprise = (limits_for(name) for name in ("free", "pro", "enterprise"))
    for field in ("requests_per_minute", "monthly_messages", "monthly_tokens", "concurrent_turns"):
        assert getattr(free, field) < getattr(pro, field) < getattr(enterprise, field), field
    assert enterprise.queue_priority < free.queue_priority
    with pytest.raises(ValueError):
        limits_for("platinum")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("pro"),
        lambda d: d.update(platinum=d["pro"]),
        lambda d: d["free"].update(requests_per_minute=0),
        lambda d: d["free"].update(unknown_limit=1),
        lambda d: d["free"].pop("burst"),
    ],
)
def test_a_broken_plans_file_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(PLANS_FILE.read_text())
    mutate(data)
    with pytest.raises(ValueError):
        parse_plans(json.dumps(data))
