"""registry_alias_review: act on alias changes made by hand in MLflow (gate, accept, flag, revert)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from medgrpo_airflow.assets import CHALLENGER_MODEL, REGISTRY_ALIAS_EVENTS

DOC = """
### Review alias changes made in the MLflow registry

Runs for every event on `medgrpo_registry_alias_event` (recorded by the MLflow webhook endpoint of
the medgrpo plugin, or by `registry_watch`). Each change is checked against the registry:

* moves the platform made itself (audit tags `promoted_at`, `restored_at`, `demoted_at`, or a fresh
  registration by a training run) and stale changes are **ignored**;
* `challenger` set by hand: `request_gate` emits `medgrpo_challenger_model` for that version, so
  `gated_evaluation` gates it;
* `champion` set by hand on a version that passed its gate against the platform's champion:
  **accepted** (tag `champion_accepted_at`);
* `champion` set by hand without that: **flagged** on the version (tag `ungated_champion_flag`),
  **reverted** to the platform's champion unless `MEDGRPO_REVERT_MANUAL_CHAMPION=false`, and
  `flag_ungated_champions` fails this run on purpose so that failure alerting reaches someone.

See docs/registry-events.md.
"""


@dag(
    dag_id="registry_alias_review",
    schedule=REGISTRY_ALIAS_EVENTS,
    catchup=False,
    max_active_runs=1,
    tags=["medgrpo", "registry"],
    doc_md=DOC,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=20)},
)
def registry_alias_review() -> None:
    @task(inlets=[REGISTRY_ALIAS_EVENTS])
    def review() -> list[dict]:
        from medgrpo import registry_events
        from medgrpo_airflow.registry_review import changes_to_review

        changes = changes_to_review(get_current_context())
        return [d.to_dict() for d in registry_events.review_all(changes)]

    @task
    def gate_requests(decisions: list[dict]) -> list[dict]:
        wanted = {(d["change"]["model_name"], d["change"]["version"]) for d in decisions if d["action"] == "gate"}
        return [{"model_name": name, "version": version} for name, version in sorted(wanted)]

    @task(outlets=[CHALLENGER_MODEL])
    def request_gate(request: dict) -> dict:
        extra = {**request, "requested_by": "registry_alias_review", "reason": "challenger set by hand"}
        get_current_context()["outlet_events"][CHALLENGER_MODEL].extra = extra
        return extra

    @task
    def flag_ungated_champions(decisions: list[dict]) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        flagged = [d for d in decisions if d["action"] == "flag"]
        if flagged:
            lines = [
                f"{d['reason']}; "
                + (f"reverted to v{d['restore_to']}" if d["reverted"] and d["restore_to"] else "")
                + ("champion alias removed" if d["reverted"] and not d["restore_to"] else "")
                + (f"not reverted ({d['revert_skipped']})" if not d["reverted"] else "")
                for d in flagged
            ]
            raise AirflowFailException("ungated champion: " + " | ".join(lines))
        return f"{len(decisions)} change(s) reviewed, no ungated champion"

    decisions = review()
    request_gate.expand(request=gate_requests(decisions))
    flag_ungated_champions(decisions)


registry_alias_review()
