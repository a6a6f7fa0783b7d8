"""Security properties of the rendered chart: Pod Security "restricted", least-privilege RBAC, NetworkPolicies,
settings without secrets under the contract names."""

from __future__ import annotations

import copy
import re
from typing import Any

import helm_python
import pytest
from chartlib import VALUE_SETS, RenderChart, find, pod_specs, pss_restricted_violations, rbac_problems

TRAINING_NS = "medgrpo-training"

# The settings contract (the names the code reads; the ConfigMap carries exactly these, nothing secret).
SETTINGS_NAMES = {
    "MEDGRPO_MODEL_NAME",
    "MLFLOW_TRACKING_URI",
    "MEDGRPO_MLFLOW_UI_URL",
    "MEDGRPO_STATE_DIR",
    "MEDGRPO_WORK_URI",
    "MEDGRPO_DATA_ROOT",
    "MEDGRPO_RUNS_ROOT",
    "MEDGRPO_CHECKPOINT_ROOT",
    "MEDGRPO_S3_ENDPOINT_URL",
    "MEDGRPO_IMAGE",
    "MEDGRPO_DEFAULT_RECIPE",
    "MEDGRPO_GATE_POLICY",
    "MEDGRPO_DEID_POLICY",
    "MEDGRPO_ALLOW_REMOTE_CODE",
    "MEDGRPO_GPU_QUEUE",
    "MEDGRPO_GPU_POOL",
    "MEDGRPO_CLUSTER_POOL",
    "MEDGRPO_DEFAULT_BACKEND",
    "MEDGRPO_K8S_NAMESPACE",
    "MEDGRPO_K8S_IMAGE",
    "MEDGRPO_K8S_IMAGE_DIGEST",
    "MEDGRPO_K8S_IMAGE_PULL_POLICY",
    "MEDGRPO_K8S_SERVICE_ACCOUNT",
    "MEDGRPO_K8S_GPU_COUNT",
    "MEDGRPO_K8S_GPU_RESOURCE",
    "MEDGRPO_K8S_NODE_SELECTOR",
    "MEDGRPO_K8S_TOLERATIONS",
    "MEDGRPO_K8S_PRIORITY_CLASS",
    "MEDGRPO_K8S_CPU_REQUEST",
    "MEDGRPO_K8S_CPU_LIMIT",
    "MEDGRPO_K8S_MEMORY_REQUEST",
    "MEDGRPO_K8S_MEMORY_LIMIT",
    "MEDGRPO_K8S_SHM_SIZE",
    "MEDGRPO_K8S_EPHEMERAL_STORAGE",
    "MEDGRPO_K8S_ENV",
    "MEDGRPO_K8S_ENV_SECRETS",
    "MEDGRPO_K8S_KUEUE_QUEUE",
    "MEDGRPO_K8S_PENDING_TIMEOUT",
    "MEDGRPO_K8S_TRAINING_OPERATOR",
    "MEDGRPO_K8S_NUM_NODES",
    "MEDGRPO_K8S_RUNTIME_REF",
    "MEDGRPO_K8S_CLUSTER_VERSION",
    "MEDGRPO_K8S_KUBECONFIG",
    "MEDGRPO_K8S_CONN_ID",
    "MEDGRPO_K8S_CLUSTER_JOBS",
}
SECRET_NAMES = {"MEDGRPO_ID_SECRET", "MEDGRPO_DEID_SECRET", "MEDGRPO_WEBHOOK_SECRET"}


