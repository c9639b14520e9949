"""Answer extraction: which option letter a free-form response finally commits to.

The parser collects *commitments* (answer tags, "Answer: (X)" lines, "the answer is ...",
"I choose ...", a bare letter response, ...), each with its position, and returns the last one.
Only when there is no explicit commitment does it look at the last sentence that mentions an
option. Anything ambiguous (hedging between options, an answer slot listing several letters, a
letter contradicting the option text next to it outside an answer slot, an explicit refusal, "none
of the options") gives ``None``; the parser never guesses.

Rules for letters versus option texts (full rules: docs/parsing.md):

* An explicit letter ("(B)", "B.", "B)", "option B", "<B>", "Answer: B") wins over option-text matching.
* The answer-line rule: in an answer slot the letter is the commitment even when the text after it
  names a *different* option ("Answer: (B) dog" while B is "crow" is B), unless the slot goes on to
  list further letters ("(A) Male or (B) Female") or hedges. Outside an answer slot a letter next
  to another option's text contradicts itself and yields ``None``. A bare capital "A" followed by
  lowercase text ("A dog ...") is the article.
* A bare letter only counts in an answer slot (after "Answer:", in a tag, the whole response,
  or at the start of the response followed by punctuation), never inside ordinary words or as
  the article "a"/"A".
* Option texts match as whole words, case-insensitively, longest first (so "Female" never also
  counts as "Male"), and mentions in negated clauses ("not a cat", "rules out B") are ignored.
  Options are counted as distinct options, not mentions: naming one option several times commits
  to it. Echoed option lists and sentences that only rule options out are skipped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import List, Optional, Tuple

from audiofaith.text.option_matching import (CLAUSE_SPLIT_RE, LETTERS, NEG_AFTER_RE, OptionMatcher, is_negated,
                                             letter_mentions, positive_options)

# Result markers for an answer slot besides a letter.
_AMBIG = "?"  # several options or a self-contradiction: a commitment to no single option
_REFUSE = "-"  # explicit refusal / none of the options / a non-option answer
_NOTHING = ""  # the slot carries no usable evidence

_TURN_RE = re.compile(
    r"(?:\n\s*(?:Human|User|USER|HUMAN|Question|### ?(?:Human|User|Instruction))\s*:"
    r"|<\|im_end\|>|<\|im_start\|>|<\|endoftext\|>|<\|eot_id\|>|</s>)"
)
_REFUSAL_RE = re.compile(
    r"^(?:none|n/?a|null|nothing|unknown|unclear|undetermined|undecided|uncertain|not sure|"
    r"cannot|can't|unable|insufficient|no answer|not applicable|not determinable|indeterminate|"
    r"-+|\?+|none of (?:the|these|those)\b.*|neither\b.*|not enough\b.*|impossible\b.*|"
    r"it is impossible\b.*|it's impossible\b.*|i cannot\b.*|i can't\b.*|i'm unable\b.*|"
    r"i am unable\b.*|i don't know\b.*|cannot be determined\b.*|can't be determined\b.*)$",
    re.I,
)
_REFUSAL_SENTENCE_RE = re.compile(
    r"\b(?:none of (?:the|these|those) (?:\w+ )?(?:options|choices|answers|alternatives)"
    r"(?: (?:provided|given|listed|above))? (?:is|are|match|matches|fit|fits|apply|applies|seem|seems)|"
    r"none of the above|(?:impossible to|not possible to|cannot|can't|can not|unable to|not able to) "
    r"(?:determine|tell|identify|say|answer|choose|select|decide|analy[sz]e|provide|give|infer|"
    r"know|hear|access|listen|process|pick|conclude|make a (?:choice|determination|conclusion))|"
    r"cannot (?:be )?(?:determined|answered|identified)|can't (?:be )?(?:determined|answered)|"
    r"(?:can't|cannot|unable to) (?:hear|access|listen)|i (?:can't|cannot) (?:answer|help)|"
    r"not enough information|insufficient information|no (?:clear )?answer)\b",
    re.I,
)
# A conditional clause right before an answer phrase: "If X, [then] the answer would be ...".
_CONDITIONAL_CLAUSE_RE = re.compile(
    r"\b(?:if|assuming|suppose|supposing|provided that|in case)\b[^.;!?\n]{0,100},\s*(?:then\s+)?$", re.I)
# A self-correction after an answer ("Wait, it's actually a cow").
_CORRECTION_RE = re.compile(
    r"\b(?:wait|actually|on (?:second|further) thought|correction|i mean|let me reconsider|"
    r"re-?listening|i was wrong|i made a mistake)\b", re.I)
# "If I had to choose, ..." still commits to what follows.
_FORCED_CHOICE_RE = re.compile(
    r"\b(?:if|assuming)\s+(?:i|we|you|one)\s+(?:have|had|has|must|were|was|are)\s+(?:forced\s+)?to\s+"
    r"(?:choose|pick|select|answer|decide|go with)|\bif\s+forced\b", re.I)
# Phrases that introduce the answer slot, i.e. what follows them is the committed answer.
_TRIGGER_RE = re.compile(
    r"(?:"
    r"\b(?:final |correct |right |best |most (?:likely|appropriate|suitable|accurate|fitting|"
    r"plausible|probable|reasonable) |my |the |an |one )?answer(?: choice| option)?"
    r"(?: (?:to (?:the|this) question|here|then|therefore|thus|overall))?"
    r"\s*(?:is|would be|should be|will be|must be|seems to be|appears to be|=|:|-)\s*(?::\s*)?"
    r"|\b(?:correct|right|best|most (?:likely|appropriate|suitable|accurate|fitting|plausible|"
    r"probable|reasonable)|final|appropriate|suitable|closest|only|likely|matching|chosen|"
    r"selected|preferred) (?:option|choice|one|match|fit|selection|pick|label|response|"
    r"[a-z]+(?: [a-z]+){0,2}?(?= (?:is|would be|should be|must be)\b))"
    r"(?: (?:here|then|therefore|thus|overall|among (?:the|these)(?: given| available| provided| listed)? options))?"
    r"\s*(?:is|would be|should be|will be|must be|seems to be|appears to be|:|=)\s*"
    r"|\b(?:my|the) (?:choice|pick|selection|final choice|final selection|conclusion|verdict)"
    r"\s*(?:is|would be|:)\s*"
    r"|\bI(?: would| will|'ll|'d| must| should| can| think I(?: would|'d)?)?"
    r"(?: therefore| thus| then)? (?:choose|select|pick|go with|opt for|answer|conclude with|say|"
    r"lean (?:towards?|toward))\s*:?\s*"
    r"|\b(?:so|therefore|thus|hence|overall|in conclusion|in summary|consequently|as a result|"
    r"accordingly|this means|that means|this indicates|which means)\b,?"
    r"(?: (?:the )?(?:answer|choice|option) is)?\s*(?=(?:option|choice)\s*\(?[A-Ja-j]\b|\([A-Ja-j]\)|[A-J]\)\s)"
    r"|\b(?:option|choice|answer) (?=\(?[A-J]\)?\s*(?:is|would be|seems|appears) (?:the )?"
    r"(?:correct|right|best|most likely|most appropriate|answer|the answer)\b)"
    r"|(?<![\w(])(?=\(?[A-J]\)?\s+(?:is|would be|seems to be)\s+(?:the\s+)?(?:correct|right|best|"
    r"most likely|most appropriate|answer)\b)"
    r"|\b(?:(?:matches|corresponds|aligns|fits|is consistent)(?: best| most closely| closely| most| well)?"
    r"(?: (?:to|with))?|points to|supports|indicates|suggests|leads to|leading to|leads me to|pointing to|"
    r"(?:is )?best (?:described|classified|characteri[sz]ed) as) (?:with )?"
    r"(?=(?:option|choice)\s*\(?[A-Ja-j]\b|\([A-Ja-j]\)|[A-J]\)\s)"
    r")",
    re.I,
)
# Identification statements: "<subject> is (most likely) <option text>" in a concluding sentence.
_IDENT_RE = re.compile(
    r"\b(?:it|this|that|the (?:\w+ ){0,3}(?:sound|audio|clip|recording|speaker|voice|animal|source|"
    r"emotion|language|gender|speech|person|answer|option|choice|one|creature|noise|call|"
    r"tone|mood|feeling|utterance|statement|sentence|phrase|word|translation|figure|item|term|"
    r"range|match|fit|culprit|candidate))"
    r"(?: (?:in|from|of|on) (?:the|this) (?:\w+ ){0,2}?(?:audio|clip|recording|sound|question))?"
    r"(?: here| heard| described)?"
    r",? (?:is|was|are|must be|would be|should be|could be|seems to be|appears to be|sounds like|"
    r"sounds to be|seems like|is likely|is most likely|is probably|is clearly|is definitely|"
    r"belongs to|comes from|is from|is produced by|is made by|corresponds to|matches|is in|"
    r"is spoken in|expresses|conveys|reflects|indicates|suggests)\b",
    re.I,
)
_CONCLUDE_RE = re.compile(
    r"^\W*(?:so|therefore|thus|hence|overall|in conclusion|in summary|to conclude|consequently|"
    r"as a result|accordingly|based on (?:this|these|that|the|my|all)\b|given (?:this|these|that)\b|"
    r"this (?:means|suggests|indicates)|final(?:ly)?\b|all in all|in short)",
    re.I,
)
_COPULA_END_RE = re.compile(
    r"(?:\b(?:is|are|was|be|sounds(?: like)?|like|seems|appears|to be|as|has|have)|'s)\s+"
    r"(?:(?:most |more |very )?(?:likely|probably|clearly|definitely|certainly|actually|really|indeed)\s+)?"
    r"(?:that of |from |in |by |spoken in )?(?:a |an |the )?(?:\w+ )?[\"']?$",
    re.I,
)
_STRUCT_TAGS = {
    "reasoning", "reason", "reasons", "think", "thinking", "thought", "thoughts", "analysis",
    "explanation", "rationale", "cot", "scratchpad", "reflection", "plan", "summary", "caption",
    "description", "observation", "observations", "evidence", "audio", "question", "options",
}
_PAIR_TAG_RE = re.compile(r"<\s*([A-Za-z][\w /-]{0,30}?)\s*>(.{0,400}?)</\s*([A-Za-z][\w /-]{0,30}?)\s*>", re.S)
_OPEN_TAG_RE = re.compile(r"<\s*([A-Za-z][\w /.'-]{0,40}?)\s*>")
_LETTER_FORM_RE = re.compile(
    r"^(?:option|choice|letter|answer)?\s*[\(\[<]\s*([A-Ja-j])\s*[\)\]>]"  # (B) [b] <B>
    r"|^(?:option|choice|letter)\s*([A-Ja-j])\b"  # option B
    r"|^([A-Ja-j])\s*(?:[.):\],;!]|$)"  # B.  B)  B:  B,  B
    r"|^([A-J])(?=\s)",  # bare capital followed by a space (checked for the article below)
    re.I,
)


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)
    t = t.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    t = t.replace("\r\n", "\n").replace("\r", "\n")
    t = re.sub(r"^\s*(?:assistant|ASSISTANT|Assistant)\s*:\s*", "", t)
    m = _TURN_RE.search(t)
    if m and t[: m.start()].strip():
        t = t[: m.start()]
    t = re.sub(r"\\(?:boxed|text|textbf|mathrm)\{([^{}]*)\}", r"\1", t)
    t = t.replace("*", "").replace("__", "").replace("`", "")
    t = re.sub(r"(?m)^[ \t]*#+[ \t]*", "", t)
    return t.strip()


def _slot(s: str, opts: OptionMatcher) -> str:
    """Interpret the text that fills an answer slot; a letter or one of the markers."""
    s = s.strip()
    s = re.sub(r"^[\s\"'«»:=,\-–—>]+", "", s)
    s = re.sub(r"^(?:final |correct )?answer\s*(?:is\b|:)\s*", "", s, flags=re.I)
    if not s:
        return _NOTHING
    # a template placeholder such as "(X)" copied from the instructions
    if opts.n < 24 and re.match(r"^[\(\[<]?\s*X\s*[\)\]>]?(?:\W|$)", s):
        return _NOTHING
    first = re.split(r"(?<=[\w)\]>\"'])\s*[.;!?\n](?:\s|$)|\n", s, maxsplit=1)[0].strip()
    # "not B", "not sure"
    if re.match(r"^(?:not|isn't|is not)\b", first, re.I) and not re.match(r"^not sure\b", first, re.I):
        return _NOTHING
    if re.match(r"^either\b", first, re.I):
        return _AMBIG
    if _REFUSAL_RE.match(first.strip(" .!\"'()[]<>")) or re.match(
        r"^(?:none of|neither|n/a\b|none\b)", first, re.I
    ):
        return _REFUSE
    m = _LETTER_FORM_RE.match(first)
    if m:
        raw = next(g for g in m.groups() if g)
        bare_capital = m.group(4) is not None
        if bare_capital and not raw.isupper():
            m = None
    if m:
        idx = LETTERS.index(raw.upper())
        rest = first[m.end():].lstrip(" .:)-–—,")
        if bare_capital and raw in "AI" and re.match(r"[a-z]", rest):
            pass  # the article "A" / the pronoun "I": fall through to option-text matching
        elif bare_capital and not (rest == "" or opts.text_at_start(rest) is not None or re.match(r"(?:is|would|as)\b", rest)):
            pass  # "B something" that is not a label; treat as text
        else:
            if idx >= opts.n:
                return _NOTHING  # "N" (for N/A), "S" (a cut-off "Sister"): no usable evidence
            joined = re.match(r"^(?:or|and|/)\s*\(?[A-Ja-j]\b\)?", rest, re.I)
            if joined and not NEG_AFTER_RE.search(rest[joined.end():]):
                return _AMBIG  # "A or B", "(A) and (B)"; not "(A), and (B) is wrong"
            # a slot that goes on to list further letters ("(A) Male or (B) Female", the whole
            # option list) is no commitment to one of them
            further = [b for b, e, i in letter_mentions(rest, opts.n) if i != idx and not is_negated(rest, b, e)]
            if further:
                between = rest[: further[0]]
                for b, e, _ in reversed(opts.mentions(between)):
                    between = between[:b] + between[e:]
                if not re.sub(r"\b(?:or|and|maybe|perhaps|possibly|either)\b|[\W_]+", "", between, flags=re.I):
                    return _AMBIG
            if re.search(r"\b(?:or|either|maybe|perhaps|possibly)\b", rest, re.I) and set(
                    positive_options(rest, opts)) - {idx}:
                return _AMBIG  # "(B) dog or maybe a cow"
            # The answer-line rule: the letter in an answer slot is the commitment, also when the
            # text after it names another option ("Answer: (B) dog" while B is "crow").
            return LETTERS[idx]
    letters = [i for b, e, i in letter_mentions(first, opts.n) if not is_negated(first, b, e)]
    letters = sorted(set(letters))
    if len(letters) == 1 and letters[0] >= 0:
        return LETTERS[letters[0]]
    if len(letters) > 1:
        return _AMBIG
    pos = positive_options(first, opts)
    if len(pos) == 1:
        return LETTERS[pos[0]]
    if len(pos) > 1:
        return _AMBIG
    named = opts.whole(first)
    if named is not None:
        return LETTERS[named]
    # A short answer naming something that is not an option commits to no option; a one- or
    # two-character fragment ("h", "Ne") is just unreadable and leaves earlier evidence standing.
    word = first.strip(" .!\"'()[]<>")
    if re.fullmatch(r"[^\W\d_][\w' -]{2,40}", word) and len(word.split()) <= 3:
        if word.lower() not in {"the", "is", "it", "that", "this", "option", "choice", "answer", "the answer"}:
            return _REFUSE
    return _NOTHING


_BOLD_LABEL_RE = re.compile(
    r"(?:^|[\n.!?:])\s*\*\*\s*((?:[\(\[]\s*[A-Ja-j]\s*[\)\]]|[A-J]\)?)(?:\s+[^*\n]{1,80}?)?)\s*\*\*[\s.!]*$")


def _bold_final(text: str, opts: OptionMatcher) -> str:
    """A response that ends with a bold option label standing on its own (after a line or sentence
    end: "... hard to say. **(C) Scales**") commits to it, whatever hedging came before; the label
    is read as an answer slot."""
    t = unicodedata.normalize("NFKC", text)
    m = _TURN_RE.search(t)
    if m and t[: m.start()].strip():
        t = t[: m.start()]
    b = _BOLD_LABEL_RE.search(t.rstrip())
    if not b:
        return _NOTHING
    label = _slot(b.group(1), opts)
    lines_above = [line for line in t[: b.start(1)].split("\n") if line.strip(" *\t")]
    above = lines_above[-1] if lines_above else ""
    listed = re.match(r"^\W*\*{0,2}\s*(?:[\(\[]\s*([A-Ja-j])\s*[\)\]]|([A-J])[.)])", above.strip())
    if listed and label in opts.letters and (listed.group(1) or listed.group(2)).upper() != label:
        return _NOTHING  # the last line of an option list written out one label per line
    return label


def _bare(t: str, opts: OptionMatcher) -> Optional[str]:
    """A response of a few words on one line is itself the answer slot ("B.", "(b) cat", "dog")."""
    if "\n" in t or len(t.split()) > 8 or _TRIGGER_RE.search(t):
        return None
    named = {i for _, _, i in letter_mentions(t, opts.n)} | {i for _, _, i in opts.mentions(t)}
    if len(named) > 1 and not (_LETTER_FORM_RE.match(t) and len(letter_mentions(t, opts.n)) <= 1):
        return None  # e.g. the option list repeated back: not a short answer
    r = _slot(t, opts)
    return r or None


def _tag_candidates(t: str, opts: OptionMatcher) -> List[Tuple[int, str]]:
    out: List[Tuple[int, str]] = []
    spans = []
    for m in _PAIR_TAG_RE.finditer(t):
        name, body = m.group(1).strip(), m.group(2)
        if name.lower() in _STRUCT_TAGS or "<" in body:
            continue
        spans.append((m.start(), m.end()))
        r = _slot(body, opts) if body.strip() else _NOTHING
        if r == _NOTHING and not body.strip():
            r = _tag_name(name, opts)
        if r == _NOTHING and body.strip():
            r2 = _statement_candidates(body, opts)
            r = r2[-1][1] if r2 else _NOTHING
        if r:
            out.append((m.end(), r))
    for m in _OPEN_TAG_RE.finditer(t):
        if any(b <= m.start() < e for b, e in spans):
            continue
        name = m.group(1).strip()
        low = name.lower()
        if low in _STRUCT_TAGS or low.startswith("/"):
            continue
        if low in {"conclusion", "answer", "final answer", "final_answer", "finalanswer", "response", "result", "choice", "output"}:
            # an unclosed answer tag: its content runs to the next tag or the end
            nxt = t.find("<", m.end())
            body = t[m.end(): nxt if nxt >= 0 else len(t)]
            r = _slot(body, opts) if body.strip() else _NOTHING
            if r:
                out.append((m.end(), r))
            continue
        r = _tag_name(name, opts)
        if r:
            out.append((m.end(), r))
    return out


def _names_option_tag(before: str, opts: OptionMatcher) -> bool:
    """Whether ``before`` ends with a tag whose name is an option's text (``<Dog>``), not a letter."""
    m = re.search(r"<\s*([^<>/]{2,40}?)\s*>\s*$", before)
    return bool(m) and opts.whole(m.group(1)) is not None and not re.fullmatch(r"[A-Ja-j](?:\s+[A-Ja-j])*", m.group(1))


