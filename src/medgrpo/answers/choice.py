"""Multiple-choice answers: exactly one option, by its letter or by its full text.

Accepted: "C", "(C)", "[c]", "C.", "C)", "Answer: C", "Option C", "(C) Right coronary artery",
"C. <a comment naming no other option>", "C is correct", or the option's text alone. Zero: two
or more options named (letters or texts), ranges ("A-D"), "A or B", negations ("not A", "A is
wrong"), "all of the above" when that is not an option, a letter with another option's text.
Without the options (older rows), letters A–J are recognised and texts cannot be checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from medgrpo.answers.normalize import normalize_words, strip_lead
from medgrpo.answers.types import ParsedAnswer, Question, Status

_DEFAULT_LETTERS = frozenset("ABCDEFGHIJ")
_OPTION_WORD_RE = re.compile(r"^(?:option|choice|letter|answer)\s*(?=[(\[]?[A-Za-z](?:[)\].:]|\s|$))", re.IGNORECASE)
_RANGE_RE = re.compile(r"^[(\[]?([A-Za-z])[)\]]?\s*(?:-|–|—|\.\.|to|through|thru)\s*[(\[]?([A-Za-z])[)\]]?$", re.I)
_LETTER_ONLY_RE = re.compile(r"^(?:\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|([A-Za-z])[.):]?)$")
#: A letter that starts the answer: bracketed, followed by punctuation, or a bare capital and a space.
_LETTER_LEAD_RE = re.compile(
    r"^(?:\(\s*(?P<paren>[A-Za-z])\s*\)|\[\s*(?P<bracket>[A-Za-z])\s*\]|(?P<punct>[A-Za-z])\s*[.):\-–]|(?P<bare>[A-Z])\s)"
    r"\s*(?P<rest>\S.*)$",
    re.DOTALL,
)
_VERDICT_RE = re.compile(r"^is\s+(?:the\s+)?(?:correct|right|best|answer|most\s+likely)\b", re.IGNORECASE)
_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|except|excluding|exclude[sd]?|neither|nor|none|wrong|incorrect|false|unlikely|"
    r"isn'?t|aren'?t|cannot|can'?t|rule[sd]?\s+out|ruled\s+out)\b",
    re.IGNORECASE,
)
_HEDGE_RE = re.compile(r"\b(?:or|either|and/or|both|maybe|possibly|perhaps)\b|/", re.IGNORECASE)
_ALL_OF_RE = re.compile(r"\b(?:all|any|none)\s+of\s+(?:the\s+)?(?:above|these|those|options)\b", re.IGNORECASE)
#: A letter standing alone; "A"/"I" before a lower-case word (2+ letters) on the same line are the
#: article and the pronoun ("A fracture", "i think"), unless that word is a connector or "option".
_LONE_LETTER_RE = re.compile(
    r"(?<![\w'’])([A-Za-z])(?![\w'’])"
    r"(?!(?<=[AaIi])[ \t]+(?!(?:or|and|nor|vs|versus|to|through|thru|option|choice)\b)[a-z]\w)"
)
_BRACKETED_RE = re.compile(r"[(\[]\s*([A-Za-z])\s*[)\]]")
_NAMED_RE = re.compile(r"\b(?:option|choice|letter|answer)s?\s+([A-Za-z])\b", re.IGNORECASE)


def _key(text: str) -> str:
    """Comparison form of an option text; a leading "A" may be a letter here, so it is kept."""
    return normalize_words(text, leading_a=False)


def _text_pattern(text: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", text)
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)


def _mentions(text: str, options: Mapping[str, str], letters: frozenset[str]) -> tuple[set[str], str]:
    """Options named in ``text`` (by text, longest first and masked, then by letter) and the rest of the text."""
    found: set[str] = set()
    rest = text
    for letter, option in sorted(options.items(), key=lambda kv: -len(kv[1])):
        pattern = _text_pattern(option)
        if pattern is not None and pattern.search(rest):
            found.add(letter)
            rest = pattern.sub(" ¦ ", rest)
    named = {m.group(1).upper() for regex in (_BRACKETED_RE, _NAMED_RE) for m in regex.finditer(rest)}
    named |= {m.group(1).upper() for m in _LONE_LETTER_RE.finditer(rest)}
    found |= named & letters
    return found, rest


def _judge_rest(letter: str, rest: str, options: Mapping[str, str], letters: frozenset[str], raw: str) -> ParsedAnswer:
    """A letter followed by text: ok when the text is its option or a comment naming no other option."""
    if options and _key(rest) == _key(options[letter]):
        return ParsedAnswer(Status.OK, letter, raw, reason="letter and its option text")
    found, masked = _mentions(rest, options, letters)
    others = sorted(found - {letter})
    if others:
        return ParsedAnswer(Status.HEDGE, raw=raw, reason=f"letter {letter} with option(s) {', '.join(others)}")
    if _NEGATION_RE.search(masked) or _HEDGE_RE.search(masked) or _ALL_OF_RE.search(masked):
        return ParsedAnswer(Status.HEDGE, raw=raw, reason=f"letter {letter} with a negation or an alternative")
    return ParsedAnswer(Status.OK, letter, raw, reason="letter with a comment")


class ChoiceKind:
    """Parser and checker for ``answer_type: choice``."""

    def parse(self, content: str, question: Question) -> ParsedAnswer:
        raw = content
        options = {k: v for k, v in question.options.items() if str(v).strip()}
        letters = frozenset(question.options) or _DEFAULT_LETTERS
        text = strip_lead(content)
        text = _OPTION_WORD_RE.sub("", text, count=1).strip()
        if not text:
            return ParsedAnswer(Status.EMPTY, raw=raw, reason="nothing after the lead-in")
        if _RANGE_RE.match(text):
            return ParsedAnswer(Status.LIST, raw=raw, reason="a range of options")
        exact = [k for k, v in options.items() if " ".join(v.split()).casefold() == " ".join(text.split()).casefold()]
        if len(exact) == 1:  # before letter forms: an option may read "C-reactive protein"
            return ParsedAnswer(Status.OK, exact[0], raw, reason="option text")
        only = _LETTER_ONLY_RE.match(text)
        if only:
            letter = next(g for g in only.groups() if g).upper()
            if letter not in letters:
                return ParsedAnswer(Status.MALFORMED, raw=raw, reason=f"{letter} is not an option letter")
            return ParsedAnswer(Status.OK, letter, raw, reason="letter")
        lead = _LETTER_LEAD_RE.match(text)
        if lead and lead.group("bare") is None:  # "(C) ...", "C. ...": a letter, when it is an option's
            letter = (lead.group("paren") or lead.group("bracket") or lead.group("punct")).upper()
            if letter in letters:
                return _judge_rest(letter, lead.group("rest").strip(), options, letters, raw)
        same_text = [k for k, v in options.items() if _key(v) == _key(text)]
        if len(same_text) == 1:
            return ParsedAnswer(Status.OK, same_text[0], raw, reason="option text")
        if lead:  # a bare capital and a space: "C Right coronary artery", "C is correct" (not "A fracture")
            letter, rest = lead.group("bare"), lead.group("rest").strip()
            own = options.get(letter)
            if letter in letters and ((own and _key(rest) == _key(own)) or _VERDICT_RE.match(rest)):
                return _judge_rest(letter, rest, options, letters, raw)
        return self._free_text(text, options, letters, raw)

    def _free_text(self, text: str, options: Mapping[str, str], letters: frozenset[str], raw: str) -> ParsedAnswer:
        found, masked = _mentions(text, options, letters)
        alternatives = bool(_HEDGE_RE.search(masked))
        if len(found) >= 2:
            status = Status.HEDGE if alternatives else Status.LIST
            return ParsedAnswer(status, raw=raw, reason=f"{len(found)} options named: {', '.join(sorted(found))}")
        if _NEGATION_RE.search(masked):
            return ParsedAnswer(Status.HEDGE, raw=raw, reason="a negation")
        if _ALL_OF_RE.search(masked):
            return ParsedAnswer(Status.HEDGE, raw=raw, reason="'all/none of the above' is not an option here")
        if alternatives:
            return ParsedAnswer(Status.HEDGE, raw=raw, reason="an alternative ('or', 'either', '/')")
        if len(found) == 1:
            return ParsedAnswer(Status.OK, found.pop(), raw, reason="one option named in a sentence")
        shown = text if len(text) <= 40 else text[:37] + "..."
        return ParsedAnswer(Status.MALFORMED, raw=raw, reason=f"no option letter or option text in {shown!r}")

    def check(self, parsed: ParsedAnswer, question: Question) -> tuple[bool, str]:
        want = question.answer.strip().upper()
        if parsed.answer == want:
            return True, ""
        return False, f"chose {parsed.answer}, the answer is {want}"
