"""Kubernetes objects for a :class:`TrainingJob`: a Pod (one node) or a TrainJob / PyTorchJob (several).

Every builder returns plain manifests (``dict`` in the API's JSON shape) so the same objects are
submitted by the launchers, handed to Airflow's KubernetesPodOperator, written by
``medgrpo render-k8s`` for review and validated in tests. Every cluster-specific choice comes
from :class:`~medgrpo.launch.k8s_settings.K8sSettings` (``MEDGRPO_K8S_*``); the security
settings are fixed to Pod Security "restricted": non-root user 10001, no privilege escalation,
all capabilities dropped, seccomp RuntimeDefault, read-only root filesystem with writable
scratch volumes (``/workspace``, ``/tmp``, a memory-backed ``/dev/shm``).

vLLM placement follows the recipe: ``colocate`` runs inside the trainer processes; ``server`` gets
its own GPUs running ``trl vllm-serve`` — a native sidecar container in the single pod, or its own
Pod and Service next to a multi-node job — and the trainer is pointed at it with
``--set vllm_server_base_url=...``.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shlex
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from medgrpo import storage
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.plan import VLLM_GROUP_PORT, VLLM_PORT, LaunchPlan, load_plan, vllm_serve_model
from medgrpo.launch.spec import TrainingJob, safe_name

Manifest = dict[str, Any]

RUN_AS_ID = 10001  # the training image's non-root user and group (training_image/Dockerfile)
SCRATCH_DIR = "/workspace"
WORK_DIR = f"{SCRATCH_DIR}/run"  # medgrpo train's local --output-dir inside a pod
#: (mount path, sub-folder of the scratch volume): the image's writable paths (its VOLUME list)
WRITABLE_PATHS = (("/workspace", "workspace"), ("/tmp", "tmp"), ("/cache", "cache"), ("/home/medgrpo", "home"))
SECRETS_DIR = "/var/run/secrets/medgrpo-env"  # TrainJob only: Secrets mounted as files, exported as env

POD_CONTAINER = "trainer"  # container name in the single-node Pod
TRAINJOB_CONTAINER = "node"  # Kubeflow Trainer v2 torch runtimes name their trainer container "node"
TRAINJOB_REPLICATED_JOB = "node"  # ... inside the replicated job "node"
PYTORCHJOB_CONTAINER = "pytorch"  # the training-operator requires this container name
VLLM_CONTAINER = "vllm"

TRAINJOB_API = ("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob")
PYTORCHJOB_API = ("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob")
RUNTIME_PATCH_MANAGER = "medgrpo.io/launcher"

LABEL_APP = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN = "medgrpo.io/run"
LABEL_ATTEMPT = "medgrpo.io/attempt"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"
APP = "medgrpo"
MANAGED_BY = "medgrpo-launcher"

#: Non-secret platform settings passed from the launcher's environment to training containers.
FORWARDED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MEDGRPO_MODEL_NAME",
    "MEDGRPO_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "MLFLOW_S3_ENDPOINT_URL",
    "MEDGRPO_ALLOW_REMOTE_CODE",
)

#: Model sources a pod can load (a local path on the Airflow machine is not visible in a pod).
_REMOTE_MODEL_PREFIXES = ("hf://", "s3://", "models:/", "tiny:", "/opt/medgrpo/")


class ClusterJobError(ValueError):
    """The job cannot run on a cluster as given (local paths, names); the message says what to change."""


# ---- checks and names -------------------------------------------------------------------------
def with_cluster_defaults(job: TrainingJob) -> TrainingJob:
    """The job as a cluster runs it: without a checkpoint store of its own, checkpoints go under the
    run's (s3://) output prefix, the same for every try, so a retried pod resumes from them."""
    if not job.checkpoint_store and storage.is_s3(job.output_uri):
        return replace(job, checkpoint_store=storage.join(job.output_uri, "checkpoints"))
    return job


