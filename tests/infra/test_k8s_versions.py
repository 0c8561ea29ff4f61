"""The worker manifests as versions of a worker deployment: one Deployment per build id and role, each with its
own disruption budget and a KEDA ScaledObject counting only the backlog routed to that version."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from core.settings import Settings
from tests.infra.test_k8s import DOCS, KEDA_SCHEMA

BUILD_LABEL = "aiaas.dev/build-id"
ROLE_LABEL = "aiaas.dev/worker-role"


def _kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in DOCS if doc["kind"] == kind]


def _workers() -> list[dict[str, Any]]:
    return [
        d
        for d in _kind("Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
    ]


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_each_worker_deployment_is_one_version() -> None:
    workers = _workers()
    builds = [_env(d)["AIAAS_BUILD_ID"] for d in workers]
    assert len(set(builds)) >= 2, "the current version and the one draining"
    roles = [d["spec"]["template"]["metadata"]["labels"][ROLE_LABEL] for d in workers]
    assert len(set(zip(builds, roles, strict=True))) == len(workers), "one Deployment per version and role"
    for deployment, build in zip(workers, builds, strict=True):
        env = _env(deployment)
        # The worker accepts these names (the settings refuse what Temporal cannot route).
        Settings(deployment_name=env["AIAAS_DEPLOYMENT_NAME"], build_id=build)
        template = deployment["spec"]["template"]
        assert template["metadata"]["labels"][BUILD_LABEL] == build
        assert deployment["spec"]["selector"]["matchLabels"][BUILD_LABEL] == build
        assert template["spec"]["containers"][0]["image"].endswith(f":{build}")


def test_each_version_has_its_own_budget_and_scaler() -> None:
    for deployment in _workers():
        env = _env(deployment)
        name, build = deployment["metadata"]["name"], env["AIAAS_BUILD_ID"]
        role = deployment["spec"]["template"]["metadata"]["labels"][ROLE_LABEL]
        budgets = [
            b
            for b in _kind("PodDisruptionBudget")
            if b["spec"]["selector"]["matchLabels"].get(BUILD_LABEL) == build
            and b["spec"]["selector"]["matchLabels"].get(ROLE_LABEL) == role
        ]
        assert len(budgets) == 1, name
        scalers = [s for s in _kind("ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == name]
        assert len(scalers) == 1, name
        (trigger,) = scalers[0]["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert trigger["type"] == "temporal"
        assert metadata["workerDeploymentName"] == env["AIAAS_DEPLOYMENT_NAME"]
        assert metadata["workerDeploymentBuildId"] == build
        assert metadata["taskQueue"] == env["AIAAS_TASK_QUEUE"]


def test_the_version_serving_new_runs_scales_furthest() -> None:
    def scalers(file: str) -> dict[str, dict[str, Any]]:
        found = [doc for name, doc in DOCS if name == file and doc["kind"] == "ScaledObject"]
        return {s["spec"]["triggers"][0]["metadata"]["queueTypes"]: s["spec"] for s in found}

    current, draining = scalers("worker.yaml"), scalers("worker-draining.yaml")
    assert set(current) == set(draining) == {"workflow", "activity"}
    for queue in current:
        assert current[queue]["minReplicaCount"] > draining[queue]["minReplicaCount"] >= 1
        assert current[queue]["maxReplicaCount"] > draining[queue]["maxReplicaCount"]


@pytest.mark.parametrize(
    "change",
    [
        {"workerDeploymentName": None},  # a build id alone would count every deployment's version of it
        {"workerDeploymentBuildId": None},
        {"buildId": "v42"},  # the deprecated selection of the old versioning API
        {"selectAllActive": "true"},
    ],
)
def test_the_schema_refuses_a_half_or_deprecated_version_selection(change: dict[str, str | None]) -> None:
    scaled = json.loads(json.dumps(_kind("ScaledObject")[0]))
    jsonschema.validate(scaled, KEDA_SCHEMA)
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    for key, value in change.items():
        if value is None:
            del metadata[key]
        else:
            metadata[key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, KEDA_SCHEMA)
