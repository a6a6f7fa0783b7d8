"""Every manifest the cluster launchers would submit validates — built-in kinds against the
Kubernetes OpenAPI schema of the configured cluster version (``kubernetes-validate``), TrainJob and
PyTorchJob against their CRD's ``openAPIV3Schema`` from /work/shared/vendor/kubeflow-crds/ — and
meets Pod Security "restricted", under several ``MEDGRPO_K8S_*`` setting sets, for the recipes
the repository ships; ``medgrpo render-k8s`` writes exactly those objects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jobs import ROOT, SERVER_RECIPE, TINY_RECIPE, make_job
from schemas import validate

from medgrpo.cli import main as medgrpo
from medgrpo.launch.k8s_settings import K8sSettings
from medgrpo.launch.manifests import ClusterJobError, build_manifests
from medgrpo.launch.plan import RecipePlanError
from medgrpo.launch.pod_security import pod_specs, violations

RECIPES = sorted((ROOT / "training_image" / "recipes").glob("*/grpo/*.yaml"))
DIGEST = "sha256:" + "ab" * 32

SETTING_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "a100-pool": {
        "MEDGRPO_K8S_GPU_COUNT": "8",
        "MEDGRPO_K8S_NODE_SELECTOR": json.dumps({"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"}),
        "MEDGRPO_K8S_TOLERATIONS": json.dumps(
            [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoSchedule"},
            ]
        ),
        "MEDGRPO_K8S_PRIORITY_CLASS": "medgrpo-training",
        "MEDGRPO_K8S_KUEUE_QUEUE": "gpu-queue",
        "MEDGRPO_K8S_IMAGE": "registry.example/medgrpo/medgrpo-train:0.1.0",
        "MEDGRPO_K8S_IMAGE_DIGEST": DIGEST,
        "MEDGRPO_K8S_ENV": json.dumps({"NCCL_DEBUG": "WARN"}),
        "MEDGRPO_K8S_ENV_SECRETS": "medgrpo-training-env,mlflow-auth",
        "MEDGRPO_K8S_CPU_LIMIT": "",
        "MEDGRPO_K8S_NUM_NODES": "4",
    },
    "amd-no-gpu-limit-pytorchjob": {
        "MEDGRPO_K8S_GPU_RESOURCE": "amd.com/gpu",
        "MEDGRPO_K8S_GPU_COUNT": "4",
        "MEDGRPO_K8S_TOLERATIONS": "[]",
        "MEDGRPO_K8S_TRAINING_OPERATOR": "pytorchjob",
        "MEDGRPO_K8S_CLUSTER_VERSION": "1.31",
    },
}


def _settings(values: dict[str, str]) -> K8sSettings:
    return K8sSettings.from_env(values)


def _all_objects() -> list[tuple[str, Any]]:
    cases = []
    for name, values in SETTING_SETS.items():
        for recipe in RECIPES:
            for launcher in ("kubernetes", "kubeflow"):
                cases.append(
                    (f"{name}/{recipe.parent.parent.name}/{recipe.stem}/{launcher}", (values, recipe, launcher))
                )
    return cases


@pytest.mark.parametrize(
    ("values", "recipe", "launcher"), [c for _, c in _all_objects()], ids=[i for i, _ in _all_objects()]
)
def test_manifests_validate_and_meet_pss_restricted(values: dict[str, str], recipe: Path, launcher: str) -> None:
    settings = _settings(values)
    objects = build_manifests(make_job(recipe=str(recipe)), settings, launcher, environ={})
    assert objects, "nothing built"
    for obj in objects:
        validate(obj, settings.cluster_version or None)
        assert violations(obj) == [], f"{obj['kind']} {obj['metadata']['name']} breaks PSS restricted"
        for _, spec in pod_specs(obj):
            if settings.node_selector:
                assert spec["nodeSelector"] == settings.node_selector
            assert spec.get("tolerations", []) == list(settings.tolerations)
            if obj["kind"] != "TrainJob":  # a TrainJob's runtime patch cannot carry it (docs/kubernetes.md)
                assert spec.get("priorityClassName", "") == settings.priority_class
    if settings.kueue_queue:
        assert objects[-1]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == settings.kueue_queue


def _gpu_requests(obj: dict[str, Any], resource: str) -> list[str]:
    if obj["kind"] == "TrainJob":
        return [obj["spec"]["trainer"]["resourcesPerNode"]["limits"][resource]]
    found = []
    for _, spec in pod_specs(obj):
        for container in spec.get("initContainers", []) + spec["containers"]:
            limits = container["resources"]["limits"]
            if resource in limits:
                assert container["resources"]["requests"][resource] == limits[resource]
                found.append(limits[resource])
    return found


def test_gpu_count_resource_and_image_digest_come_from_settings() -> None:
    settings = _settings(SETTING_SETS["a100-pool"])
    (pod,) = build_manifests(make_job(), settings, "kubernetes", environ={})
    assert _gpu_requests(pod, "nvidia.com/gpu") == ["8"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == f"registry.example/medgrpo/medgrpo-train:0.1.0@{DIGEST}"
    assert {"secretRef": {"name": "medgrpo-training-env"}} in container["envFrom"]
    assert {"name": "NCCL_DEBUG", "value": "WARN"} in container["env"]
    amd = _settings(SETTING_SETS["amd-no-gpu-limit-pytorchjob"])
    (job,) = build_manifests(make_job(), amd, "kubeflow", environ={})
    assert job["kind"] == "PyTorchJob" and _gpu_requests(job, "amd.com/gpu") == ["4", "4"]  # master + 1 worker


def test_restricted_security_context_and_writable_scratch() -> None:
    (pod,) = build_manifests(make_job(), _settings({}), "kubernetes", environ={})
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    sc = spec["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert {"/workspace", "/tmp", "/cache", "/home/medgrpo", "/dev/shm"} <= set(mounts)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    assert volumes["scratch"]["emptyDir"] == {"sizeLimit": "100Gi"}
    assert spec["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "100Gi"


def test_vllm_placement_follows_the_recipe() -> None:
    settings = _settings({})
    colocate = ROOT / "training_image" / "recipes" / "Qwen2.5-0.5B-Instruct" / "grpo" / "config_full.yaml"
    (pod,) = build_manifests(make_job(recipe=str(colocate)), settings, "kubernetes", environ={})
    assert "initContainers" not in pod["spec"]  # colocate: vLLM runs inside the trainer
    assert not any("vllm_server_base_url" in a for a in pod["spec"]["containers"][0]["args"])

    (pod,) = build_manifests(make_job(recipe=str(SERVER_RECIPE)), settings, "kubernetes", environ={})
    (sidecar,) = pod["spec"]["initContainers"]  # server mode on one node: a native sidecar with its own GPU
    assert sidecar["restartPolicy"] == "Always" and sidecar["command"][:2] == ["trl", "vllm-serve"]
    assert "Qwen/Qwen2.5-7B-Instruct" in sidecar["command"]
    assert "vllm_server_base_url=http://127.0.0.1:8000" in pod["spec"]["containers"][0]["args"]

    objects = build_manifests(make_job(recipe=str(SERVER_RECIPE)), settings, "kubeflow", environ={})
    assert [o["kind"] for o in objects] == ["Pod", "Service", "TrainJob"]
    vllm_pod, service, trainjob = objects
    assert service["spec"]["selector"].items() <= vllm_pod["metadata"]["labels"].items()
    url = f"http://{service['metadata']['name']}.medgrpo-training.svc:8000"
    assert f"vllm_server_base_url={url}" in trainjob["spec"]["trainer"]["args"]


def test_multi_node_command_uses_the_recipe_accelerate_config() -> None:
    objects = build_manifests(make_job(recipe=str(SERVER_RECIPE)), _settings({}), "kubeflow", environ={})
    script = objects[-1]["spec"]["trainer"]["command"][2]
    assert "accelerate launch --config_file /opt/medgrpo/training_image/accelerate/zero3.yaml" in script
    assert '--machine_rank "$rank"' in script and "PET_NNODES" in script
    (tiny,) = build_manifests(make_job(recipe=str(TINY_RECIPE)), _settings({}), "kubeflow", environ={})
    assert "exec torchrun" in tiny["spec"]["trainer"]["command"][2]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"output_uri": "/srv/runs/r1"}, "output location '/srv/runs/r1'"),
        ({"checkpoint_store": "/srv/ckpt"}, "checkpoint store '/srv/ckpt'"),
        ({"dataset_uri": "/srv/datasets/d"}, "dataset '/srv/datasets/d'"),
    ],
)
def test_cluster_backends_refuse_local_paths_and_say_which(change: dict[str, str], expected: str) -> None:
    for launcher in ("kubernetes", "kubeflow"):
        with pytest.raises(ClusterJobError, match="must be s3:// locations") as err:
            build_manifests(make_job(**change), _settings({}), launcher, environ={})
        assert expected in str(err.value)


def test_recipe_outside_the_image_is_refused(tmp_path: Path) -> None:
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model_name_or_path: tiny:0\n")
    with pytest.raises(RecipePlanError, match="not part of the training image"):
        build_manifests(make_job(recipe=str(recipe)), _settings({}), "kubernetes", environ={})


def test_platform_settings_are_forwarded_but_no_credentials() -> None:
    environ = {
        "MLFLOW_TRACKING_URI": "http://mlflow.medgrpo:5000",
        "MEDGRPO_S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_SECRET_ACCESS_KEY": "never-in-a-manifest",
        "MEDGRPO_ID_SECRET": "never-either",
    }
    (pod,) = build_manifests(make_job(), _settings({}), "kubernetes", environ=environ)
    text = json.dumps(pod)
    assert "http://mlflow.medgrpo:5000" in text and "http://minio:9000" in text
    assert "never-in-a-manifest" not in text and "never-either" not in text


def test_render_k8s_writes_one_valid_file_per_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SETTING_SETS["a100-pool"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEDGRPO_RUNS_ROOT", "s3://medgrpo/runs")
    monkeypatch.setenv("MEDGRPO_DATA_ROOT", "s3://medgrpo/datasets")
    monkeypatch.delenv("MEDGRPO_CHECKPOINT_ROOT", raising=False)
    for launcher, kinds in (("kubernetes", ["Pod"]), ("kubeflow", ["Pod", "Service", "TrainJob"])):
        out = tmp_path / launcher
        code = medgrpo(["render-k8s", "--recipe", str(SERVER_RECIPE), "--launcher", launcher, "--out", str(out)])
        assert code == 0
        files = sorted(out.glob("*.yaml"))
        objects = [yaml.safe_load(f.read_text()) for f in files]
        assert [o["kind"] for o in objects] == kinds
        for obj in objects:
            validate(obj)
            assert violations(obj) == []
        main = objects[-1]
        args = main["spec"]["trainer"]["args"] if main["kind"] == "TrainJob" else main["spec"]["containers"][0]["args"]
        assert args[args.index("--checkpoint-store") + 1].startswith("s3://medgrpo/runs/")


def test_render_k8s_validate_checks_schemas_and_crds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from schemas import CRD_DIR

    if not CRD_DIR.is_dir():
        pytest.skip(f"Kubeflow CRDs not found at {CRD_DIR}: cannot validate TrainJob manifests here")
    monkeypatch.setenv("MEDGRPO_RUNS_ROOT", "s3://medgrpo/runs")
    monkeypatch.setenv("MEDGRPO_DATA_ROOT", "s3://medgrpo/datasets")
    monkeypatch.setenv("MEDGRPO_K8S_CLUSTER_VERSION", "1.33")
    argv = [
        "render-k8s",
        "--recipe",
        str(SERVER_RECIPE),
        "--launcher",
        "kubeflow",
        "--out",
        str(tmp_path),
        "--validate",
    ]
    assert medgrpo([*argv, "--crds", str(CRD_DIR)]) == 0
    out = capsys.readouterr().out
    assert "valid: Pod" in out and "Kubernetes 1.33 OpenAPI schema" in out
    assert "TrainJob" in out and "CRD trainer.kubeflow.org/v1alpha1 TrainJob" in out
    assert medgrpo(argv) == 1  # no CRD folder: the TrainJob cannot be checked, and it says so
    assert "no CRD schema" in capsys.readouterr().out


def test_render_k8s_explains_a_local_work_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDGRPO_RUNS_ROOT", str(tmp_path / "runs"))
    code = medgrpo(
        ["render-k8s", "--recipe", str(TINY_RECIPE), "--launcher", "kubernetes", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "must be s3:// locations" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()


def test_validator_rejects_what_the_api_server_would_drop() -> None:
    """The schema check can fail: an unknown TrainJob field (pruned silently by the API server)."""
    (trainjob,) = build_manifests(make_job(), _settings({}), "kubeflow", environ={})
    trainjob["spec"]["trainer"]["envFrom"] = [{"secretRef": {"name": "x"}}]
    with pytest.raises(AssertionError, match="envFrom"):
        validate(trainjob)
    (pod,) = build_manifests(make_job(), _settings({}), "kubernetes", environ={})
    pod["spec"]["containers"][0]["resources"]["limits"]["memory"] = ["64Gi"]
    with pytest.raises(AssertionError, match="resources"):
        validate(pod)