def require_cluster_locations(job: TrainingJob) -> None:
    """A pod sees neither the Airflow machine's disk nor its checkout: inputs and outputs must be remote."""
    problems = []
    if not storage.is_s3(job.output_uri):
        problems.append(f"output location {job.output_uri!r} (set MEDGRPO_RUNS_ROOT or MEDGRPO_WORK_URI to s3://...)")
    if not job.checkpoint_store or not storage.is_s3(job.checkpoint_store):
        problems.append(
            f"checkpoint store {job.checkpoint_store!r} (set MEDGRPO_CHECKPOINT_ROOT or MEDGRPO_WORK_URI to s3://...)"
        )
    if not (storage.is_s3(job.dataset_uri) or job.dataset_uri.startswith(("synth:", "hf://"))):
        problems.append(f"dataset {job.dataset_uri!r} (publish it to s3:// with MEDGRPO_DATA_ROOT)")
    if (
        job.model
        and not job.model.startswith(_REMOTE_MODEL_PREFIXES)
        and (job.model.startswith(("/", ".")) or os.path.exists(job.model))
    ):
        problems.append(f"base model {job.model!r} (use hf://, s3://, models:/ or a path inside the image)")
    if problems:
        raise ClusterJobError(
            "cluster backends run in pods that cannot read this machine's files; these must be s3:// locations: "
            + "; ".join(problems)
        )


def job_name(job: TrainingJob, suffix: str = "") -> str:
    """A short DNS-1123 name for this try: readable run prefix, run hash, try number (``…-t2``).

    Short enough (at most 42 characters) for the names Kubeflow derives from it
    (``<name>-node-0-0-xxxxx`` pod names and hostnames must stay within 63).
    """
    digest = hashlib.sha256(job.output_uri.encode()).hexdigest()[:6]
    prefix = safe_name(job.run_name, max_len=24)
    base = f"{prefix}-{digest}-t{job.attempt}"
    return f"{base}-{suffix}" if suffix else base


def run_labels(job: TrainingJob, component: str = "training") -> dict[str, str]:
    """Labels on every object of this run: a retry finds earlier tries by ``medgrpo.io/run``."""
    return {
        LABEL_APP: APP,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_RUN: job.run_key(),
        LABEL_ATTEMPT: str(job.attempt),
    }


def run_selector(job: TrainingJob, component: str | None = "training") -> str:
    """Label selector matching every try of this run (optionally one component)."""
    parts = [f"{LABEL_MANAGED_BY}={MANAGED_BY}", f"{LABEL_RUN}={job.run_key()}"]
    if component:
        parts.append(f"{LABEL_COMPONENT}={component}")
    return ",".join(parts)


def run_annotations(job: TrainingJob, plan: LaunchPlan) -> dict[str, str]:
    return {
        "medgrpo.io/recipe": plan.recipe_in_image,
        "medgrpo.io/output-uri": job.output_uri,
        "medgrpo.io/checkpoint-store": str(job.checkpoint_store),
        "medgrpo.io/run-name": job.run_name,
    }


# ---- pod pieces -------------------------------------------------------------------------------
def pod_security_context() -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "runAsGroup": RUN_AS_ID,
        "fsGroup": RUN_AS_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scratch_volumes(settings: K8sSettings, *, secret_files: bool = False) -> tuple[list[Manifest], list[Manifest]]:
    """``(volumes, mounts)``: the image's writable places on one emptyDir sized by ephemeral storage,
    and a memory-backed ``/dev/shm``.

    The training image declares ``/workspace`` (run output), ``/tmp``, ``/cache`` (HF_HOME, Triton,
    vLLM caches) and ``/home/medgrpo`` (HOME) as its only writable paths (training_image/Dockerfile).
    """
    volumes: list[Manifest] = [
        {"name": "scratch", "emptyDir": {"sizeLimit": settings.ephemeral_storage}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size}},
    ]
    mounts: list[Manifest] = [
        {"name": "scratch", "mountPath": path, "subPath": sub} for path, sub in WRITABLE_PATHS
    ] + [{"name": "dshm", "mountPath": "/dev/shm"}]
    if secret_files:
        for index, secret in enumerate(settings.env_secrets):
            volumes.append({"name": f"env-secret-{index}", "secret": {"secretName": secret, "defaultMode": 0o440}})
            mounts.append({"name": f"env-secret-{index}", "mountPath": f"{SECRETS_DIR}/{secret}", "readOnly": True})
    return volumes, mounts


