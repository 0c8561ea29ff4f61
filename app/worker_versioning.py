"""Which worker deployment version a worker joins, from the settings (`AIAAS_DEPLOYMENT_NAME`, `AIAAS_BUILD_ID`).

With a build id the worker polls as version `<deployment>.<build id>`: Temporal sends it only the workflows
routed to that version (new ones while it is current or ramping, and those pinned to it), and registers the
subclasses of `workflows/versioned.py`, whose `@workflow.defn(versioning_behavior=...)` says whether a type's
runs stay on the version they started on. An unversioned worker registers the plain classes: the server
refuses a behaviour from a worker without deployment options. The default behaviour stays unspecified on
purpose: a workflow type without a behaviour is refused when the versioned worker starts.
"""

from __future__ import annotations

from collections.abc import Iterable

from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig
from temporalio.workflow import _Definition

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


def _name(cls: type) -> str:
    name = _Definition.must_from_class(cls).name
    assert name is not None, f"{cls.__qualname__} is a dynamic workflow"
    return name


def worker_workflows(settings: Settings, workflows: Iterable[type]) -> list[type]:
    """The classes a worker registers: `workflows` as they are, or their versioned subclasses."""
    if deployment_version(settings) is None:
        return list(workflows)
    from workflows.versioned import VERSIONED

    versioned = {_name(cls): cls for cls in VERSIONED}
    missing = [_name(cls) for cls in workflows if _name(cls) not in versioned]
    if missing:
        raise RuntimeError(f"no versioning behaviour for {', '.join(missing)} (add it to workflows/versioned.py)")
    return [versioned[_name(cls)] for cls in workflows]
