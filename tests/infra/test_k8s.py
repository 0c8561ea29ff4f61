"""The Kubernetes manifests, checked offline: strict schemas of two Kubernetes versions, our own schema for
KEDA's ScaledObject, the security and availability rules every workload keeps, and the replica timeline the
worker autoscaling produces for a backlog curve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.infra.scaling import simulate

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
VERSIONS = ("1.34.0", "1.37.0")
KEDA_SCHEMA = json.loads((K8S / "schemas" / "keda-scaledobject.schema.json").read_text())


def _documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc) for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    ]


DOCS = _documents()
WORKLOADS = [(name, doc) for name, doc in DOCS if doc["kind"] in ("Deployment", "Job")]


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _name, doc in DOCS if doc["kind"] == kind]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_kubernetes_object_passes_the_strict_schema(version: str) -> None:
    checked = 0
    for name, doc in DOCS:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{name}: {doc['kind']} {doc['metadata']['name']}: {exc}") from exc
        checked += 1
    assert checked >= 10, f"only {checked} objects checked"


def test_strict_validation_refuses_a_misspelt_field() -> None:
    deployment = json.loads(json.dumps(_by_kind("Deployment")[0]))
    deployment["spec"]["replicaz"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_keda_objects_pass_our_schema_and_its_rules_bite() -> None:
    scaled = _by_kind("ScaledObject")
    assert scaled
    for doc in scaled:
        jsonschema.validate(doc, KEDA_SCHEMA)
        assert doc["spec"]["minReplicaCount"] <= doc["spec"]["maxReplicaCount"]
        assert doc["spec"]["scaleTargetRef"]["name"] in {d["metadata"]["name"] for d in _by_kind("Deployment")}
    unquoted = json.loads(json.dumps(scaled[0]))
    unquoted["spec"]["triggers"][0]["metadata"]["targetQueueSize"] = 20
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(unquoted, KEDA_SCHEMA)


@pytest.mark.parametrize("name,doc", WORKLOADS, ids=[f"{n}:{d['metadata']['name']}" for n, d in WORKLOADS])
def test_every_workload_runs_locked_down_with_resources(name: str, doc: dict[str, Any]) -> None:
    pod = doc["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        if doc["kind"] == "Deployment":
            assert "livenessProbe" in container and "startupProbe" in container, container["name"]


def test_every_deployment_has_a_disruption_budget_and_network_policies() -> None:
    def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())

    budgets = _by_kind("PodDisruptionBudget")
    policies = _by_kind("NetworkPolicy")
    for deployment in _by_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert any(selects(b["spec"]["selector"], labels) for b in budgets), deployment["metadata"]["name"]
        covering = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert any("Ingress" in p["spec"]["policyTypes"] and "ingress" in p["spec"] for p in covering)
        assert any(p["spec"].get("egress") for p in covering)
    deny = [p for p in policies if not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def _spike(at: int) -> int:
    """Quiet for 2 minutes, 600 queued tasks for 5, 100 for 13, then quiet again."""
    if at < 120:
        return 0
    if at < 420:
        return 600
    if at < 1200:
        return 100
    return 0


def test_the_workers_follow_a_backlog_spike_up_fast_and_down_slowly() -> None:
    # The current version's workflows workers; its activities workers follow the same rules.
    scaled = next(doc for name, doc in DOCS if name == "worker.yaml" and doc["kind"] == "ScaledObject")
    spec = scaled["spec"]
    timeline = simulate(scaled, _spike, 1800)
    replicas = [s.replicas for s in timeline]
    assert min(replicas) == spec["minReplicaCount"] and max(replicas) == spec["maxReplicaCount"]

    at = {s.at: s.replicas for s in timeline}
    # Up: from 2 to the 30 that 600 tasks / 20 per pod need, within a minute of the spike.
    assert at[105] == 2
    assert at[180] == 30
    assert all(at[t] >= at[t - 15] for t in range(135, 421, 15)), "never shrinks during the spike"
    # Down: the spike's recommendation holds for the 5-minute stabilisation window after it ends...
    assert all(at[t] == 30 for t in range(420, 705, 15))
    # ...then at most halves per minute, to the 5 pods that 100 tasks need...
    for t in range(720, 1801, 15):
        assert at[t] >= at[t - 60] // 2
    assert at[720] == 15 and at[900] == 5
    # ...and once the queue is empty, back to the minimum after another stabilisation window.
    assert all(at[t] == 5 for t in range(1200, 1485, 15))
    assert at[1800] == spec["minReplicaCount"]
