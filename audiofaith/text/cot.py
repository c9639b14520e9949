"""Chain-of-thought text handling: sentence splitting, reasoning/answer separation, and finding
the sentences that state the chosen option. Standard library only."""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

from audiofaith.text.option_matching import LETTERS, OptionMatcher

# Tokens whose trailing period does not end a sentence.
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "cf", "dr", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "no", "nos",
    "fig", "figs", "approx", "ca", "al", "viz", "resp", "incl", "esp", "min", "max", "sec", "hz",
    "khz", "mt", "mts", "inc", "ltd", "co", "corp", "dept", "est", "u.s", "u.k", "a.m", "p.m",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "op",
    "vol", "ch", "eq", "ref", "ed", "eds", "gen", "gov", "sgt", "capt", "lt", "col",
}
_END_RE = re.compile(r"(?:\.{2,}|…|[.!?]+)[\"')\]’”»]*(?=\s)")
_LABEL_RE = re.compile(r"^\s*(?:[-*•·]\s*)?(?:option\s+)?\(?[A-Za-j]\)?[.):]?\s*$", re.I)


def _line_sentences(line: str) -> List[str]:
    out: List[str] = []
    start = 0
    for m in _END_RE.finditer(line):
        end = m.end()
        rest = line[end:].lstrip()
        if not rest:
            continue
        # The next sentence has to start like one: a capital, digit, quote, bracket or bullet.
        if not re.match(r"[A-Z0-9\"'(\[“‘*<#-]|[^\x00-\x7f]", rest):
            continue
        if m.group(0).startswith("."):
            before = line[start: m.start()]
            word = re.search(r"([\w.'-]+)$", before)
            token = word.group(1).lower() if word else ""
            if token in _ABBREVIATIONS or token.rstrip(".") in _ABBREVIATIONS:
                continue
            # A single letter before the period: an option label ("A. dog") or an initial
            # ("J. S. Bach"); "... is option B. The crow ..." still ends a sentence.
            if len(token) == 1 and token.isalpha():
                if _LABEL_RE.match(before) or re.search(r"(?:^|\s)[A-Z]\.\s*[A-Z]$", before):
                    continue
                if not re.search(r"\b(?:option|choice|answer|is|be|letter|pick|choose|select)\s+\(?\w\)?$", before, re.I):
                    continue
        seg = line[start:end].strip()
        if seg:
            out.append(seg)
        start = end
    seg = line[start:].strip()
    if seg:
        out.append(seg)
    return out


def split_sentences(text: str) -> List[str]:
    """Split text into sentences (stripped). Lines and bullets are always separate sentences;
    abbreviations, decimals, option labels and initials do not end a sentence. Deterministic,
    and no non-whitespace character is dropped."""
    if not text:
        return []
    sentences: List[str] = []
    for line in re.split(r"\r\n|\r|\n", text):
        if line.strip():
            sentences.extend(_line_sentences(line))
    return sentences


def sentence_spans(text: str) -> List[Tuple[int, int]]:
    """``(start, end)`` character offsets in ``text`` of each sentence of ``split_sentences``, so
    a prefix of k sentences can be cut from the original text with its own formatting."""
    spans: List[Tuple[int, int]] = []
    position = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, position)
        if start < 0:  # cannot happen: sentences are verbatim, stripped pieces of the lines
            raise ValueError(f"sentence {sentence[:40]!r} not found in the text")
        spans.append((start, start + len(sentence)))
        position = start + len(sentence)
    return spans


_REASONING_CLOSE_RE = re.compile(r"</\s*(?:think|thinking|reasoning|reason|analysis|thought|thoughts)\s*>", re.I)
_ANSWER_LINE_RE = re.compile(
    r"(?im)^[ \t>*_#-]*(?:\*\*)?(?:final\s+|correct\s+)?answer(?:\*\*)?\s*(?:is\b|[:：])"
)
_ANSWER_PHRASE_RE = re.compile(
    r"\b(?:the\s+(?:final\s+|correct\s+|right\s+|best\s+)?answer\s+(?:is|would be|should be|must be|:)|"
    r"final\s+answer|correct\s+(?:option|choice|answer)|best\s+(?:option|choice|answer|match|fit)|"
    r"I\s+(?:would\s+|will\s+|'ll\s+|'d\s+)?(?:choose|select|pick|go with|opt for)|"
    r"most\s+likely\s+(?:\w+\s+){0,3}(?:is|would be)|the\s+(?:option|choice)\s+(?:is|would be))",
    re.I,
)
_CONCLUSION_START_RE = re.compile(
    r"^\W*(?:so|therefore|thus|hence|in conclusion|in summary|overall|to conclude|consequently|"
    r"as a result|finally)\b.*\b(?:is|are|was|would be|must be|choose|select|pick|answer|option)\b",
    re.I,
)
_LETTER_IN_PARENS_RE = re.compile(r"\(\s*[A-Ja-j]\s*\)|\boption\s+\(?[A-J]\b\)?|<\s*[A-J]\s*>|(?:(?<=[\s:])|^)[A-J]\)(?=\s)")


