"""Token-level scoring of de-identification on the labelled corpus (``medgrpo.deid.corpus``).

A word token (``\\w+``) of the text is *PHI* when it lies inside a gold span, *redacted* when any
detected span covers any of its characters. Then, over the Safe Harbor categories plus clinician
and facility names (every gold type):

- recall = PHI tokens redacted / PHI tokens;
- precision = PHI tokens redacted / tokens redacted;
- over-redaction = non-PHI tokens redacted / non-PHI tokens;

overall, per entity type (recall), per note kind and per letter-case style, and recall on the name and
place words the detector's lexicons do not contain (out-of-lexicon).

Run (the README's figures)::

    python -m medgrpo.deid.evaluate --split test      # the frozen test split (do not tune on it)
    python -m medgrpo.deid.evaluate --split dev --n 400
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from medgrpo.deid.corpus import Note, generate_corpus, in_lexicon, read_split
from medgrpo.deid.types import Span

_WORD = re.compile(r"\w+")


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def evaluate(notes: Sequence[Note], analyze: Callable[[str], list[Span]]) -> dict[str, Any]:
    """Score ``analyze`` (text -> spans) on ``notes`` at the token level."""
    tp = fp = fn = tn = 0
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_group: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp, fn, fp, tn
    oov = [0, 0]
    misses: list[str] = []
    false_hits: list[str] = []
    for note in notes:
        covered = bytearray(len(note.text))
        for s in analyze(note.text):
            covered[s.start : s.end] = b"\x01" * (s.end - s.start)
        gold = [""] * len(note.text)
        for start, end, etype in note.phi:
            for k in range(start, end):
                gold[k] = etype
        for m in _WORD.finditer(note.text):
            etype = next((gold[k] for k in range(m.start(), m.end()) if gold[k]), "")
            hit = any(covered[m.start() : m.end()])
            groups = (f"kind={note.kind}", f"style={note.style}")
            if etype:
                by_type[etype][1] += 1
                by_type[etype][0] += int(hit)
                if etype in {"NAME", "LOCATION"} and m.group(0).isalpha() and not in_lexicon(m.group(0)):
                    oov[1] += 1
                    oov[0] += int(hit)
                if hit:
                    tp += 1
                else:
                    fn += 1
                    misses.append(f"{etype}: {note.text[max(0, m.start() - 25) : m.start()]!r} [[{m.group(0)}]]")
                for g in groups:
                    by_group[g][0 if hit else 1] += 1
            else:
                if hit:
                    fp += 1
                    false_hits.append(f"{note.text[max(0, m.start() - 25) : m.start()]!r} [[{m.group(0)}]]")
                else:
                    tn += 1
                for g in groups:
                    by_group[g][2 if hit else 3] += 1
    return {
        "notes": len(notes),
        "tokens": tp + fp + fn + tn,
        "phi_tokens": tp + fn,
        "recall": _ratio(tp, tp + fn),
        "precision": _ratio(tp, tp + fp),
        "over_redaction": _ratio(fp, fp + tn),
        "out_of_lexicon_recall": _ratio(*oov),
        "out_of_lexicon_tokens": oov[1],
        "per_type": {t: {"tokens": v[1], "recall": _ratio(v[0], v[1])} for t, v in sorted(by_type.items())},
        "per_group": {
            g: {"recall": _ratio(v[0], v[0] + v[1]), "precision": _ratio(v[0], v[0] + v[2])}
            for g, v in sorted(by_group.items())
        },
        "misses": misses,
        "false_hits": false_hits,
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text report of the figures."""
    lines = [
        f"notes {result['notes']}, tokens {result['tokens']}, PHI tokens {result['phi_tokens']}",
        f"token recall {result['recall']:.4f}  precision {result['precision']:.4f}  "
        f"over-redaction {result['over_redaction']:.4f}  "
        f"out-of-lexicon name/place recall {result['out_of_lexicon_recall']:.4f} "
        f"({result['out_of_lexicon_tokens']} tokens)",
        f"{'entity type':<16}{'tokens':>8}{'recall':>9}",
    ]
    for etype, row in result["per_type"].items():
        lines.append(f"{etype:<16}{row['tokens']:>8}{row['recall']:>9.4f}")
    lines.append(f"{'group':<20}{'recall':>9}{'precision':>11}")
    for group, row in result["per_group"].items():
        lines.append(f"{group:<20}{row['recall']:>9.4f}{row['precision']:>11.4f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the figures for a policy on the dev split or the frozen test split."""
    parser = argparse.ArgumentParser(description="token-level de-identification figures on the labelled corpus")
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--n", type=int, default=400, help="dev notes to generate (the test split is fixed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--show", type=int, default=0, help="print up to N misses and false hits (dev only)")
    args = parser.parse_args(argv)
    from medgrpo.deid import load_deidentifier

    deid = load_deidentifier(args.policy)
    if args.split == "test":
        notes, sha = read_split()
        print(f"split=test (frozen, sha256 {sha[:16]})")
    else:
        notes = generate_corpus(args.n, split="dev", seed=args.seed)
        print(f"split=dev seed={args.seed}")
    result = evaluate(notes, deid.analyze)
    print(format_table(result))
    if args.show and args.split == "dev":
        for line in result["misses"][: args.show]:
            print("MISS", line)
        for line in result["false_hits"][: args.show]:
            print("FALSE", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
