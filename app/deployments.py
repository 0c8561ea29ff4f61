"""The worker deployment's routing, read and changed through Temporal's Worker Versioning API.

A worker deployment (`AIAAS_DEPLOYMENT_NAME`) has one version per build id (`AIAAS_BUILD_ID`). The current
version gets every new workflow run; a ramping version gets a share of them; runs already going stay where
their versioning behaviour puts them (docs/operations.md, "Safe deploys"). `aiaas deploy` and the deploy
drill call these functions; every change names who made it (`identity`), which Temporal records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

IDENTITY = "aiaas deploy"
# A version is known to the server once one of its workers has polled; until then it cannot be routed to.
_NOT_YET = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)


@dataclass(frozen=True)
class VersionSummary:
    build_id: str
    status: str  # inactive, current, ramping, draining, drained
    drainage: str  # unspecified, draining, drained (pinned runs still open on a no-longer-routed version)
    last_current: float | None  # when it last became current (epoch seconds)


@dataclass(frozen=True)
class DeploymentStatus:
    deployment_name: str
    current_build_id: str | None
    ramping_build_id: str | None
    ramping_percentage: float
    versions: tuple[VersionSummary, ...]


def _short(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


async def describe(client: Client, deployment_name: str) -> DeploymentStatus:
    response = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
    )
    info = response.worker_deployment_info
    routing = info.routing_config
    versions = tuple(
        VersionSummary(
            build_id=summary.deployment_version.build_id,
            status=_short(WorkerDeploymentVersionStatus.Name(summary.status), "WORKER_DEPLOYMENT_VERSION_STATUS_"),
            drainage=_short(VersionDrainageStatus.Name(summary.drainage_info.status), "VERSION_DRAINAGE_STATUS_"),
            last_current=summary.last_current_time.ToSeconds() if summary.HasField("last_current_time") else None,
        )
        for summary in info.version_summaries
    )
    ramping = routing.ramping_deployment_version.build_id if routing.HasField("ramping_deployment_version") else None
    return DeploymentStatus(
        deployment_name=deployment_name,
        current_build_id=(
            routing.current_deployment_version.build_id if routing.HasField("current_deployment_version") else None
        ),
        ramping_build_id=ramping or None,
        ramping_percentage=routing.ramping_version_percentage if ramping else 0.0,
        versions=versions,
    )


async def _until_known(call: Callable[[], Awaitable[None]], wait_seconds: float) -> None:
    """Run `call`, retrying while the version has not been seen polling yet."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await call()
            return
        except RPCError as err:
            if err.status not in _NOT_YET or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.25)


async def set_current(client: Client, deployment_name: str, build_id: str, *, wait_seconds: float = 0.0) -> None:
    """Route every new run to `build_id` (ending any ramp onto it); `wait_seconds` waits for its first poller."""

    async def call() -> None:
        await client.workflow_service.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(
                namespace=client.namespace, deployment_name=deployment_name, build_id=build_id, identity=IDENTITY
            )
        )

    await _until_known(call, wait_seconds)


async def set_ramping(
    client: Client, deployment_name: str, build_id: str | None, percentage: float, *, wait_seconds: float = 0.0
) -> None:
    """Send `percentage` % of new runs to `build_id`; `build_id=None` stops the ramp."""
    if not 0.0 <= percentage <= 100.0:
        raise ValueError("a ramp is a percentage between 0 and 100")

    async def call() -> None:
        await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=client.namespace,
                deployment_name=deployment_name,
                build_id=build_id or "",
                percentage=percentage if build_id else 0.0,
                identity=IDENTITY,
            )
        )

    await _until_known(call, wait_seconds)


async def promote(client: Client, deployment_name: str, build_id: str | None = None) -> str:
    """Make the ramping version (or `build_id`) current; returns the build id now current."""
    status = await describe(client, deployment_name)
    target = build_id or status.ramping_build_id
    if not target:
        raise RuntimeError(f"deployment {deployment_name} has no ramping version to promote; name a build id")
    await set_current(client, deployment_name, target)
    return target


def previous_build_id(status: DeploymentStatus) -> str | None:
    """The version that was current most recently before the current one."""
    earlier = [v for v in status.versions if v.build_id != status.current_build_id and v.last_current is not None]
    return max(earlier, key=lambda v: v.last_current or 0.0).build_id if earlier else None


async def rollback(client: Client, deployment_name: str, build_id: str | None = None) -> str:
    """Undo the last step: stop a ramp (the current version keeps everything), or, with no ramp, make the
    previously current version (or `build_id`) current again. Returns the build id now current."""
    status = await describe(client, deployment_name)
    if status.ramping_build_id and build_id is None and status.current_build_id:
        await set_ramping(client, deployment_name, None, 0.0)
        return status.current_build_id
    target = build_id or previous_build_id(status)
    if not target:
        raise RuntimeError(f"deployment {deployment_name} has no earlier current version; name a build id")
    if status.ramping_build_id:
        await set_ramping(client, deployment_name, None, 0.0)
    await set_current(client, deployment_name, target)
    return target
