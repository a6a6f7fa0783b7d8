"""gated_evaluation: challenger vs champion on held-out items → gates → [approval] → promote."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param, dag, get_current_context, task

from medgrpo_airflow.assets import CHALLENGER_MODEL
from medgrpo_airflow.params import optional

DOC = """
### Gate a challenger before it serves

Scores the **candidate** (default: the version that triggered this run, else alias `challenger`) and the
current `champion` on the same held-out items (`eval.jsonl` of the dataset the candidate was trained on),
applies the gates (paired statistical non-regression against the champion, absolute accuracy and
format-compliance thresholds), records `gate_verdict` and `gate_report` on the version, and, when it
passed, moves alias `champion` (the old champion becomes `previous_champion`). With *require approval*
a clinician approves or rejects in the Airflow UI before promotion.
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
            description="Model version number or alias; empty = the triggering version, else challenger.",
        ),
        "dataset_uri": optional(
            "string",
            title="Dataset",
            description="Dataset dir whose eval.jsonl is scored; empty = the candidate's training dataset.",
        ),
        "min_accuracy": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1,
            title="Minimum accuracy",
            description="Absolute gate on the candidate's accuracy.",
        ),
        "min_format_rate": Param(
            0.0,
            type="number",
            minimum=0,
            maximum=1,
            title="Minimum format rate",
            description="Absolute gate on <think>/<answer> compliance.",
        ),
        "margin": Param(
            0.02,
            type="number",
            minimum=0,
            maximum=1,
            title="Non-inferiority margin",
            description="Largest accuracy drop vs champion tolerated.",
        ),
        "alpha": Param(
            0.05,
            type="number",
            exclusiveMinimum=0,
            maximum=0.5,
            title="Alpha",
            description="Significance level of the paired non-regression test.",
        ),
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
            True, type="boolean", title="Promote on pass", description="Move alias champion when the gates pass."
        ),
    },
)
def gated_evaluation() -> None:
    @task
    def resolve_candidate() -> dict:
        from medgrpo.pipeline import resolve_candidate as resolve

        ctx = get_current_context()
        triggering = ctx.get("triggering_asset_events") or {}
        events = [dict(e.extra or {}) for e in triggering.get(CHALLENGER_MODEL, [])] if triggering else []
        return resolve(ctx["params"], events)

    @task(execution_timeout=timedelta(hours=6))
    def evaluate_and_gate(candidate: dict) -> dict:
        from medgrpo.pipeline import gate_candidate

        ctx = get_current_context()
        verdict = gate_candidate(ctx["params"], candidate, dag_run=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
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
        subject="Promote model version {{ ti.xcom_pull(task_ids='evaluate_and_gate')['version'] }} to champion?",
        body="Gate report: {{ ti.xcom_pull(task_ids='evaluate_and_gate')['report_uri'] }}",
        defaults="Reject",
        response_timeout=timedelta(days=3),
    )

    @task(trigger_rule="none_failed_min_one_success")
    def promote(verdict: dict) -> dict:
        from medgrpo.pipeline import promote_version

        return promote_version(verdict["version"])

    not_promoted = EmptyOperator(task_id="not_promoted")

    verdict = evaluate_and_gate(resolve_candidate())
    branch = decide(verdict)
    promoted = promote(verdict)
    branch >> [approval, promoted, not_promoted]
    approval >> promoted


gated_evaluation()