def _is_answer_sentence(sentence: str) -> bool:
    return bool(
        _ANSWER_PHRASE_RE.search(sentence)
        or _CONCLUSION_START_RE.search(sentence)
        or _LETTER_IN_PARENS_RE.search(sentence)
        or re.fullmatch(r"\W*[A-J]\W*", sentence)
        or re.match(r"^\s*<\s*(?:conclusion|answer|c)\s*>", sentence, re.I)
    )


def split_reasoning(text: str) -> Tuple[str, str]:
    """Split a response into (reasoning, answer_statement) at a single position, so that the
    two parts together are the whole response (stripped); tags stay where they were.

    The split point is, in order of preference:

    1. after the last closing reasoning tag (``</think>``, ``</Reasoning>``, ...) when something
       follows it: everything after it is the answer statement;
    2. the start of the last line that begins with ``Answer:`` / ``Final answer:`` /
       ``The answer is`` (our prompt asks for a final ``Answer: (X)`` line);
    3. the start of the last sentence, when that sentence states the pick: it contains an
       answer phrase ("the answer is", "correct option", "I choose", "most likely ... is"),
       a parenthesised option letter or "option X", an answer tag, is a bare letter, or opens with
       a conclusion marker ("So", "Therefore", "Thus", ...) and has a verb such as "is".

    Otherwise the whole text (stripped) is reasoning and the answer statement is "".
    """
    if not text or not text.strip():
        return "", ""
    closes = list(_REASONING_CLOSE_RE.finditer(text))
    if closes and text[closes[-1].end():].strip():
        i = closes[-1].end()
        return text[:i].strip(), text[i:].strip()
    lines = list(_ANSWER_LINE_RE.finditer(text))
    if lines:
        i = lines[-1].start()
        if text[:i].strip():
            return text[:i].strip(), text[i:].strip()
        return "", text.strip()
    sentences = split_sentences(text)
    if len(sentences) >= 1 and _is_answer_sentence(sentences[-1]):
        last = sentences[-1]
        i = text.rstrip().rfind(last)
        if i >= 0:
            return text[:i].strip(), text[i:].strip()
    return text.strip(), ""


def answer_stating_sentences(sentences: List[str], choices: List[str], letter: Optional[str]) -> List[int]:
    """Indices of the sentences that reveal the chosen option: they contain its letter in an
    answer-like form ("(B)", "option B", "Answer: B", "<B>", "B." alone, "as B) ...") or its option text as a
    whole word (negated mentions included, since they still name it). Empty when letter is None."""
    if not letter or not choices:
        return []
    letter = letter.strip().upper()
    if letter not in LETTERS[: len(choices)]:
        return []
    idx = LETTERS.index(letter)
    opts = OptionMatcher(list(choices)[: len(LETTERS)])
    letter_re = re.compile(
        r"\(\s*{0}\s*\)|\b(?:option|choice|letter)\s*\(?{0}\b|\banswer\s*(?:is|:)?\s*\(?{0}\b(?!\s+[a-z])|"
        r"<\s*{0}\s*>|^\W*{0}\W*$|^\s*{0}[.):]\s|(?:(?<=[\s:])|^)(?-i:{0})\)(?=\s|$)".format(letter),
        re.I if letter not in "AI" else 0,
    )
    if letter in "AI":
        # for "A"/"I" only the parenthesised or labelled forms count ("a" is an article)
        letter_re = re.compile(
            r"\(\s*[{0}{1}]\s*\)|\b(?:option|choice|letter)\s*\(?[{0}{1}]\b|[Aa]nswer\s*(?:is|:)?\s*\(?{0}\b(?!\s+[a-z])|"
            r"<\s*{0}\s*>|^\W*{0}\W*$|^\s*{0}[.):]\s|(?:(?<=[\s:])|^){0}\)(?=\s|$)".format(letter, letter.lower())
        )
    out = []
    for k, s in enumerate(sentences):
        if letter_re.search(s) or any(i == idx for _, _, i in opts.mentions(s)):
            out.append(k)
    return out


def split_trace(text: str, open_marker: str, close_marker: str) -> Tuple[str, str, bool]:
    """Split a thinking model's response into (trace, visible answer, closed).

    The trace is the text between the first ``open_marker`` (or the start, when only the close
    marker is there: a template that opened the trace itself) and the first ``close_marker``;
    the visible answer is what follows the close marker. A trace that is never closed (cut by its
    token budget) is all trace with an empty answer and ``closed`` False. A response with neither
    marker has no trace: all of it is the answer."""
    start = text.find(open_marker)
    if start < 0 and close_marker not in text:
        return "", text.strip(), True
    body = text[start + len(open_marker):] if start >= 0 else text
    end = body.find(close_marker)
    if end < 0:
        return body.strip(), "", False
    return body[:end].strip(), body[end + len(close_marker):].strip(), True
