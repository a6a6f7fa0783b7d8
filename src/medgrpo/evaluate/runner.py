"""The gate stage: score a candidate version and the champion on the same items, apply the policy, record.

:func:`run_gate`:

1. resolves the candidate, the champion (none when the candidate *is* the champion) and the gate
   policy (:mod:`medgrpo.evaluate.policy`);
2. takes the decoding settings from the **candidate's** recipe (version tag ``decoding``, else the
   training run's logged recipe params) and scores both models with them, on the eval split of the
   dataset directory, through the per-item cache of :mod:`medgrpo.evaluate.scores`;
3. runs the PHI probe on the candidate (:mod:`medgrpo.evaluate.probe`) when the policy asks;
4. applies the gates (:mod:`medgrpo.evaluate.gates`), and records everything in one MLflow run of
   ``medgrpo/evaluate``: metrics of both models, the report as JSON, Markdown and HTML with PNG
   plots, and copies of the per-item predictions;
5. tags the candidate version (``gate_verdict`` passed / rejected / insufficient_evidence,
   ``gate_report``, ``gate_reasons``, ``gate_champion_version`` …).

It does not promote: that is a separate, possibly human-approved, compare-and-set step
(:func:`medgrpo.registry.promote`). Retries are safe: a gate run is keyed by (model, candidate,
champion, eval items, policy, decoding); a finished run with the same key is reused as is, an
unfinished one (the previous try died) is resumed and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medgrpo import registry
from medgrpo.evaluate.decoding import DecodingSettings, from_run_params, from_version_tags
from medgrpo.evaluate.gates import Verdict, apply_gates, compare_paired
from medgrpo.evaluate.metrics import Metrics, item_scores
from medgrpo.evaluate.policy import GatePolicy, load_policy
from medgrpo.evaluate.scores import EXPERIMENT, ScoredSet, download_text, experiment_id, find_run, score_version
from medgrpo.model_card import record_gate_verdict
from medgrpo.model_lineage import link_evaluation_run

log = logging.getLogger(__name__)

__all__ = ["EXPERIMENT", "GateResult", "read_eval_records", "records_sha256", "run_gate"]

REPORT_JSON = "gate_report.json"
REPORT_MD = "gate_report.md"
REPORT_HTML = "gate_report.html"
GATE_KEY_TAG = "medgrpo.gate_key"
#: Discordant items listed in the report (the counts cover all of them).
MAX_LISTED_DISCORDANT = 50


@dataclass(frozen=True)
class GateResult:
    """Outcome of :func:`run_gate`."""

    verdict: str  # "passed" | "rejected" | "insufficient_evidence"
    model_name: str
    candidate_version: str
    champion_version: str | None
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    reasons: list[str]
    report_uri: str  # the HTML report (what people open)
    report_json_uri: str
    run_id: str
    reused: bool = False
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


# --------------------------------------------------------------------------- data


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    if hasattr(record, "model_dump"):
        return dict(record.model_dump())
    raise TypeError(f"expected eval records as dicts or pydantic models, found {type(record).__name__}")


def read_eval_records(dataset_dir: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of the dataset directory's eval split (first ``limit`` in file order).

    Read through :func:`medgrpo.data.dataset.read_split`, which checks the file against the
    sha256 in the dataset's manifest (raises ``DatasetError`` on a mismatch or a missing file).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of items, found {limit}")
    from medgrpo.data.dataset import read_split

    records = [_as_dict(r) for r in read_split(dataset_dir, "eval")]
    if not records:
        raise ValueError(f"the eval split of {dataset_dir} has no records")
    return records[:limit] if limit else records


def records_sha256(records: Sequence[Mapping[str, Any]]) -> str:
    """Content hash of exactly the records evaluated (order and every field included)."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def dataset_sha256(dataset_dir: str) -> str | None:
    """The dataset's ``content_sha256`` from its manifest (None when the manifest has none)."""
    from medgrpo.data.dataset import read_manifest

    value = read_manifest(dataset_dir, verify=False).get("content_sha256")
    return str(value) if value else None


# --------------------------------------------------------------------------- decoding


def candidate_decoding(mv: registry.ModelVersion) -> tuple[DecodingSettings, str]:
    """The decoding settings recorded for ``mv`` and where they came from.

    The version tag ``decoding`` (written at registration), else the training run's logged recipe
    params (``max_completion_length``, ``temperature``, ``num_generations``, …); a version with
    neither cannot be gated with the settings it was trained for, and is refused.
    """
    where = f"{mv.name} version {mv.version}"
    settings = from_version_tags(mv.tags, where=where)
    if settings is not None:
        return settings, "version tag 'decoding'"
    if mv.run_id:
        params = registry.client().get_run(mv.run_id).data.params
        settings = from_run_params(params)
        if settings is not None:
            return settings, f"training run {mv.run_id} params"
    raise ValueError(
        f"{where} records no decoding settings: no 'decoding' tag and its training run logged no "
        'max_completion_length; tag the version with decoding={"max_new_tokens": N, ...} (JSON) to gate it'
    )


