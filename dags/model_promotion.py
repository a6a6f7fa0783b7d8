"""model_promotion: promote a version to champion, or roll back one step, from a form."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from medgrpo_airflow.params import optional

DOC = """
### Promote or roll back

*promote*: move alias `champion` to **version** (the old champion becomes `previous_champion`).
*rollback*: make `previous_champion` the champion again (one step). Every move is recorded in the
version tags. Gates are not re-run here: use `gated_evaluation` to gate a candidate.
"""


@dag(
    dag_id="model_promotion",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "registry"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "action": Param(
            "promote",
            type="string",
            enum=["promote", "rollback"],
            title="Action",
            description="promote a version, or roll back one step.",
        ),
        "version": optional(
            "string",
            title="Version (required to promote)",
            description="Model version number to promote; leave empty for rollback.",
        ),
    },
)
def model_promotion() -> None:
    @task
    def apply() -> dict:
        from medgrpo.pipeline import promote_version, rollback_champion

        params = get_current_context()["params"]
        if params["action"] == "rollback":
            return rollback_champion()
        if not str(params["version"] or "").strip():
            raise ValueError("action 'promote' needs a version number, found an empty version param")
        return promote_version(str(params["version"]).strip())

    apply()


model_promotion()