def resources(settings: K8sSettings, gpus: int) -> Manifest:
    requests: dict[str, str] = {
        "cpu": settings.cpu_request,
        "memory": settings.memory_request,
        "ephemeral-storage": settings.ephemeral_storage,
    }
    limits: dict[str, str] = {"memory": settings.memory_limit, "ephemeral-storage": settings.ephemeral_storage}
    if settings.cpu_limit:
        limits["cpu"] = settings.cpu_limit
    if gpus > 0:
        requests[settings.gpu_resource] = str(gpus)
        limits[settings.gpu_resource] = str(gpus)
    return {"requests": requests, "limits": limits}


def container_env(job: TrainingJob, settings: K8sSettings, environ: Mapping[str, str] | None = None) -> list[Manifest]:
    """Environment of training containers: forwarded platform settings, the image reference, MEDGRPO_K8S_ENV."""
    source = os.environ if environ is None else environ
    env: dict[str, str] = {name: source[name] for name in FORWARDED_ENV if source.get(name, "").strip()}
    # the exact image (a version tag of the registered model); caches and HOME come from the image
    env.update({"MEDGRPO_IMAGE": settings.image_ref, "PYTHONUNBUFFERED": "1"})
    env.update(settings.env)
    return [{"name": k, "value": v} for k, v in env.items()]


def env_from(settings: K8sSettings) -> list[Manifest]:
    return [{"secretRef": {"name": name}} for name in settings.env_secrets]


def entrypoint_args(job: TrainingJob, plan: LaunchPlan, extra_overrides: Mapping[str, str] | None = None) -> list[str]:
    """Arguments of :mod:`medgrpo.launch.entrypoint`: where to publish the result, then ``train …``."""
    if extra_overrides:
        job = replace(job, overrides={**job.overrides, **extra_overrides})
    return ["--output-uri", job.output_uri, "train", *job.train_args(recipe=plan.recipe_in_image, output_dir=WORK_DIR)]


def single_node_command(plan: LaunchPlan, gpus: int) -> list[str]:
    """One process, or ``accelerate launch`` over the pod's GPUs when the recipe names an accelerate config."""
    config = plan.accelerate_config_in_image()
    if not config:
        return ["python", "-m", "medgrpo.launch.entrypoint"]
    return [
        "accelerate", "launch", "--config_file", config, "--num_machines", "1", "--machine_rank", "0",
        "--num_processes", str(max(gpus, 1)), "-m", "medgrpo.launch.entrypoint",
    ]  # fmt: skip


def multi_node_command(plan: LaunchPlan, gpus_per_node: int, *, export_secret_files: bool) -> list[str]:
    """A shell line starting one launcher per node from the rendezvous variables the operator sets.

    Kubeflow Trainer v2 sets ``PET_NNODES``/``PET_NODE_RANK``/``PET_MASTER_ADDR``/``PET_MASTER_PORT``;
    the training-operator sets ``WORLD_SIZE``/``RANK``/``MASTER_ADDR``/``MASTER_PORT`` (one per pod).
    """
    nproc = max(gpus_per_node, 1)
    lines = ["set -eu"]
    if export_secret_files:  # TrainJob patches cannot carry envFrom: export each mounted Secret key
        lines.append(
            f'for f in {SECRETS_DIR}/*/*; do [ -f "$f" ] || continue; k=$(basename "$f"); export "$k=$(cat "$f")"; done'
        )
    lines += [
        'nodes="${PET_NNODES:-${WORLD_SIZE:-1}}"',
        'rank="${PET_NODE_RANK:-${RANK:-0}}"',
        'master="${PET_MASTER_ADDR:-${MASTER_ADDR:-127.0.0.1}}"',
        'port="${PET_MASTER_PORT:-${MASTER_PORT:-29500}}"',
    ]
    config = plan.accelerate_config_in_image()
    if config:
        lines.append(
            f'exec accelerate launch --config_file {shlex.quote(config)} --num_machines "$nodes" '
            f'--machine_rank "$rank" --num_processes "$((nodes * {nproc}))" '
            '--main_process_ip "$master" --main_process_port "$port" -m medgrpo.launch.entrypoint "$@"'
        )
    else:
        lines.append(
            f'exec torchrun --nnodes "$nodes" --node_rank "$rank" --nproc_per_node {nproc} '
            '--master_addr "$master" --master_port "$port" -m medgrpo.launch.entrypoint "$@"'
        )
    return ["/bin/sh", "-c", "\n".join(lines), "medgrpo-launch"]


