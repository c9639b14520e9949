"""Where a response names an answer option: option texts matched as whole words, longest first
(``OptionMatcher``), letter references in running text (``letter_mentions``) and mentions in a
negated clause (``is_negated``). Shared by the answer parser (``audiofaith.text.answers``) and the CoT
splitter (``audiofaith.text.cot``). Option texts that a response words differently ("offering a hug"
for "Offer a hug", "a couple" for "Married couple") are matched word by word with rapidfuzz
(``OptionMatcher.fuzzy``). Rules: docs/parsing.md.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from typing import Dict, List, Optional, Set, Tuple

from rapidfuzz import fuzz
from rapidfuzz.distance import Prefix

LETTERS = "ABCDEFGHIJ"

_NEG_BEFORE_RE = re.compile(
    r"(?:\bnot\b|n't\b|\bno\b|\bnever\b|\bneither\b|\bnor\b|\brul(?:e|es|ed|ing) out\b|"
    r"\beliminat\w*|\bexclud\w*|\brather than\b|\binstead of\b|\bunlikely\b|\bother than\b|"
    r"\bexcept\b|\bless likely\b|\bwithout\b|\black\w*|\bagainst\b|\bopposed to\b|\bunlike\b|"
    r"\bnone of\b|\bdiffer\w* from\b|\bcontrary to\b|\binconsistent\b|\bwrong\b|\bincorrect\b)",
    re.I,
)
NEG_AFTER_RE = re.compile(
    r"^\W{0,3}(?:\w+\W+){0,3}?(?:is not|isn't|are not|aren't|was not|wasn't|does not|doesn't|"
    r"do not|don't|did not|didn't|cannot|can't|can be ruled out|can be eliminated|would not|"
    r"wouldn't|is incorrect|is wrong|is unlikely|are unlikely|is less likely|are incorrect|"
    r"is ruled out|is eliminated|seems unlikely|is not likely|are less likely|would be incorrect|"
    r"does not fit|doesn't fit|doesn't match|does not match|don't match|do not match)\b",
    re.I,
)
CLAUSE_SPLIT_RE = re.compile(
    r"[,;:\n]|\.\s|\s(?:but|while|whereas|however|although|though|so|therefore|thus|hence|"
    r"and therefore|which means|whereas)\s",
    re.I,
)


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).replace("\u2019", "'").replace("\u2018", "'")
    s = s.replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", s).strip().casefold()


# Everyday forms of SAKURA's one-word emotion and gender options ("sadness" names "sad").
_ALIASES = {
    "sad": ["sadness", "saddened"],
    "happy": ["happiness"],
    "angry": ["anger", "angered"],
    "fear": ["fearful", "afraid", "scared", "frightened"],
    "disgust": ["disgusted"],
    "male": ["man", "men"],
    "female": ["woman", "women"],
}


def _word_forms(option: str) -> List[str]:
    """Other forms of a one-word option that name the same thing: "viviparity" for
    "Viviparous" and back (adjective in -ous and noun in -ity)."""
    if not re.fullmatch(r"[a-z]{5,}", option):
        return []
    if option.endswith("ous"):
        return [option[:-3] + "ity"]
    if option.endswith("ity"):
        return [option[:-3] + "ous"]
    return []


# Words that carry no option content in a paraphrase ("the", "their", "because"), and the words of
# a concluding sentence that name no option ("the most suitable response").
_FUNCTION_WORDS = frozenset("""
a an the of to and or in on at by for from with without as into onto about over under than then
is are was were be been being am do does did has have had it its this that these those there
can could would will shall should may might must
their them they his her him he she we us our you your i me my mine so very just some any each
because while if not no nor but also only more most much many such one ones other others
option options choice choices answer answers response responses scenario description
best likely suitable appropriate fitting plausible accurate
""".split())
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def _content_words(text: str) -> List[Tuple[int, int, str]]:
    """(start, end, word) of the casefolded words of ``text`` that are not function words."""
    return [(m.start(), m.end(), m.group(0).casefold()) for m in _WORD_RE.finditer(text)
            if m.group(0).casefold() not in _FUNCTION_WORDS]


_INFLECTIONS = frozenset(["", "s", "es", "e", "ed", "d", "ing", "er", "ers", "al", "ion", "ions", "ation", "ly", "y",
                          "ies", "ied", "ity", "ous", "ment", "ness"])


def same_word(a: str, b: str) -> bool:
    """Whether two casefolded words are one word inflected or misspelt: a shared stem of at least 4
    characters followed by inflectional endings only ("offer"/"offering", "dismissing"/"dismissal",
    "jumped"/"jumping"; not "concert"/"concern"), a plural ("dog"/"dogs"), or an edit similarity
    (rapidfuzz) above 90 % between words of 6 or more characters ("rettracted"/"retracted")."""
    if a == b:
        return True
    stem = Prefix.similarity(a, b)
    for cut in range(stem, 2, -1):  # the stem may give back a letter: "provid|e" / "provid|ing"
        endings = {a[cut:], b[cut:]}
        if endings <= _INFLECTIONS and (cut >= 4 or endings <= {"", "s", "es"}):
            return True
    return min(len(a), len(b)) >= 6 and fuzz.ratio(a, b) > 90


class OptionMatcher:
    """Option texts compiled into whole-word, longest-first patterns."""

    def __init__(self, choices: List[str]):
        self.n = len(choices)
        self.letters = LETTERS[: self.n]
        self.texts = []
        pats = []
        for i, c in enumerate(choices):
            t = _norm(str(c)).strip(" .!?;:,\"'")
            if not t:
                continue
            self.texts.append((i, t))
            body = re.escape(t).replace(r"\ ", r"\s+")
            left = r"(?<![\w])" if re.match(r"\w", t[0]) and ord(t[0]) < 0x2E80 else ""
            plural = r"(?:s|es)?" if re.fullmatch(r"[a-z]+", t) else ""
            right = r"(?![\w])" if re.match(r"\w", t[-1]) and ord(t[-1]) < 0x2E80 else ""
            pats.append((len(t), i, re.compile(left + body + plural + right, re.I)))
            for alias in _ALIASES.get(t, []) + _word_forms(t):
                pats.append((len(alias), i, re.compile(r"(?<![\w])" + alias + r"(?![\w])", re.I)))
        self.texts_by_index = {i: t for i, t in self.texts}
        pats.sort(key=lambda p: -p[0])
        self.pats = [(i, p) for _, i, p in pats]

    def mentions(self, s: str) -> List[Tuple[int, int, int]]:
        """(start, end, index) of non-overlapping option-text mentions, longest options first."""
        taken: List[Tuple[int, int, int]] = []
        covered = bytearray(len(s))
        for i, pat in self.pats:
            for m in pat.finditer(s):
                if m.end() == m.start() or any(covered[m.start(): m.end()]):
                    continue
                if (m.group(0)[-1:].lower() == "s" and not self.texts_by_index[i].endswith("s")
                        and re.search(r"\b(?:which|that|who|it|he|she)\s+$", s[max(0, m.start() - 12): m.start()], re.I)):
                    continue  # a verb, "a rooster, which crows", not the option "crow"
                covered[m.start(): m.end()] = b"\x01" * (m.end() - m.start())
                taken.append((m.start(), m.end(), i))
        taken.sort()
        return taken

    def whole(self, s: str) -> Optional[int]:
        """The option that ``s`` names in full (its text, an alias, or a word unique to it)."""
        s = _norm(s).strip(" .!?;:,\"'()[]<>")
        if not s:
            return None
        for i, pat in self.pats:
            if pat.fullmatch(s):
                return i
        # a distinctive word of a multi-word option, such as a surname ("DiCaprio")
        if len(s) >= 4 and " " not in s:
            owners = {i for i, t in self.texts if " " in t and s in re.findall(r"[^\W_]+", t)}
            if len(owners) == 1:
                return owners.pop()
        return None

    @cached_property
    def words(self) -> Dict[int, List[str]]:
        """The content words of each option (computed when a paraphrase is first looked for)."""
        return {i: list(dict.fromkeys(w for _, _, w in _content_words(t))) for i, t in self.texts}

    @cached_property
    def distinctive(self) -> Dict[int, Set[str]]:
        """The content words of each option that no other option shares."""
        return {i: {w for w in ws if not any(same_word(w, v) for j, vs in self.words.items() if j != i for v in vs)}
                for i, ws in self.words.items()}

    def fuzzy(self, s: str) -> Optional[Tuple[int, int, int]]:
        """The one option that ``s`` names in other words, as (start, end, index) of the words that
        name it, or None. An option is named when at least half of its content words occur in ``s``
        (inflected or misspelt: ``same_word``), one of them a word no other option has; it must be
        the only option with a distinctive word in ``s``. For the response's own words, where whole-
        word matching (``mentions``) finds no option."""
        words = _content_words(s)
        if not words:
            return None
        named = []
        for i, option_words in self.words.items():
            if not option_words:
                continue
            spans = [(b, e) for b, e, w in words if any(same_word(w, o) for o in option_words)]
            found = {o for o in option_words if any(same_word(w, o) for _, _, w in words)}
            distinctive = found & self.distinctive[i]
            if distinctive:
                share = max(len(found) / len(option_words), len(distinctive) / len(self.distinctive[i]))
                named.append((i, share, spans))
        if len(named) != 1 or named[0][1] < 0.5:
            return None
        i, _, spans = named[0]
        return spans[0][0], spans[-1][1], i

    def text_at_start(self, s: str) -> Optional[int]:
        """The option whose text starts ``s`` (longest), if any."""
        for i, pat in self.pats:
            m = pat.match(s)
            if m:
                return i
        return None


def is_negated(s: str, start: int, end: int) -> bool:
    """Whether the mention s[start:end] sits in a negated clause."""
    window = max(0, start - 200)  # clauses are short; the bound keeps repetition loops linear
    cuts = [m.end() for m in CLAUSE_SPLIT_RE.finditer(s, window, start)]
    clause_start = cuts[-1] if cuts else window
    before = s[clause_start:start]
    nxt = CLAUSE_SPLIT_RE.search(s, end, end + 200)
    after = s[end : nxt.start() if nxt else min(len(s), end + 200)]
    # "not only", "no doubt" and "nothing but" do not negate the mention.
    before = re.sub(r"\b(?:not only|no doubt|nothing but|not just|no other|not a single)\b", " ", before, flags=re.I)
    if _NEG_BEFORE_RE.search(before):
        return True
    if re.match(r"\s+to (?:help|assist|answer|provide|clarify|explain)\b", s[end:], re.I):
        return True  # "happy to help" is politeness, not the option "happy"
    return bool(NEG_AFTER_RE.search(after))


def positive_options(s: str, opts: OptionMatcher) -> List[int]:
    """Options named in ``s`` outside negated clauses; a negation carries over a list of options
    ("not feathers, scales or horns")."""
    found = []
    previous_end, previous_negated = -1, False
    for b, e, i in opts.mentions(s):
        negated = is_negated(s, b, e) or (
            previous_negated and re.fullmatch(r"[\s,]*(?:(?:or|and|nor)\s+)?(?:(?:a|an|the)\s+)?", s[previous_end:b], re.I)
            is not None)
        if not negated and i not in found:
            found.append(i)
        previous_end, previous_negated = e, negated
    return found


def letter_mentions(s: str, n: int) -> List[Tuple[int, int, int]]:
    """Unambiguous letter references in running text: "(B)", "option B", "choice (c)", and a
    capital with only a closing parenthesis after a space, colon or line start ("as B) Spinto")."""
    out = []
    for m in re.finditer(r"(?:\b(?:option|choice|letter)\s*\(?\s*([A-Ja-j])\b\)?|\(\s*([A-Ja-j])\s*\)"
                         r"|(?:(?<=[\s:])|^)(?-i:([A-J]))\)(?=\s+\w))", s, re.I):
        ch = (m.group(1) or m.group(2) or m.group(3)).upper()
        if m.group(2) and m.group(2).islower() and m.start() > 0 and s[m.start() - 1].isalpha():
            continue
        idx = LETTERS.index(ch)
        out.append((m.start(), m.end(), idx if idx < n else -1))
    return out
