"""One converter per source format (DESIGN §6), and detection of the format from the content.

A converter takes one parsed row (a dict) and returns a canonical record without ``id``, or
raises :class:`RecordError` with a PHI-free reason naming the field, what was expected and what
was found. Detection looks at the keys of the first rows of an input and takes the majority.

MedMCQA's ``cop`` is 1–4 in the original JSON release and 0–3 in the hub's parquet release. The
base is decided per input from the data (:func:`medmcqa_base`): a ``0`` anywhere means 0-based, a
``4`` anywhere means 1-based; an input where both occur, or where every ``cop`` is 1–3 so either
reading is possible, is ambiguous and all its rows are quarantined rather than guessed, unless
the numbering is stated (``medgrpo ingest --medmcqa-cop-base``, the DAG form's field of the same
name; :data:`MEDMCQA_COP_BASES`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from medgrpo.data import MEDMCQA_COP_BASES as MEDMCQA_COP_BASES  # defined light, for the CLI parser
from medgrpo.data.schema import RecordError, describe, short

FORMATS = ("medqa", "medmcqa", "pubmedqa", "verifiable", "canonical")
VERIFIABLE_Q = "Open-ended Verifiable Question"
VERIFIABLE_A = "Ground-True Answer"
#: HuatuoGPT-o1's reasoning SFT rows (``FreedomIntelligence/medical-o1-reasoning-SFT``): read as the
#: ``verifiable`` format (the same family, published, and de-identified the same way).
SFT_Q = "Question"
SFT_COT = "Complex_CoT"
SFT_A = "Response"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NUMERIC_RE = re.compile(r"^\s*-?(?:\d+(?:\.\d*)?|\.\d+)\s*$")
DETECT_ROWS = 200


def detect_row(row: Any) -> str | None:
    """The format one parsed row looks like, or None."""
    if not isinstance(row, Mapping):
        return None
    keys = set(row)
    if VERIFIABLE_Q in keys or (SFT_Q in keys and SFT_A in keys):
        return "verifiable"  # verifiable problems, or HuatuoGPT-o1 reasoning SFT rows
    if "answer_type" in keys and "question" in keys:
        return "canonical"
    if "cop" in keys and ("opa" in keys or "opb" in keys):
        return "medmcqa"
    if "final_decision" in keys and ("QUESTION" in keys or "question" in keys):
        return "pubmedqa"
    if "question" in keys and "options" in keys and ("answer_idx" in keys or "answer" in keys):
        return "medqa"
    return None


def detect(rows: Iterable[Any]) -> str | None:
    """Majority format of the given parsed rows (ties go to the first seen); None if none matched."""
    votes: Counter[str] = Counter()
    for row in rows:
        fmt = detect_row(row)
        if fmt:
            votes[fmt] += 1
    if not votes:
        return None
    return votes.most_common(1)[0][0]


#: Key names of the formats we read: the only row keys an error message may name (a row's other
#: keys are data, e.g. an object keyed by patient name).
KNOWN_KEYS = frozenset(
    {
        "id", "source", "question", "options", "answer", "answer_type", "context", "explanation", "meta",
        "answer_idx", "meta_info", "metamap_phrases", "opa", "opb", "opc", "opd", "cop", "exp", "subject_name",
        "topic_name", "choice_type", "QUESTION", "CONTEXTS", "LABELS", "MESHES", "YEAR", "reasoning_required_pred",
        "reasoning_free_pred", "final_decision", "LONG_ANSWER", "pubid", "long_answer", VERIFIABLE_Q, VERIFIABLE_A,
        SFT_Q, SFT_COT, SFT_A,
    }
)  # fmt: skip


def safe_keys(row: Any) -> str:
    """The row's key names for an error message (known field names only, at most 8; others counted)."""
    if not isinstance(row, Mapping):
        return describe(row)
    names = [k for k in row if isinstance(k, str) and k in KNOWN_KEYS]
    more = len(row) - len(names) - (1 if "__key__" in row else 0)
    text = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
    return f"keys [{text}]" + (f" and {more} other keys" if more > 0 else "")


# --- field helpers ----------------------------------------------------------------------------


def _str(row: Mapping[str, Any], key: str, fmt: str, *, required: bool = True) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            what = "missing" if key not in row else describe(value)
            raise RecordError(f"{key}: expected a non-empty string ({fmt} format), found {what}")
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key}: expected a string ({fmt} format), found {describe(value)}")
    return value