def vllm_command(plan: LaunchPlan, host: str) -> list[str]:
    return [
        "trl", "vllm-serve", "--model", vllm_serve_model(plan.model),
        "--tensor-parallel-size", str(plan.vllm_tensor_parallel_size), "--host", host, "--port", str(VLLM_PORT),
    ]  # fmt: skip


def _vllm_startup_probe() -> Manifest:
    # Loading a model into vLLM takes minutes: allow up to 30 minutes before the pod is restarted.
    return {"httpGet": {"path": "/health/", "port": VLLM_PORT}, "periodSeconds": 10, "failureThreshold": 180}


def _pod_spec_common(settings: K8sSettings) -> Manifest:
    spec: Manifest = {
        "serviceAccountName": settings.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": 60,
    }
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [dict(t) for t in settings.tolerations]
    if settings.priority_class:
        spec["priorityClassName"] = settings.priority_class
    return spec


def _with_queue(labels: dict[str, str], settings: K8sSettings) -> dict[str, str]:
    return {**labels, LABEL_KUEUE_QUEUE: settings.kueue_queue} if settings.kueue_queue else labels


# ---- one node: a Pod --------------------------------------------------------------------------
def build_pod(
    job: TrainingJob,
    settings: K8sSettings,
    *,
    environ: Mapping[str, str] | None = None,
    plan: LaunchPlan | None = None,
    container_name: str = POD_CONTAINER,
) -> Manifest:
    """The single-node training Pod (restartPolicy Never: a failed try is retried by Airflow, not kubelet)."""
    job = with_cluster_defaults(job)
    require_cluster_locations(job)
    plan = plan or load_plan(job.recipe, job.overrides, job.model)
    volumes, mounts = scratch_volumes(settings)
    overrides: dict[str, str] = {}
    init_containers: list[Manifest] = []
    if plan.vllm_server:
        overrides["vllm_server_base_url"] = f"http://127.0.0.1:{VLLM_PORT}"
        init_containers.append(
            {
                "name": VLLM_CONTAINER,
                "image": settings.image_ref,
                "imagePullPolicy": settings.image_pull_policy,
                "restartPolicy": "Always",  # a native sidecar: runs beside the trainer, ends with it
                "command": vllm_command(plan, host="127.0.0.1"),
                "env": container_env(job, settings, environ),
                "envFrom": env_from(settings),
                "resources": resources(settings, plan.vllm_tensor_parallel_size),
                "securityContext": container_security_context(),
                "volumeMounts": mounts,
                "startupProbe": _vllm_startup_probe(),
            }
        )
    container: Manifest = {
        "name": container_name,
        "image": settings.image_ref,
        "imagePullPolicy": settings.image_pull_policy,
        "command": single_node_command(plan, settings.gpu_count),
        "args": entrypoint_args(job, plan, overrides),
        "env": container_env(job, settings, environ),
        "envFrom": env_from(settings),
        "resources": resources(settings, settings.gpu_count),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    spec = {**_pod_spec_common(settings), "restartPolicy": "Never", "containers": [container], "volumes": volumes}
    if init_containers:
        spec["initContainers"] = init_containers
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": job_name(job),
            "namespace": settings.namespace,
            "labels": _with_queue(run_labels(job), settings),
            "annotations": run_annotations(job, plan),
        },
        "spec": spec,
    }


