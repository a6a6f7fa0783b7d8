"""helm/airflow-values.yaml validates against the official Airflow chart's own values.schema.json and wires
Airflow to what the medgrpo chart renders (settings ConfigMap, service accounts, MLflow peers).

The official schema is read from ../shared/vendor/apache-airflow-chart/ (vendored data, not copied here).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from chartlib import AIRFLOW_VALUES, REPO_ROOT, VENDOR_DIR, find

AIRFLOW_CHART = VENDOR_DIR / "apache-airflow-chart"
SCHEMA_FILE = AIRFLOW_CHART / "values.schema.json"


@pytest.fixture(scope="module")
def airflow_schema() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.skip(
            f"the official Airflow chart's values.schema.json is not at {SCHEMA_FILE} "
            "(shared/vendor/apache-airflow-chart is absent): cannot validate helm/airflow-values.yaml"
        )
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


@pytest.fixture(scope="module")
def airflow_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(AIRFLOW_VALUES.read_text())
    return values


def test_airflow_values_validate_against_the_official_chart_schema(
    airflow_schema: dict[str, Any], airflow_values: dict[str, Any]
) -> None:
    validator_class = jsonschema.validators.validator_for(airflow_schema)
    validator_class.check_schema(airflow_schema)
    errors = sorted(validator_class(airflow_schema).iter_errors(airflow_values), key=lambda e: list(e.path))
    assert errors == [], [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_every_top_level_key_is_one_the_chart_knows(
    airflow_schema: dict[str, Any], airflow_values: dict[str, Any]
) -> None:
    """The official schema allows unknown top-level keys; a misspelt one would be silently ignored."""
    unknown = set(airflow_values) - set(airflow_schema["properties"])
    assert unknown == set(), f"keys the Airflow chart does not define: {sorted(unknown)}"


def test_the_schema_check_can_fail(airflow_schema: dict[str, Any], airflow_values: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(airflow_values))
    broken["images"]["airflow"]["pullPolicy"] = "Sometimes"
    broken["dags"]["gitSync"]["depht"] = 1
    validator = jsonschema.validators.validator_for(airflow_schema)(airflow_schema)
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("Sometimes" in m for m in messages) and any("depht" in m for m in messages), messages


def test_image_executor_auth_and_dags(airflow_values: dict[str, Any]) -> None:
    image = airflow_values["images"]["airflow"]
    assert "medgrpo" in image["repository"] + image["tag"], "an image with medgrpo installed"
    assert (REPO_ROOT / "helm" / "images" / "airflow" / "Dockerfile").is_file()
    assert airflow_values["executor"] in {"CeleryExecutor", "KubernetesExecutor"}
    core = airflow_values["config"]["core"]
    assert core["auth_manager"] == "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    assert core["load_examples"] == "False"
    assert airflow_values["createUserJob"]["defaultUser"]["enabled"] is False, "no admin with a known password"
    git_sync = airflow_values["dags"]["gitSync"]
    assert git_sync["enabled"] is True and git_sync["subPath"] == "dags"
    assert airflow_values["postgresql"]["enabled"] is False and airflow_values["data"]["metadataSecretName"]


def test_env_comes_from_the_medgrpo_chart_and_secrets(
    airflow_values: dict[str, Any], rendered_sets: dict[str, list[dict[str, Any]]]
) -> None:
    settings = find(rendered_sets["defaults"], "ConfigMap", "medgrpo-settings")[0]
    env_from = yaml.safe_load(airflow_values["extraEnvFrom"])
    assert {"configMapRef": {"name": settings["metadata"]["name"]}} in env_from
    assert {"secretRef": {"name": "medgrpo-secrets"}} in env_from
    connections = {s["envName"]: s for s in airflow_values["secret"]}
    assert connections["AIRFLOW_CONN_MLFLOW_DEFAULT"]["secretName"] == "medgrpo-airflow-connections"
    plain_env = {e["name"]: e["value"] for e in airflow_values["env"]}
    assert json.loads(plain_env["AIRFLOW_CONN_KUBERNETES_DEFAULT"]) == {
        "conn_type": "kubernetes",
        "extra": {"in_cluster": True},
    }
    assert not any("PASSWORD" in name or "SECRET" in name for name in plain_env), "secrets only by reference"


def test_service_accounts_match_the_medgrpo_role_binding(
    airflow_values: dict[str, Any], rendered_sets: dict[str, list[dict[str, Any]]]
) -> None:
    binding = find(rendered_sets["defaults"], "RoleBinding")[0]
    bound = {s["name"] for s in binding["subjects"]}
    assert bound == {
        airflow_values["workers"]["serviceAccount"]["name"],
        airflow_values["triggerer"]["serviceAccount"]["name"],
    }


def test_api_server_admits_mlflow_webhooks(
    airflow_values: dict[str, Any], rendered_sets: dict[str, list[dict[str, Any]]]
) -> None:
    assert airflow_values["networkPolicies"]["enabled"] is True
    peers = airflow_values["apiServer"]["networkPolicy"]["ingress"]["from"]
    mlflow_pod = find(rendered_sets["defaults"], "Deployment", "medgrpo-mlflow")[0]
    mlflow_labels = mlflow_pod["spec"]["template"]["metadata"]["labels"]
    mlflow_namespace = mlflow_pod["metadata"]["namespace"]
    assert any(
        peer.get("namespaceSelector", {}).get("matchLabels") == {"kubernetes.io/metadata.name": mlflow_namespace}
        and peer.get("podSelector", {}).get("matchLabels", {}).items() <= mlflow_labels.items()
        and peer.get("podSelector", {}).get("matchLabels")
        for peer in peers
    ), peers


def test_airflow_pods_are_hardened_for_pod_security_restricted(airflow_values: dict[str, Any]) -> None:
    contexts = airflow_values["securityContexts"]
    assert contexts["pod"]["runAsNonRoot"] is True
    assert contexts["pod"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert contexts["containers"]["allowPrivilegeEscalation"] is False
    assert contexts["containers"]["capabilities"]["drop"] == ["ALL"]