def _text_or_list(value: Any, key: str) -> str | None:
    """A string, or a list of strings joined by blank lines (contexts), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        joined = "\n\n".join(v for v in value if v.strip())
        return joined or None
    raise RecordError(f"{key}: expected a string or a list of strings, found {describe(value)}")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold().rstrip(".")


# --- converters -------------------------------------------------------------------------------


def _options(value: Any, fmt: str) -> dict[str, str]:
    """Options as {letter: text} from a dict, a list of {key, value}, or a list of strings."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        if all(isinstance(v, Mapping) and "key" in v and "value" in v for v in value):
            items = [(v["key"], v["value"]) for v in value]
        elif all(isinstance(v, str) for v in value):
            items = list(zip(_LETTERS, value, strict=False))
        else:
            raise RecordError(
                f"options: expected {{letter: text}} or a list of option texts ({fmt}), found a mixed list"
            )
    else:
        raise RecordError(f"options: expected {{letter: text}} ({fmt} format), found {describe(value)}")
    out: dict[str, str] = {}
    for key, text in items:
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z]", key.strip()):
            raise RecordError(f"options: expected single-letter keys ({fmt} format), found {short(key)}")
        if not isinstance(text, str):
            raise RecordError(f"options.{key}: expected option text, found {describe(text)}")
        letter = key.strip().upper()
        if letter in out:
            raise RecordError(f"options: expected distinct letters, found {letter!r} twice")
        out[letter] = text
    if len(out) > len(_LETTERS) or len(out) > 26:
        raise RecordError(f"options: expected at most 26 options, found {len(out)}")
    return out


def from_medqa(row: Mapping[str, Any]) -> dict[str, Any]:
    """MedQA (USMLE) JSONL: question, options {letter: text}, answer_idx, answer, meta_info."""
    question = _str(row, "question", "medqa")
    if "options" not in row:
        raise RecordError("options: expected {letter: text} (medqa format), found the field missing")
    options = _options(row["options"], "medqa")
    idx = row.get("answer_idx")
    answer_text = row.get("answer")
    if answer_text is not None and not isinstance(answer_text, str):
        raise RecordError(f"answer: expected the answer text (medqa format), found {describe(answer_text)}")
    if idx is None or (isinstance(idx, str) and not idx.strip()):
        if not answer_text:
            raise RecordError("answer_idx: expected an option letter (medqa format), found the field missing")
        matches = [k for k, v in options.items() if _norm(v) == _norm(answer_text)]
        if len(matches) != 1:
            raise RecordError(
                f"answer: expected text matching exactly one option when answer_idx is absent, found {len(matches)}"
            )
        letter = matches[0]
    else:
        if not isinstance(idx, str):
            raise RecordError(f"answer_idx: expected an option letter (medqa format), found {describe(idx)}")
        letter = idx.strip().upper()
        if letter not in options:
            raise RecordError(f"answer_idx: expected one of the option letters {sorted(options)}, found {short(idx)}")
        if answer_text and _norm(answer_text) != _norm(options[letter]):
            raise RecordError(
                f"answer: expected the text of option {letter} named by answer_idx, found text that differs from it"
            )
    meta: dict[str, Any] = {}
    if isinstance(row.get("meta_info"), str):
        meta["meta_info"] = row["meta_info"]
    return _record("medqa", question, options, letter, "choice", meta=meta)


def medmcqa_base(cops: Iterable[Any]) -> tuple[int | None, str]:
    """Decide MedMCQA's ``cop`` base from all of an input's values: (0 or 1, why) or (None, why)."""
    seen: set[int] = set()
    for value in cops:
        number = _cop_int(value)
        if number is not None and 0 <= number <= 4:  # out-of-range values (-1: unlabelled) decide nothing
            seen.add(number)
    if 0 in seen and 4 in seen:
        return None, "cop values include both 0 and 4 in this input, so neither 0–3 nor 1–4 fits all rows"
    if 0 in seen:
        return 0, "a cop of 0 occurs: the 0–3 (hub) convention"
    if 4 in seen:
        return 1, "a cop of 4 occurs: the 1–4 (original JSON) convention"
    if not seen:
        return None, "no cop value within 0–4 in this input (an unlabelled split?)"
    return None, (
        f"every cop in this input is within 1–3 ({len(seen)} distinct values), "
        "which fits both the 0–3 and the 1–4 convention"
    )


def _cop_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def from_medmcqa(row: Mapping[str, Any], *, base: int | None, why: str = "") -> dict[str, Any]:
    """MedMCQA: question, opa..opd, cop (``base`` 0 or 1), exp, subject_name, topic_name."""
    question = _str(row, "question", "medmcqa")
    options: dict[str, str] = {}
    for letter, key in zip("ABCD", ("opa", "opb", "opc", "opd"), strict=True):
        text = _str(row, key, "medmcqa")
        assert text is not None
        options[letter] = text
    if "cop" not in row:
        raise RecordError("cop: expected the correct option number (medmcqa format), found the field missing")
    cop = _cop_int(row["cop"])
    if cop is None:
        raise RecordError(f"cop: expected an integer option number, found {short(row['cop'])}")
    if base is None:
        raise RecordError(f"cop: expected a decidable numbering, found an ambiguous input ({why})")
    index = cop - base
    if not 0 <= index < 4:
        raise RecordError(f"cop: expected {base}–{base + 3} under this input's numbering, found {short(cop)}")
    explanation = _str(row, "exp", "medmcqa", required=False)
    meta: dict[str, Any] = {"cop_base": base}
    for key in ("subject_name", "topic_name", "choice_type"):
        if isinstance(row.get(key), str) and row[key].strip():
            meta[key] = row[key]
    if isinstance(row.get("id"), str):
        meta["medmcqa_id"] = row["id"]
    return _record("medmcqa", question, options, "ABCD"[index], "choice", explanation=explanation, meta=meta)