def _tag_name(name: str, opts: OptionMatcher) -> str:
    """A tag such as <B>, <C C>, <Dog> or <N/A> used as the answer itself."""
    name = name.strip()
    if re.fullmatch(r"([A-Ja-j])(?:\s+\1)*", name, re.I):
        idx = LETTERS.index(name[0].upper())
        return LETTERS[idx] if idx < opts.n else _NOTHING
    if re.fullmatch(r"n/?a|none|unknown", name, re.I):
        return _REFUSE
    i = opts.whole(name)
    return LETTERS[i] if i is not None else _NOTHING


def _statement_candidates(t: str, opts: OptionMatcher) -> List[Tuple[int, str]]:
    out: List[Tuple[int, str]] = []
    for m in _TRIGGER_RE.finditer(t):
        # skip "answer" used as a verb in the instructions ("answer with ...") or questions
        tail = t[m.end(): m.end() + 300]
        pre = t[max(0, m.start() - 40): m.start()].rsplit("\n", 1)[-1]
        if re.search(r"\b(?:if|whether|not|n't|unless|the question)\s+(?:\w+\s+){0,2}$", pre, re.I) and not re.search(r"\bnot only\b", pre, re.I):
            continue
        clause = _CONDITIONAL_CLAUSE_RE.search(t[max(0, m.start() - 120): m.start()])
        if clause and not _FORCED_CHOICE_RE.search(clause.group(0)):
            continue  # "if the speaker is female, the answer would be ..." is a hypothesis, not a pick
        line_end = tail.find("\n")
        if line_end == 0:
            nl = re.match(r"\n\s*", tail)
            tail = tail[nl.end():]
            line_end = tail.find("\n")
        slot = tail if line_end < 0 else tail[:line_end]
        r = _slot(slot, opts)
        if r:
            out.append((m.end(), r))
    # "Answer:"-style line at the start of a line with nothing after it: the next line is the slot
    for m in re.finditer(r"(?im)^\s*(?:final )?answer\s*:?\s*$\n\s*(.+)", t):
        r = _slot(m.group(1), opts)
        if r:
            out.append((m.start(1), r))
    return out


