"""Shared facts and helpers of the Helm chart tests: paths, value sets, parsing and object lookups."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm" / "medgrpo"
AIRFLOW_VALUES = REPO_ROOT / "helm" / "airflow-values.yaml"
VENDOR_DIR = REPO_ROOT.parent / "shared" / "vendor"
RELEASE = "medgrpo"
NAMESPACE = "medgrpo"

# render_chart(values, show_only=[...]) -> the rendered objects (the conftest fixture).
RenderChart = Callable[..., list[dict[str, Any]]]

DIGEST_MLFLOW = "sha256:" + "a" * 64
DIGEST_TRAINING = "sha256:" + "b" * 64

# The value sets every test renders: defaults and the shapes a deployment takes.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "multinode-trainer": {"kubeflow": {"enabled": True, "operator": "trainer-v2", "numNodes": 4}},
    "multinode-pytorchjob": {"kubeflow": {"enabled": True, "operator": "pytorchjob", "numNodes": 2}},
    "existing-secrets": {
        "mlflow": {
            "backendStore": {"existingSecret": "mlflow-postgres-urls"},
            "auth": {"existingSecret": "mlflow-admin"},
            "webhooks": {"existingSecret": "mlflow-webhook-key"},
            "artifacts": {"awsCredentialsSecret": "mlflow-aws-credentials"},
        }
    },
    "workload-identity": {
        "training": {
            "serviceAccount": {
                "workloadIdentity": {"provider": "aws", "identity": "arn:aws:iam::123456789012:role/medgrpo-training"}
            }
        },
        "mlflow": {
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/mlflow"}}
        },
    },
    "production": {
        "settings": {"workUri": "s3://hospital-ml/medgrpo", "mlflowUiUrl": "https://mlflow.hospital.example"},
        "mlflow": {
            "replicas": 2,
            "image": {"digest": DIGEST_MLFLOW},
            "allowedHosts": ["mlflow.hospital.example"],
            "backendStore": {"existingSecret": "mlflow-postgres-urls"},
            "auth": {"existingSecret": "mlflow-admin"},
            "webhooks": {"existingSecret": "mlflow-webhook-key"},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/mlflow"}},
            "artifacts": {"destination": "s3://hospital-ml-artifacts/mlflow", "awsRegion": "eu-central-1"},
        },
        "training": {
            "image": {"digest": DIGEST_TRAINING},
            "nodeSelector": {"node.kubernetes.io/instance-type": "p5.48xlarge"},
            "serviceAccount": {
                "workloadIdentity": {"provider": "aws", "identity": "arn:aws:iam::123456789012:role/medgrpo-training"}
            },
            "kueueQueue": "gpu-training",
        },
        "kubeflow": {"enabled": True, "operator": "trainer-v2", "numNodes": 2},
        "networkPolicy": {
            "objectStorage": {"cidrs": ["52.219.0.0/16"]},
            "database": {"cidrs": ["10.20.0.0/24"]},
            "judge": {"enabled": True, "cidrs": ["10.30.0.10/32"], "ports": [8443]},
            "ingressController": {
                "namespaceSelector": {"kubernetes.io/metadata.name": "ingress-nginx"},
                "podSelector": {"app.kubernetes.io/name": "ingress-nginx"},
            },
        },
    },
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base`` (maps merge, everything else replaces)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_manifests(manifests: dict[str, str], show_only: list[str] | None = None) -> list[dict[str, Any]]:
    """The Kubernetes objects in Helm's rendered output, in template order (NOTES.txt and empty documents left out)."""
    objects: list[dict[str, Any]] = []
    prefix = f"{CHART_DIR.name}/"
    for path in sorted(manifests):
        relative = path.removeprefix(prefix)
        if relative.endswith("NOTES.txt") or (show_only is not None and relative not in show_only):
            continue
        for document in yaml.safe_load_all(manifests[path]):
            if document:
                objects.append(document)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Objects of one kind (and name)."""
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs an object carries (a Pod's own, a workload's template, a CronJob's job template)."""
    kind = obj["kind"]
    spec = obj.get("spec", {})
    if kind == "Pod":
        return [spec]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