# --------------------------------------------------------------------------- MLflow


def _gate_key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _load_report(run_id: str) -> dict[str, Any] | None:
    text = download_text(run_id, REPORT_JSON)
    return None if text is None else dict(json.loads(text))


def _log_run(
    client: Any,
    run_id: str,
    report: dict[str, Any],
    scored: Mapping[str, ScoredSet],
    metrics: Mapping[str, Metrics],
    records: Sequence[Mapping[str, Any]],
) -> None:
    from mlflow.entities import Metric, Param, RunTag

    from medgrpo.evaluate.report import render_html, render_markdown, render_plots

    now = int(datetime.now(UTC).timestamp() * 1000)
    flat: dict[str, float] = {}
    for role, m in metrics.items():
        flat.update(m.flat(prefix=f"{role}_"))
    comp = report.get("comparison")
    if comp:
        for key in ("accuracy_diff", "p_value_regression", "champion_only", "candidate_only", "bootstrap_low"):
            flat[key] = float(comp[key])
    probe = report.get("probe")
    if probe:
        flat["phi_probe_leaked_outputs"] = float(probe["leaked_outputs"])
    verdict = report["verdict"]["verdict"]
    flat["gate_passed"] = float(verdict == "passed")
    params = {
        "model_name": report["model_name"],
        "candidate_version": report["candidate"]["version"],
        "champion_version": (report.get("champion") or {}).get("version") or "none",
        "dataset_dir": report["dataset_dir"],
        "n_items": str(report["n_items"]),
        "limit": str(report.get("limit")),
        "policy": report["policy"]["name"],
        **{f"policy_{k}": str(v) for k, v in report["policy"]["fields"].items()},
        **{f"decoding_{k}": str(v) for k, v in report["decoding"]["settings"].items()},
    }
    existing = client.get_run(run_id).data.params
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in sorted(flat.items())],
        params=[Param(k, v[:6000]) for k, v in params.items() if k not in existing],
        tags=[RunTag("gate_verdict", verdict)],
    )
    for role, ss in scored.items():
        client.log_text(
            run_id, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ss.rows), f"predictions/{role}.jsonl"
        )
    with tempfile.TemporaryDirectory(prefix="medgrpo-report-") as tmp:
        plots = render_plots(report, scored, Path(tmp))
        for png in plots.values():
            client.log_artifact(run_id, str(png), "report")
        client.log_text(run_id, render_html(report, plots), REPORT_HTML)
    client.log_text(run_id, render_markdown(report), REPORT_MD)
    client.log_dict(run_id, report, REPORT_JSON)  # last: its presence marks a complete run


# --------------------------------------------------------------------------- the stage