def _refuses(t: str, opts: OptionMatcher) -> bool:
    """Whether some sentence declines to answer ("impossible to determine", "none of the options")."""
    for _, s in _sentences_with_pos(t):
        if not _REFUSAL_SENTENCE_RE.search(s):
            continue
        named = set(positive_options(s, opts)) | {i for _, _, i in letter_mentions(s, opts.n)}
        if not named or len(named) >= opts.n or re.search(r"\beither\b[^.]*\bor\b", s, re.I):
            return True  # declines without naming a pick, or declines every option it names
    return False


def _sentences_with_pos(t: str) -> List[Tuple[int, str]]:
    out = []
    for m in re.finditer(r"[^\n]+", t):
        line, base = m.group(0), m.start()
        start = 0
        for sm in re.finditer(r"(?<=[a-z0-9\)\]\"'])[.!?]+(?=\s+[A-Z\"'(]|\s*$)", line):
            seg = line[start: sm.end()]
            if seg.strip():
                out.append((base + start, seg))
            start = sm.end()
        if line[start:].strip():
            out.append((base + start, line[start:]))
    return out


# A sentence that only rules options out: "The other options (omnivore, herbivore) do not fit",
# "Crows caw and hens cluck, which do not match", "none of which sound like this".
_OTHERS_RE = re.compile(r"^\W*(?:the |all )?(?:other|remaining|rest of the) (?:options?|choices?|answers?|ones?)\b"
                        r"|^\W*the (?:others|rest)\b", re.I)