# --- Pod Security "restricted" -------------------------------------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_pod_template_meets_pod_security_restricted(
    rendered_sets: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    templates = [(obj, spec) for obj in rendered_sets[value_set] for spec in pod_specs(obj)]
    assert templates, f"{value_set}: no pod templates rendered"
    for obj, spec in templates:
        assert pss_restricted_violations(spec, f"{obj['kind']}/{obj['metadata']['name']}") == []


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_pods_harden_beyond_restricted(rendered_sets: dict[str, list[dict[str, Any]]], value_set: str) -> None:
    """Read-only root filesystem with writable emptyDirs, no API token, non-root high UID."""
    for obj in rendered_sets[value_set]:
        for spec in pod_specs(obj):
            assert spec["automountServiceAccountToken"] is False
            mounts_by_volume = {}
            for container in spec["containers"]:
                sc = container["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True and sc["runAsUser"] >= 10000
                for mount in container.get("volumeMounts", []):
                    mounts_by_volume[mount["name"]] = mount
            empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
            assert "tmp" in empty_dirs and mounts_by_volume["tmp"]["mountPath"] == "/tmp"
            for volume in spec["volumes"]:
                if "emptyDir" not in volume:
                    assert mounts_by_volume[volume["name"]].get("readOnly") is True, volume["name"]


def _restricted_pod() -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "x@sha256:" + "0" * 64,
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation"),
        (lambda p: p["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
        (lambda p: p["securityContext"].pop("seccompProfile"), "seccompProfile"),
        (lambda p: p["containers"][0]["securityContext"].update(capabilities={"drop": ["NET_RAW"]}), "drop"),
        (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "add"),
        (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
        (lambda p: p.update(hostNetwork=True), "hostNetwork"),
        (lambda p: p["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort"),
        (lambda p: p.update(initContainers=[{"name": "init", "image": "x"}]), "initContainers[init]"),
    ],
)
def test_the_pod_security_check_catches_each_violation(change: Any, expected: str) -> None:
    """The PSS check can fail: each single deviation from "restricted" is reported."""
    assert pss_restricted_violations(_restricted_pod()) == []
    pod = copy.deepcopy(_restricted_pod())
    change(pod)
    problems = pss_restricted_violations(pod)
    assert problems and any(expected in p for p in problems), problems


# --- RBAC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_rbac_is_least_privilege(rendered_sets: dict[str, list[dict[str, Any]]], value_set: str) -> None:
    objects = rendered_sets[value_set]
    rbac = [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]
    assert {o["kind"] for o in rbac} == {"Role", "RoleBinding"}
    assert rbac_problems(rbac, TRAINING_NS) == []


def _granted(objects: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    role = find(objects, "Role")[0]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_airflow_may_manage_pods_logs_and_events_only_by_default(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    granted = _granted(rendered_sets["defaults"])
    assert granted == {
        ("", "pods"): {"create", "delete", "get", "list", "patch", "watch"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"get", "list", "watch"},
    }
    binding = find(rendered_sets["defaults"], "RoleBinding")[0]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "airflow"},
        {"kind": "ServiceAccount", "name": "airflow-triggerer", "namespace": "airflow"},
    ]


def test_multi_node_adds_exactly_the_configured_operators_jobs(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    trainer = _granted(rendered_sets["multinode-trainer"])
    assert ("trainer.kubeflow.org", "trainjobs") in trainer
    assert not any(group == "kubeflow.org" for group, _ in trainer)
    pytorch = _granted(rendered_sets["multinode-pytorchjob"])
    assert ("kubeflow.org", "pytorchjobs") in pytorch
    assert not any(group == "trainer.kubeflow.org" for group, _ in pytorch)


def test_the_rbac_check_catches_wildcards_secrets_and_cluster_roles() -> None:
    """The RBAC check can fail."""
    role = {
        "kind": "Role",
        "metadata": {"name": "r", "namespace": TRAINING_NS},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}],
    }
    assert any("wildcard" in p for p in rbac_problems([role], TRAINING_NS))
    role["rules"] = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert any("secrets" in p for p in rbac_problems([role], TRAINING_NS))
    assert any("namespace" in p for p in rbac_problems([role], "elsewhere"))
    cluster = {"kind": "ClusterRole", "metadata": {"name": "c"}, "rules": []}
    assert any("cluster-wide" in p for p in rbac_problems([cluster], TRAINING_NS))


# --- NetworkPolicies -----------------------------------------------------------------------------


def _policies(objects: list[dict[str, Any]], namespace: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o["spec"]
        for o in find(objects, "NetworkPolicy")
        if o["metadata"]["namespace"] == namespace
    }


def test_training_namespace_is_default_deny_with_named_exceptions(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    policies = _policies(rendered_sets["defaults"], TRAINING_NS)
    assert policies["medgrpo-training-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert set(policies) == {
        "medgrpo-training-default-deny",
        "medgrpo-training-egress-dns",
        "medgrpo-training-egress-object-storage",
        "medgrpo-training-egress-mlflow",
    }
    for name, spec in policies.items():
        assert "ingress" not in spec, f"{name}: single-node training pods accept no traffic"
    dns = policies["medgrpo-training-egress-dns"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    storage = policies["medgrpo-training-egress-object-storage"]["egress"][0]
    assert [p["port"] for p in storage["ports"]] == [443]
    assert "169.254.0.0/16" in storage["to"][0]["ipBlock"]["except"], "instance metadata stays unreachable"
    mlflow = policies["medgrpo-training-egress-mlflow"]["egress"][0]
    assert mlflow["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "mlflow"
    assert mlflow["ports"] == [{"protocol": "TCP", "port": 5000}]


@pytest.mark.parametrize(
    ("value_set", "label_key"),
    [
        ("multinode-trainer", "jobset.sigs.k8s.io/jobset-name"),
        ("multinode-pytorchjob", "training.kubeflow.org/job-name"),
    ],
)
def test_multi_node_job_pods_reach_each_other_and_nothing_else_does(
    rendered_sets: dict[str, list[dict[str, Any]]], value_set: str, label_key: str
) -> None:
    peers = _policies(rendered_sets[value_set], TRAINING_NS)["medgrpo-training-job-peers"]
    job_pods = {"matchExpressions": [{"key": label_key, "operator": "Exists"}]}
    assert peers["podSelector"] == job_pods
    assert peers["ingress"] == [{"from": [{"podSelector": job_pods}]}]
    assert peers["egress"] == [{"to": [{"podSelector": job_pods}]}]


def test_a_jobs_vllm_server_is_reachable_on_its_two_ports_only(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    """vllm_mode server: the server Pod (component vllm-server) takes HTTP and the NCCL group from job pods."""
    from medgrpo.launch.plan import VLLM_GROUP_PORT, VLLM_PORT

    assert not any("vllm" in name for name in _policies(rendered_sets["defaults"], TRAINING_NS))
    policies = _policies(rendered_sets["multinode-trainer"], TRAINING_NS)
    ports = [{"protocol": "TCP", "port": VLLM_PORT}, {"protocol": "TCP", "port": VLLM_GROUP_PORT}]
    job_pods = {"matchExpressions": [{"key": "jobset.sigs.k8s.io/jobset-name", "operator": "Exists"}]}
    server = policies["medgrpo-training-vllm-server"]
    assert server["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "vllm-server"}}
    assert server["ingress"] == [{"from": [{"podSelector": job_pods}], "ports": ports}]
    callers = policies["medgrpo-training-egress-vllm-server"]
    assert callers["podSelector"] == job_pods
    assert callers["egress"] == [
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "vllm-server"}}}], "ports": ports}
    ]
    # the launcher creates the server's Service, so Airflow may manage Services, with multi-node only
    assert _granted(rendered_sets["multinode-trainer"])[("", "services")] == {"create", "delete", "get", "list"}
    assert ("", "services") not in _granted(rendered_sets["defaults"])


def test_judge_egress_is_opt_in_and_names_its_endpoint(
    rendered_sets: dict[str, list[dict[str, Any]]], render_chart: RenderChart
) -> None:
    assert "medgrpo-training-egress-judge" not in _policies(rendered_sets["defaults"], TRAINING_NS)
    judge = _policies(rendered_sets["production"], TRAINING_NS)["medgrpo-training-egress-judge"]
    assert judge["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.30.0.10/32"}}], "ports": [{"protocol": "TCP", "port": 8443}]}
    ]
    with pytest.raises(helm_python.HelmError, match=r"networkPolicy\.judge\.enabled needs"):
        render_chart({"networkPolicy": {"judge": {"enabled": True}}})


