"""helm/medgrpo renders under every value set, lints clean, and each object validates against Kubernetes' schema."""

from __future__ import annotations

import base64
import json
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from chartlib import (
    CHART_DIR,
    DIGEST_MLFLOW,
    DIGEST_TRAINING,
    NAMESPACE,
    VALUE_SETS,
    RenderChart,
    find,
)

TRAINING_NS = "medgrpo-training"
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema kubernetes-validate ships.
KUBE_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version() + ".0")


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_object_validates_against_the_kubernetes_schema(
    rendered_sets: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    objects = rendered_sets[value_set]
    assert len(objects) >= 15, f"{value_set}: only {len(objects)} objects rendered"
    for version in KUBE_VERSIONS:
        for obj in objects:
            where = f"{value_set}: {obj['kind']}/{obj['metadata']['name']} (Kubernetes {version})"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{where}: {err.message} at {list(err.path)}")


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_namespaced_object_names_its_namespace(
    rendered_sets: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    cluster_scoped = {"Namespace", "PriorityClass"}
    for obj in rendered_sets[value_set]:
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"].get("namespace"), f"{obj['kind']}/{obj['metadata']['name']} has no namespace"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_lint_is_clean(value_set: str) -> None:
    report = helm_python.lint(CHART_DIR, VALUE_SETS[value_set], strict=True, namespace=NAMESPACE)
    findings = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and findings == [], json.dumps(report, indent=2)


def test_lint_reports_a_broken_value() -> None:
    """The lint check can fail: a value the schema forbids is reported."""
    report = helm_python.lint(CHART_DIR, {"kubeflow": {"operator": "mpi"}}, strict=True)
    assert any(m["severity"] == 3 and "kubeflow" in m["error"] for m in report["messages"]), report


def test_render_rejects_values_outside_the_schema(render_chart: RenderChart) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="workUri"):
        render_chart({"settings": {"workUri": "/data/medgrpo"}})
    with pytest.raises(helm_python.HelmValuesError, match="not allowed"):
        render_chart({"mlflow": {"imageTag": "3.17.2"}})


def test_defaults_reference_images_by_tag_and_pull_always(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    deployment = find(rendered_sets["defaults"], "Deployment", "medgrpo-mlflow")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "medgrpo/mlflow-server:3.17.2"
    assert container["imagePullPolicy"] == "Always"
    skip = deployment["metadata"]["annotations"]["checkov.io/skip1"]
    assert skip.startswith("CKV_K8S_43=")


def test_digests_pin_images_and_drop_the_digest_skip(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered_sets["production"]
    deployment = find(objects, "Deployment", "medgrpo-mlflow")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"medgrpo/mlflow-server@{DIGEST_MLFLOW}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert "checkov.io/skip1" not in deployment["metadata"].get("annotations", {})
    settings = find(objects, "ConfigMap", "medgrpo-settings")[0]["data"]
    assert settings["MEDGRPO_K8S_IMAGE_DIGEST"] == DIGEST_TRAINING
    assert settings["MEDGRPO_IMAGE"] == f"medgrpo/medgrpo-train@{DIGEST_TRAINING}"
    assert settings["MEDGRPO_K8S_IMAGE"] == "medgrpo/medgrpo-train:0.1.0"


def test_mlflow_reads_every_credential_from_secret_files(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    for value_set, objects in rendered_sets.items():
        pod = find(objects, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert not container.get("envFrom"), value_set
        assert not [e for e in container["env"] if "valueFrom" in e], f"{value_set}: env from a Secret"
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        assert set(secrets) >= {"backend-store", "auth", "webhooks"}, value_set


def test_existing_secrets_replace_the_chart_named_ones(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    defaults = rendered_sets["defaults"]
    pod = find(defaults, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {
        "backend-store": "medgrpo-mlflow-db",
        "auth": "medgrpo-mlflow-auth",
        "webhooks": "medgrpo-mlflow-webhooks",
    }
    generated = find(defaults, "Secret", "medgrpo-mlflow-auth")
    assert len(generated) == 1 and set(generated[0]["data"]) == {"admin-username", "admin-password", "flask-secret-key"}

    existing = rendered_sets["existing-secrets"]
    pod = find(existing, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {
        "backend-store": "mlflow-postgres-urls",
        "auth": "mlflow-admin",
        "webhooks": "mlflow-webhook-key",
        "aws": "mlflow-aws-credentials",
    }
    assert find(existing, "Secret") == [], "the chart must not create a Secret when one is brought"
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/etc/medgrpo/secrets/aws/credentials"


def test_auth_can_be_turned_off_and_then_mounts_no_auth_secret(render_chart: RenderChart) -> None:
    objects = render_chart({"mlflow": {"auth": {"enabled": False}}})
    pod = find(objects, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["MEDGRPO_MLFLOW_AUTH"] == "false"
    assert [v["name"] for v in pod["volumes"] if "secret" in v] == ["backend-store", "webhooks"]
    assert [s["metadata"]["name"] for s in find(objects, "Secret")] == ["medgrpo-mlflow-webhooks"]


def test_webhooks_reach_in_cluster_airflow_with_a_kept_encryption_key(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    from cryptography.fernet import Fernet

    objects = rendered_sets["defaults"]
    container = find(objects, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"] == "http,https"
    assert env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] == "true"
    secret = find(objects, "Secret", "medgrpo-mlflow-webhooks")[0]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    key = base64.b64decode(secret["data"]["encryption-key"])
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"hmac secret")) == b"hmac secret"


def test_workload_identity_annotates_the_training_service_account(render_chart: RenderChart) -> None:
    cases = {
        "aws": ("arn:aws:iam::123456789012:role/t", "eks.amazonaws.com/role-arn"),
        "gcp": ("trainer@proj.iam.gserviceaccount.com", "iam.gke.io/gcp-service-account"),
        "azure": ("00000000-0000-0000-0000-000000000001", "azure.workload.identity/client-id"),
    }
    for provider, (identity, annotation) in cases.items():
        values = {"training": {"serviceAccount": {"workloadIdentity": {"provider": provider, "identity": identity}}}}
        account = find(render_chart(values), "ServiceAccount", "medgrpo-training")[0]
        assert account["metadata"]["annotations"] == {annotation: identity}
        assert account["automountServiceAccountToken"] is False
    without = find(render_chart({}), "ServiceAccount", "medgrpo-training")[0]
    assert "annotations" not in without["metadata"]


def test_workload_identity_without_an_identity_fails_with_a_clear_message(render_chart: RenderChart) -> None:
    values = {"training": {"serviceAccount": {"workloadIdentity": {"provider": "aws"}}}}
    with pytest.raises(helm_python.HelmError, match=r"workloadIdentity\.identity must name the identity"):
        render_chart(values)


def test_training_namespace_enforces_pod_security_restricted(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    namespace = find(rendered_sets["defaults"], "Namespace", TRAINING_NS)[0]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_quota_limits_gpus_and_the_launcher_uses_the_priority_class(
    rendered_sets: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered_sets["defaults"]
    quota = find(objects, "ResourceQuota")[0]
    assert quota["metadata"]["namespace"] == TRAINING_NS
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "8"
    limits = find(objects, "LimitRange")[0]["spec"]["limits"][0]
    assert {"default", "defaultRequest", "max"} <= set(limits)
    priority = find(objects, "PriorityClass")[0]
    settings = find(objects, "ConfigMap", "medgrpo-settings")[0]["data"]
    assert settings["MEDGRPO_K8S_PRIORITY_CLASS"] == priority["metadata"]["name"]
    assert priority["globalDefault"] is False


def test_mlflow_probes_resources_and_service(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered_sets["defaults"]
    container = find(objects, "Deployment", "medgrpo-mlflow")[0]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    service = find(objects, "Service", "medgrpo-mlflow")[0]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert "medgrpo-mlflow.medgrpo.svc.cluster.local:*" in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def test_schema_validation_catches_a_misspelt_field(rendered_sets: dict[str, list[dict[str, Any]]]) -> None:
    """The Kubernetes schema check can fail: a rendered Deployment with a misspelt field is rejected."""
    deployment = find(rendered_sets["defaults"], "Deployment", "medgrpo-mlflow")[0]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[0], strict=True)
