"""Web URLs and bare domain names (Safe Harbor N).

Nursing notes run sentences together without a space ("MD AWARE.PT RESTING", "LSB.NO EDEMA"), and many
two-letter country domains are clinical shorthand or English words (``.pt`` patient, ``.no``, ``.ca``
calcium, ``.us``): a bare ``word.xx`` whose top-level label is such a word and whose other labels are
ordinary words, numbers or, in capitals, short abbreviations, is run-together punctuation, not a domain.

``mode: all`` (clinical) removes every URL and domain; ``mode: personal`` (public benchmarks, whose
abstracts cite registries and journals) removes only URLs that point at a person: profile pages,
``~user`` homes, social networks, ``mailto:``.
"""

from __future__ import annotations

import re

from medgrpo.deid.text import UPPER, Document
from medgrpo.deid.types import Span

# generic and common country TLDs; ambiguous two-letter ones (in, is, me, to, at, ...) count only with
# a scheme, "www." or a second-level label such as co.uk
_STRONG_TLD = (
    "com|org|net|edu|gov|mil|int|info|biz|io|health|care|app|dev|ai|online|site|xyz|club|pro|name|mobi|"
    "uk|de|fr|ca|au|nz|nl|se|ch|dk|fi|no|es|pt|pl|ru|cn|jp|kr|br|mx|ar|za|ie|be|gr|hu|cz|ro|tr|il|sg|hk|tw|"
    "eu|us|ly|tv|cc|ws|fm|gg"
)
_URL_RE = re.compile(
    r"(?i)\b(?:(?:https?|ftp|sftp)://|www\d?\.)[^\s<>\"'()\[\]{}]+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\.)+(?:" + _STRONG_TLD + r")\b(?::\d{2,5})?(?:/[^\s<>\"'()\[\]{}]*)?"
    r"|\b(?:[a-z0-9-]+\.)+(?:co|com|org|net|ac|gov|edu)\.[a-z]{2}\b(?:/[^\s<>\"'()\[\]{}]*)?"
)
_PERSONAL = re.compile(
    r"(?i)~|/(?:people|person|users?|u|profile|profiles|staff|members?|in|author|~)/|mailto:|"
    r"(?:facebook|fb|twitter|x|instagram|linkedin|tiktok|youtube|github|myspace|snapchat)\.com/"
)
_BARE_SPLIT = re.compile(r"[.]")


def _word_like(label: str, doc: Document) -> bool:
    """A two-letter top-level label that is also clinical shorthand or a common English word (pt, no, ca, us)."""
    info = doc.lex.info(label)
    return len(label) == 2 and (info.vocab == "clinical" or 0 < info.english <= 50)


def _ordinary(label: str, doc: Document, caps: bool) -> bool:
    """A domain label that reads as a word of the note: a number, an everyday or clinical word, or (in a note
    written in capitals) a short abbreviation."""
    if label.isdigit():
        return True
    info = doc.lex.info(label)
    if (0 < info.english <= 50) or info.vocab in {"clinical", "device"} or info.medical:
        return True
    return caps and len(label) <= 3


def _run_together(doc: Document, start: int, end: int) -> bool:
    """``AWARE.PT``, ``1.PT``, ``LSB.NO EDEMA``, ``stable.ca``: two sentences written without a space."""
    value = doc.text[start:end]
    if "/" in value or ":" in value or value.lower().startswith("www"):
        return False
    labels = _BARE_SPLIT.split(value)
    if len(labels) < 2 or not _word_like(labels[-1], doc):
        return False
    caps = value.isupper() or doc.style == UPPER
    if all(_ordinary(label, doc, caps) for label in labels[:-1]):
        return True
    # capitals followed by more words: "...MURMUR @ LSB.NO EDEMA" (a real domain ends the phrase or is lower case)
    return labels[-1].isupper() and re.match(r"[ \t]+[A-Za-z]", doc.text[end : end + 2]) is not None and caps


_FILE_EXT = re.compile(r"(?i)\.(?:pdf|docx?|xlsx?|pptx?|jpe?g|png|gif|txt|csv|json|xml|html?)$")


class UrlRecognizer:
    """URLs with a scheme or ``www.``, and bare domains with a known top-level domain."""

    name = "url"
    entities = ("URL",)

    def __init__(self, mode: str = "all") -> None:
        if mode not in {"all", "personal"}:
            raise ValueError(f"url recognizer: mode must be 'all' or 'personal', found {mode!r}")
        self.mode = mode

    def analyze(self, doc: Document) -> list[Span]:
        text = doc.text
        if "." not in text and "://" not in text:
            return []
        out: list[Span] = []
        for m in _URL_RE.finditer(text):
            value = m.group(0)
            end = m.end()
            while end > m.start() and text[end - 1] in ".,;:!?":
                end -= 1
            value = text[m.start() : end]
            if "@" in text[max(0, m.start() - 1) : m.start()]:
                continue  # the host part of an e-mail address
            if "://" not in value and not value.lower().startswith("www") and _FILE_EXT.search(value):
                continue  # report.pdf
            if re.fullmatch(r"[\d.]+", value):
                continue  # a number or an IP address
            if _run_together(doc, m.start(), end):
                continue  # "MD AWARE.PT RESTING": run-together sentences, not a domain
            if self.mode == "personal" and not _PERSONAL.search(value):
                continue
            out.append(Span(m.start(), end, "URL", 0.9))
        return out
