"""Admission for as long as the gateway runs: built once from the gateway's clients, with the backlog sampler
that moves load shedding.

One `Admission` per process, because its plan cache and the shedder's level are per-process state that
every request reads; the sampler polls Temporal's backlog on its own schedule rather than on requests, so a
gateway that sheds everything still sees the backlog drain and recovers by itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.admission.decide import Admission
from api.state import GatewayState
from policies.cost_guard import CostGuard
from policies.ledger import month_tokens
from policies.load_shedding import BacklogSampler, Shedder, policy_from


def build_admission(state: GatewayState, shedder: Shedder) -> Admission:
    """Admission over the gateway's clients, budget modes from the cost guard and tokens from the ledger. The
    shedder is the caller's, so its thresholds can come from settings or be fixed."""
    settings = state.settings
    guard = CostGuard(state.db, state.redis, state.bus, mode_cache_seconds=settings.budget_mode_cache_seconds)
    return Admission(settings, state.redis, state.db, shedder, budget=guard, month_tokens=month_tokens)


@asynccontextmanager
async def admission_lifespan(app: FastAPI) -> AsyncIterator[Admission]:
    """Runs inside the app's lifespan, once the gateway state exists; the admission goes on `app.state`, where
    the /v1 router's dependency and the WebSocket route find it."""
    state: GatewayState = app.state.gateway
    settings = state.settings
    shedder = Shedder(
        policy_from(
            settings.shed_backlog_counts,
            settings.shed_backlog_age_seconds,
            settings.shed_recover_ratio,
            settings.shed_recover_samples,
        )
    )
    admission = build_admission(state, shedder)
    app.state.admission = admission
    sampler = BacklogSampler(
        state.temporal, settings.temporal_namespace, settings.task_queue, shedder, settings.shed_sample_seconds
    )
    async with sampler.running():
        yield admission
