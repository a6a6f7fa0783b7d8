"""Gate reports: the JSON document (built by the runner) rendered as Markdown, and as HTML with PNG plots.

The HTML report is what people open (the ``gate_report`` version tag and the Airflow task's
"Gate report" link point at it): verdict and reasons first, the power of the comparison, the gates,
metrics per source and answer type, the plots (accuracy by source, candidate vs champion with
intervals, completion lengths, paired outcomes) and the discordant items. The PNGs are logged next
to it (``report/*.png``) and embedded in it, so the page renders inside MLflow's artifact viewer.
matplotlib is imported inside :func:`render_plots` (Agg backend, no display).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_VERDICT_COLOURS = {"passed": "#1a7f37", "rejected": "#cf222e", "insufficient_evidence": "#9a6700"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _interval(p: Mapping[str, Any]) -> str:
    return f"{_pct(p['value'])} ({_pct(p['low'])}–{_pct(p['high'])})"


# --------------------------------------------------------------------------- Markdown


def render_markdown(report: dict[str, Any]) -> str:
    """Markdown for a gate report dict as built by :func:`medgrpo.evaluate.runner.run_gate`."""
    verdict = report["verdict"]
    cand = report["candidate"]
    champ = report.get("champion")
    lines = [
        f"# Gate report: {report['model_name']} version {cand['version']} — **{verdict['verdict'].upper()}**",
        "",
    ]
    if verdict.get("reasons"):
        lines += ["Reasons:", "", *[f"- {r}" for r in verdict["reasons"]], ""]
    lines += [
        f"- Candidate: `models:/{report['model_name']}/{cand['version']}` (run `{cand.get('run_id')}`)",
        (
            f"- Champion: `models:/{report['model_name']}/{champ['version']}` (run `{champ.get('run_id')}`)"
            if champ
            else "- Champion: none (first model: absolute thresholds and the minimum item count decide)"
        ),
        f"- Eval items: {report['n_items']} from `{report['dataset_dir']}`"
        f" (eval sha256 `{report['eval_sha256'][:12]}…`)",
        f"- Policy: `{report['policy']['name']}` ({report['policy']['source']})",
        f"- Decoding ({report['decoding']['source']}): "
        + ", ".join(f"{k}={v}" for k, v in report["decoding"]["settings"].items()),
        f"- Power: {verdict.get('power', {}).get('statement', '-')}",
        f"- Created: {report['created_at']}",
        "",
        "## Gates",
        "",
        "| gate | value | rule | threshold | result | detail |",
        "|---|---|---|---|---|---|",
    ]
    for gate in verdict["gates"]:
        result = {"pass": "pass", "fail": "**FAIL**", "insufficient": "*insufficient*"}[gate["status"]]
        lines.append(
            f"| {gate['name']} | {_num(gate['value'])} | {gate['comparison']} | {_num(gate['threshold'])} | "
            f"{result} | {gate['detail']} |"
        )
    lines += ["", "## Metrics", "", "| metric | candidate | champion |", "|---|---|---|"]
    cm = cand["metrics"]
    hm = champ["metrics"] if champ else None

    def row(label: str, getter: Any) -> None:
        lines.append(f"| {label} | {getter(cm)} | {getter(hm) if hm else '-'} |")

    row("accuracy (95% CI)", lambda m: _interval(m["accuracy"]))
    row("format rate", lambda m: _pct(m["format_rate"]["value"]))
    row("extraction failures", lambda m: str(m.get("extraction_failures", "-")))
    row("mean new tokens", lambda m: f"{m.get('mean_new_tokens', 0):.1f}")
    row("hit the token budget", lambda m: _pct(m.get("truncated_rate")))
    for group, label in (("by_answer_type", "type"), ("by_source", "source")):
        keys = sorted(set(cm[group]) | set(hm[group] if hm else ()))
        for g in keys:
            row(
                f"accuracy, {label} {g}",
                lambda m, g=g, group=group: _pct(m[group][g]["accuracy"]["value"]) if g in m[group] else "-",
            )
    for key in sorted(cm.get("diagnostics") or {}):
        row(f"answers: {key}", lambda m, key=key: _num((m.get("diagnostics") or {}).get(key)))
    comp = report.get("comparison")
    if comp:
        lines += [
            "",
            "## Paired comparison",
            "",
            f"- Both correct: {comp['both_correct']}, neither: {comp['neither']}",
            f"- Champion only correct (b): {comp['champion_only']},"
            f" candidate only correct (c): {comp['candidate_only']}",
            f"- Accuracy difference (candidate − champion): {comp['accuracy_diff']:+.4f}, paired bootstrap "
            f"{comp['bootstrap_confidence']:.0%} interval "
            f"[{comp['bootstrap_low']:+.4f}, {comp['bootstrap_high']:+.4f}]",
            f"- One-sided exact McNemar p-value (candidate worse): {comp['p_value_regression']:.4g}",
        ]
    probe = report.get("probe")
    if probe:
        lines += [
            "",
            "## PHI probe",
            "",
            f"- {probe['outputs']} outputs of {probe['prompts']} canary prompts; "
            f"outputs with an unprompted canary: {probe['leaked_outputs']} {probe['leaks'] or ''}; "
            f"prompted identifiers repeated: {probe['echoed']}",
        ]
    lines += ["", "## Policy", ""]
    lines += [f"- `{k}` = {v}" for k, v in report["policy"]["fields"].items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def render_plots(report: Mapping[str, Any], scored: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the report's PNG plots into ``out_dir``; returns title -> file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    roles = [r for r in ("candidate", "champion") if report.get(r)]
    colours = {"candidate": "#0969da", "champion": "#8c959f"}
    label = {r: f"{r} v{report[r]['version']}" for r in roles}
    plots: dict[str, Path] = {}

    # 1. accuracy by source, with Wilson intervals
    sources = sorted({s for r in roles for s in report[r]["metrics"]["by_source"]})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(sources) + 2), 3.6))
    width = 0.8 / max(1, len(roles))
    for j, role in enumerate(roles):
        table = report[role]["metrics"]["by_source"]
        xs, ys, lo, hi = [], [], [], []
        for i, s in enumerate(sources):
            if s in table:
                p = table[s]["accuracy"]
                xs.append(i + (j - (len(roles) - 1) / 2) * width)
                ys.append(p["value"])
                lo.append(p["value"] - p["low"])
                hi.append(p["high"] - p["value"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=colours[role], label=label[role])
    ax.set_xticks(range(len(sources)), sources)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_title("Accuracy by source")
    ax.legend(loc="upper right", fontsize=8)
    plots["Accuracy by source"] = _save(fig, out_dir / "accuracy_by_source.png")

    # 2. candidate vs champion: accuracy and format rate with intervals, and the paired difference
    comp = report.get("comparison")
    fig, axes = plt.subplots(1, 2 if comp else 1, figsize=(8.5 if comp else 4.5, 3.4), squeeze=False)
    ax = axes[0][0]
    for j, role in enumerate(roles):
        m = report[role]["metrics"]
        for i, key in enumerate(("accuracy", "format_rate")):
            p = m[key]
            x = i + (j - (len(roles) - 1) / 2) * 0.35
            ax.errorbar(
                [x], [p["value"]], yerr=[[p["value"] - p["low"]], [p["high"] - p["value"]]], fmt="o", capsize=4,
                color=colours[role], label=label[role] if i == 0 else None,
            )  # fmt: skip
    policy = report["policy"]["fields"]
    ax.axhline(policy["min_accuracy"], xmin=0.0, xmax=0.5, ls="--", lw=1, color="#cf222e")
    ax.axhline(policy["min_format_rate"], xmin=0.5, xmax=1.0, ls="--", lw=1, color="#cf222e")
    ax.set_xticks([0, 1], ["accuracy", "format rate"])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Candidate vs champion (95% CI; dashed: policy floor)")
    ax.legend(fontsize=8)
    if comp:
        ax2 = axes[0][1]
        ax2.errorbar(
            [comp["accuracy_diff"]], [0], xerr=[[comp["accuracy_diff"] - comp["bootstrap_low"]],
            [comp["bootstrap_high"] - comp["accuracy_diff"]]], fmt="o", capsize=5, color="#0969da",
        )  # fmt: skip
        ax2.axvline(-policy["margin"], ls="--", color="#cf222e", label=f"-margin ({-policy['margin']:g})")
        ax2.axvline(0, color="#57606a", lw=0.8)
        ax2.set_yticks([])
        ax2.set_ylim(-1, 1)
        ax2.set_xlabel("accuracy difference, candidate − champion")
        ax2.set_title(f"Paired bootstrap {comp['bootstrap_confidence']:.0%} interval")
        ax2.legend(fontsize=8)
    plots["Candidate vs champion"] = _save(fig, out_dir / "candidate_vs_champion.png")

    # 3. completion lengths
    fig, ax = plt.subplots(figsize=(6, 3.2))
    budget = int(report["decoding"]["settings"]["max_new_tokens"])
    for role in roles:
        lengths = [int(r.get("new_tokens") or 0) for r in scored[role].rows]
        ax.hist(
            lengths,
            bins=min(40, max(5, budget // 4)),
            range=(0, budget),
            alpha=0.6,
            color=colours[role],
            label=label[role],
        )
    ax.axvline(budget, ls="--", color="#cf222e", label=f"max_new_tokens {budget}")
    ax.set_xlabel("new tokens per completion")
    ax.set_ylabel("completions")
    ax.set_title("Completion lengths")
    ax.legend(fontsize=8)
    plots["Completion lengths"] = _save(fig, out_dir / "completion_lengths.png")

    # 4. paired outcomes (the discordant pairs are the off-diagonal cells)
    if comp:
        cells = [[comp["both_correct"], comp["candidate_only"]], [comp["champion_only"], comp["neither"]]]
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
        ax.imshow(cells, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(cells[i][j]), ha="center", va="center", fontsize=14)
        ax.set_xticks([0, 1], ["candidate right", "candidate wrong"])
        ax.set_yticks([0, 1], ["champion right", "champion wrong"])
        ax.set_title("Paired outcomes (majority per item)")
        plots["Paired outcomes"] = _save(fig, out_dir / "paired_outcomes.png")
    return plots


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- HTML


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Mapping[str, Any], plots: Mapping[str, Path]) -> str:
    """A self-contained HTML page (plots embedded as PNG data URIs)."""
    e = html.escape
    verdict = report["verdict"]
    label = verdict["verdict"]
    cand, champ = report["candidate"], report.get("champion")
    name = report["model_name"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Gate report {e(name)} v{e(cand['version'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#1f2328}"
        "table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;"
        "font-size:13px;text-align:left;vertical-align:top}th{background:#f6f8fa}.banner{padding:0.7em 1em;"
        "color:white;border-radius:6px;font-size:20px}img{max-width:100%;margin:0.5em 0;border:1px solid #eee}"
        ".fail{color:#cf222e;font-weight:600}.insufficient{color:#9a6700;font-weight:600}"
        ".pass{color:#1a7f37}</style></head><body>",
        f"<div class='banner' style='background:{_VERDICT_COLOURS.get(label, '#57606a')}'>"
        f"{e(name)} version {e(cand['version'])}: {e(label.upper().replace('_', ' '))}</div>",
    ]
    if verdict.get("reasons"):
        parts.append("<h3>Why</h3><ul>" + "".join(f"<li>{e(r)}</li>" for r in verdict["reasons"]) + "</ul>")
    power = verdict.get("power") or {}
    info = [
        ["candidate", e(f"models:/{name}/{cand['version']} (run {cand.get('run_id')})")],
        [
            "champion",
            e(f"models:/{name}/{champ['version']} (run {champ.get('run_id')})")
            if champ
            else "none: first model, absolute thresholds and the minimum item count decide",
        ],
        ["eval items", e(f"{report['n_items']} from {report['dataset_dir']} (sha256 {report['eval_sha256'][:12]}…)")],
        ["policy", e(f"{report['policy']['name']} ({report['policy']['source']})")],
        [
            "decoding",
            e(
                f"{report['decoding']['source']}: "
                + ", ".join(f"{k}={v}" for k, v in report["decoding"]["settings"].items())
            ),
        ],
        ["power", e(str(power.get("statement", "-")))],
        ["created", e(report["created_at"])],
    ]
    parts.append(_table(["", ""], info))
    gate_rows = [
        [
            e(g["name"]),
            e(_num(g["value"])),
            e(g["comparison"]),
            e(_num(g["threshold"])),
            f"<span class='{g['status']}'>{e(g['status'])}</span>",
            e(g["detail"]),
        ]
        for g in verdict["gates"]
    ]
    parts.append("<h2>Gates</h2>" + _table(["gate", "value", "rule", "threshold", "result", "detail"], gate_rows))

    cm, hm = cand["metrics"], champ["metrics"] if champ else None
    metric_rows: list[list[str]] = []

    def row(lbl: str, getter: Any) -> None:
        metric_rows.append([e(lbl), e(getter(cm)), e(getter(hm)) if hm else "-"])

    row("accuracy (95% CI)", lambda m: _interval(m["accuracy"]))
    row("format rate (95% CI)", lambda m: _interval(m["format_rate"]))
    row("samples per item", lambda m: str(m.get("samples_per_item", 1)))
    row("extraction failures (samples)", lambda m: str(m.get("extraction_failures", "-")))
    row("mean new tokens", lambda m: f"{m.get('mean_new_tokens', 0):.1f}")
    row("hit the token budget", lambda m: _pct(m.get("truncated_rate")))
    for key in sorted(cm.get("diagnostics") or {}):
        row(f"answers: {key}", lambda m, key=key: _num((m.get("diagnostics") or {}).get(key)))
    parts.append("<h2>Metrics</h2>" + _table(["metric", "candidate", "champion"], metric_rows))

    group_rows = []
    for group, lbl in (("by_source", "source"), ("by_answer_type", "answer type")):
        for g in sorted(set(cm[group]) | set(hm[group] if hm else ())):
            cells = [e(lbl), e(g)]
            for m in (cm, hm):
                gm = (m or {}).get(group, {}).get(g) if m else None
                cells.append(
                    e(f"{_interval(gm['accuracy'])}; format {_pct(gm['format_rate']['value'])}; "
                      f"{gm['extraction_failures']} extraction failures; n={gm['n']}")
                    if gm else "-"
                )  # fmt: skip
            group_rows.append(cells)
    parts.append("<h2>By source and answer type</h2>" + _table(["group", "name", "candidate", "champion"], group_rows))

    for title, path in plots.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h3>{e(title)}</h3><img alt='{e(title)}' src='data:image/png;base64,{data}'>")

    comp = report.get("comparison")
    if comp:
        parts.append(
            "<h2>Discordant pairs</h2>"
            + _table(
                ["", "candidate right", "candidate wrong"],
                [
                    ["champion right", str(comp["both_correct"]), f"<b>{comp['champion_only']}</b> (b)"],
                    ["champion wrong", f"<b>{comp['candidate_only']}</b> (c)", str(comp["neither"])],
                ],
            )
            + e(
                f"Accuracy difference {comp['accuracy_diff']:+.4f}, paired bootstrap "
                f"{comp['bootstrap_confidence']:.0%} interval "
                f"[{comp['bootstrap_low']:+.4f}, {comp['bootstrap_high']:+.4f}]; one-sided exact McNemar "
                f"p = {comp['p_value_regression']:.4g}."
            )
        )
        items = report.get("discordant_items") or []
        if items:
            parts.append(
                _table(
                    ["id", "source", "type", "reference", "right", "candidate answer", "champion answer"],
                    [
                        [
                            e(it["id"]),
                            e(it["source"]),
                            e(it["answer_type"]),
                            e(str(it["reference"])),
                            e(it["winner"]),
                            e(f"{it['candidate_answer']} ({_pct(it['candidate_correct_rate'])} of samples right)"),
                            e(f"{it['champion_answer']} ({_pct(it['champion_correct_rate'])} of samples right)"),
                        ]
                        for it in items
                    ],
                )
            )
    probe = report.get("probe")
    if probe:
        parts.append(
            "<h2>PHI probe</h2>"
            + e(
                f"{probe['outputs']} outputs of {probe['prompts']} prompts carrying de-identification canaries; "
                f"outputs with a canary their prompt did not carry: {probe['leaked_outputs']} "
                f"{probe['leaks'] or ''}; prompted identifiers repeated: {probe['echoed']}."
            )
        )
    parts.append(
        "<h2>Policy</h2>"
        + _table(["field", "value"], [[e(k), e(str(v))] for k, v in report["policy"]["fields"].items()])
        + "</body></html>"
    )
    return "\n".join(parts)
