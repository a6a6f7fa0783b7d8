"""Benchmark: our de-identification engine vs vanilla Presidio, side by side on the same notes.

Both run in this process on one core, on the same generated ~1 KB labelled notes (held-out
templates), with the same offline NLP engine (a blank spaCy English pipeline: no model download):

- ours: ``medgrpo.deid`` with the packaged default policy (analyze + anonymize + canary per batch);
- vanilla: Presidio ``AnalyzerEngine`` with its default recognizers + ``AnonymizerEngine`` defaults.

Prints notes per CPU-second (= per core; robust to other load on the machine) and wall-clock notes/s
for each, the ratio, and both recalls (span level and PHI strings removed), then
our per-entity table. Usage: ``python benchmarks/deid.py [--notes 300] [--split heldout]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any


def _vanilla() -> tuple[Any, Any]:
    from medgrpo.deid.engine import build_offline_nlp_engine, import_presidio

    import_presidio()
    from presidio_analyzer import AnalyzerEngine
    from presidio_anonymizer import AnonymizerEngine

    analyzer = AnalyzerEngine(nlp_engine=build_offline_nlp_engine(), supported_languages=["en"])
    return analyzer, AnonymizerEngine()


def main() -> int:
    """Run both engines and print the comparison."""
    parser = argparse.ArgumentParser(description="de-identification throughput and recall, ours vs vanilla Presidio")
    parser.add_argument("--notes", type=int, default=300)
    parser.add_argument("--split", choices=["tuning", "heldout"], default="heldout")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per engine (the best one counts)")
    args = parser.parse_args()

    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # vanilla's URL recognizer tries the network
    from medgrpo.deid import load_deidentifier
    from medgrpo.deid.corpus import generate_corpus
    from medgrpo.deid.detect import Span
    from medgrpo.deid.evaluate import evaluate, format_table

    notes = generate_corpus(args.notes, split=args.split, seed=args.seed)
    texts = [n.text for n in notes]
    mean_len = statistics.mean(len(t) for t in texts)
    print(f"{len(texts)} notes ({args.split} templates), mean {mean_len:.0f} characters, one process")

    ours = load_deidentifier(None)
    analyzer, anonymizer = _vanilla()

    # warm up both on other notes (per-word caches, first-call set-up), then time each over the same notes
    for note in generate_corpus(30, split=args.split, seed=args.seed + 1000):
        ours.deidentify_records([{"text": note.text}], text_fields=["text"])
        analyzer.analyze(text=note.text, language="en")

    records = [{"id": str(i), "text": t} for i, t in enumerate(texts)]
    batch = 64

    def run_ours() -> None:
        for i in range(0, len(records), batch):
            ours.deidentify_records(records[i : i + batch], text_fields=["text"])

    def run_vanilla() -> None:
        for t in texts:
            anonymizer.anonymize(text=t, analyzer_results=analyzer.analyze(text=t, language="en"))

    # CPU seconds of this process = notes per core, robust to other load on the machine; best of N rounds
    timings = {}
    for name, fn in (("ours", run_ours), ("vanilla", run_vanilla)):
        cpu, wall = [], []
        for _ in range(args.rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        timings[name] = (min(cpu), min(wall))
    for name, (cpu_s, wall_s) in timings.items():
        extra = f", one canary self-check per {batch}-note batch" if name == "ours" else ""
        print(
            f"{name + ':':8} {len(texts) / cpu_s:8.1f} notes per CPU-second (per core)   "
            f"{len(texts) / wall_s:8.1f} notes/s wall{extra}"
        )
    ratio = timings["vanilla"][0] / timings["ours"][0]
    print(f"ratio ours/vanilla (per core): {ratio:.2f}x   load average: {Path('/proc/loadavg').read_text().split()[0]}")

    def vanilla_spans(text: str) -> list[Span]:
        return [Span(r.start, r.end, r.entity_type, r.score) for r in analyzer.analyze(text=text, language="en")]

    def vanilla_text(text: str) -> str:
        return str(anonymizer.anonymize(text=text, analyzer_results=analyzer.analyze(text=text, language="en")).text)

    ours_q = evaluate(notes, ours.analyze, lambda t: ours.deidentify_text(t)[0])
    van_q = evaluate(notes, vanilla_spans, vanilla_text)
    print(
        f"recall (span, any type):  ours {ours_q['span']['recall']:.4f}   vanilla {van_q['span']['recall']:.4f}\n"
        f"PHI strings removed:      ours {ours_q['removed']:.4f}   vanilla {van_q['removed']:.4f}\n"
        f"clinical phrases survive: ours {ours_q['clinical_survival']:.4f}   vanilla {van_q['clinical_survival']:.4f}"
    )
    print("\nours, per entity type:")
    print(format_table(ours_q))
    print("\nvanilla Presidio, per gold entity type (recall; its own labels for precision):")
    print(format_table(van_q))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