_REJECTS_RE = re.compile(
    r"\b(?:(?:do|does|did|would|could) not|don't|doesn't|didn't|wouldn't|cannot|can't)\s+(?:\w+\s+)?"
    r"(?:match|fit|describe|apply|correspond|align|produce|make|sound|explain|account|resemble)\b"
    r"|\bnone of (?:which|these|them|those)\b|\b(?:is|are) (?:not|in)(?:correct|consistent|appropriate|"
    r"suitable|relevant|applicable)\b|\b(?:is|are) (?:not|un)likely\b|\bcan be (?:ruled out|eliminated|excluded)\b"
    r"|\b(?:are|is) (?:ruled out|eliminated|excluded)\b",
    re.I)
_HEDGE_RE = re.compile(r"\b(?:could|might|may|maybe|perhaps|possibly|either|whether|unsure|not sure|uncertain|"
                       r"hard to|difficult to|between)\b", re.I)
# What an echoed option list may contain besides the labels and the option texts.
_ECHO_INTRO_RE = re.compile(
    r"^\W*(?:the )?(?:possible |available |given |provided |answer )?(?:options|choices|answers|answer choices)"
    r"(?: (?:were|are|was|is|given|provided))?\s*:?", re.I)


def _label_spans(s: str, opts: OptionMatcher) -> List[Tuple[int, int, int]]:
    """Option labels at the start of a line or after a space: "(B)", "B)", "B.", "[B]"."""
    out = []
    for m in re.finditer(r"(?:(?<=\s)|^)(?:[\(\[]\s*([A-Ja-j])\s*[\)\]]|([A-J])[.)])(?=\s|$)", s):
        idx = LETTERS.index((m.group(1) or m.group(2)).upper())
        out.append((m.start(), m.end(), idx))
    return out