# Pod Security Standards, "restricted" profile (Kubernetes 1.29+), as the admission controller checks it.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pss_restricted_violations(pod_spec: dict[str, Any], where: str = "pod") -> list[str]:
    """Every way ``pod_spec`` breaks Pod Security "restricted" (baseline included); empty when it passes."""
    problems: list[str] = []
    pod_sc = pod_spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            problems.append(f"{where}: spec.{field} is true")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(
                f"{where}: volume {volume['name']} has type {sorted(kinds)}, restricted allows only "
                f"{sorted(RESTRICTED_VOLUME_TYPES)}"
            )
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"{where}: unsafe sysctl {sysctl.get('name')}")
    problems += _selinux_and_apparmor(pod_sc, f"{where}.securityContext")
    if pod_sc.get("runAsUser") == 0:
        problems.append(f"{where}: securityContext.runAsUser is 0")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"{where}: securityContext.seccompProfile.type is {pod_seccomp}")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{where}: windowsOptions.hostProcess is true")
    containers = [
        (kind, c) for kind in ("initContainers", "containers", "ephemeralContainers") for c in pod_spec.get(kind) or []
    ]
    if not containers:
        problems.append(f"{where}: no containers")
    for kind, container in containers:
        name = f"{where}.{kind}[{container.get('name')}]"
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true (container or pod)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(
                f"{name}: seccompProfile.type is {seccomp} (container or pod must set RuntimeDefault/Localhost)"
            )
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities.drop does not include ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{name}: capabilities.add {sorted(added)}")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"{name}: procMount {sc.get('procMount')}")
        problems += _selinux_and_apparmor(sc, f"{name}.securityContext")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def _selinux_and_apparmor(security_context: dict[str, Any], where: str) -> list[str]:
    problems = []
    selinux = security_context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        problems.append(f"{where}: seLinuxOptions {selinux}")
    apparmor = (security_context.get("appArmorProfile") or {}).get("type")
    if apparmor == "Unconfined":
        problems.append(f"{where}: appArmorProfile Unconfined")
    return problems


# RBAC: what the chart may grant Airflow (least privilege: namespaced, named verbs and resources only).
FORBIDDEN_RESOURCES = {
    "secrets",
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "pods/ephemeralcontainers",
    "serviceaccounts",
    "serviceaccounts/token",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "nodes",
    "nodes/proxy",
    "persistentvolumes",
    "networkpolicies",
    "namespaces",
    "resourcequotas",
    "limitranges",
}
FORBIDDEN_VERBS = {"escalate", "bind", "impersonate", "deletecollection"}


def rbac_problems(objects: list[dict[str, Any]], namespace: str) -> list[str]:
    """Every way the RBAC objects go beyond least privilege in ``namespace``; empty when they do not."""
    problems = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in {"ClusterRole", "ClusterRoleBinding"}:
            problems.append(f"{kind} {name}: cluster-wide RBAC")
        if kind in {"Role", "RoleBinding"} and obj["metadata"].get("namespace") != namespace:
            problems.append(f"{kind} {name}: in namespace {obj['metadata'].get('namespace')}, expected {namespace}")
        if kind == "RoleBinding" and obj["roleRef"]["kind"] != "Role":
            problems.append(f"RoleBinding {name}: binds a {obj['roleRef']['kind']}")
        for rule in obj.get("rules") or [] if kind in {"Role", "ClusterRole"} else []:
            for field in ("verbs", "resources", "apiGroups"):
                if "*" in rule.get(field, []):
                    problems.append(f"{kind} {name}: wildcard in {field}: {rule}")
            bad_resources = set(rule.get("resources", [])) & FORBIDDEN_RESOURCES
            if bad_resources:
                problems.append(f"{kind} {name}: grants {sorted(bad_resources)}")
            bad_verbs = set(rule.get("verbs", [])) & FORBIDDEN_VERBS
            if bad_verbs:
                problems.append(f"{kind} {name}: verbs {sorted(bad_verbs)}")
            if rule.get("nonResourceURLs"):
                problems.append(f"{kind} {name}: nonResourceURLs {rule['nonResourceURLs']}")
    return problems
