"""Plan limits come from data and are validated; a broken plans file is refused, not half-read."""

from __future__ import annotations

import json

import pytest

from tenancy.plans import PLANS, PLANS_FILE, ClassRate, RouteClass, all_plans, limits_for, parse_plans


def test_every_plan_has_limits_and_bigger_plans_allow_more() -> None:
    plans = all_plans()
    assert set(plans) == set(PLANS)
    free, pro, enterprise = (limits_for(name) for name in ("free", "pro", "enterprise"))
    for field in ("requests_per_minute", "monthly_messages", "monthly_tokens", "concurrent_turns"):
        assert getattr(free, field) < getattr(pro, field) < getattr(enterprise, field), field
    assert enterprise.queue_priority < free.queue_priority
    for route_class in RouteClass:
        assert free.rate_for(route_class).per_minute < pro.rate_for(route_class).per_minute
        assert pro.rate_for(route_class).per_minute < enterprise.rate_for(route_class).per_minute
    # Overload sheds free first and enterprise last; free never waits for a turn slot.
    assert free.shed_rank < pro.shed_rank < enterprise.shed_rank
    assert free.concurrency_wait_seconds == 0 < pro.concurrency_wait_seconds
    with pytest.raises(ValueError):
        limits_for("platinum")


def test_a_free_burst_of_a_few_hundred_requests_is_limited() -> None:
    free = limits_for("free")
    assert all(free.rate_for(route_class).burst < 100 for route_class in RouteClass)


def test_a_class_without_its_own_rate_uses_the_plan_rate_and_a_key_gets_its_share() -> None:
    data = json.loads(PLANS_FILE.read_text())
    data["pro"]["rate_limits"] = {"read": {"per_minute": 1000, "burst": 100}}
    data["pro"]["key_rate_share"] = 0.25
    pro = parse_plans(json.dumps(data))["pro"]
    assert pro.rate_for(RouteClass.MANAGE) == ClassRate(
        per_minute=data["pro"]["requests_per_minute"], burst=data["pro"]["burst"]
    )
    assert pro.key_rate_for(RouteClass.READ) == ClassRate(per_minute=250, burst=25)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("pro"),
        lambda d: d.update(platinum=d["pro"]),
        lambda d: d["free"].update(requests_per_minute=0),
        lambda d: d["free"].update(unknown_limit=1),
        lambda d: d["free"].pop("burst"),
        lambda d: d["free"]["rate_limits"].update(chat={"per_minute": 1, "burst": 1}),
        lambda d: d["free"]["rate_limits"]["read"].update(burst=0),
        lambda d: d["free"].update(key_rate_share=1.5),
        lambda d: d["free"].update(concurrency_wait_seconds=-1),
        lambda d: d["free"].update(shed_rank=0),
    ],
)
def test_a_broken_plans_file_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(PLANS_FILE.read_text())
    mutate(data)
    with pytest.raises(ValueError):
        parse_plans(json.dumps(data))
