"""The de-identification engine: Presidio AnalyzerEngine + AnonymizerEngine, offline, fail-closed.

- Analysis: a Presidio ``AnalyzerEngine`` whose recognizers wrap the policy's recognizers from the
  registry (``medgrpo.deid.recognizers``, one module per kind of identifier), on an
  NLP engine that needs no downloaded model (a blank spaCy English pipeline, ``OfflineNlpEngine``).
  A policy may plug in an installed spaCy NER model (``nlp_engine: {provider: spacy, model: …}``),
  whose PERSON/GPE/LOC/ORG/DATE entities are then added to ours.
- Overlapping detections are merged into their union (recall first), then a Presidio
  ``AnonymizerEngine`` applies one custom operator per entity type (``surrogates.Replacer``).
- Every batch runs a canary self-check first: a synthetic note with one planted identifier per
  category the policy's kind must remove (all Safe Harbor categories for ``clinical``; the strict
  identifiers for ``public-benchmark``) goes through the same path and every planted value must be
  gone, else ``DeidError``. Any exception becomes a ``DeidError`` naming record index and field, never text.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medgrpo.deid import recognizers as registry
from medgrpo.deid.errors import DeidError
from medgrpo.deid.lexicon import load_lexicon
from medgrpo.deid.policy import Policy
from medgrpo.deid.surrogates import Replacer
from medgrpo.deid.text import Document
from medgrpo.deid.types import ENTITY_TYPES, Span, resolve

log = logging.getLogger(__name__)

# One planted value per Safe Harbor category (all synthetic). Each must be gone after de-id.
CANARY_TEXT = (
    "Patient: Zebulon Quarrington, MRN: QX7734219. DOB 07/04/1928; seen on March 3, 2021 by "
    "Dr. Ottoline Vasquez-Brandt at Wintermere Memorial Hospital. Address: 4417 Larkspur Avenue, "
    "Tillingham, OH 43952. Phone (740) 555-0182, fax 740-555-0199. E-mail zq1928@canarymail.org. "
    "SSN 078-05-1120. Medicaid ID: MCD88214507. Account number: AC-55120931. DEA number: BQ1234563. "
    "Licence plate: 7KQX219. Pacemaker serial: PM-8812-ZX77. Portal https://canary-portal.example.net/qx7734. "
    "Workstation IP 203.0.113.77. Fingerprint ID: FPX-44190-K. Badge ID: BDG-700321. "
    "He is a 97-year-old retired welder employed by Quillfeather Logistics and lives in Tillingham. "
    "wife ottilie called from wintermere hosp, pager 4-4817, on 7/22."
)
CANARY_VALUES: tuple[tuple[str, str], ...] = (
    ("NAME", "Zebulon"),
    ("NAME", "Quarrington"),
    ("NAME", "Ottoline"),
    ("NAME", "Vasquez-Brandt"),
    ("NAME", "ottilie"),
    ("MRN", "QX7734219"),
    ("DATE", "07/04/1928"),
    ("DATE", "March 3"),
    ("DATE", "7/22"),
    ("ORGANIZATION", "Wintermere"),
    ("ORGANIZATION", "wintermere hosp"),
    ("ADDRESS", "4417 Larkspur"),
    ("LOCATION", "Tillingham"),
    ("ZIP", "43952"),
    ("PHONE", "555-0182"),
    ("PHONE", "4-4817"),
    ("FAX", "555-0199"),
    ("EMAIL", "zq1928@canarymail.org"),
    ("SSN", "078-05-1120"),
    ("HEALTH_PLAN", "MCD88214507"),
    ("ACCOUNT", "55120931"),
    ("LICENSE", "BQ1234563"),
    ("VEHICLE", "7KQX219"),
    ("DEVICE", "PM-8812-ZX77"),
    ("URL", "canary-portal.example.net"),
    ("IP_ADDRESS", "203.0.113.77"),
    ("BIOMETRIC", "FPX-44190-K"),
    ("ID", "BDG-700321"),
    ("AGE", "97"),
    ("ORGANIZATION", "Quillfeather"),
)
# What a public-benchmark policy must still remove from a published exam item or abstract.
PUBLIC_CANARY_TEXT = (
    "Mr. Zebulon Quarrington, a 45-year-old man (MRN: QX7734219), was seen in January 2005. Contact "
    "zq1928@canarymail.org or (740) 555-0182, +44 20 7946 0958; SSN 078-05-1120; card 4111 1111 1111 1111; "
    "IBAN GB82 WEST 1234 5698 7654 32; IP 203.0.113.77 and ::1; profile https://www.facebook.com/zquarrington. "
    "Questions to Ottoline Vasquez-Brandt, fax 740-555-0199."
)
PUBLIC_CANARY_VALUES: tuple[tuple[str, str], ...] = (
    ("NAME", "Zebulon"),
    ("NAME", "Quarrington"),
    ("MRN", "QX7734219"),
    ("EMAIL", "zq1928@canarymail.org"),
    ("PHONE", "555-0182"),
    ("PHONE", "7946 0958"),
    ("SSN", "078-05-1120"),
    ("ACCOUNT", "4111 1111 1111 1111"),
    ("ACCOUNT", "GB82 WEST 1234 5698 7654 32"),
    ("IP_ADDRESS", "203.0.113.77"),
    ("IP_ADDRESS", "::1"),
    ("URL", "facebook.com/zquarrington"),
    ("NAME", "Ottoline"),  # a name given with contact details, no title: a real person
    ("NAME", "Vasquez-Brandt"),
    ("FAX", "555-0199"),
)
CANARIES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "clinical": (CANARY_TEXT, CANARY_VALUES),
    "public-benchmark": (PUBLIC_CANARY_TEXT, PUBLIC_CANARY_VALUES),
}


_QUICK_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def _quick_clean(text: str) -> bool:
    """True when ``text`` cannot hold anything any recognizer finds: no digit, no ``@``/``:``/``.`` inside a
    word, and only common English or clinical words that are not names ("yes", "choice", "parkinson disease")."""
    if any(c.isdigit() for c in text) or "@" in text or "://" in text or len(text) > 200:
        return False
    lex = load_lexicon()
    for m in _QUICK_WORD.finditer(text):
        info = lex.info(m.group(0))
        if (
            info.is_name
            or info.place
            or not ((info.english and info.english <= 50) or info.vocab == "clinical" or info.medical)
        ):
            return False
    return True


_BLOB_RE = re.compile(r"\S{200,}")


def _contains_token(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole token (not inside a longer word or number)."""
    return re.search(r"(?<![\w])" + re.escape(value) + r"(?![\w])", text, re.IGNORECASE) is not None