# ---- several nodes: TrainJob / PyTorchJob (+ vLLM server Pod and Service) --------------------
def build_vllm_server(
    job: TrainingJob, settings: K8sSettings, plan: LaunchPlan, environ: Mapping[str, str] | None = None
) -> list[Manifest]:
    """``trl vllm-serve`` on its own GPUs next to a multi-node job: a Pod and the Service trainers call."""
    name = job_name(job, "vllm")
    labels = run_labels(job, "vllm-server")
    volumes, mounts = scratch_volumes(settings)
    container: Manifest = {
        "name": VLLM_CONTAINER,
        "image": settings.image_ref,
        "imagePullPolicy": settings.image_pull_policy,
        "command": vllm_command(plan, host="0.0.0.0"),
        "env": container_env(job, settings, environ),
        "envFrom": env_from(settings),
        "ports": [
            {"name": "http", "containerPort": VLLM_PORT, "protocol": "TCP"},
            {"name": "weight-sync", "containerPort": VLLM_GROUP_PORT, "protocol": "TCP"},
        ],
        "resources": resources(settings, plan.vllm_tensor_parallel_size),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
        "startupProbe": _vllm_startup_probe(),
        "readinessProbe": {"httpGet": {"path": "/health/", "port": VLLM_PORT}, "periodSeconds": 10},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": _with_queue(labels, settings),
            "annotations": run_annotations(job, plan),
        },
        "spec": {
            **_pod_spec_common(settings),
            "restartPolicy": "Always",
            "containers": [container],
            "volumes": volumes,
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": settings.namespace, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {
                LABEL_RUN: labels[LABEL_RUN],
                LABEL_ATTEMPT: labels[LABEL_ATTEMPT],
                LABEL_COMPONENT: "vllm-server",
            },
            "ports": [
                {"name": "http", "port": VLLM_PORT, "targetPort": VLLM_PORT, "protocol": "TCP"},
                {"name": "weight-sync", "port": VLLM_GROUP_PORT, "targetPort": VLLM_GROUP_PORT, "protocol": "TCP"},
            ],
        },
    }
    return [pod, service]


def vllm_server_url(job: TrainingJob, settings: K8sSettings) -> str:
    return f"http://{job_name(job, 'vllm')}.{settings.namespace}.svc:{VLLM_PORT}"


def _multi_node_overrides(job: TrainingJob, settings: K8sSettings, plan: LaunchPlan) -> dict[str, str]:
    return {"vllm_server_base_url": vllm_server_url(job, settings)} if plan.vllm_server else {}


