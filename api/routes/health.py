"""Liveness, readiness (Temporal, Postgres and Redis all answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api.deps import StateDep

router = APIRouter(tags=["health"])
_CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    async def check(name: str, probe: object) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe, _CHECK_TIMEOUT)  # type: ignore[arg-type]
            return name, "ok"
        except Exception as exc:
            return name, f"unavailable: {type(exc).__name__}"

    results = dict(
        await asyncio.gather(
            check("temporal", state.temporal.service_client.check_health()),
            check("postgres", state.db.ping()),
            check("redis", state.redis.ping()),
        )
    )
    ready = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": results}, 200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    # Gateway processes sharing a port (`aiaas up --gateway-workers N`) write their metrics to files in
    # PROMETHEUS_MULTIPROC_DIR: whichever process a scrape reaches answers for all of them.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