def run_gate(
    candidate: str,
    dataset_dir: str,
    *,
    policy: GatePolicy | None = None,
    policy_source: str | None = None,
    model_name: str | None = None,
    limit: int | None = None,
    tags: Mapping[str, str] | None = None,
    batch_size: int = 16,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> GateResult:
    """Gate ``candidate`` (version number or alias) against the champion and record the verdict.

    ``policy`` defaults to :func:`~medgrpo.evaluate.policy.load_policy` (``MEDGRPO_GATE_POLICY``,
    else production). ``tags`` are added to the MLflow runs (e.g. ``airflow_dag_run``).
    ``progress(role, done, total)`` reports generation progress per model. Moves no alias.
    """
    if policy is None:
        policy, policy_source = load_policy()
    name = registry.resolve_model_name(model_name)
    cand = registry.resolve(candidate, name)
    champ = registry.get_version_by_alias(registry.CHAMPION, name)
    if champ is not None and champ.version == cand.version:
        log.info("candidate is the current champion; comparing against thresholds only")
        champ = None
    records = read_eval_records(dataset_dir, limit)
    eval_sha = records_sha256(records)
    decoding, decoding_source = candidate_decoding(cand)
    client = registry.client()
    experiment = experiment_id(client)

    with tempfile.TemporaryDirectory(prefix="medgrpo-gate-") as tmp:
        downloaded: dict[str, Path] = {}

        def model_dir(mv: registry.ModelVersion) -> Callable[[], Path]:
            def get() -> Path:
                if mv.version not in downloaded:
                    downloaded[mv.version] = registry.download_model(mv.model_uri, Path(tmp, f"v{mv.version}"))
                return downloaded[mv.version]

            return get

        if decoding.chat_template is None:  # the candidate's own template scores both models
            from medgrpo.evaluate.harness import read_chat_template

            decoding = decoding.with_chat_template(read_chat_template(model_dir(cand)()))
        probe_records: list[dict[str, Any]] = []
        if policy.phi_probe:
            from medgrpo.evaluate.probe import probe_records as build_probe

            probe_records = build_probe()
        key = _gate_key(
            {
                "model": name,
                "candidate": [cand.version, cand.run_id],
                "champion": [champ.version, champ.run_id] if champ else None,
                "eval_sha256": eval_sha,
                "policy": {k: v for k, v in policy.as_dict().items() if k != "name"},
                "decoding": decoding.key(),
                "probe_sha256": records_sha256(probe_records) if probe_records else None,
            }
        )
        previous = find_run(client, experiment, GATE_KEY_TAG, key)
        if previous is not None and previous.info.status == "FINISHED":
            report = _load_report(previous.info.run_id)
            if report is not None:
                log.info("reusing finished gate run", extra={"run_id": previous.info.run_id, "gate_key": key})
                return _finish(name, cand.version, previous.info.run_id, report, reused=True)

        run_tags = {
            GATE_KEY_TAG: key,
            "model_name": name,
            "candidate_version": cand.version,
            "champion_version": champ.version if champ else "none",
            "eval_sha256": eval_sha,
            **{str(k): str(v) for k, v in (tags or {}).items()},
        }
        if previous is not None:
            run_id = previous.info.run_id
            log.info("resuming unfinished gate run", extra={"run_id": run_id, "gate_key": key})
            client.update_run(run_id, status="RUNNING")
        else:
            run_id = client.create_run(experiment, tags=run_tags, run_name=f"gate-{name}-v{cand.version}").info.run_id
        # lineage: the eval split and the logged models scored become inputs of the gate run
        link_evaluation_run(run_id, dataset_dir=dataset_dir, scored={"candidate": cand, "champion": champ})
        try:
            scored: dict[str, ScoredSet] = {}
            roles = [("candidate", cand)] + ([("champion", champ)] if champ else [])
            for role, mv in roles:
                callback = (lambda done, total, role=role: progress(role, done, total)) if progress else None
                scored[role] = score_version(
                    mv,
                    records,
                    decoding,
                    kind="eval",
                    items_sha256=eval_sha,
                    model_dir=model_dir(mv),
                    batch_size=batch_size,
                    device=device,
                    progress=callback,
                    tags=tags,
                )
            if probe_records:
                scored["phi_probe"] = score_version(
                    cand,
                    probe_records,
                    decoding,
                    kind="phi_probe",
                    items_sha256=records_sha256(probe_records),
                    model_dir=model_dir(cand),
                    batch_size=batch_size,
                    device=device,
                    tags=tags,
                )
            metrics = {role: scored[role].metrics(records) for role, _ in roles}
            report = _build_report(
                name=name,
                cand=cand,
                champ=champ,
                dataset_dir=dataset_dir,
                records=records,
                eval_sha=eval_sha,
                limit=limit,
                policy=policy,
                policy_source=policy_source or "given",
                decoding=decoding,
                decoding_source=decoding_source,
                scored=scored,
                metrics=metrics,
                probe_records=probe_records,
            )
            _log_run(client, run_id, report, scored, metrics, records)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
    return _finish(name, cand.version, run_id, report, reused=False)


def _paired_vectors(scored: Mapping[str, ScoredSet]) -> tuple[list[Any], list[float], list[float]]:
    cand = item_scores(list(scored["candidate"].rows))
    champ = {s.id: s for s in item_scores(list(scored["champion"].rows))}
    missing = [s.id for s in cand if s.id not in champ]
    if missing:
        raise ValueError(f"champion results lack {len(missing)} of the candidate's items (e.g. {missing[0]})")
    return cand, [s.correct_rate for s in cand], [champ[s.id].correct_rate for s in cand]


def _discordant_items(scored: Mapping[str, ScoredSet], records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items where the two models' majority outcomes differ, with each one's first answer."""
    by_id = {str(r["id"]): r for r in records}
    first: dict[str, dict[str, str | None]] = {"candidate": {}, "champion": {}}
    for role in first:
        for row in scored[role].rows:
            first[role].setdefault(str(row["id"]), row.get("predicted"))
    cand = item_scores(list(scored["candidate"].rows))
    champ = {s.id: s for s in item_scores(list(scored["champion"].rows))}
    out = []
    for s in cand:
        h = champ[s.id]
        if s.correct != h.correct:
            out.append(
                {
                    "id": s.id,
                    "source": s.source,
                    "answer_type": s.answer_type,
                    "reference": str(by_id[s.id]["answer"]),
                    "winner": "candidate" if s.correct else "champion",
                    "candidate_answer": first["candidate"].get(s.id),
                    "candidate_correct_rate": s.correct_rate,
                    "champion_answer": first["champion"].get(s.id),
                    "champion_correct_rate": h.correct_rate,
                }
            )
    return out


def _build_report(
    *,
    name: str,
    cand: registry.ModelVersion,
    champ: registry.ModelVersion | None,
    dataset_dir: str,
    records: Sequence[Mapping[str, Any]],
    eval_sha: str,
    limit: int | None,
    policy: GatePolicy,
    policy_source: str,
    decoding: DecodingSettings,
    decoding_source: str,
    scored: Mapping[str, ScoredSet],
    metrics: Mapping[str, Metrics],
    probe_records: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    comparison = None
    discordant: list[dict[str, Any]] = []
    if champ is not None:
        _, cand_vec, champ_vec = _paired_vectors(scored)
        comparison = compare_paired(cand_vec, champ_vec, alpha=policy.alpha, n_boot=policy.bootstrap_resamples)
        discordant = _discordant_items(scored, records)
    probe = None
    if "phi_probe" in scored:
        from medgrpo.evaluate.probe import judge_probe

        probe = judge_probe(probe_records, list(scored["phi_probe"].rows))
    verdict: Verdict = apply_gates(metrics["candidate"], policy, comparison=comparison, probe=probe)

    def side(mv: registry.ModelVersion, role: str) -> dict[str, Any]:
        ss = scored[role]
        return {
            "version": mv.version,
            "run_id": mv.run_id,
            "model_uri": mv.model_uri,
            "metrics": metrics[role].as_dict(),
            "score_run_id": ss.run_id,
            "scores_reused": ss.reused,
            "seconds": round(ss.seconds, 3),
        }

    return {
        "schema": "medgrpo.gate_report/2",
        "model_name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset_dir": dataset_dir,
        "dataset_sha256": dataset_sha256(dataset_dir),
        "eval_sha256": eval_sha,
        "n_items": len(records),
        "limit": limit,
        "policy": {"name": policy.name, "source": policy_source, "fields": policy.as_dict()},
        "decoding": {"source": decoding_source, "settings": decoding.summary(), "key": decoding.key()},
        "candidate": side(cand, "candidate"),
        "champion": side(champ, "champion") if champ else None,
        "comparison": comparison.as_dict() if comparison else None,
        "discordant_items": discordant[:MAX_LISTED_DISCORDANT],
        "probe": probe.as_dict() if probe else None,
        "verdict": verdict.as_dict(),
    }


def _finish(name: str, version: str, run_id: str, report: dict[str, Any], *, reused: bool) -> GateResult:
    """Tag the candidate version with the verdict (idempotent) and build the result."""
    html_uri, json_uri = f"runs:/{run_id}/{REPORT_HTML}", f"runs:/{run_id}/{REPORT_JSON}"
    verdict = report["verdict"]
    label = verdict["verdict"]
    reasons = list(verdict.get("reasons") or [])
    registry.set_version_tags(
        version,
        {
            "gate_verdict": label,
            "gate_report": html_uri,
            "gate_report_json": json_uri,
            "gate_run_id": run_id,
            "gate_policy": report["policy"]["name"],
            "gate_eval_sha256": report["eval_sha256"],
            "gate_champion_version": (report.get("champion") or {}).get("version") or "none",
            "gate_accuracy": f"{report['candidate']['metrics']['accuracy']['value']:.4f}",
            "gate_reasons": ("; ".join(reasons) or "all gates passed")[:5000],
        },
        name,
    )
    record_gate_verdict(version, report, report_uri=html_uri, model_name=name)  # the gate part of the model card
    metrics = {"candidate": report["candidate"]["metrics"]}
    if report.get("champion"):
        metrics["champion"] = report["champion"]["metrics"]
    if report.get("comparison"):
        metrics["comparison"] = report["comparison"]
    log.info("gate verdict", extra={"model_name": name, "version": version, "verdict": label, "run_id": run_id})
    return GateResult(
        verdict=label,
        model_name=name,
        candidate_version=version,
        champion_version=(report.get("champion") or {}).get("version"),
        metrics=metrics,
        gates=list(verdict["gates"]),
        reasons=reasons,
        report_uri=html_uri,
        report_json_uri=json_uri,
        run_id=run_id,
        reused=reused,
        report=report,
    )
