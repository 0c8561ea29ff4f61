"""Which worker deployment version a worker joins, and the versioning behaviour of every workflow type."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.workflow import _Definition

from app.worker_versioning import deployment_version, worker_deployment_config, worker_workflows
from app.workflows import WORKFLOWS
from contracts.names import (
    WF_CONVERSATION,
    WF_ROUTER_CANARY,
    WF_SUBSCRIPTION,
    WF_TENANT_LIFECYCLE,
    WF_WEBHOOK_DELIVERY,
)
from core.settings import Settings

# Long waits on timers: pinning would keep an old version's workers up for days to a month.
AUTO_UPGRADE = {WF_SUBSCRIPTION, WF_TENANT_LIFECYCLE, WF_WEBHOOK_DELIVERY}
# A router canary looks for up to weeks: it follows new code, its changes behind `workflow.patched`.
AUTO_UPGRADE.add(WF_ROUTER_CANARY)


def test_unversioned_without_a_build_id() -> None:
    settings = Settings(build_id=None)
    assert deployment_version(settings) is None
    assert worker_deployment_config(settings) is None


def test_a_build_id_makes_the_worker_a_version_of_the_deployment() -> None:
    config = worker_deployment_config(Settings(deployment_name="aiaas", build_id="2026.12.06-abc123"))
    assert config is not None
    assert config.use_worker_versioning
    assert config.version == WorkerDeploymentVersion(deployment_name="aiaas", build_id="2026.12.06-abc123")
    # No default: a workflow type without a declared behaviour is refused when the worker starts.
    assert config.default_versioning_behavior == VersioningBehavior.UNSPECIFIED


@pytest.mark.parametrize("fields", [{"deployment_name": "ai.aas"}, {"build_id": "has space"}, {"build_id": ""}])
def test_names_temporal_cannot_route_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(**fields)  # type: ignore[arg-type]


def _behaviours(classes: tuple[type, ...] | list[type]) -> dict[str, VersioningBehavior | None]:
    found = {}
    for cls in classes:
        defn = _Definition.must_from_class(cls)
        assert defn.name is not None
        found[defn.name] = defn.versioning_behavior
    return found


def test_an_unversioned_worker_registers_the_plain_classes() -> None:
    # The server refuses a behaviour from a worker without deployment options: the workflow task fails.
    assert worker_workflows(Settings(build_id=None), WORKFLOWS) == list(WORKFLOWS)
    assert set(_behaviours(WORKFLOWS).values()) == {VersioningBehavior.UNSPECIFIED}


def test_a_versioned_worker_registers_every_type_with_its_behaviour() -> None:
    registered = worker_workflows(Settings(build_id="v1"), WORKFLOWS)
    behaviours = _behaviours(registered)
    assert set(behaviours) == set(_behaviours(WORKFLOWS))
    for plain, versioned in zip(WORKFLOWS, registered, strict=True):
        assert issubclass(versioned, plain)
    assert VersioningBehavior.UNSPECIFIED not in behaviours.values()
    assert {name for name, b in behaviours.items() if b == VersioningBehavior.AUTO_UPGRADE} == AUTO_UPGRADE
    assert behaviours[WF_CONVERSATION] == VersioningBehavior.PINNED


@workflow.defn(name="unlisted")
class Unlisted:
    @workflow.run
    async def run(self) -> None:
        return None


def test_a_type_without_a_behaviour_stops_a_versioned_worker() -> None:
    with pytest.raises(RuntimeError, match="no versioning behaviour for unlisted"):
        worker_workflows(Settings(build_id="v1"), [*WORKFLOWS, Unlisted])
