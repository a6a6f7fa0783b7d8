"""registry_watch: notice alias changes in the MLflow registry without a webhook (deferrable polling)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from medgrpo_airflow.registry_watch import RegistryAliasWatchOperator

DOC = """
### Watch the registry's aliases (for deployments without the MLflow webhook)

One task at a time waits, **deferred** (no worker slot held), while the triggerer polls the aliases
`challenger`, `champion` and `previous_champion` of the platform's model every
`MEDGRPO_REGISTRY_POLL_SECONDS` (default 30). A change is emitted as an event on the
`medgrpo_registry_alias_event` Asset, which `registry_alias_review` reviews: moves the platform made
itself are ignored, a `challenger` set by hand is gated, a `champion` set by hand without a passed
gate is flagged and (by policy) reverted. After an hour without a change the task ends (skipped)
and the next run takes over. Leave this DAG paused where the MLflow webhook is configured
(see docs/registry-events.md).
"""


@dag(
    dag_id="registry_watch",
    schedule="@continuous",
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "registry"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
)
def registry_watch() -> None:
    watch = RegistryAliasWatchOperator(task_id="watch_aliases")

    @task
    def commit_snapshot(seen: dict) -> dict:
        from medgrpo_airflow.registry_watch import commit_snapshot as commit

        commit(seen["model_name"], seen["aliases"])
        return seen["aliases"]

    commit_snapshot(watch.output)


registry_watch()