def test_mlflow_accepts_airflow_and_training_and_calls_only_its_dependencies(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    policies = _policies(rendered_sets["defaults"], "medgrpo")
    mlflow_pods = {
        "matchLabels": {
            "app.kubernetes.io/name": "medgrpo",
            "app.kubernetes.io/instance": "medgrpo",
            "app.kubernetes.io/component": "mlflow",
        }
    }
    assert all(spec["podSelector"] == mlflow_pods for spec in policies.values()), "only MLflow pods are governed"
    assert policies["medgrpo-mlflow-default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    sources = policies["medgrpo-mlflow-ingress"]["ingress"][0]["from"]
    assert sources == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}},
            "podSelector": {"matchLabels": {"tier": "airflow"}},
        },
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": TRAINING_NS}}},
    ]
    webhook = policies["medgrpo-mlflow-egress-airflow-api"]["egress"][0]
    assert webhook["to"][0]["podSelector"]["matchLabels"] == {"tier": "airflow", "component": "api-server"}
    assert webhook["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert policies["medgrpo-mlflow-egress-database"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    egress_names = {n for n, s in policies.items() if "egress" in s}
    assert egress_names == {
        "medgrpo-mlflow-egress-dns",
        "medgrpo-mlflow-egress-database",
        "medgrpo-mlflow-egress-object-storage",
        "medgrpo-mlflow-egress-airflow-api",
    }


def test_network_policies_can_be_left_to_the_platform(render_chart: RenderChart) -> None:
    assert find(render_chart({"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []


# --- Settings ConfigMap --------------------------------------------------------------------------


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_settings_carry_the_contract_names_and_no_secret(
    rendered_sets: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    settings = find(rendered_sets[value_set], "ConfigMap", "medgrpo-settings")
    assert len(settings) == 1 and settings[0]["metadata"]["namespace"] == "airflow"
    data = settings[0]["data"]
    assert set(data) == SETTINGS_NAMES
    assert not set(data) & SECRET_NAMES
    assert all(isinstance(v, str) for v in data.values())
    for key, value in data.items():
        assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{key} carries credentials in a URL"
    assert data["MEDGRPO_ALLOW_REMOTE_CODE"] == "false"
    assert data["MEDGRPO_WORK_URI"].startswith("s3://")


def test_settings_follow_the_values(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    defaults = find(rendered_sets["defaults"], "ConfigMap", "medgrpo-settings")[0]["data"]
    assert defaults["MLFLOW_TRACKING_URI"] == "http://medgrpo-mlflow.medgrpo.svc.cluster.local:5000"
    assert defaults["MEDGRPO_K8S_NUM_NODES"] == "1"
    assert defaults["MEDGRPO_K8S_TOLERATIONS"] == '[{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]'
    multi = find(rendered_sets["multinode-pytorchjob"], "ConfigMap", "medgrpo-settings")[0]["data"]
    assert multi["MEDGRPO_K8S_NUM_NODES"] == "2" and multi["MEDGRPO_K8S_TRAINING_OPERATOR"] == "pytorchjob"
    production = find(rendered_sets["production"], "ConfigMap", "medgrpo-settings")[0]["data"]
    assert production["MEDGRPO_MLFLOW_UI_URL"] == "https://mlflow.hospital.example"
    assert production["MEDGRPO_K8S_NODE_SELECTOR"] == '{"node.kubernetes.io/instance-type":"p5.48xlarge"}'
    assert production["MEDGRPO_K8S_KUEUE_QUEUE"] == "gpu-training"
