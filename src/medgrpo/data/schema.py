"""The canonical record (DESIGN §4) as a typed pydantic model, stable ids and text normalisation.

Validation never repeats a raw value in an error: quarantine reasons are built from raw rows,
before de-identification, and are published. A reason names the field, what was expected and what
was found, describing the value by its type and size only ("a string of 12 characters", "an
integer of 7 digits"). The one exception is a one-character token (an option letter, a digit):
:func:`short` shows it, as no single character can identify anyone. Field paths show key names only
when they are our own field names or option letters (a source's own keys could be identifiers).

Published ids are keyed hashes of the source and this module's :func:`content_hash` of the *raw*
(pre-de-identification) content: see :mod:`medgrpo.data.ids` (raw so that ids, de-duplication and
the split do not move when de-identification improves; keyed so that nobody can confirm a guess).
:func:`make_id` is the unkeyed form, for data we generate ourselves (``medgrpo synth``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

ANSWER_TYPES = ("choice", "numeric", "yes_no_maybe", "text")
YES_NO_MAYBE = ("yes", "no", "maybe")
# Limits that keep one pathological row from exhausting memory downstream (characters).
MAX_QUESTION_CHARS = 20_000
MAX_CONTEXT_CHARS = 200_000
MAX_OPTION_CHARS = 5_000
MAX_ANSWER_CHARS = 5_000
MAX_EXPLANATION_CHARS = 50_000
MAX_OPTIONS = 26
MAX_NESTING = 32  # levels of lists/objects in meta (and in a raw row kept in the quarantine)
ID_HEX_CHARS = 16

_NUMERIC_RE = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
# ids we make are "<source>-<16 hex>"; ids a canonical input brings are kept if they are tokens
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_LETTER_RE = re.compile(r"^[A-Z]$")
_NON_WORD_RE = re.compile(r"[\W_]+")


class RecordError(ValueError):
    """A row that cannot become a canonical record; the message is a PHI-free quarantine reason."""


def describe(value: Any) -> str:
    """A PHI-free description of a value: its type and size, never free text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"an integer of {len(str(abs(value)))} digit{'s' if abs(value) > 9 else ''}"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        if value.strip() == "":
            return "an empty string" if value == "" else "a blank string"
        return f"a string of {len(value)} characters"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def short(value: Any) -> str:
    """Show a one-character token (option letter, digit) verbatim; describe anything else.

    Reasons are built from raw rows, so nothing longer is ever repeated: a 2-digit number may be
    an age over 89 and a short string a name or an MRN.
    """
    if isinstance(value, str) and len(value) == 1 and value.isascii() and value.isalnum():
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and -9 <= value <= 9:
        return repr(value)
    return describe(value)


_FIELD_NAMES = frozenset(
    {"id", "source", "question", "options", "answer", "answer_type", "context", "explanation", "meta", "record"}
)


