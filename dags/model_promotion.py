"""model_promotion: promote a gated version to champion, or roll back one step, from a form."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from medgrpo_airflow.params import optional

DOC = """
### Promote or roll back

*promote*: move alias `champion` to **version**, only if its gate passed against the current champion
(`gate_verdict` = `passed`, compare-and-set against the champion the gate compared with); the old champion
becomes `previous_champion`. A version whose gate did not pass is refused, and the run fails saying why,
unless **Force with reason** is filled in: the reason is recorded on the version (`promotion_reason`).
*rollback*: make `previous_champion` the champion again (one step). Every move is recorded in the version
tags and made under the registry's promotion lock. Gates are not run here: use `gated_evaluation`.
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
        "force_reason": optional(
            "string",
            title="Force with reason",
            description="Promote even though the version's gate did not pass (or compared with another champion); "
            "the reason is recorded on the version. Leave empty to require a passed gate.",
        ),
    },
)
def model_promotion() -> None:
    @task
    def apply() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from medgrpo.pipeline import promote_version, rollback_champion
        from medgrpo.registry import RegistryError

        params = get_current_context()["params"]
        try:
            if params["action"] == "rollback":
                return rollback_champion()
            if not str(params["version"] or "").strip():
                raise ValueError("action 'promote' needs a version number, found an empty version param")
            return promote_version(str(params["version"]).strip(), force_reason=params.get("force_reason"))
        except (RegistryError, ValueError) as err:  # a refusal is final: no retry
            raise AirflowFailException(str(err)) from err

    apply()


model_promotion()
