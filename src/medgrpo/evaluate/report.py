"""Gate reports: one JSON document (machine-readable) and its Markdown rendering (for people)."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    return f"{value:.4g}"


def render_markdown(report: dict[str, Any]) -> str:
    """Markdown for a gate report dict as built by :func:`medgrpo.evaluate.runner.run_gate`."""
    verdict = report["verdict"]
    cand = report["candidate"]
    champ = report.get("champion")
    lines = [
        f"# Gate report: {report['model_name']} version {cand['version']} — **{verdict['verdict'].upper()}**",
        "",
        f"- Candidate: `models:/{report['model_name']}/{cand['version']}` (run `{cand.get('run_id')}`)",
        (
            f"- Champion: `models:/{report['model_name']}/{champ['version']}` (run `{champ.get('run_id')}`)"
            if champ
            else "- Champion: none (first run: absolute thresholds only)"
        ),
        f"- Eval items: {report['n_items']} from `{report['dataset_dir']}`"
        f" (eval sha256 `{report['eval_sha256'][:12]}…`)",
        f"- Created: {report['created_at']}",
        "",
        "## Gates",
        "",
        "| gate | value | rule | threshold | result | detail |",
        "|---|---|---|---|---|---|",
    ]
    for gate in verdict["gates"]:
        lines.append(
            f"| {gate['name']} | {_num(gate['value'])} | {gate['comparison']} | {_num(gate['threshold'])} | "
            f"{'pass' if gate['passed'] else '**FAIL**'} | {gate['detail']} |"
        )
    lines += ["", "## Metrics", "", "| metric | candidate | champion |", "|---|---|---|"]
    cm = cand["metrics"]
    hm = champ["metrics"] if champ else None

    def row(label: str, getter: Any) -> None:
        lines.append(f"| {label} | {getter(cm)} | {getter(hm) if hm else '-'} |")

    row(
        "accuracy (95% CI)",
        lambda m: f"{_pct(m['accuracy']['value'])} ({_pct(m['accuracy']['low'])}–{_pct(m['accuracy']['high'])})",
    )
    row("format rate", lambda m: _pct(m["format_rate"]["value"]))
    groups = sorted(set(cm["by_answer_type"]) | set(hm["by_answer_type"] if hm else ()))
    for g in groups:
        row(
            f"accuracy, type {g}",
            lambda m, g=g: _pct(m["by_answer_type"][g]["value"]) if g in m["by_answer_type"] else "-",
        )
    sources = sorted(set(cm["by_source"]) | set(hm["by_source"] if hm else ()))
    for s in sources:
        row(f"accuracy, source {s}", lambda m, s=s: _pct(m["by_source"][s]["value"]) if s in m["by_source"] else "-")
    comp = report.get("comparison")
    if comp:
        lines += [
            "",
            "## Paired comparison",
            "",
            f"- Both correct: {comp['both_correct']}, neither: {comp['neither']}",
            f"- Champion only correct (b): {comp['champion_only']},"
            f" candidate only correct (c): {comp['candidate_only']}",
            f"- Accuracy difference (candidate − champion): {comp['accuracy_diff']:+.4f}"
            + (
                f", paired bootstrap 95% CI [{comp['bootstrap_low']:+.4f}, {comp['bootstrap_high']:+.4f}]"
                if "bootstrap_low" in comp
                else ""
            ),
            f"- One-sided exact McNemar p-value (candidate worse): {comp['p_value_regression']:.4g}",
        ]
    lines += ["", "## Thresholds", ""]
    lines += [f"- `{k}` = {v}" for k, v in report["thresholds"].items()]
    return "\n".join(lines) + "\n"
