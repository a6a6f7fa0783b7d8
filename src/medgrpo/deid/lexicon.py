"""Word lists behind name and place detection, loaded once per process from ``resources/deid``.

- ``first_names.txt`` / ``last_names.txt``: person names of many origins (see ``_build_resources``).
- ``english_words.txt``: common English words, most frequent first, with names that are not also
  ordinary words removed. Only the ``COMMON_ENGLISH`` most frequent count as "known English" for
  name detection: a capitalised rare word mid-sentence ("Zoro", "Rami") is as suspect as an unknown one.
  Only the ``CORE_ENGLISH`` most frequent stop a detected name from taking in a capitalised neighbour.
- ``medical_terms.txt``: drugs, organisms, eponyms, scores and clinical words that must survive.
- ``cities.txt``: cities and towns (used with a location cue, never on their own).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent.parent / "resources" / "deid"
_LIST_FILES = (
    "first_names.txt",
    "last_names.txt",
    "english_words.txt",
    "medical_terms.txt",
    "cities.txt",
)
COMMON_ENGLISH = 30000
# the most frequent words, which never extend a detected name ("Johnathan Whitfield" yes, "John Using" no)
CORE_ENGLISH = 20000


def fold(word: str) -> str:
    """Lower-case and strip diacritics (``José`` -> ``jose``)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def read_resource_text(name: str) -> str:
    """The text of one packaged resource file."""
    return (RESOURCE_DIR / name).read_text(encoding="utf-8")


def read_list(name: str, *, split_words: bool = False) -> list[str]:
    """Entries of a resource list (one per line, or whitespace-separated words), ``#`` comments dropped."""
    out: list[str] = []
    for line in read_resource_text(name).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.extend(line.split() if split_words else [line])
    return out


@dataclass(frozen=True)
class Lexicon:
    """The loaded word sets (all lower-case, with and without diacritics)."""

    first_names: frozenset[str]
    last_names: frozenset[str]
    english: frozenset[str]
    medical: frozenset[str]
    cities: tuple[str, ...]
    first_list: tuple[str, ...]
    last_list: tuple[str, ...]
    version: str
    core_english: frozenset[str] = frozenset()

    def is_name(self, low: str) -> bool:
        """True when ``low`` (lower-case) is a dictionary first or last name."""
        return low in self.first_names or low in self.last_names


def _with_folded(words: list[str]) -> frozenset[str]:
    out = {w.lower() for w in words}
    out.update(fold(w) for w in words)
    return frozenset(out)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Load (once per process) the packaged word lists."""
    first = read_list("first_names.txt")
    last = read_list("last_names.txt")
    english = read_list("english_words.txt")
    medical = read_list("medical_terms.txt", split_words=True)
    cities = read_list("cities.txt")
    digest = hashlib.sha256()
    for name in _LIST_FILES:
        digest.update(read_resource_text(name).encode("utf-8"))
    return Lexicon(
        first_names=_with_folded(first),
        last_names=_with_folded(last),
        english=frozenset(w.lower() for w in english[:COMMON_ENGLISH]),
        medical=_with_folded(medical),
        cities=tuple(dict.fromkeys(cities)),
        first_list=tuple(first),
        last_list=tuple(last),
        version=digest.hexdigest()[:12],
        core_english=frozenset(w.lower() for w in english[:CORE_ENGLISH]),
    )