def _echo_sentences(sents: List[Tuple[int, str]], opts: OptionMatcher) -> set:
    """Indices of sentences that only repeat options back: "(A) Chinese (B) Korean (C) French",
    "The possible answers were (A) ...", or a run of lines with one label each ("(A) dog")."""
    single = {}
    echo = set()
    for k, (_, raw) in enumerate(sents):
        s = raw.strip()
        labels = _label_spans(s, opts)
        if not labels:
            continue
        rest = _ECHO_INTRO_RE.sub("", s)
        rest = re.sub(r"(?:(?<=\s)|^)(?:[\(\[]\s*[A-Ja-j]\s*[\)\]]|[A-J][.)])(?=\s|$)", " ", rest)
        for b, e, _ in reversed(opts.mentions(rest)):
            rest = rest[:b] + " " + rest[e:]
        rest = re.sub(r"\b(?:or|and)\b", " ", rest, flags=re.I)
        if re.sub(r"[\s,;/|.:\-]+", "", rest):
            continue  # words besides labels and option texts: a statement, not an echo
        named = {i for _, _, i in labels}
        if len(named) >= 2:
            echo.add(k)
        elif len(labels) == 1:
            single[k] = labels[0][2]
    for k, letter in single.items():
        neighbours = [single.get(k - 1), single.get(k + 1)]
        if any(n is not None and n != letter for n in neighbours):
            echo.add(k)  # one line of an option list written one option per line
    return echo


