"""The platform's tools in a process: the registry every worker and gateway loads, and a worker's tool activities.

Workers and the gateway load the same registry, so the catalogue `GET /v1/tools` shows is exactly what the
workers can run: the agent tools, the saga tools and the hidden steps those sagas call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

import commerce.sagas  # noqa: F401  (registers the saga tools, and with them their steps)
import knowledge.tools  # noqa: F401  (registers knowledge.search)
from agents.sdk import ToolRegistry
from commerce.tools import load_builtin_tools
from core.events import EventBus
from core.settings import Settings
from db.database import Database
from policies.metering import Metering


def platform_registry() -> ToolRegistry:
    """The global registry with every built-in tool registered: importing the commerce tools, its saga tools
    and their steps registers them."""
    return load_builtin_tools()


@dataclass
class WorkerTools:
    """What a worker registers for tools, and the connectors it closes on shutdown."""

    activities: list[Callable[..., Any]]
    close: Callable[[], Any]


def tool_bookkeeping(db: Database, bus: EventBus, registry: ToolRegistry) -> list[Callable[..., Any]]:
    """The local activities a run calls around its tools: `tools.record_outcome`, `events.publish` and
    `tools.record_policy_decision`. Light: they import no connector and no tool runtime."""
    from activities.tools.outcomes import ToolOutcomeActivities
    from activities.tools.policy_record import PolicyDecisionActivities

    outcomes = ToolOutcomeActivities(db, bus)
    policy = PolicyDecisionActivities(bus, registry)
    return [outcomes.record_outcome, outcomes.publish, policy.record]


def worker_tools(
    db: Database,
    redis: Redis,
    bus: EventBus,
    settings: Settings,
    metering: Metering | None = None,
    registry: ToolRegistry | None = None,
    *,
    bookkeeping: bool = True,
) -> WorkerTools:
    """Every tool's activity (of `registry`, by default the platform's) over one runtime (breaker and
    bulkhead on the worker's Redis), plus, with `bookkeeping`, the local activities of `tool_bookkeeping`."""
    from activities.tools.runtime import ToolRuntime
    from commerce.connectors.factory import ConnectorFactory
    from policies.circuit_breaker import CircuitBreaker

    connectors = ConnectorFactory(db, settings)
    registry = registry or platform_registry()
    runtime = ToolRuntime(
        db,
        redis,
        bus,
        connectors,
        registry,
        breaker=CircuitBreaker(redis),
        metering=metering,
        safe_mode_max_cost_usd=settings.safe_mode_max_tool_cost_usd,
    )
    extra = tool_bookkeeping(db, bus, registry) if bookkeeping else []
    return WorkerTools([*runtime.activities(), *extra], connectors.close)
