"""Word lists behind name, place and organisation detection, loaded once per process from ``resources/deid``.

A Philter-style *known-safe* vocabulary decides what can never be a name on its own: English words
(SCOWL, by commonness level), drug names, medical morphology, the words of ICD-10-CM, and the
hand-curated clinical vocabulary (abbreviations, nursing shorthand, device eponyms). Name
dictionaries (US Census first and last names with frequency ranks, Faker's international names) and
a US place gazetteer say what probably is PHI. A word in no list gets a *spelling* score instead
(``WordInfo.shape``: a character-trigram model of names against known-safe words), so an unseen
surname ("Schweigart") and an unseen disease word ("Erythematosus") are told apart. Every lookup is by
lower-case, accent-folded word, so detection does not
depend on letter case. Sources and licences: ``deid/README.md``; rebuild with ``_build_resources``.
"""

from __future__ import annotations

import gzip
import hashlib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent.parent / "resources" / "deid"
_FILES = (
    "english.tsv.gz", "medical.txt.gz", "names.tsv.gz", "places.txt.gz", "clinical_vocabulary.txt", "icd.txt.gz",
    "namelike.tsv.gz",
)  # fmt: skip
VOCAB_CLASSES = ("clinical", "device", "eponym", "geography", "medname")  # medname: an ICD word that is also a name


def fold(word: str) -> str:
    """Lower-case and strip diacritics (``José`` -> ``jose``)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _lines(name: str) -> list[str]:
    raw = (RESOURCE_DIR / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return [line for line in raw.decode("utf-8").splitlines() if line and not line.startswith("#")]


@dataclass(frozen=True, slots=True)
class WordInfo:
    """What the vocabularies say about one lower-case word."""

    english: int  # SCOWL level (10 = most common ... 80 = rare); 0 = not an English word
    medical: bool  # drug name or medical morphology
    vocab: str  # clinical | device | eponym | geography | "" (hand-curated class)
    first: int  # first-name rank (1 = most common; 99999 = listed without rank); 0 = not a first name
    last: int  # last-name rank, as above
    place: bool  # a US city, town or county name
    shape: float = 0.0  # words in no list only: how name-like the spelling is (log-ratio, about -3 .. +3)

    @property
    def is_name(self) -> bool:
        """In a person-name dictionary."""
        return bool(self.first or self.last)

    @property
    def known(self) -> bool:
        """In some list (vocabulary, names or places)."""
        return bool(self.english or self.medical or self.vocab or self.first or self.last or self.place)

    @property
    def safe(self) -> bool:
        """Known clinical or everyday vocabulary (never a name without context)."""
        return bool(self.english or self.medical or self.vocab in {"clinical", "device", "geography"})


@dataclass
class Lexicon:
    """The loaded vocabularies (lower-case, accent-folded)."""

    english: dict[str, int]
    medical: frozenset[str]
    vocab: dict[str, str]
    first_rank: dict[str, int]
    last_rank: dict[str, int]
    places: frozenset[str]
    multiword_places: dict[str, tuple[str, ...]]
    namelike: dict[str, float]
    version: str
    _cache: dict[str, WordInfo] = field(default_factory=dict, repr=False)

    def info(self, word: str) -> WordInfo:
        """Vocabulary facts about ``word`` (any case), cached."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        low = fold(word)
        base = low[:-2] if low.endswith(("'s", "’s", "'d", "’d")) else low  # pt's, sx'd, d/c'd: the word itself
        bare = base.replace("'", "").replace("’", "")  # o'neill -> oneill (the census spelling)
        info = WordInfo(
            english=self.english.get(low) or self.english.get(base, 0),
            medical=low in self.medical or base in self.medical,
            vocab=self.vocab.get(low) or self.vocab.get(base, ""),
            first=self.first_rank.get(base) or self.first_rank.get(bare, 0),
            last=self.last_rank.get(base) or self.last_rank.get(bare, 0),
            place=base in self.places,
        )
        if not info.known and len(bare) >= 3:
            info = WordInfo(info.english, info.medical, info.vocab, 0, 0, False, self.spelling(bare))
        if len(self._cache) < 200_000:
            self._cache[word] = info
        return info

    def spelling(self, low: str) -> float:
        """Name-likeness of a lower-case spelling: mean trigram log-ratio (names : safe words) times sqrt(n)."""
        padded = f"^{low}$"
        grams = [padded[k : k + 3] for k in range(len(padded) - 2)]
        table = self.namelike
        total = sum(table.get(g, 0.0) for g in grams)
        return round(total / len(grams) ** 0.5, 2)

    # used by surrogates
    @property
    def first_names(self) -> frozenset[str]:
        """Every first name (lower case)."""
        return frozenset(self.first_rank)

    @property
    def first_list(self) -> tuple[str, ...]:
        """Common first names, most frequent first, capitalised (surrogate pool)."""
        ranked = sorted((r, n) for n, r in self.first_rank.items() if 0 < r < 99999)
        return tuple(n.capitalize() for _, n in ranked)

    @property
    def last_list(self) -> tuple[str, ...]:
        """Common last names, most frequent first, capitalised (surrogate pool)."""
        ranked = sorted((r, n) for n, r in self.last_rank.items() if 0 < r <= 5000)
        return tuple(n.capitalize() for _, n in ranked)

    @property
    def cities(self) -> tuple[str, ...]:
        """Place names, title-cased (surrogate pool)."""
        return tuple(sorted(p.title() for p in self.places if p.isalpha() and len(p) > 3))


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Load (once per process) the packaged vocabularies."""
    english: dict[str, int] = {}
    for line in _lines("english.tsv.gz"):
        word, _, level = line.partition("\t")
        english[word] = int(level)
    medical = frozenset(_lines("medical.txt.gz"))
    vocab: dict[str, str] = {}
    section = "clinical"
    for raw in (RESOURCE_DIR / "clinical_vocabulary.txt").read_text(encoding="utf-8").splitlines():
        if raw.startswith("## "):
            section = raw[3:].strip()
            continue
        if raw.startswith("#"):
            continue
        for word in raw.split():
            low = fold(word)
            # a word listed both as clinical and as an eponym keeps the safer (clinical) class
            if vocab.get(low) not in {"clinical", "device"}:
                vocab[low] = section
    medical_words = set(medical)
    for line in _lines("icd.txt.gz"):
        word, _, kind = line.partition("\t")
        if kind == "medical":
            medical_words.add(word)
        elif kind == "medname":
            vocab.setdefault(word, "medname")
        elif kind == "eponym":
            vocab.setdefault(word, "eponym")
    medical = frozenset(medical_words)
    namelike = {}
    for line in _lines("namelike.tsv.gz"):
        gram, _, value = line.partition("\t")
        namelike[gram] = float(value)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for line in _lines("names.tsv.gz"):
        name, f_rank, l_rank = line.split("\t")
        if f_rank != "0":
            first[name] = int(f_rank)
        if l_rank != "0":
            last[name] = int(l_rank)
    places_all = _lines("places.txt.gz")
    single = frozenset(p for p in places_all if " " not in p)
    multi: dict[str, tuple[str, ...]] = {}
    for p in places_all:
        if " " in p:
            head = p.split()[0]
            multi[head] = (*multi.get(head, ()), p)
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update((RESOURCE_DIR / name).read_bytes())
    return Lexicon(
        english=english,
        medical=medical,
        vocab=vocab,
        first_rank=first,
        last_rank=last,
        places=single,
        multiword_places={k: tuple(sorted(v, key=len, reverse=True)) for k, v in multi.items()},
        namelike=namelike,
        version=digest.hexdigest()[:12],
    )
