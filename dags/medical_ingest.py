"""medical_ingest: load → validate → de-identify (fanned out per shard) → split → publish.

Wiring only: the work is in ``medgrpo.pipeline`` and imported inside the tasks.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from medgrpo.data import DATASET_NAME_PATTERN, MEDMCQA_COP_BASES
from medgrpo_airflow.assets import DEIDENTIFIED_DATASET
from medgrpo_airflow.params import format_param, optional

DOC = """
### Ingest a medical QA dataset

Reads every **source** (local files or folders, `s3://` prefixes, `hf://dataset[:config][@split]`),
converts each format (MedQA, MedMCQA, PubMedQA, verifiable open-ended, canonical JSONL, `medgrpo synth`
output) to the canonical record schema, quarantines malformed rows with a reason, **de-identifies every
free-text field** (fanned out over shards), splits train/eval deterministically and publishes the dataset
directory atomically. Publishing emits the `medgrpo_deidentified_dataset` Asset, which triggers
`grpo_training`.

Leave *sources* empty to ingest the embedded sample data. Review the de-identification counts in the
`finalize` task's return value and in `manifest.json` (the audit never contains PHI).

Every task is safe to retry (a retried `prepare` starts over, `deidentify` rewrites its shard, a retried
`finalize` returns what it published). Raw staged rows are removed by `finalize` on success and by the
`cleanup_staging` teardown once the run has failed for good (it waits until no task can retry).

**Where data lives.** Staged shards, the published dataset and the id map are written under the work
root (`MEDGRPO_WORK_URI`, a local folder or an `s3://` prefix; `MEDGRPO_DATA_ROOT` overrides the dataset
root); tasks hand each other URIs only. With the Celery or Kubernetes executor each task runs on another
worker, so the work root must be `s3://`: `prepare` refuses to start otherwise.

**Sizing the de-identification fan-out.** Each shard of *shard size* records is one mapped `deidentify`
task; shards run in parallel on any free worker slot (at most 2 per run: `max_active_tis_per_dag`). Aim
for a few shards per parallel slot (records / shard size ≈ 2-4 × slots) so a slow shard does not hold
up the run, and for shards that take tens of seconds or more (each task pays interpreter and policy
start-up); the shard count is capped by `[core] max_map_length` (shards merge when there would be more).
"""


@dag(
    dag_id="medical_ingest",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "data", "phi"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "sources": optional(
            "array",
            items={"type": "string"},
            title="Sources",
            description="Files, folders, s3:// prefixes or hf:// dataset ids; empty = the embedded sample data.",
        ),
        "format": format_param(),
        "medmcqa_cop_base": optional(
            "integer",
            enum=[None, *MEDMCQA_COP_BASES],
            values_display={"null": "detect per file", **{str(k): v for k, v in MEDMCQA_COP_BASES.items()}},
            title="MedMCQA cop numbering",
            description="How MedMCQA files number the correct option (cop); empty = detected per file "
            "(a file whose cop values are all 1-3 needs it stated).",
        ),
        "dataset_name": Param(
            "medgrpo-default",
            type="string",
            minLength=1,
            pattern=DATASET_NAME_PATTERN,
            title="Dataset name",
            description="Name recorded in the manifest (letters, digits, '.', '_', '-'; no '/').",
        ),
        "output_uri": optional(
            "string",
            title="Output location",
            description="Folder or s3:// prefix to publish to; empty = <data root>/<dataset name> "
            "(MEDGRPO_DATA_ROOT, else <MEDGRPO_WORK_URI>/datasets).",
        ),
        "eval_fraction": Param(
            0.1,
            type="number",
            minimum=0.01,
            maximum=0.5,
            title="Eval fraction",
            description="Share of items held out for evaluation.",
        ),
        "deidentify": Param(
            True,
            type="boolean",
            title="De-identify",
            description="Run de-identification (turn off only for data known to hold no PHI).",
        ),
        "policy": optional(
            "string",
            title="De-identification policy",
            description=(
                "A built-in policy name (clinical, public-benchmark, surrogates) or a policy YAML path / s3:// URI, "
                "applied to every source; empty = per source: public-benchmark for MedQA, MedMCQA, PubMedQA and "
                "verifiable files, clinical (or MEDGRPO_DEID_POLICY) for canonical and other sources."
            ),
        ),
        "shard_size": Param(
            5000,
            type="integer",
            minimum=100,
            maximum=1_000_000,
            title="Shard size",
            description="Records per de-identification shard (one mapped task each).",
        ),
    },
)
def medical_ingest() -> None:
    @task
    def prepare() -> dict:
        from airflow.sdk.configuration import conf

        from medgrpo.pipeline import ingest_prepare
        from medgrpo_airflow.placement import require_shared_storage

        require_shared_storage()  # a remote executor needs an s3:// work root: fail here, not three tasks later
        ctx = get_current_context()
        max_shards = conf.getint("core", "max_map_length", fallback=1024)  # one deidentify task per shard
        return ingest_prepare(ctx["params"], ctx["dag"].dag_id, ctx["run_id"], max_shards=max_shards)

    @task
    def shard_uris(prepared: dict) -> list[str]:
        ctx = get_current_context()
        return list(prepared["shards"]) if ctx["params"]["deidentify"] else []

    @task(max_active_tis_per_dag=2)
    def deidentify(shard_uri: str) -> dict:
        from medgrpo.pipeline import ingest_deidentify_shard

        return ingest_deidentify_shard(shard_uri, get_current_context()["params"]["policy"])

    @task(outlets=[DEIDENTIFIED_DATASET], trigger_rule="none_failed")
    def finalize(prepared: dict, deidentified: list[dict]) -> dict:
        from medgrpo.pipeline import ingest_finalize

        ctx = get_current_context()
        published = ingest_finalize(ctx["params"], prepared, list(deidentified or []))
        ctx["outlet_events"][DEIDENTIFIED_DATASET].extra = {
            "uri": published["uri"],
            "name": published["name"],
            "sha256": published["sha256"],
        }
        return published

    @task
    def cleanup_staging() -> str:
        """Teardown: runs once every task is done for good (no retry left), whatever their outcome."""
        from medgrpo.pipeline import ingest_cleanup

        ctx = get_current_context()
        return ingest_cleanup(ctx["dag"].dag_id, ctx["run_id"])

    prepared = prepare()
    uris = shard_uris(prepared)
    shards = deidentify.expand(shard_uri=uris)
    published = finalize(prepared, shards)
    # a teardown without setups: all_done over every task, and not counted in the run's state
    [prepared, uris, shards, published] >> cleanup_staging().as_teardown()


medical_ingest()
