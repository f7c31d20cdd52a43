"""The Kubernetes manifests (deploy/k8s, issue #15 item 2): every overlay renders offline with
`kubectl kustomize`, validates strictly against the Kubernetes schemas (kubernetes-validate ships
them), and every container keeps the restricted Pod Security settings, resources and probes on
the health service; every key comes from a Secret; the coordinator is reachable from outside
with TLS passed through."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]  # no stubs published
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with its built-in kustomize) is not installed; "
                                                        "it is not a pip package")
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
TANJI_IMAGE = "tanji"


def render(overlay: str) -> list[dict]:
    out = subprocess.run([KUBECTL or "kubectl", "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def pods(docs: list[dict]):
    for doc in docs:
        if doc["kind"] in POD_KINDS:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_there_are_the_two_overlays():
    assert set(OVERLAYS) == {"sqlite", "postgres"}


def test_every_object_validates_strictly(rendered):
    _, docs = rendered
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_namespace_enforces_the_restricted_profile(rendered):
    _, docs = rendered
    [ns] = [d for d in docs if d["kind"] == "Namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"tanji"}


def test_every_container_is_restricted_with_resources(rendered):
    _, docs = rendered
    seen = 0
    for name, spec in pods(docs):
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        for c in spec.get("initContainers", []) + spec["containers"]:
            seen += 1
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), where
            assert (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")) is True, where
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert isinstance(uid, int) and uid > 0, where
            if c["image"].split(":")[0] == TANJI_IMAGE:
                assert uid >= 10001, where
            profile = sc.get("seccompProfile") or pod_sc.get("seccompProfile")
            assert profile == {"type": "RuntimeDefault"}, where
            assert not sc.get("privileged"), where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, name
    assert seen >= 2


def test_tanji_daemons_are_probed_on_the_health_service(rendered):
    _, docs = rendered
    for name, spec in pods(docs):
        for c in spec["containers"]:
            if c["image"].split(":")[0] != TANJI_IMAGE:
                continue
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env["TANJI_HEALTH_LISTEN"] == "0.0.0.0:8081" and env["TANJI_METRICS_LISTEN"] == "0.0.0.0:8082"
            assert c["startupProbe"]["grpc"]["port"] == 8081, name
            assert c["readinessProbe"]["grpc"]["port"] == 8081, name
            assert "livenessProbe" in c, name
            assert {p["containerPort"] for p in c["ports"]} >= {8081, 8082}, name


def test_every_key_comes_from_a_secret(rendered):
    _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"], "no secret is kept in the repository"
    for name, spec in pods(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            for mount in c.get("volumeMounts", []):
                if mount["mountPath"].endswith((".pem", ".key")) or mount["mountPath"] == "/etc/tanji/tls":
                    assert "secret" in volumes[mount["name"]], f"{name}: {mount['mountPath']}"
            for e in c.get("env", []):
                if any(word in e["name"] for word in ("PASSWORD", "DATABASE_URL", "KEY")):
                    assert "secretKeyRef" in e.get("valueFrom", {}), f"{name}: {e['name']}"


def test_disruption_budgets_network_policies_and_external_exposure(rendered):
    overlay, docs = rendered
    kinds = [d["kind"] for d in docs]
    workloads = {d["metadata"]["name"] for d in docs if d["kind"] in POD_KINDS}
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert workloads <= budgets
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert kinds.count("NetworkPolicy") >= 4
    [service] = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "coordinator"]
    assert service["spec"]["type"] == "LoadBalancer"  # layer 4: mutual TLS end to end
    assert [p["port"] for p in service["spec"]["ports"]] == [7300]
    [coordinator] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "tanji-coordinator"]
    if overlay == "sqlite":
        assert coordinator["spec"]["replicas"] == 1 and coordinator["spec"]["strategy"]["type"] == "Recreate"
        state = [v for v in coordinator["spec"]["template"]["spec"]["volumes"] if v["name"] == "state"][0]
        assert "persistentVolumeClaim" in state
    else:
        assert coordinator["spec"]["replicas"] >= 2
        env = coordinator["spec"]["template"]["spec"]["containers"][0]["env"]
        assert any(e["name"] == "TANJI_DATABASE_URL" for e in env)
        assert "StatefulSet" in kinds
