"""Kubernetes launch settings: the ``MEDGRPO_K8S_*`` environment variables, defined once.

:data:`SETTINGS` is the one list of names, defaults and meanings: :class:`K8sSettings` is read
from it, ``docs/kubernetes.md`` carries it as a table (a test keeps the two equal) and the Helm
chart's ConfigMap sets the same names. Every value is parsed and checked when it is read, and a
bad value raises :class:`K8sSettingsError` naming the variable, what was expected and what was
found, before anything is submitted to a cluster.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class K8sSettingsError(ValueError):
    """A ``MEDGRPO_K8S_*`` variable holds a value that cannot be used."""


#: Kubernetes resource quantity (``8``, ``500m``, ``64Gi``, ``1.5``).
_QUANTITY = re.compile(r"^(\d+(\.\d+)?|\.\d+)([numkMGTPE]|[KMGTPE]i|[eE][+-]?\d+)?$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_CLUSTER_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?$")

TRAINING_OPERATORS = ("trainer-v2", "pytorchjob")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

DEFAULT_TOLERATIONS: tuple[dict[str, Any], ...] = (
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
)


# ---- parsers: (variable name, raw text) -> value; each error names the variable ---------------
def _text(name: str, raw: str) -> str:
    return raw


def _dns_label(name: str, raw: str) -> str:
    if not _DNS_LABEL.match(raw) or len(raw) > 63:
        raise K8sSettingsError(f"{name} must be a DNS-1123 label (a-z, 0-9, '-', at most 63), found {raw!r}")
    return raw


def _optional_dns_subdomain(name: str, raw: str) -> str:
    if raw and (not _DNS_SUBDOMAIN.match(raw) or len(raw) > 253):
        raise K8sSettingsError(f"{name} must be a DNS-1123 name (a-z, 0-9, '-', '.'), found {raw!r}")
    return raw


def _int_at_least(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise K8sSettingsError(f"{name} must be an integer >= {minimum}, found {raw!r}") from None
        if value < minimum:
            raise K8sSettingsError(f"{name} must be an integer >= {minimum}, found {value}")
        return value

    return parse


def _quantity(name: str, raw: str) -> str:
    if not _QUANTITY.match(raw):
        raise K8sSettingsError(f"{name} must be a Kubernetes quantity such as 8, 500m or 64Gi, found {raw!r}")
    return raw


def _optional_quantity(name: str, raw: str) -> str:
    return _quantity(name, raw) if raw else ""


def _digest(name: str, raw: str) -> str:
    if raw and not _DIGEST.match(raw):
        raise K8sSettingsError(f"{name} must be 'sha256:' followed by 64 lower-case hex digits, found {raw!r}")
    return raw


def _choice(options: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise K8sSettingsError(f"{name} must be one of {list(options)}, found {raw!r}")
        return raw

    return parse


def _resource_name(name: str, raw: str) -> str:
    if not _RESOURCE_NAME.match(raw):
        raise K8sSettingsError(f"{name} must be an extended resource name such as nvidia.com/gpu, found {raw!r}")
    return raw


def _json(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise K8sSettingsError(f"{name} must be JSON: {err.msg} at column {err.colno} in {raw!r}") from None


def _string_map(name: str, raw: str) -> dict[str, str]:
    value = _json(name, raw) if raw else {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise K8sSettingsError(f'{name} must be a JSON object of strings such as {{"pool": "a100"}}, found {raw!r}')
    return dict(value)


def _env_map(name: str, raw: str) -> dict[str, str]:
    value = _string_map(name, raw)
    bad = [k for k in value if not _ENV_NAME.match(k)]
    if bad:
        raise K8sSettingsError(f"{name} keys must be environment variable names, found {bad}")
    return value


def _tolerations(name: str, raw: str) -> tuple[dict[str, Any], ...]:
    value = _json(name, raw)
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise K8sSettingsError(
            f'{name} must be a JSON list of tolerations such as [{{"key": "nvidia.com/gpu", "operator": "Exists"}}], '
            f"found {raw!r}"
        )
    for item in value:
        unknown = set(item) - _TOLERATION_KEYS
        if unknown:
            raise K8sSettingsError(f"{name}: toleration {item} has unknown fields {sorted(unknown)}")
        if item.get("operator", "Equal") not in ("Equal", "Exists"):
            raise K8sSettingsError(f"{name}: toleration operator must be Equal or Exists, found {item['operator']!r}")
        if item.get("effect", "") not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise K8sSettingsError(f"{name}: toleration effect {item['effect']!r} is not a taint effect")
    return tuple(value)


def _secret_names(name: str, raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for secret in names:
        _optional_dns_subdomain(name, secret)
    return names


def _cluster_version(name: str, raw: str) -> str:
    if raw and not _CLUSTER_VERSION.match(raw):
        raise K8sSettingsError(f"{name} must be a Kubernetes version such as 1.33, found {raw!r}")
    return raw.lstrip("v")


@dataclass(frozen=True)
class Setting:
    """One ``MEDGRPO_K8S_*`` variable: its attribute, default (as text), parser and meaning."""

    env: str
    attr: str
    default: str
    parse: Callable[[str, str], Any]
    help: str


#: The one list of Kubernetes launch settings (docs/kubernetes.md and the Helm ConfigMap follow it).
SETTINGS: tuple[Setting, ...] = (
    Setting("MEDGRPO_K8S_NAMESPACE", "namespace", "medgrpo-training", _dns_label,
            "Namespace training pods and jobs are created in."),
    Setting("MEDGRPO_K8S_IMAGE", "image", "", _text,
            "Training image (repository:tag); empty: MEDGRPO_IMAGE."),
    Setting("MEDGRPO_K8S_IMAGE_DIGEST", "image_digest", "", _digest,
            "Image digest sha256:...; when set the image is referenced as image@digest."),
    Setting("MEDGRPO_K8S_IMAGE_PULL_POLICY", "image_pull_policy", "IfNotPresent", _choice(PULL_POLICIES),
            "imagePullPolicy of training containers."),
    Setting("MEDGRPO_K8S_SERVICE_ACCOUNT", "service_account", "medgrpo-training", _dns_label,
            "ServiceAccount of training pods (carries the workload-identity annotation); its token is not mounted."),
    Setting("MEDGRPO_K8S_GPU_COUNT", "gpu_count", "1", _int_at_least(0),
            "GPUs per pod (per node for multi-node jobs); 0 requests none."),
    Setting("MEDGRPO_K8S_GPU_RESOURCE", "gpu_resource", "nvidia.com/gpu", _resource_name,
            "Extended resource name of the GPU (nvidia.com/gpu, amd.com/gpu, ...)."),
    Setting("MEDGRPO_K8S_NODE_SELECTOR", "node_selector", "", _string_map,
            'Node labels of the GPU pool, a JSON object such as {"pool": "a100"}; empty: none.'),
    Setting("MEDGRPO_K8S_TOLERATIONS", "tolerations", json.dumps(list(DEFAULT_TOLERATIONS)), _tolerations,
            "Tolerations for the GPU pool's taints, a JSON list; default tolerates nvidia.com/gpu:NoSchedule."),
    Setting("MEDGRPO_K8S_PRIORITY_CLASS", "priority_class", "", _optional_dns_subdomain,
            "PriorityClass of training pods; empty: the cluster default."),
    Setting("MEDGRPO_K8S_CPU_REQUEST", "cpu_request", "8", _quantity, "CPU request per pod."),
    Setting("MEDGRPO_K8S_CPU_LIMIT", "cpu_limit", "16", _optional_quantity, "CPU limit per pod; empty: none."),
    Setting("MEDGRPO_K8S_MEMORY_REQUEST", "memory_request", "64Gi", _quantity, "Memory request per pod."),
    Setting("MEDGRPO_K8S_MEMORY_LIMIT", "memory_limit", "96Gi", _quantity,
            "Memory limit per pod (the /dev/shm volume counts against it)."),
    Setting("MEDGRPO_K8S_SHM_SIZE", "shm_size", "16Gi", _quantity,
            "Size of the memory-backed /dev/shm volume (NCCL, data loaders)."),
    Setting("MEDGRPO_K8S_EPHEMERAL_STORAGE", "ephemeral_storage", "100Gi", _quantity,
            "Ephemeral storage per pod: request, limit and size of the /workspace scratch volume."),
    Setting("MEDGRPO_K8S_ENV", "env", "", _env_map,
            'Extra non-secret environment for training containers, a JSON object such as {"NCCL_DEBUG": "WARN"}.'),
    Setting("MEDGRPO_K8S_ENV_SECRETS", "env_secrets", "", _secret_names,
            "Comma-separated Secret names whose keys become environment variables (S3, MLflow credentials)."),
    Setting("MEDGRPO_K8S_KUEUE_QUEUE", "kueue_queue", "", _optional_dns_subdomain,
            "Kueue LocalQueue name (label kueue.x-k8s.io/queue-name); empty: no Kueue."),
    Setting("MEDGRPO_K8S_PENDING_TIMEOUT", "pending_timeout", "1800", _int_at_least(1),
            "Seconds a pod may stay unscheduled (or scheduled but not started) before the try fails."),
    Setting("MEDGRPO_K8S_TRAINING_OPERATOR", "training_operator", "trainer-v2", _choice(TRAINING_OPERATORS),
            "Multi-node job kind: trainer-v2 (Kubeflow Trainer TrainJob) or pytorchjob (training-operator v1)."),
    Setting("MEDGRPO_K8S_NUM_NODES", "num_nodes", "2", _int_at_least(1), "Nodes per multi-node (kubeflow) job."),
    Setting("MEDGRPO_K8S_RUNTIME_REF", "runtime_ref", "torch-distributed", _dns_label,
            "ClusterTrainingRuntime a TrainJob references."),
    Setting("MEDGRPO_K8S_CLUSTER_VERSION", "cluster_version", "", _cluster_version,
            "Kubernetes version render-k8s --validate checks manifests for, e.g. 1.33; empty: the newest known."),
    Setting("MEDGRPO_K8S_KUBECONFIG", "kubeconfig", "", _text,
            "Kubeconfig file of the launcher; empty: the Airflow connection, else in-cluster config."),
    Setting("MEDGRPO_K8S_CONN_ID", "conn_id", "kubernetes_default", _text,
            "Airflow Kubernetes connection id used by the DAG's operators."),
    Setting("MEDGRPO_K8S_CLUSTER_JOBS", "cluster_jobs", "2", _int_at_least(1),
            "Slots of the Airflow pool (MEDGRPO_CLUSTER_POOL) bounding concurrent cluster training jobs."),
)  # fmt: skip


@dataclass(frozen=True)
class K8sSettings:
    """Resolved ``MEDGRPO_K8S_*`` values; build with :meth:`from_env` (or directly in tests)."""

    namespace: str = "medgrpo-training"
    image: str = ""
    image_digest: str = ""
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "medgrpo-training"
    gpu_count: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = DEFAULT_TOLERATIONS
    priority_class: str = ""
    cpu_request: str = "8"
    cpu_limit: str = "16"
    memory_request: str = "64Gi"
    memory_limit: str = "96Gi"
    shm_size: str = "16Gi"
    ephemeral_storage: str = "100Gi"
    env: dict[str, str] = field(default_factory=dict)
    env_secrets: tuple[str, ...] = ()
    kueue_queue: str = ""
    pending_timeout: int = 1800
    training_operator: str = "trainer-v2"
    num_nodes: int = 2
    runtime_ref: str = "torch-distributed"
    cluster_version: str = ""
    kubeconfig: str = ""
    conn_id: str = "kubernetes_default"
    cluster_jobs: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> K8sSettings:
        """Read every ``MEDGRPO_K8S_*`` variable (unset or blank: its default) and check it."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env, "").strip() or setting.default
            values[setting.attr] = setting.parse(setting.env, raw)
        if not values["image"]:
            values["image"] = env.get("MEDGRPO_IMAGE", "").strip() or "medgrpo-train:dev"
        return cls(**values)

    @property
    def image_ref(self) -> str:
        """The image as pods reference it: ``image@digest`` when a digest is set, else ``image``."""
        if self.image_digest and "@" not in self.image:
            return f"{self.image}@{self.image_digest}"
        return self.image


def _check_table_matches_dataclass() -> None:
    names = {f.name for f in fields(K8sSettings)}
    attrs = {s.attr for s in SETTINGS}
    if names != attrs:  # pragma: no cover - a programming error caught at import
        raise AssertionError(f"K8sSettings fields {sorted(names ^ attrs)} lack a SETTINGS entry (or vice versa)")


_check_table_matches_dataclass()