def build_trainjob(
    job: TrainingJob, settings: K8sSettings, plan: LaunchPlan, environ: Mapping[str, str] | None = None
) -> Manifest:
    """A Kubeflow Trainer v2 TrainJob on ``MEDGRPO_K8S_RUNTIME_REF``, patched to this platform's pod settings.

    The runtime patch can set env, volumes, security contexts, scheduling and the service account,
    but not ``envFrom``: the ``MEDGRPO_K8S_ENV_SECRETS`` Secrets are mounted as files and exported
    by the start-up line. It cannot set a PriorityClass either: the ClusterTrainingRuntime (or
    Kueue) carries it — see docs/kubernetes.md.
    """
    volumes, mounts = scratch_volumes(settings, secret_files=True)
    labels = run_labels(job)
    pod_patch: Manifest = {
        "serviceAccountName": settings.service_account,
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": 60,
        "volumes": volumes,
        "containers": [
            {"name": TRAINJOB_CONTAINER, "securityContext": container_security_context(), "volumeMounts": mounts}
        ],
    }
    if settings.node_selector:
        pod_patch["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        pod_patch["tolerations"] = [dict(t) for t in settings.tolerations]
    return {
        "apiVersion": f"{TRAINJOB_API[0]}/{TRAINJOB_API[1]}",
        "kind": TRAINJOB_API[3],
        "metadata": {
            "name": job_name(job),
            "namespace": settings.namespace,
            "labels": _with_queue(labels, settings),
            "annotations": run_annotations(job, plan),
        },
        "spec": {
            "runtimeRef": {"name": settings.runtime_ref, "apiGroup": TRAINJOB_API[0], "kind": "ClusterTrainingRuntime"},
            "trainer": {
                "image": settings.image_ref,
                "command": multi_node_command(plan, settings.gpu_count, export_secret_files=bool(settings.env_secrets)),
                "args": entrypoint_args(job, plan, _multi_node_overrides(job, settings, plan)),
                "env": container_env(job, settings, environ),
                "numNodes": settings.num_nodes,
                "numProcPerNode": max(settings.gpu_count, 1),
                "resourcesPerNode": resources(settings, settings.gpu_count),
            },
            "runtimePatches": [
                {
                    "manager": RUNTIME_PATCH_MANAGER,
                    "trainingRuntimeSpec": {
                        "template": {
                            "spec": {
                                "replicatedJobs": [
                                    {
                                        "name": TRAINJOB_REPLICATED_JOB,
                                        "template": {
                                            "spec": {"template": {"metadata": {"labels": labels}, "spec": pod_patch}}
                                        },
                                    }
                                ]
                            }
                        }
                    },
                }
            ],
        },
    }


def build_pytorchjob(
    job: TrainingJob, settings: K8sSettings, plan: LaunchPlan, environ: Mapping[str, str] | None = None
) -> Manifest:
    """A training-operator v1 PyTorchJob: one Master and ``num_nodes - 1`` Workers, each a full pod template."""
    volumes, mounts = scratch_volumes(settings)
    labels = run_labels(job)
    container = {
        "name": PYTORCHJOB_CONTAINER,
        "image": settings.image_ref,
        "imagePullPolicy": settings.image_pull_policy,
        "command": multi_node_command(plan, settings.gpu_count, export_secret_files=False),
        "args": entrypoint_args(job, plan, _multi_node_overrides(job, settings, plan)),
        "env": container_env(job, settings, environ),
        "envFrom": env_from(settings),
        "resources": resources(settings, settings.gpu_count),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    template = {
        "metadata": {"labels": labels},
        "spec": {**_pod_spec_common(settings), "containers": [container], "volumes": volumes},
    }
    replicas: Manifest = {"Master": {"replicas": 1, "restartPolicy": "Never", "template": template}}
    if settings.num_nodes > 1:
        worker = copy.deepcopy(template)  # no shared sub-objects (they would render as YAML anchors)
        replicas["Worker"] = {"replicas": settings.num_nodes - 1, "restartPolicy": "Never", "template": worker}
    return {
        "apiVersion": f"{PYTORCHJOB_API[0]}/{PYTORCHJOB_API[1]}",
        "kind": PYTORCHJOB_API[3],
        "metadata": {
            "name": job_name(job),
            "namespace": settings.namespace,
            "labels": _with_queue(labels, settings),
            "annotations": run_annotations(job, plan),
        },
        "spec": {
            # pods are kept until the launcher has read their logs and states, then deleted with the job
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 0},
            "pytorchReplicaSpecs": replicas,
        },
    }


def build_multi_node(
    job: TrainingJob, settings: K8sSettings, *, environ: Mapping[str, str] | None = None
) -> list[Manifest]:
    """The multi-node job for ``MEDGRPO_K8S_TRAINING_OPERATOR``, preceded by the vLLM server when the recipe asks."""
    job = with_cluster_defaults(job)
    require_cluster_locations(job)
    plan = load_plan(job.recipe, job.overrides, job.model)
    objects: list[Manifest] = build_vllm_server(job, settings, plan, environ) if plan.vllm_server else []
    if settings.training_operator == "pytorchjob":
        objects.append(build_pytorchjob(job, settings, plan, environ))
    else:
        objects.append(build_trainjob(job, settings, plan, environ))
    return objects


def build_manifests(
    job: TrainingJob, settings: K8sSettings, launcher: str, *, environ: Mapping[str, str] | None = None
) -> list[Manifest]:
    """Every object the ``kubernetes`` or ``kubeflow`` launcher would submit for ``job``, in order."""
    if launcher == "kubernetes":
        return [build_pod(job, settings, environ=environ)]
    if launcher == "kubeflow":
        return build_multi_node(job, settings, environ=environ)
    raise ValueError(f"no manifests for launcher {launcher!r}; expected 'kubernetes' or 'kubeflow'")


def owner_reference(obj: Manifest) -> Manifest:
    """An ownerReference to a created object (its uid is known only after creation)."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