# A clause whose subject is several options and whose predicate rules them out: "Options (A), (B),
# and (D) describe different scenarios that do not ...", "while the other options (B, C, D) are less
# directly related", "(A), (C) and (D) are not present".
_LIST_SUBJECT_RE = re.compile(
    r"^\W*(?:(?:while|whereas|but|and|however),?\s+)?(?:all\s+)?(?:the\s+)?(?:(?:other|remaining)\s+(?:options?|choices?|answers?)"
    r"|options|choices|answers|rest|others"
    r"|(?:options?\s+|choices?\s+)?\(?[A-J]\)?(?:\s*,\s*(?:and\s+|or\s+)?\(?[A-J]\)?)*\s*,?\s*(?:and|or)\s+\(?[A-J]\)?(?![\w)]))",
    re.I)
_LIST_REJECTS_RE = re.compile(
    r"\b(?:not|n't|never|neither|nor|none)\b|n't\b|\bless\s+(?:\w+\s+)?(?:likely|relevant|related|suitable|appropriate|"
    r"plausible|consistent|fitting|accurate|common|typical)\b|\b(?:unlikely|inconsistent|irrelevant|incorrect|wrong|"
    r"unrelated|ruled out|eliminated|excluded|lack)\b|\b(?:describe|are|involve|refer to|name)s?\s+(?:\w+\s+)?"
    r"(?:other|different)\b", re.I)
