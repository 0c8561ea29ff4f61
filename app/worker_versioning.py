"""Which worker deployment version a worker joins, from the settings (`AIAAS_DEPLOYMENT_NAME`, `AIAAS_BUILD_ID`).

With a build id the worker polls as version `<deployment>.<build id>`: Temporal sends it only the workflows
routed to that version (new ones while it is current or ramping, and those pinned to it), and each
workflow type's `@workflow.defn(versioning_behavior=...)` says whether its runs stay on the version they
started on. The worker's default behaviour stays unspecified on purpose: a workflow type registered without
a behaviour is refused when the worker starts, not discovered at its first run.
"""

from __future__ import annotations

from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from core.settings import Settings


def deployment_version(settings: Settings) -> WorkerDeploymentVersion | None:
    """The version this process would poll as; None when the worker runs unversioned."""
    if not settings.build_id:
        return None
    return WorkerDeploymentVersion(deployment_name=settings.deployment_name, build_id=settings.build_id)


def worker_deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    version = deployment_version(settings)
    if version is None:
        return None
    return WorkerDeploymentConfig(version=version, use_worker_versioning=True)