def _decision(row: Mapping[str, Any]) -> str:
    value = row.get("final_decision")
    if not isinstance(value, str) or value.strip().lower() not in ("yes", "no", "maybe"):
        raise RecordError(f"final_decision: expected yes, no or maybe, found {short(value)}")
    return value.strip().lower()


def _pubmed_context(value: Any, labels: Any) -> str | None:
    if isinstance(value, Mapping):  # HF pqa_labeled: {"contexts": [...], "labels": [...], ...}
        labels = value.get("labels", labels)
        value = value.get("contexts")
    if (
        isinstance(value, list)
        and isinstance(labels, list)
        and len(labels) == len(value)
        and all(isinstance(v, str) for v in value)
        and all(isinstance(x, str) for x in labels)
    ):
        return "\n\n".join(f"{lab.strip().upper()}: {txt}" for lab, txt in zip(labels, value, strict=True))
    return _text_or_list(value, "context")


def from_pubmedqa(row: Mapping[str, Any]) -> dict[str, Any]:
    """PubMedQA: ``ori_pqal.json`` entries (QUESTION, CONTEXTS, …) or HF ``pqa_labeled`` columns."""
    original = "QUESTION" in row
    question = _str(row, "QUESTION" if original else "question", "pubmedqa")
    answer = _decision(row)
    if original:
        context = _pubmed_context(row.get("CONTEXTS"), row.get("LABELS"))
        explanation = _text_or_list(row.get("LONG_ANSWER"), "LONG_ANSWER")
        pmid = row.get("__key__")
        year = row.get("YEAR")
    else:
        context = _pubmed_context(row.get("context"), None)
        explanation = _text_or_list(row.get("long_answer"), "long_answer")
        pmid = row.get("pubid")
        year = None
    meta: dict[str, Any] = {}
    if isinstance(pmid, str | int) and not isinstance(pmid, bool):
        meta["pmid"] = str(pmid)
    if isinstance(year, str | int) and not isinstance(year, bool):
        meta["year"] = str(year)
    return _record(
        "pubmedqa", question, None, answer, "yes_no_maybe", context=context, explanation=explanation, meta=meta
    )


def from_verifiable(row: Mapping[str, Any]) -> dict[str, Any]:
    """Verifiable open-ended problems: {"Open-ended Verifiable Question", "Ground-True Answer"}, optionally with
    HuatuoGPT-o1's "Complex_CoT" (the explanation); or HuatuoGPT-o1 reasoning SFT rows {"Question", "Complex_CoT",
    "Response"}: the open-ended answer is the Response, the chain of thought the explanation
    (``meta.variant`` = ``reasoning_sft``)."""
    sft = VERIFIABLE_Q not in row and SFT_Q in row
    q_key, a_key = (SFT_Q, SFT_A) if sft else (VERIFIABLE_Q, VERIFIABLE_A)
    question = _str(row, q_key, "verifiable")
    raw_answer = row.get(a_key)
    if isinstance(raw_answer, int | float) and not isinstance(raw_answer, bool):
        raw_answer = repr(raw_answer)
    if not isinstance(raw_answer, str) or not raw_answer.strip():
        what = "missing" if a_key not in row else describe(raw_answer)
        raise RecordError(f"{a_key}: expected a non-empty answer, found {what}")
    if _NUMERIC_RE.match(raw_answer):
        answer, kind = raw_answer.strip(), "numeric"
    else:
        answer, kind = raw_answer.strip(), "text"
    cot = row.get(SFT_COT)
    if cot is not None and not isinstance(cot, str):
        raise RecordError(f"{SFT_COT}: expected the reasoning as a string, found {describe(cot)}")
    explanation = cot if cot and cot.strip() else None
    meta = {"variant": "reasoning_sft"} if sft else None
    return _record("verifiable", question, None, answer, kind, explanation=explanation, meta=meta)


def from_canonical(row: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical JSONL: taken as it is (validated later); ``source`` defaults to ``canonical``."""
    out = dict(row)
    out.setdefault("source", "canonical")
    out.setdefault("options", None)
    out.setdefault("context", None)
    out.setdefault("explanation", None)
    out.setdefault("meta", {})
    return out


def _record(
    source: str,
    question: str | None,
    options: dict[str, str] | None,
    answer: str,
    answer_type: str,
    *,
    context: str | None = None,
    explanation: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "source": source,
        "question": question,
        "options": options,
        "answer": answer,
        "answer_type": answer_type,
        "context": context,
        "explanation": explanation,
        "meta": meta or {},
    }


CONVERTERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "medqa": from_medqa,
    "pubmedqa": from_pubmedqa,
    "verifiable": from_verifiable,
    "canonical": from_canonical,
}