_REJECT_CLAUSE_SPLIT_RE = re.compile(r";|,?\s+(?=(?:while|whereas|but|however)\b)|\.\s", re.I)
_PAREN_LETTER_LIST_RE = re.compile(r"\(\s*([A-J](?:\s*(?:,|/|and|or)\s*(?:and\s+|or\s+)?[A-J])+)\s*\)")


def _rejected_in(s: str, opts: OptionMatcher) -> set:
    """Options that a clause of ``s`` rules out as a group ("Options (A), (B), and (D) do not ...",
    "the other options (B, C, D) are less likely"); a hedged clause rules out nothing."""
    out: set = set()
    for clause in _REJECT_CLAUSE_SPLIT_RE.split(s):
        if not clause or not _LIST_SUBJECT_RE.match(clause):
            continue
        if not _LIST_REJECTS_RE.search(clause) or _HEDGE_RE.search(clause):
            continue
        named = {i for _, _, i in letter_mentions(clause, opts.n)} | {i for _, _, i in opts.mentions(clause)}
        for m in _PAREN_LETTER_LIST_RE.finditer(clause):
            named |= {LETTERS.index(c) for c in re.findall(r"[A-J]", m.group(1)) if LETTERS.index(c) < opts.n}
        lead = re.match(r"^\W*(?:(?:while|whereas|but|and|however),?\s+)?(?:options?\s+|choices?\s+)?"
                        r"((?:\(?[A-J]\)?\s*(?:,|and|or)?\s*)+)", clause, re.I)
        if lead:
            named |= {LETTERS.index(c) for c in re.findall(r"[A-J]", lead.group(1)) if LETTERS.index(c) < opts.n}
        out |= named - {-1}
    return out


# A sentence that states its pick: "... best describes ...", "aligns best with", "is the most suitable
# response", "is best captured by option (A)".
_PICK_PHRASE_RE = re.compile(
    r"\b(?:most likely|i think|i believe|i'd say|i would say|best (?:match|fit)|"
    r"matches|corresponds to|aligns with|(?:most |best |fully )?consistent with|"
    r"best (?:described|classified) as|indicates|suggests|points to|i (?:can )?hear|(?:it|this) sounds like|"
    r"best (?:describes?|captures?|fits?|represents?|reflects?|suits?|illustrates?|matches)|"
    r"(?:is |are )?best (?:captured|reflected|represented|matched|illustrated|described) by|"
    r"aligns? (?:best|most closely|closely|perfectly|well) with|(?:most |best |closely )aligned with|"
    r"(?:most|best) (?:plausible|fitting|suitable|appropriate|accurate|probable|reasonable)|"
    r"the only (?:one|option|choice)|(?:directly|perfectly|clearly) (?:matches|fits|describes|expresses|captures))\b",
    re.I)


