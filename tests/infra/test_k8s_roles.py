"""The worker manifests split by role: per version, a Deployment of workflows workers and one of activities
workers, each passing its role to `aiaas worker`, scaled on its own side of the backlog and sized to it."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from app.worker import add_worker_parser
from tests.infra.test_k8s import DOCS

ROLE_LABEL = "aiaas.dev/worker-role"
BUILD_LABEL = "aiaas.dev/build-id"
# The Temporal scaler's queue type for the backlog each role takes tasks from.
QUEUE_OF = {"workflows": "workflow", "activities": "activity"}
MEMORY_UNITS = {"Mi": 1, "Gi": 1024}


def _kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in DOCS if doc["kind"] == kind]


WORKERS = [
    d
    for d in _kind("Deployment")
    if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
]


def _role(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["metadata"]["labels"][ROLE_LABEL])


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _mebibytes(quantity: str) -> int:
    return int(quantity[:-2]) * MEMORY_UNITS[quantity[-2:]]


def _worker_role(args: list[str]) -> str:
    """What `aiaas worker` makes of a container's arguments."""
    parser = argparse.ArgumentParser()
    add_worker_parser(parser.add_subparsers(dest="command"))
    return str(parser.parse_args(args).role)


@pytest.mark.parametrize("deployment", WORKERS, ids=[d["metadata"]["name"] for d in WORKERS])
def test_each_worker_deployment_passes_its_role_to_the_worker(deployment: dict[str, Any]) -> None:
    role = _role(deployment)
    assert role in QUEUE_OF
    assert deployment["spec"]["selector"]["matchLabels"][ROLE_LABEL] == role
    assert deployment["metadata"]["labels"][ROLE_LABEL] == role
    assert role in deployment["metadata"]["name"]
    container = _container(deployment)
    assert _worker_role(container["args"]) == role
    # Nothing in the pod's own environment says otherwise (the command line would win, but would confuse).
    assert "AIAAS_WORKER_ROLE" not in {e["name"] for e in container["env"]}


def test_every_version_runs_both_roles() -> None:
    versions: dict[str, list[str]] = {}
    for deployment in WORKERS:
        versions.setdefault(deployment["spec"]["template"]["metadata"]["labels"][BUILD_LABEL], []).append(
            _role(deployment)
        )
    assert len(versions) >= 2
    # The activities of a run pinned to a version are routed to that version too.
    assert all(sorted(roles) == ["activities", "workflows"] for roles in versions.values()), versions


@pytest.mark.parametrize("deployment", WORKERS, ids=[d["metadata"]["name"] for d in WORKERS])
def test_each_role_scales_on_its_own_backlog_and_has_its_own_budget(deployment: dict[str, Any]) -> None:
    name, role = deployment["metadata"]["name"], _role(deployment)
    (scaler,) = [s for s in _kind("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == name]
    assert scaler["spec"]["triggers"][0]["metadata"]["queueTypes"] == QUEUE_OF[role]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (budget,) = [
        b
        for b in _kind("PodDisruptionBudget")
        if all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
    ]
    # A budget of one role does not count the other role's pods as its own.
    assert budget["spec"]["selector"]["matchLabels"][ROLE_LABEL] == role


def test_both_roles_of_a_version_scale_by_the_same_rules() -> None:
    def rules(scaler: dict[str, Any]) -> dict[str, Any]:
        spec = json.loads(json.dumps(scaler["spec"]))
        del spec["scaleTargetRef"], spec["triggers"][0]["metadata"]["queueTypes"]
        return dict(spec)

    by_build: dict[str, list[dict[str, Any]]] = {}
    for scaler in _kind("ScaledObject"):
        by_build.setdefault(scaler["spec"]["triggers"][0]["metadata"]["workerDeploymentBuildId"], []).append(scaler)
    for scalers in by_build.values():
        workflows, activities = scalers
        assert rules(workflows) == rules(activities)


def test_workflows_pods_are_sized_smaller_than_activities_pods() -> None:
    for build in {d["spec"]["template"]["metadata"]["labels"][BUILD_LABEL] for d in WORKERS}:
        sizes = {
            _role(d): _container(d)["resources"]
            for d in WORKERS
            if d["spec"]["template"]["metadata"]["labels"][BUILD_LABEL] == build
        }
        for key in ("requests", "limits"):
            workflows, activities = sizes["workflows"][key]["memory"], sizes["activities"][key]["memory"]
            assert _mebibytes(workflows) < _mebibytes(activities), (build, key)
        # 1,000 open conversations measured 373 MiB in a workflows worker: the request holds a full cache.
        assert _mebibytes(sizes["workflows"]["requests"]["memory"]) >= 373
