"""One tokenisation per text, shared by every recognizer: word tokens, their vocabulary facts, letter-case style.

Clinical notes arrive in three styles: ALL CAPS, all lower case, and ordinary mixed case. Only in
mixed-case lines does capitalisation carry information (a capitalised unknown word mid-sentence is
probably a name); in the other two styles recognizers must rely on vocabularies and context alone.
The style is decided per line (long enough lines) and falls back to the whole text's style; capitals
that open a sentence do not count, so "Pt: john doe" is lower-case writing, where a lower-case word
says nothing.

Two token facts guard against false names: ``glued`` (letters stuck to digits: PaO2, MgSO4, B12 are
codes and formulas, never names) and ``marker`` (the option letters of "A. Haloperidol B. Lorazepam",
never initials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from medgrpo.deid.lexicon import Lexicon, WordInfo, fold, load_lexicon

# a word: letters, with internal apostrophes (o'brien, pt's); hyphenated names are two tokens
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"(?:[.!?;:]|\n|^|[-*•#>]\s|\)\s)\s*$")
_UNIT_DOT = re.compile(r"\d[ \t]*[A-Za-z]{1,4}\.[ \t]*$")  # "455 ms." ends a sentence: a unit, not "Ms."
_OPTION_MARK = re.compile(r"(?:(?<=\s)|^|(?<=\())([A-J])(?:[.)]|(?<=\([A-J])\))(?=[ \t]+\S)")
_ABBREV_DOT = re.compile(r"(?i)(?:\b(?:dr|mr|mrs|ms|st|mt|vs|no|approx|pt|pts|hr|hrs|min|mins|wk|wks|yr|yrs|sr|jr|"
                         r"prof|dept|etc|e\.g|i\.e|p\.o|q\.d|b\.i\.d|t\.i\.d|a\.m|p\.m|[a-z])\.\s*)$")  # fmt: skip

UPPER, LOWER, MIXED = "upper", "lower", "mixed"


@dataclass(frozen=True, slots=True)
class Token:
    """A word token: ``text[start:end]``, its index, vocabulary facts and the case style of its line."""

    i: int
    start: int
    end: int
    text: str
    low: str
    info: WordInfo
    style: str
    sent_start: bool
    glued: bool = False  # stuck to a digit or "_" (PaO2, MgSO4, bsa_mosteller): a code, never a name
    marker: bool = False  # an answer-option letter ("A." in "A. Haloperidol B. Lorazepam")

    @property
    def is_title(self) -> bool:
        """Capitalised, not all capitals (``Smith``)."""
        return self.text[:1].isupper() and not self.text.isupper()

    @property
    def is_upper(self) -> bool:
        return self.text.isupper()

    @property
    def informative_case(self) -> bool:
        """Letter case means something on this token's line (mixed-case prose)."""
        return self.style == MIXED


def _line_style(line: str, fallback: str) -> str:
    """The style of one line, not counting capitals that open a sentence or a line."""
    up = sum(c.isupper() for c in line)
    lo = sum(c.islower() for c in line)
    if up + lo < 25:
        return fallback
    openers = sum(1 for m in re.finditer(r"(?:^|[.!?:;]|\n)\s*[A-Z](?=[a-z])", line))
    return _style(max(0, up - openers), lo)


def _style(letters_upper: int, letters_lower: int) -> str:
    total = letters_upper + letters_lower
    if total == 0:
        return MIXED
    share = letters_upper / total
    if share >= 0.7:
        return UPPER
    if share <= 0.02:
        return LOWER
    return MIXED


class Document:
    """A text with its word tokens; built once and handed to every recognizer."""

    def __init__(self, text: str, lex: Lexicon | None = None) -> None:
        self.text = text
        self.lex = lex or load_lexicon()

    @cached_property
    def style(self) -> str:
        """The whole text's letter-case style (capitals that open a sentence not counted)."""
        openers = sum(1 for m in re.finditer(r"(?:^|[.!?:;]|\n)\s*[A-Z](?=[a-z])", self.text))
        return _style(max(0, sum(c.isupper() for c in self.text) - openers), sum(c.islower() for c in self.text))

    @cached_property
    def option_markers(self) -> frozenset[int]:
        """Start offsets of answer-option letters: a run of "A." "B." ... (or "(A)" "(B)") in order."""
        found = [(m.start(1), m.group(1)) for m in _OPTION_MARK.finditer(self.text)]
        out: set[int] = set()
        for k, (pos, letter) in enumerate(found):
            prev_ok = k > 0 and ord(found[k - 1][1]) == ord(letter) - 1
            next_ok = k + 1 < len(found) and ord(found[k + 1][1]) == ord(letter) + 1
            if prev_ok or next_ok:
                out.add(pos)
        return frozenset(out)

    @cached_property
    def tokens(self) -> list[Token]:
        """Word tokens in order."""
        text, lex = self.text, self.lex
        line_styles: list[tuple[int, str]] = []
        pos = 0
        for line in text.split("\n"):
            line_styles.append((pos + len(line), _line_style(line, self.style)))
            pos += len(line) + 1
        markers = self.option_markers
        out: list[Token] = []
        li = 0
        matches = list(_WORD_RE.finditer(text))
        compound = self._compounds(matches)
        for k, m in enumerate(matches):
            while li < len(line_styles) - 1 and m.start() > line_styles[li][0]:
                li += 1
            before = text[max(0, m.start() - 12) : m.start()]
            sent_start = not out or (
                _SENTENCE_END.search(before) is not None
                and (_ABBREV_DOT.search(before) is None or _UNIT_DOT.search(before) is not None)
            )
            if out and out[-1].marker and not sent_start:
                sent_start = True  # the first word of an answer option
            word = m.group(0)
            a, b = m.start(), m.end()
            info = compound.get(k) or lex.info(word)
            glued = (a > 0 and (text[a - 1].isdigit() or text[a - 1] == "_")) or (
                b < len(text) and (text[b].isdigit() or text[b] == "_")
            )
            out.append(
                Token(
                    len(out), a, b, word, word.lower(), info, line_styles[li][1], sent_start,
                    glued=glued, marker=a in markers,
                )
            )  # fmt: skip
        return out

    def _compounds(self, matches: list[re.Match[str]]) -> dict[int, WordInfo]:
        """Vocabulary facts for the parts of a hyphenated word the vocabulary lists whole ("Jackson-Pratt",
        "steri-strips", "sub-q", "swan-ganz"): each part is the known compound, not a name on its own."""
        out: dict[int, WordInfo] = {}
        text, vocab = self.text, self.lex.vocab
        for k in range(len(matches) - 1):
            a, b = matches[k], matches[k + 1]
            if a.end() + 1 != b.start() or text[a.end()] != "-":
                continue
            joined = f"{a.group(0)}-{b.group(0)}"
            if fold(joined) in vocab:
                info = self.lex.info(joined)
                out[k] = out[k + 1] = info
        return out

    def gap(self, a: Token, b: Token) -> str:
        """The characters between two tokens."""
        return self.text[a.end : b.start]

    def token_at(self, pos: int) -> Token | None:
        """The token covering character ``pos``, if any."""
        import bisect

        starts = self._starts
        k = bisect.bisect_right(starts, pos) - 1
        if k >= 0 and self.tokens[k].start <= pos < self.tokens[k].end:
            return self.tokens[k]
        return None

    @cached_property
    def _starts(self) -> list[int]:
        return [t.start for t in self.tokens]