def safe_key(key: Any) -> str:
    """A key for a field path: our field names and single letters as they are, anything else ``<key>``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if isinstance(key, str) and (key in _FIELD_NAMES or (len(key) == 1 and key.isascii() and key.isalpha())):
        return key
    return "<key>"


def nested_deeper_than(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether lists/objects in ``value`` nest more than ``limit`` levels (iterative: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _non_json(value: Any, path: str, depth: int = 0) -> str | None:
    """Where ``value`` stops being plain JSON (a path and what was found), or None."""
    if depth > 32:
        return f"nesting deeper than 32 levels at {path}"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"a non-finite number at {path}"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"a non-string key at {path}"
            bad = _non_json(v, f"{path}.{safe_key(k)}", depth + 1)
            if bad:
                return bad
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            bad = _non_json(v, f"{path}[{i}]", depth + 1)
            if bad:
                return bad
        return None
    return f"a {type(value).__name__} at {path}"


class CanonicalRecord(BaseModel):
    """One canonical record (DESIGN §4). Construct through :func:`validate_record`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: str
    source: str
    question: str
    options: dict[str, str] | None = None
    answer: str
    answer_type: Literal["choice", "numeric", "yes_no_maybe", "text"]
    context: str | None = None
    explanation: str | None = None
    meta: dict[str, Any] = {}

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(f"expected a token of at most 128 letters, digits, '_.:-', found {describe(v)}")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not _SOURCE_RE.match(v):
            raise ValueError(f"expected a lower-case name ([a-z0-9_.-], at most 64), found {describe(v)}")
        return v

    @field_validator("question")
    @classmethod
    def _question(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(f"expected a non-empty question, found {describe(v)}")
        if len(v) > MAX_QUESTION_CHARS:
            raise ValueError(f"expected at most {MAX_QUESTION_CHARS} characters, found {len(v)}")
        return v

    @field_validator("context")
    @classmethod
    def _context(cls, v: str | None) -> str | None:
        if v is not None and len(v) > MAX_CONTEXT_CHARS:
            raise ValueError(f"expected at most {MAX_CONTEXT_CHARS} characters, found {len(v)}")
        return v

    @field_validator("explanation")
    @classmethod
    def _explanation(cls, v: str | None) -> str | None:
        if v is not None and len(v) > MAX_EXPLANATION_CHARS:
            raise ValueError(f"expected at most {MAX_EXPLANATION_CHARS} characters, found {len(v)}")
        return v

    @field_validator("answer")
    @classmethod
    def _answer(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(f"expected a non-empty answer, found {describe(v)}")
        if len(v) > MAX_ANSWER_CHARS:
            raise ValueError(f"expected at most {MAX_ANSWER_CHARS} characters, found {len(v)}")
        return v

    @field_validator("meta")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        if nested_deeper_than(v):
            raise ValueError(f"expected JSON values nested at most {MAX_NESTING} levels, found deeper nesting")
        try:  # the C encoder is the fastest full check; locate the problem only on failure
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise ValueError(f"expected JSON values only, found {_non_json(v, 'meta')}") from None
        return v

    @model_validator(mode="after")
    def _by_type(self) -> CanonicalRecord:
        t = self.answer_type
        if t == "choice":
            opts = self.options
            if not opts or len(opts) < 2:
                raise ValueError(f"options: expected at least 2 options for a choice question, found {describe(opts)}")
            if len(opts) > MAX_OPTIONS:
                raise ValueError(f"options: expected at most {MAX_OPTIONS} options, found {len(opts)}")
            for key, text in opts.items():
                if not _LETTER_RE.match(key):
                    raise ValueError(f"options: expected single upper-case letters as keys, found {short(key)}")
                if not text.strip():
                    raise ValueError(f"options.{key}: expected option text, found {describe(text)}")
                if len(text) > MAX_OPTION_CHARS:
                    raise ValueError(
                        f"options.{key}: expected at most {MAX_OPTION_CHARS} characters, found {len(text)}"
                    )
            if self.answer not in opts:
                raise ValueError(
                    f"answer: expected one of the option letters {sorted(opts)}, found {short(self.answer)}"
                )
        else:
            if self.options:
                raise ValueError(f"options: expected null for answer_type {t!r}, found {describe(self.options)}")
            if t == "numeric":
                if not _NUMERIC_RE.match(self.answer):
                    raise ValueError(
                        f"answer: expected a decimal string for a numeric answer, found {short(self.answer)}"
                    )
                tol = self.meta.get("tolerance")
                if tol is not None and (
                    isinstance(tol, bool) or not isinstance(tol, int | float) or not math.isfinite(tol) or tol < 0
                ):
                    raise ValueError(f"meta.tolerance: expected a non-negative relative tolerance, found {short(tol)}")
            elif t == "yes_no_maybe" and self.answer not in YES_NO_MAYBE:
                raise ValueError(f"answer: expected one of yes, no, maybe (lower case), found {short(self.answer)}")
        return self


def _format_error(err: ValidationError) -> str:
    """One PHI-free line from the first pydantic error: field, what was expected, what was found."""
    first = err.errors(include_url=False, include_input=False)[0]
    loc = ".".join(safe_key(p) for p in first["loc"]) or "record"
    kind = first["type"]
    msg = str(first.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        return msg if ":" in msg.split(" ")[0] else f"{loc}: {msg}"
    if kind == "missing":
        return f"{loc}: expected a value, found the field missing"
    if kind == "extra_forbidden":
        return f"{loc}: expected no such field in a canonical record, found it present"
    if kind == "literal_error":
        return f"{loc}: expected one of {', '.join(ANSWER_TYPES)}"
    return f"{loc}: {msg.lower()}"


def validate_record(data: Any) -> dict[str, Any]:
    """Validate a canonical record; return it as a plain dict or raise :class:`RecordError`."""
    if not isinstance(data, Mapping):
        raise RecordError(f"record: expected a JSON object, found {describe(data)}")
    try:
        model = CanonicalRecord.model_validate(dict(data))
    except ValidationError as err:
        # The pydantic message for a wrong type names the type only; add what was found.
        first = err.errors(include_url=False)[0]
        if first["type"].endswith("_type") and first["loc"]:
            loc = ".".join(safe_key(p) for p in first["loc"])
            expected = first["type"].removesuffix("_type").replace("dict", "object").replace("str", "string")
            raise RecordError(f"{loc}: expected {expected}, found {describe(first.get('input'))}") from None
        raise RecordError(_format_error(err)) from None
    return model.model_dump()


# Characters that str.splitlines() (and some editors) treat as line breaks but JSON allows raw in
# strings; escaped on output so every reader splits our JSONL into the same lines.
_LINE_BREAK_ESCAPES = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def dumps_line(value: Any) -> str:
    """One JSONL line (no newline): compact UTF-8 JSON with Unicode line separators escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAK_ESCAPES)


def normalise_text(text: str) -> str:
    """Case-, accent-, punctuation- and whitespace-insensitive form of a text, for near duplicates."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _NON_WORD_RE.sub(" ", text.casefold()).strip()


def dedup_keys(record: Mapping[str, Any]) -> tuple[str, str]:
    """``(content_hash, near_key)`` computed together (the question is normalised once)."""
    question = normalise_text(str(record.get("question", "")))
    options = record.get("options") or {}
    parts = [
        question,
        "\x1e".join(f"{k}\x1f{normalise_text(str(v))}" for k, v in sorted(options.items())),
        str(record.get("answer", "")).strip().casefold(),
        str(record.get("answer_type")),
        normalise_text(str(record.get("context") or "")),
    ]
    exact = hashlib.sha256("\x1d".join(parts).encode("utf-8")).hexdigest()
    near = hashlib.sha256(question.encode("utf-8")).hexdigest()
    return exact, near


def content_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the record's normalised content (question, options, answer, type, context).

    Independent of ``source``, ``id``, ``explanation`` and ``meta``: the same item from two sources
    has the same content hash, which is what exact de-duplication across sources keys on.
    """
    return dedup_keys(record)[0]


def near_key(record: Mapping[str, Any]) -> str:
    """Near-duplicate group key: SHA-256 of the normalised question text."""
    return dedup_keys(record)[1]


def make_id(source: str, record: Mapping[str, Any]) -> str:
    """Stable id ``<source>-<16 hex of content_hash>``."""
    return f"{source}-{content_hash(record)[:ID_HEX_CHARS]}"


def source_name(text: str) -> str:
    """Turn a free-form name into a valid ``source`` value (lower case, [a-z0-9_.])."""
    name = re.sub(r"[^a-z0-9_.]+", "_", text.lower()).strip("_.")
    return name or "unknown"
