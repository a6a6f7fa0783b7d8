"""MEDGRPO_K8S_* settings: defaults are safe, every value is checked with a message naming the
variable, and the one list of names matches the coordination contract and docs/kubernetes.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from medgrpo.launch.k8s_settings import SETTINGS, K8sSettings, K8sSettingsError

ROOT = Path(__file__).resolve().parents[3]

#: The contract in .helper_notes/COORDINATION.md (the Helm ConfigMap carries the same names).
CONTRACT = {
    "MEDGRPO_K8S_NAMESPACE", "MEDGRPO_K8S_IMAGE", "MEDGRPO_K8S_IMAGE_DIGEST", "MEDGRPO_K8S_IMAGE_PULL_POLICY",
    "MEDGRPO_K8S_SERVICE_ACCOUNT", "MEDGRPO_K8S_GPU_COUNT", "MEDGRPO_K8S_GPU_RESOURCE", "MEDGRPO_K8S_NODE_SELECTOR",
    "MEDGRPO_K8S_TOLERATIONS", "MEDGRPO_K8S_PRIORITY_CLASS", "MEDGRPO_K8S_CPU_REQUEST", "MEDGRPO_K8S_CPU_LIMIT",
    "MEDGRPO_K8S_MEMORY_REQUEST", "MEDGRPO_K8S_MEMORY_LIMIT", "MEDGRPO_K8S_SHM_SIZE", "MEDGRPO_K8S_EPHEMERAL_STORAGE",
    "MEDGRPO_K8S_ENV", "MEDGRPO_K8S_ENV_SECRETS", "MEDGRPO_K8S_KUEUE_QUEUE", "MEDGRPO_K8S_PENDING_TIMEOUT",
    "MEDGRPO_K8S_TRAINING_OPERATOR", "MEDGRPO_K8S_NUM_NODES", "MEDGRPO_K8S_RUNTIME_REF", "MEDGRPO_K8S_CLUSTER_VERSION",
    "MEDGRPO_K8S_KUBECONFIG", "MEDGRPO_K8S_CONN_ID", "MEDGRPO_K8S_CLUSTER_JOBS",
}  # fmt: skip


def test_names_match_the_contract() -> None:
    assert {s.env for s in SETTINGS} == CONTRACT


def test_docs_table_lists_every_setting_once_with_its_default() -> None:
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    rows = re.findall(r"^\| `(MEDGRPO_K8S_[A-Z_]+)` \| ([^|]*) \|", text, flags=re.M)
    assert [name for name, _ in rows] == [s.env for s in SETTINGS]
    for (_, default), setting in zip(rows, SETTINGS, strict=True):
        shown = default.strip().strip("`")
        assert shown == (setting.default or "(empty)"), f"{setting.env}: docs say {shown!r}, code {setting.default!r}"


def test_defaults_are_safe_and_usable() -> None:
    settings = K8sSettings.from_env({})
    assert settings.namespace == "medgrpo-training" and settings.gpu_count == 1
    assert settings.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert settings.image == "medgrpo-train:dev" and settings.image_ref == "medgrpo-train:dev"
    assert settings.pending_timeout == 1800 and settings.training_operator == "trainer-v2"


def test_values_are_parsed() -> None:
    digest = "sha256:" + "0" * 64
    settings = K8sSettings.from_env(
        {
            "MEDGRPO_IMAGE": "repo/img:1",
            "MEDGRPO_K8S_IMAGE_DIGEST": digest,
            "MEDGRPO_K8S_NODE_SELECTOR": '{"pool": "h100"}',
            "MEDGRPO_K8S_ENV_SECRETS": " a , b ,",
            "MEDGRPO_K8S_ENV": '{"NCCL_DEBUG": "INFO"}',
            "MEDGRPO_K8S_GPU_COUNT": "8",
            "MEDGRPO_K8S_CLUSTER_VERSION": "v1.33",
        }
    )
    assert settings.image_ref == f"repo/img:1@{digest}"
    assert settings.node_selector == {"pool": "h100"} and settings.env_secrets == ("a", "b")
    assert settings.gpu_count == 8 and settings.cluster_version == "1.33"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MEDGRPO_K8S_GPU_COUNT", "two", "MEDGRPO_K8S_GPU_COUNT must be an integer >= 0, found 'two'"),
        ("MEDGRPO_K8S_NODE_SELECTOR", '{"pool": 1}', "MEDGRPO_K8S_NODE_SELECTOR must be a JSON object of strings"),
        ("MEDGRPO_K8S_NODE_SELECTOR", "pool=a100", "MEDGRPO_K8S_NODE_SELECTOR must be JSON"),
        ("MEDGRPO_K8S_TOLERATIONS", '[{"key": "x", "operator": "In"}]', "operator must be Equal or Exists"),
        ("MEDGRPO_K8S_TOLERATIONS", '[{"keys": "x"}]', "unknown fields ['keys']"),
        ("MEDGRPO_K8S_MEMORY_LIMIT", "96GB", "MEDGRPO_K8S_MEMORY_LIMIT must be a Kubernetes quantity"),
        ("MEDGRPO_K8S_IMAGE_DIGEST", "sha256:abc", "64 lower-case hex digits"),
        ("MEDGRPO_K8S_TRAINING_OPERATOR", "mpijob", "must be one of ['trainer-v2', 'pytorchjob']"),
        ("MEDGRPO_K8S_NAMESPACE", "Training_NS", "DNS-1123 label"),
        ("MEDGRPO_K8S_PENDING_TIMEOUT", "0", "MEDGRPO_K8S_PENDING_TIMEOUT must be an integer >= 1, found 0"),
        ("MEDGRPO_K8S_ENV", '{"BAD-NAME": "x"}', "environment variable names"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(name: str, value: str, message: str) -> None:
    with pytest.raises(K8sSettingsError) as err:
        K8sSettings.from_env({name: value})
    assert message in str(err.value)