def import_presidio() -> None:
    """Import Presidio and spaCy without dragging in torch/transformers (12 s -> 2.5 s).

    Presidio's NLP-engine package imports ``transformers`` (and thinc imports ``torch``) only to
    offer engines we do not use offline; while neither is imported yet, they are hidden for the
    duration of the import (``import`` of a ``None`` entry raises ImportError, which both handle).
    """
    import sys

    if "presidio_analyzer" in sys.modules:
        return
    hidden = [name for name in ("torch", "transformers") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
        import presidio_anonymizer  # noqa: F401
        import spacy  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("medgrpo", "presidio-analyzer", "presidio-anonymizer"):
        try:
            parts.append(f"{dist}/{version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist}/unknown")
    parts.append(f"lexicon/{load_lexicon().version}")
    return " ".join(parts)


def _engine_sha256() -> str:
    """Hash of the detection and replacement code plus the word lists: changes whenever behaviour can."""
    from pathlib import Path

    digest = hashlib.sha256(load_lexicon().version.encode())
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), *(here / "recognizers").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_offline_nlp_engine() -> Any:
    """A Presidio ``SpacyNlpEngine`` on a blank English pipeline: tokens only, nothing downloaded."""
    import_presidio()
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class OfflineNlpEngine(SpacyNlpEngine):
        """Blank ``spacy.blank('en')`` pipeline; never calls ``spacy.cli.download``."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}  # type: ignore[assignment]

    engine = OfflineNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.load()
    return engine


def _build_spacy_nlp_engine(model: str) -> Any:
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    if not spacy.util.is_package(model):
        raise DeidError(f"policy asks for spaCy model {model!r}, which is not installed (nothing is downloaded)")
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
    engine.load()
    return engine


class _DocumentCache:
    """The last text's :class:`Document`, shared by every recognizer of one analysis."""

    def __init__(self) -> None:
        self.text: str | None = None
        self.doc: Document | None = None

    def get(self, text: str) -> Document:
        if self.doc is None or (self.text is not text and self.text != text):
            self.text, self.doc = text, Document(text)
        return self.doc