def _fallback(t: str, opts: OptionMatcher) -> Optional[str]:
    """No explicit commitment: read the last sentence that picks an option, skipping echoed option
    lists and sentences that only rule options out (an option ruled out later is never picked). A
    concluding sentence that names no option word for word may name one in other words
    (``OptionMatcher.fuzzy``)."""
    sents = _sentences_with_pos(t)
    echo = _echo_sentences(sents, opts)
    rejected: set = set()
    for k in range(len(sents) - 1, -1, -1):
        if k in echo:
            continue
        s = sents[k][1].strip()
        ments = opts.mentions(s)
        lets = letter_mentions(s, opts.n)
        if not ments and not lets:
            fuzzy = opts.fuzzy(s)
            if fuzzy is None or fuzzy[2] in rejected or is_negated(s, fuzzy[0], fuzzy[1]):
                continue
            if not (_CONCLUDE_RE.search(s) or _PICK_PHRASE_RE.search(s)):
                continue
            first, pick = fuzzy[0], fuzzy[2]
            cuts = [m.end() for m in CLAUSE_SPLIT_RE.finditer(s, max(0, first - 200), first)]
            clause = s[cuts[-1] if cuts else max(0, first - 200): first]
            if re.search(r"\b(?:could|might|may|possibly|perhaps|if)\b", clause, re.I):
                return None  # a hedged or conditional mention is not a pick
            return LETTERS[pick]
        group_rejected = _rejected_in(s, opts)
        rejected |= group_rejected
        pos_l = sorted({i for b, e, i in lets if not is_negated(s, b, e)} - group_rejected)
        pos = [i for i in positive_options(s, opts) if i not in group_rejected]
        positive = set(pos_l) | set(pos)
        if not positive:
            rejected |= {i for _, _, i in lets} | {i for _, _, i in ments}
            continue  # every option it names is negated: it only rules options out
        if _OTHERS_RE.search(s) or (len(positive) >= 2 and _REJECTS_RE.search(s) and not _HEDGE_RE.search(s)):
            rejected |= positive
            continue
        # count distinct options, not mentions: "... typical of a pig ... is: (A) pig" names one
        if len(positive) > 1 or -1 in positive:
            return None  # a list of the options, a comparison, a hedge or a letter/text conflict
        pick = positive.pop()
        if pick in rejected - group_rejected:
            return None  # named here, ruled out later
        if pos_l:
            return LETTERS[pick]
        first = next(b for b, e, i in opts.mentions(s) if i == pick)
        cuts = [m.end() for m in CLAUSE_SPLIT_RE.finditer(s, max(0, first - 200), first)]
        clause = s[cuts[-1] if cuts else max(0, first - 200): first]
        if re.search(r"\b(?:could|might|may|possibly|perhaps|if)\b", clause, re.I):
            return None  # a hedged or conditional mention is not a pick
        ident = [m for m in _IDENT_RE.finditer(s[:first])]
        concluding = (
            _CONCLUDE_RE.search(s)
            or _COPULA_END_RE.search(clause)
            or (ident and len(s[ident[-1].end(): first].split()) <= 6)
            or len(sents) - len(echo) == 1
            or opts.whole(s) is not None  # a closing sentence that is just the option ("Angry.")
            or _PICK_PHRASE_RE.search(s)
        )
        if not concluding:
            return None
        return LETTERS[pick]
    return None


def parse_answer(text: str, choices: List[str]) -> Optional[str]:
    """The option letter the response finally commits to, or None (no, several, or unclear)."""
    if not text or not isinstance(text, str) or not choices:
        return None
    opts = OptionMatcher(list(choices)[: len(LETTERS)])
    if opts.n == 0:
        return None
    t = _clean(text)
    if not t:
        return None
    bare = _bare(t, opts)
    if bare is not None:
        return bare if bare in opts.letters else None
    cands = _tag_candidates(t, opts) + _statement_candidates(t, opts)
    bold = _bold_final(text, opts)
    if bold:
        cands.append((len(t) + 1, bold))
    decisive = [c for c in cands if c[1] != _NOTHING]
    if opts.n >= 2 and {r for _, r in decisive} >= set(opts.letters):
        return None  # every option is given as "the answer": no single pick
    if decisive:
        pos = max(p for p, _ in decisive)
        final = {r for p, r in decisive if p == pos}
        if len(final) == 1:
            r = final.pop()
            if r in opts.letters and _CORRECTION_RE.search(t[pos:]):
                # "Answer: (B). Wait, it's actually a cow." - a later self-correction in words
                corrected = _fallback(t[pos:], opts)
                if corrected is not None:
                    return corrected
            if r in opts.letters and _names_option_tag(t[:pos], opts):
                # A tag named after an option ("<Dog>") is weak evidence; when the reasoning before
                # it concludes a different option in words, the response contradicts itself.
                concluded = _fallback(t[: t.rfind("<", 0, pos)], opts)
                if concluded is not None and concluded != r:
                    return None
            return r if r in opts.letters else None
        letters = final & set(opts.letters)
        return letters.pop() if len(letters) == 1 and not final & {_AMBIG} else None
    # A stated refusal outweighs weak evidence, but not an explicit commitment: "Answer: B. I
    # cannot be certain from such a short clip" still commits to B.
    if _refuses(t, opts):
        return None
    # a response that opens with a letter label ("B. So, ...", "C\n...")
    m = re.match(r"^[\(\[<]?([A-J])(?:[\)\]>.:]|\s*$|\s*\n)", t)
    if m and LETTERS.index(m.group(1)) < opts.n and 0 not in _echo_sentences(_sentences_with_pos(t), opts):
        first_line = t.split("\n", 1)[0]
        named = {i for _, _, i in letter_mentions(first_line, opts.n)} | {i for _, _, i in opts.mentions(first_line)}
        if named <= {LETTERS.index(m.group(1))}:
            return m.group(1)
    return _fallback(t, opts)
