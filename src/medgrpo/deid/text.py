"""One tokenisation per text, shared by every recognizer: word tokens, their vocabulary facts, letter-case style.

Clinical notes arrive in three styles: ALL CAPS, all lower case, and ordinary mixed case. Only in
mixed-case lines does capitalisation carry information (a capitalised unknown word mid-sentence is
probably a name); in the other two styles recognizers must rely on vocabularies and context alone.
The style is decided per line (long enough lines) and falls back to the whole text's style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from medgrpo.deid.lexicon import Lexicon, WordInfo, load_lexicon

# a word: letters, with internal apostrophes (o'brien, pt's); hyphenated names are two tokens
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"(?:[.!?;:]|\n|^|[-*•#>]\s|\)\s)\s*$")
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
        """The whole text's letter-case style."""
        return _style(sum(c.isupper() for c in self.text), sum(c.islower() for c in self.text))

    @cached_property
    def tokens(self) -> list[Token]:
        """Word tokens in order."""
        text, lex = self.text, self.lex
        line_styles: list[tuple[int, str]] = []
        pos = 0
        for line in text.split("\n"):
            up = sum(c.isupper() for c in line)
            lo = sum(c.islower() for c in line)
            line_styles.append((pos + len(line), _style(up, lo) if up + lo >= 25 else self.style))
            pos += len(line) + 1
        out: list[Token] = []
        li = 0
        for m in _WORD_RE.finditer(text):
            while li < len(line_styles) - 1 and m.start() > line_styles[li][0]:
                li += 1
            before = text[max(0, m.start() - 12) : m.start()]
            sent_start = not out or (_SENTENCE_END.search(before) is not None and _ABBREV_DOT.search(before) is None)
            word = m.group(0)
            out.append(
                Token(len(out), m.start(), m.end(), word, word.lower(), lex.info(word), line_styles[li][1], sent_start)
            )
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
