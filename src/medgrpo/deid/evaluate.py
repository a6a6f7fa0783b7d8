"""Measure de-identification on the labelled synthetic corpus: recall, precision, F2 per entity type.

- span level: a gold PHI span counts as found when every one of its word characters is covered by
  some detected span (of any type: what matters is that it is removed); a detected span counts as
  correct when it overlaps some gold span. Recall is per gold type, precision per detected type.
- token level: word tokens of gold spans covered by detections (recall); detected word tokens that
  are inside gold spans (precision).
- ``removed``: share of gold PHI strings that no longer occur in the de-identified text (the
  acceptance measure), and ``clinical_survival``: share of clinical phrases that are still there.

Run: ``python -m medgrpo.deid.evaluate --split heldout --n 400``.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from medgrpo.deid.corpus import Note, generate_corpus
from medgrpo.deid.detect import Span

_WORD = re.compile(r"\w+")


def f_beta(p: float, r: float, beta: float = 2.0) -> float:
    """F-beta score (beta=2 weighs recall four times as much as precision)."""
    if p == 0 and r == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r)


def evaluate(
    notes: Sequence[Note],
    analyze: Callable[[str], list[Span]],
    deidentify: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Score ``analyze`` (text -> spans) and optionally ``deidentify`` (text -> text) on ``notes``."""
    gold_total: dict[str, int] = defaultdict(int)
    gold_found: dict[str, int] = defaultdict(int)
    pred_total: dict[str, int] = defaultdict(int)
    pred_ok: dict[str, int] = defaultdict(int)
    tok_gold: dict[str, int] = defaultdict(int)
    tok_found: dict[str, int] = defaultdict(int)
    tok_pred = 0
    tok_pred_ok = 0
    removed = strings = 0
    removed_by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    clin_ok = clin_total = 0
    for note in notes:
        spans = analyze(note.text)
        covered = bytearray(len(note.text))
        for s in spans:
            covered[s.start : s.end] = b"\x01" * (s.end - s.start)
        gold_mask = bytearray(len(note.text))
        for start, end, etype in note.phi:
            gold_mask[start:end] = b"\x01" * (end - start)
            gold_total[etype] += 1
            chars = [i for i in range(start, end) if note.text[i].isalnum()]
            if all(covered[i] for i in chars):
                gold_found[etype] += 1
            for m in _WORD.finditer(note.text, start, end):
                tok_gold[etype] += 1
                if all(covered[i] for i in range(m.start(), m.end())):
                    tok_found[etype] += 1
        for s in spans:
            pred_total[s.entity] += 1
            if any(gold_mask[s.start : s.end]):
                pred_ok[s.entity] += 1
            for m in _WORD.finditer(note.text, s.start, s.end):
                tok_pred += 1
                tok_pred_ok += int(any(gold_mask[m.start() : m.end()]))
        if deidentify is not None:
            out = deidentify(note.text)
            for start, end, etype in note.phi:
                value = note.text[start:end]
                strings += 1
                removed_by[etype][1] += 1
                if value not in out:
                    removed += 1
                    removed_by[etype][0] += 1
            for start, end in note.clinical:
                clin_total += 1
                clin_ok += int(note.text[start:end] in out)
    per_type: dict[str, dict[str, float]] = {}
    for etype in sorted(set(gold_total) | set(pred_total)):
        r = gold_found[etype] / gold_total[etype] if gold_total[etype] else float("nan")
        p = pred_ok[etype] / pred_total[etype] if pred_total[etype] else float("nan")
        tr = tok_found[etype] / tok_gold[etype] if tok_gold[etype] else float("nan")
        row = {
            "gold": gold_total[etype],
            "span_recall": r,
            "span_precision": p,
            "span_f2": f_beta(p, r) if r == r and p == p else float("nan"),
            "token_recall": tr,
        }
        if etype in removed_by:
            row["removed"] = removed_by[etype][0] / removed_by[etype][1]
        per_type[etype] = row
    g, f = sum(gold_total.values()), sum(gold_found.values())
    pt, po = sum(pred_total.values()), sum(pred_ok.values())
    tg, tf = sum(tok_gold.values()), sum(tok_found.values())
    overall_r, overall_p = (f / g if g else 0.0), (po / pt if pt else 0.0)
    tok_r, tok_p = (tf / tg if tg else 0.0), (tok_pred_ok / tok_pred if tok_pred else 0.0)
    return {
        "notes": len(notes),
        "per_type": per_type,
        "span": {"recall": overall_r, "precision": overall_p, "f2": f_beta(overall_p, overall_r)},
        "token": {"recall": tok_r, "precision": tok_p, "f2": f_beta(tok_p, tok_r)},
        "removed": removed / strings if strings else None,
        "clinical_survival": clin_ok / clin_total if clin_total else None,
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of the per-type figures and the totals."""
    lines = [f"{'entity':<14}{'gold':>6}{'span R':>9}{'span P':>9}{'span F2':>9}{'tok R':>9}{'removed':>9}"]

    def fmt(x: Any) -> str:
        return "     -" if x is None or x != x else f"{x:9.3f}"

    for etype, row in result["per_type"].items():
        lines.append(
            f"{etype:<14}{row['gold']:>6}{fmt(row['span_recall'])}{fmt(row['span_precision'])}"
            f"{fmt(row['span_f2'])}{fmt(row['token_recall'])}{fmt(row.get('removed'))}"
        )
    s, t = result["span"], result["token"]
    lines.append(f"{'ALL (span)':<14}{'':>6}{fmt(s['recall'])}{fmt(s['precision'])}{fmt(s['f2'])}")
    lines.append(f"{'ALL (token)':<14}{'':>6}{fmt(t['recall'])}{fmt(t['precision'])}{fmt(t['f2'])}")
    if result.get("removed") is not None:
        lines.append(
            f"PHI strings removed: {result['removed']:.4f}   "
            f"clinical phrases surviving: {result['clinical_survival']:.4f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the evaluation table for our engine on a generated corpus."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--split", choices=["tuning", "heldout"], default="heldout")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--show-misses", type=int, default=0, help="print up to N missed PHI types/contexts (debug)")
    args = parser.parse_args(argv)
    from medgrpo.deid import load_deidentifier

    deid = load_deidentifier(args.policy)
    notes = generate_corpus(args.n, split=args.split, seed=args.seed)
    result = evaluate(notes, deid.analyze, lambda text: deid.deidentify_text(text)[0])
    print(f"split={args.split} notes={len(notes)}")
    print(format_table(result))
    if args.show_misses:
        shown = 0
        for note in notes:
            spans = deid.analyze(note.text)
            for start, end, etype in note.phi:
                if not any(s.start <= start and s.end >= end for s in spans):
                    before, after = note.text[max(0, start - 30) : start], note.text[end : end + 20]
                    print(f"MISS {etype}: {before!r} [[{note.text[start:end]}]] {after!r}")
                    shown += 1
            out = deid.deidentify_text(note.text)[0]
            for start, end in note.clinical:
                if note.text[start:end] not in out:
                    print(f"LOST clinical: {note.text[start:end]!r}")
                    shown += 1
            if shown >= args.show_misses:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
