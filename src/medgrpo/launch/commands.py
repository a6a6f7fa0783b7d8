"""``medgrpo render-k8s``: write the Kubernetes objects a cluster launch would submit, for review.

Light module (the ``kubernetes`` client is not needed to render). Locations default to what the
``grpo_training`` DAG would use (``MEDGRPO_RUNS_ROOT`` / ``MEDGRPO_CHECKPOINT_ROOT`` /
``MEDGRPO_DATA_ROOT``); cluster launches need them to be ``s3://`` and say so otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medgrpo.cli import parse_key_values

CLUSTER_LAUNCHERS = ("kubernetes", "kubeflow")


def register(subparsers: Any) -> None:
    """Add ``render-k8s`` to the ``medgrpo`` parser."""
    render = subparsers.add_parser(
        "render-k8s",
        help="write the Kubernetes manifests a cluster training launch would submit (one YAML file per object)",
        description=(
            "Build the Pod (--launcher kubernetes) or the TrainJob/PyTorchJob and vLLM server (--launcher kubeflow) "
            "for a recipe from the MEDGRPO_K8S_* settings, check them against Pod Security 'restricted', and write "
            "one YAML file per object into --out."
        ),
    )
    render.add_argument(
        "--recipe", required=True, help="recipe YAML under training_image/recipes/ (shipped in the image)"
    )
    render.add_argument("--launcher", required=True, choices=CLUSTER_LAUNCHERS, help="cluster backend")
    render.add_argument("--out", required=True, help="folder to write the manifests into (created)")
    render.add_argument("--dataset", help="published dataset (s3://...); default: MEDGRPO_DATA_ROOT/medgrpo-default")
    render.add_argument("--output-uri", help="run output prefix (s3://...); default: MEDGRPO_RUNS_ROOT/<run>")
    render.add_argument(
        "--checkpoint-store", help="checkpoint prefix (s3://...); default: MEDGRPO_CHECKPOINT_ROOT/<run>"
    )
    render.add_argument("--run-name", default="render-k8s-preview", help="run name (names and labels derive from it)")
    render.add_argument("--model", help="base model source (hf://..., s3://..., models:/name@alias)")
    render.add_argument("--attempt", type=int, default=1, help="try number (Airflow try_number) to render for")
    render.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="recipe override (repeatable)"
    )
    render.add_argument(
        "--validate",
        action="store_true",
        help="also validate against the Kubernetes schema of MEDGRPO_K8S_CLUSTER_VERSION (needs kubernetes-validate)",
    )
    render.add_argument(
        "--crds", metavar="DIR", help="with --validate: folder of CRD YAML files for TrainJob/PyTorchJob validation"
    )
    render.set_defaults(func=_render)


def _render(args: argparse.Namespace) -> int:
    import yaml

    from medgrpo import pipeline, storage
    from medgrpo.launch.k8s_settings import K8sSettings, K8sSettingsError
    from medgrpo.launch.manifests import ClusterJobError, build_manifests
    from medgrpo.launch.plan import RecipePlanError
    from medgrpo.launch.pod_security import violations
    from medgrpo.launch.spec import TrainingJob, safe_name
    from medgrpo.settings import get_settings
    from medgrpo.train.recipe_checks import validate_overrides

    try:
        overrides = parse_key_values(args.overrides, "--set")
        validate_overrides(overrides)  # what the pod would refuse at start (bounds, remote code) fails here
        settings = K8sSettings.from_env()
        slug = safe_name(args.run_name, max_len=100)
        job = TrainingJob(
            recipe=args.recipe,
            dataset_uri=args.dataset or pipeline.default_dataset_uri(pipeline.DEFAULT_DATASET_NAME),
            output_uri=args.output_uri or storage.join(pipeline.default_runs_root(), slug),
            run_name=args.run_name,
            model=args.model,
            overrides=overrides,
            image=settings.image_ref,
            checkpoint_store=args.checkpoint_store or pipeline._checkpoint_store("render-k8s", args.run_name),
            attempt=args.attempt,
            tags={"image": get_settings().image},
        )
        objects = build_manifests(job, settings, args.launcher)
    except (ValueError, K8sSettingsError, ClusterJobError, RecipePlanError, FileNotFoundError) as err:
        print(f"medgrpo render-k8s: {err}")
        return 2
    problems = [p for obj in objects for p in violations(obj)]
    if problems:
        print("medgrpo render-k8s: the manifests break Pod Security 'restricted':\n  " + "\n  ".join(problems))
        return 1
    if args.validate:
        from medgrpo.launch.validate import ManifestInvalid, SchemaUnavailable, validate_all

        try:
            checked = validate_all(objects, version=settings.cluster_version, crd_dir=args.crds)
        except (ManifestInvalid, SchemaUnavailable) as err:
            print(f"medgrpo render-k8s: {err}")
            return 1
        for line in checked:
            print(f"valid: {line}")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, obj in enumerate(objects, start=1):
            path = out / f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            storage.write_text_atomic(str(path), yaml.safe_dump(obj, sort_keys=False, width=120))
            paths.append(path)
    except OSError as err:
        print(f"medgrpo render-k8s: could not write the manifests into {args.out} ({type(err).__name__}: {err})")
        return 1
    for path in paths:
        print(f"wrote {path}")
    print(f"{len(objects)} object(s) for namespace {settings.namespace}; Pod Security 'restricted': ok")
    return 0