def build_recognizers(policy: Policy, cache: _DocumentCache | None = None) -> list[Any]:
    """Presidio recognizers wrapping the policy's registry recognizers, plus the policy's deny lists."""
    import_presidio()
    from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult

    shared: _DocumentCache = cache or _DocumentCache()

    class RegistryRecognizer(EntityRecognizer):
        """Wraps one ``medgrpo.deid.recognizers`` recognizer as a Presidio recognizer."""

        def __init__(self, inner: registry.Recognizer) -> None:
            self._inner = inner
            super().__init__(supported_entities=list(inner.entities), name=inner.name, supported_language="en")

        def load(self) -> None:
            """Vocabularies load lazily and are cached per process."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            wanted = set(entities)
            spans = self._inner.analyze(shared.get(text))
            return [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans if s.entity in wanted]

    options = {k: dict(v) for k, v in policy.options.items()}
    if "dates" in policy.use:
        options.setdefault("dates", {}).setdefault("reference_year", policy.reference_year)
    try:
        inner = registry.build(policy.use, options)
    except (TypeError, ValueError) as err:
        raise DeidError(f"invalid recognizer options in policy {policy.source}: {err}") from None
    recognizers: list[Any] = [RegistryRecognizer(r) for r in inner]
    for entity, words in policy.deny_list.items():
        if words:
            recognizers.append(
                PatternRecognizer(supported_entity=entity, deny_list=list(words), name=f"DenyList{entity}")
            )
    return recognizers


@dataclass
class _Audit:
    records: int = 0
    records_touched: int = 0
    entities: Counter[str] = field(default_factory=Counter)
    by_field: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    canary_checks: int = 0

    def merge(self, other: _Audit) -> None:
        self.records += other.records
        self.records_touched += other.records_touched
        self.entities.update(other.entities)
        for f, counts in other.by_field.items():
            self.by_field[f].update(counts)
        self.canary_checks += other.canary_checks

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "records_touched": self.records_touched,
            "entities": dict(sorted(self.entities.items())),
            "entities_by_field": {f: dict(sorted(c.items())) for f, c in sorted(self.by_field.items())},
            "canary_checks": self.canary_checks,
        }


class Deidentifier:
    """De-identifies records under one policy. Build it with ``medgrpo.deid.load_deidentifier``."""

    def __init__(self, policy: Policy) -> None:
        if policy.nlp_engine.get("provider", "offline") == "offline":
            import_presidio()
        else:
            import importlib.util
            from pathlib import Path

            model = str(policy.nlp_engine.get("model", "en_core_web_lg"))
            # checked before Presidio or spaCy is imported, so nothing ever tries to download it
            if not Path(model).exists() and importlib.util.find_spec(model.replace("-", "_")) is None:
                raise DeidError(
                    f"policy asks for spaCy model {model!r}, which is not installed (nothing is downloaded)"
                )
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        class NoContextEnhancer(ContextAwareEnhancer):
            """Our detectors score with their own context cues; skip Presidio's lemma pass."""

            def __init__(self) -> None:
                super().__init__(0.0, 0.0, 0, 0)

            def enhance_using_context(self, text: str, raw_results: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
                return raw_results

        presidio_log = logging.getLogger("presidio-analyzer")
        if presidio_log.level == logging.NOTSET:
            presidio_log.setLevel(logging.WARNING)  # it logs every recognizer it loads at INFO
        self.policy = policy
        self.engine_version = _engine_version()
        self.engine_sha256 = _engine_sha256()
        provider = policy.nlp_engine.get("provider", "offline")
        self._cache = _DocumentCache()
        recognizers = build_recognizers(policy, self._cache)
        if provider == "spacy":
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            nlp_engine = _build_spacy_nlp_engine(str(policy.nlp_engine.get("model", "en_core_web_lg")))
            recognizers.append(SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "ORGANIZATION", "DATE_TIME"]))
        else:
            nlp_engine = build_offline_nlp_engine()
        registry = RecognizerRegistry(recognizers=recognizers)
        self._analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=["en"],
            context_aware_enhancer=NoContextEnhancer(),
        )
        self._anonymizer = AnonymizerEngine()
        # None of our recognizers reads tokens or lemmas, so with the offline engine the analyzer
        # gets empty artifacts instead of a spaCy pass per text (a third of the time); an NER
        # engine from the policy gets the real thing.
        self._empty_artifacts = None
        self._fast_path = provider != "spacy" and not any(policy.deny_list.values())
        if provider != "spacy":
            from presidio_analyzer.nlp_engine import NlpArtifacts

            self._empty_artifacts = NlpArtifacts(
                entities=[], tokens=nlp_engine.get_nlp("en")(""), tokens_indices=[], lemmas=[],
                nlp_engine=nlp_engine, language="en",
            )  # fmt: skip
        self._replacer = Replacer(policy)
        self._canary_text, self._canary_values = CANARIES[policy.kind]
        self._replacer.exclude({w for _, value in self._canary_values for w in re.split(r"[\s-]+", value)})
        self._ner_map = {"PERSON": "NAME", "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION", "DATE_TIME": "DATE"}
        supported = {e for r in recognizers for e in r.supported_entities}
        wanted = [e for e in ENTITY_TYPES if e not in policy.disabled and e in supported]
        self._entities = wanted + ([k for k, v in self._ner_map.items() if v in wanted] if provider == "spacy" else [])
        self._operators = {
            etype: OperatorConfig("custom", {"lambda": self._make_operator(etype)}) for etype in ENTITY_TYPES
        }
        self._audit = _Audit()

    # ------------------------------------------------------------------------------------------
    def _make_operator(self, etype: str) -> Callable[[str], str]:
        replacer = self._replacer

        def operator(value: str) -> str:
            return replacer.replace(etype, value)

        return operator

    def analyze(self, text: str) -> list[Span]:
        """Detected, merged spans of ``text`` (recall first: overlapping detections become one span).

        A run of 200+ characters without white space (a blob, a token, a very long URL) is one ``ID``
        entity as a whole: it is never a clinical phrase, may hide identifiers, and scanning it with
        the detectors would cost quadratic time.
        """
        blobs = [Span(m.start(), m.end(), "ID", 1.0) for m in _BLOB_RE.finditer(text)]
        if blobs:
            chars = list(text)
            for b in blobs:
                chars[b.start : b.end] = " " * (b.end - b.start)
            text = "".join(chars)
        results = self._analyzer.analyze(
            text=text,
            language="en",
            entities=self._entities,
            score_threshold=self.policy.score_threshold,
            allow_list=list(self.policy.allow_list) or None,
            nlp_artifacts=self._empty_artifacts,
        )
        spans = [Span(r.start, r.end, self._ner_map.get(r.entity_type, r.entity_type), r.score) for r in results]
        spans = [s for s in spans if s.entity in ENTITY_TYPES and s.entity not in self.policy.disabled]
        return resolve(spans + blobs)

    def deidentify_text(self, text: str, key: str = "default") -> tuple[str, list[Span]]:
        """De-identify one string for patient ``key``; return the new text and the replaced spans."""
        from presidio_anonymizer.entities import RecognizerResult

        if not text or text.isspace():
            return text, []
        if self._fast_path and _quick_clean(text):
            return text, []  # nothing any recognizer could match: skip Presidio entirely
        spans = self.analyze(text)
        if not spans:
            return text, []
        self._replacer.key = key
        result = self._anonymizer.anonymize(
            text=text,
            analyzer_results=[RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans],
            operators=self._operators,
            merge_entities_with_spaces=False,
        )
        return str(result.text), spans

    # ------------------------------------------------------------------------------------------
    def canary_check(self) -> None:
        """Run the planted canary note; raise DeidError if any planted identifier survives."""
        try:
            out, _ = self.deidentify_text(self._canary_text, key="__canary__")
        except Exception as err:
            raise DeidError(f"canary self-check crashed ({type(err).__name__}); nothing was published") from None
        left = [etype for etype, value in self._canary_values if _contains_token(out, value)]
        survived = sorted(set(left))
        if survived:
            count = len(left)
            raise DeidError(
                f"canary self-check failed: {count} of {len(self._canary_values)} planted synthetic identifiers "
                f"survived (types: {', '.join(survived)}); nothing was published"
            )

    def _patient_key(self, record: dict[str, Any]) -> str:
        for path in self.policy.patient_key_fields:
            node: Any = record
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node not in (None, ""):
                return f"patient:{node}"
        if record.get("id") not in (None, ""):
            return f"record:{record['id']}"
        blob = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
        return "content:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _walk(self, value: Any, key: str, counts: Counter[str]) -> Any:
        if isinstance(value, str):
            new, spans = self.deidentify_text(value, key)
            counts.update(s.entity for s in spans)
            return new
        if isinstance(value, dict):
            return {k: self._walk(v, key, counts) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, key, counts) for v in value]
        return value

    def process_batch(
        self, records: Sequence[dict[str, Any]], text_fields: Iterable[str] | None = None, *, offset: int = 0
    ) -> tuple[list[dict[str, Any]], _Audit]:
        """De-identify a batch; return the new records and this batch's audit (not yet merged)."""
        if not isinstance(records, Sequence) or isinstance(records, str | bytes):
            raise DeidError(f"expected a list of records (dicts), found {type(records).__name__}")
        fields = None if text_fields is None else list(text_fields)
        self.canary_check()
        audit = _Audit(canary_checks=1)
        out: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            index = offset + i
            if not isinstance(record, dict):
                raise DeidError(f"record #{index}: expected a JSON object, found {type(record).__name__}")
            new = copy.copy(record)
            key = self._patient_key(record)
            touched = False
            names = [k for k in record if k != "id"] if fields is None else [k for k in fields if k in record]
            for name in names:
                counts: Counter[str] = Counter()
                try:
                    new[name] = self._walk(record[name], key, counts)
                except DeidError:
                    raise
                except Exception as err:
                    raise DeidError(
                        f"record #{index} field {name!r}: de-identification failed ({type(err).__name__})"
                    ) from None
                if counts:
                    touched = True
                    audit.entities.update(counts)
                    audit.by_field[name].update(counts)
            audit.records += 1
            audit.records_touched += int(touched)
            out.append(new)
        return out, audit

    def deidentify_records(
        self, records: Sequence[dict[str, Any]], text_fields: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """De-identify records (same order); ``text_fields=None`` means every string field but ``id``."""
        out, audit = self.process_batch(records, text_fields)
        self._audit.merge(audit)
        log.info("de-identified batch", extra={"records": audit.records, "entities": sum(audit.entities.values())})
        return out

    def merge_audit(self, audit: _Audit) -> None:
        """Add a batch audit computed elsewhere (a worker process) to the cumulative audit."""
        self._audit.merge(audit)

    def audit(self) -> dict[str, Any]:
        """Cumulative counts (never values): records, records touched, entities per type and field."""
        out = self._audit.to_dict()
        out["policy_name"] = self.policy.name
        out["policy_sha256"] = self.policy.sha256
        out["engine_version"] = self.engine_version
        out["engine_sha256"] = self.engine_sha256
        return out
