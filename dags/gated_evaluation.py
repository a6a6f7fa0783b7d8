"""gated_evaluation: challenger(s) vs champion on held-out items → gates → [approval] → compare-and-set promote."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, get_current_context, task

from medgrpo_airflow.assets import CHALLENGER_MODEL
from medgrpo_airflow.params import gate_params, optional
from medgrpo_airflow.placement import gpu_task

DOC = """
### Gate a challenger before it serves

Scores the **candidate** (default: every version whose challenger event triggered this run, oldest first,
else alias `challenger`) and the current `champion` on the same held-out items (`eval.jsonl` of the dataset
the candidate was trained on), decoding both with the settings the candidate was trained with. Then the
**gate policy** decides (packaged `production` unless `MEDGRPO_GATE_POLICY` or the form says otherwise;
fields filled in below override it):

* any failed gate → `rejected`: an absolute floor (accuracy, format), a drop beyond the margin, a
  significant paired regression (exact McNemar), a bootstrap interval wholly below -margin, or a
  de-identification canary in the output of the PHI probe;
* else too little evidence → `insufficient_evidence` (too few items, too few discordant pairs, an
  interval that cannot tell): never promotes;
* else `passed`.

The verdict, its reasons and an HTML report (task button **Gate report**) are recorded on the version
(`gate_verdict`, `gate_reasons`, `gate_report`). A passed candidate is promoted (with *require approval*,
after a clinician approves in the UI), compare-and-set: if the champion changed since the gate compared
with it, nothing moves and the run fails saying so. The reasons of a run that promoted nothing are in
`not_promoted`.
"""


@dag(
    dag_id="gated_evaluation",
    schedule=CHALLENGER_MODEL,
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "evaluation", "registry"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "candidate": optional(
            "string",
            title="Candidate",
            description="Model version number or alias; empty = the triggering version(s), else challenger.",
        ),
        "dataset_uri": optional(
            "string",
            title="Dataset",
            description="Dataset dir whose eval.jsonl is scored; empty = the candidate's training dataset.",
        ),
        **gate_params(),
        "limit": optional(
            "integer", minimum=1, title="Item limit", description="Score only the first N eval items; empty = all."
        ),
        "require_approval": Param(
            False,
            type="boolean",
            title="Require approval",
            description="Wait for a human to approve promotion in the UI.",
        ),
        "auto_promote": Param(
            True,
            type="boolean",
            title="Promote on pass",
            description="Move alias champion when the verdict is passed (never otherwise).",
        ),
    },
)
def gated_evaluation() -> None:
    @task
    def resolve_candidate() -> dict:
        from medgrpo.pipeline import resolve_candidate as resolve
        from medgrpo_airflow.placement import require_shared_storage

        require_shared_storage()  # a remote executor needs shared storage and an MLflow server
        ctx = get_current_context()
        triggering = ctx.get("triggering_asset_events") or {}
        events = (
            [{**dict(e.extra or {}), "timestamp": str(e.timestamp)} for e in triggering.get(CHALLENGER_MODEL, [])]
            if triggering
            else []
        )
        return resolve(ctx["params"], events)

    # scores both models inside the worker: an accelerator worker's queue and pool (MEDGRPO_GPU_QUEUE/POOL)
    @task(execution_timeout=timedelta(hours=6), **gpu_task())
    def evaluate_and_gate(candidate: dict) -> dict:
        from medgrpo.pipeline import gate_candidates

        ctx = get_current_context()
        verdict = gate_candidates(ctx["params"], candidate, dag_run=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
        for key, url in verdict.pop("links").items():
            ctx["ti"].xcom_push(key=key, value=url)
        return verdict

    @task.branch
    def decide(verdict: dict) -> str:
        params = get_current_context()["params"]
        if verdict["verdict"] != "passed" or not params["auto_promote"]:
            return "not_promoted"
        return "await_approval" if params["require_approval"] else "promote"

    approval = ApprovalOperator(
        task_id="await_approval",
        subject="Promote {{ ti.xcom_pull(task_ids='evaluate_and_gate')['model_name'] }} version "
        "{{ ti.xcom_pull(task_ids='evaluate_and_gate')['version'] }} to champion?",
        body="Gate verdict: {{ ti.xcom_pull(task_ids='evaluate_and_gate')['verdict'] }} against champion "
        "{{ ti.xcom_pull(task_ids='evaluate_and_gate')['champion_version'] or 'none' }} "
        "(policy {{ ti.xcom_pull(task_ids='evaluate_and_gate')['policy'] }}).\n\n"
        "{{ ti.xcom_pull(task_ids='evaluate_and_gate')['gates_summary'] | join('\n') }}\n\n"
        "Power: {{ ti.xcom_pull(task_ids='evaluate_and_gate')['power'] }}\n\n"
        "Report: {{ ti.xcom_pull(task_ids='evaluate_and_gate')['report_url'] or "
        "ti.xcom_pull(task_ids='evaluate_and_gate')['report_uri'] }}",
        defaults="Reject",
        response_timeout=timedelta(days=3),
    )

    @task(trigger_rule="none_failed_min_one_success")
    def promote(verdict: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from medgrpo.pipeline import promote_version
        from medgrpo.registry import RegistryError

        # compare-and-set against the champion this run's gate compared with (re-checked after any approval);
        # a refusal is final (AirflowFailException: no retry)
        try:
            return promote_version(verdict["version"], expected_champion=verdict["champion_version"])
        except RegistryError as err:
            raise AirflowFailException(str(err)) from err

    @task
    def not_promoted(verdict: dict) -> dict:
        from medgrpo.pipeline import not_promoted_summary

        return not_promoted_summary(verdict, auto_promote=bool(get_current_context()["params"]["auto_promote"]))

    verdict = evaluate_and_gate(resolve_candidate())
    branch = decide(verdict)
    promoted = promote(verdict)
    skipped = not_promoted(verdict)
    branch >> [approval, promoted, skipped]
    approval >> promoted


gated_evaluation()
