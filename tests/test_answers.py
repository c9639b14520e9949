"""Tests for audiofaith.answers.parse_answer: hand-written cases, a hand-labelled sample of real
Qwen2.5-Omni responses (read from ../shared at test time), and property tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiofaith.answers import LETTERS, parse_answer
from tests.conftest import CI, require

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
SHARED = Path(__file__).resolve().parents[2] / "shared"
ANCHORS = SHARED / "anchor-outputs" / "qwen2.5-omni"
MANIFESTS = REPO / "processed_input" / "sakura"
TRACKS = ("animal", "emotion", "gender", "language")


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


PARSE_CASES = _read_jsonl(GOLDEN / "parse_cases.jsonl")


@pytest.mark.parametrize("case", PARSE_CASES, ids=[c["why"][:60] for c in PARSE_CASES])
def test_parse_cases(case):
    assert parse_answer(case["text"], case["choices"]) == case["expected"], case["why"]


def test_parse_cases_are_well_formed():
    """Each golden case is distinct and expects null or a letter that names one of its options: a
    duplicated case or an impossible letter would pass or fail for the wrong reason."""
    seen = set()
    for case in PARSE_CASES:
        key = (case["text"], tuple(case["choices"]))
        assert key not in seen, f"duplicated golden case: {case}"
        seen.add(key)
        assert set(case) == {"text", "choices", "expected", "why"} and case["why"].strip(), case
        expected = case["expected"]
        assert expected is None or (len(expected) == 1 and "A" <= expected < chr(ord("A") + len(case["choices"]))), case
    assert {case["expected"] is None for case in PARSE_CASES} == {True, False}  # both kinds are pinned


# --- anchor sample --------------------------------------------------------------------------


def _anchor_choices():
    """Map ("{track}", "sakura_{track}_{i}_{hop}") -> (choices, answer letter) from the manifests.

    The anchor index i counts the items of a (track, hop) in some fixed order; the anchor outputs
    were produced in audio-file-name order, not metadata row order. Both orders are tried and the
    one under which every anchor's ``true_letter`` agrees with the manifest answer is used."""
    table = {}
    for track in TRACKS:
        manifest = MANIFESTS / track / "sakura_manifest.jsonl"
        assert manifest.is_file(), f"committed manifest {manifest} is missing"
        items = _read_jsonl(manifest)
        anchors = {}
        for path in sorted((ANCHORS / track).glob("*.jsonl")):
            for obj in _read_jsonl(path):
                anchors[obj["id"]] = obj
        chosen = None
        for key in (lambda it: it["meta"]["row"], lambda it: it["meta"].get("file", it["audio"])):
            by_hop = {hop: sorted((it for it in items if it["hop"] == hop), key=key) for hop in ("single", "multi")}
            mapping = {}
            ok = True
            for aid, obj in anchors.items():
                m = re.fullmatch(r"sakura_(\w+?)_(\d+)_(single|multi)", aid)
                row, hop = int(m.group(2)), m.group(3)
                if row >= len(by_hop[hop]) or by_hop[hop][row]["answer"] != obj["true_letter"]:
                    ok = False
                    break
                mapping[aid] = by_hop[hop][row]
            if ok:
                chosen = mapping
                break
        # data drift (anchor outputs or manifests changed) is a failure, never a skip
        assert chosen is not None, f"cannot align the anchor ids of {track} with its manifest (data drift?)"
        for aid, item in chosen.items():
            table[(track, aid)] = item["choices"]
    return table


def _naive_last_paren(text, choices):
    found = re.findall(r"\(([A-Ja-j])\)", text or "")
    if not found:
        return None
    letter = found[-1].upper()
    return letter if LETTERS.index(letter) < len(choices) else None


#: (file, id, run) of the hand-labelled anchor responses parse_answer disagrees with today: none.
ANCHOR_KNOWN_MISSES: set = set()

#: The fresh sample's known disagreements: (file, id, run) for anchor lines, ("text", first 60
#: characters) for synthetic ones (docs/parsing.md discusses each).
FRESH_KNOWN_MISSES = {
    ("text", "The speaker's language is Spanish. Among the novels, 'One Hu"),  # names the fitting option, no letter
}


def test_anchor_agreement():
    require(ANCHORS.is_dir(), f"anchor outputs not found at {ANCHORS} (../shared)")
    assert MANIFESTS.is_dir(), f"committed SAKURA manifests not found at {MANIFESTS}"
    choices = _anchor_choices()
    labels = _read_jsonl(GOLDEN / "anchor_labels.jsonl")
    assert len(labels) >= 200
    responses = {}
    for rel in {lab["file"] for lab in labels}:
        for obj in _read_jsonl(ANCHORS / rel):
            responses[(rel, obj["id"])] = obj["raw_model_outputs"]
    agree = naive = 0
    misses = {}
    for lab in labels:
        track = lab["file"].split("/")[0]
        text = responses[(lab["file"], lab["id"])][lab["run"]]
        ch = choices[(track, lab["id"])]
        got = parse_answer(text, ch)
        agree += got == lab["label"]
        naive += _naive_last_paren(text, ch) == lab["label"]
        if got != lab["label"]:
            misses[(lab["file"], lab["id"], lab["run"])] = f"label {lab['label']} got {got} ({lab['why']})"
    print(f"\nparse_answer agreement {agree}/{len(labels)}; naive last-(X) {naive}/{len(labels)}")
    # The exact set of known disagreements: one more (or one fixed) shows up here and is reviewed.
    assert misses.keys() == ANCHOR_KNOWN_MISSES, "\n".join(f"{key}: {why}" for key, why in misses.items())


# --- properties -----------------------------------------------------------------------------

_choices = st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400), choices=_choices)
def test_never_raises_and_in_range(text, choices):
    got = parse_answer(text, choices)
    assert got is None or got in LETTERS[: len(choices)]


@settings(max_examples=200, deadline=None)
@given(
    filler=st.text(alphabet="klmnopqrstuvwxyz0123456789 ,;.\n", max_size=300),
    choices=st.lists(st.text(alphabet="abcdefghij ", min_size=1, max_size=20), min_size=1, max_size=10),
    data=st.data(),
)
def test_answer_line_wins_over_noncommittal_text(filler, choices, data):
    letter = data.draw(st.sampled_from(LETTERS[: len(choices)]))
    assert parse_answer(f"{filler}\nAnswer: ({letter})", choices) == letter


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=50).filter(lambda s: "\n" not in s), st.integers(min_value=2, max_value=400))
def test_repetition_loop_does_not_crash(unit, times):
    got = parse_answer((unit + " ") * times, ["dog", "crow", "cow", "rooster"])
    assert got is None or got in "ABCD"


# A response never parses to an option it does not name, neither by letter nor by text: built
# from filler words that name no option, plus mentions (positive, negated, bold, tags, answer
# lines, letter/text mixes) of a random subset of the options, 2 to 8 of them.
_OPTION_POOL = ["dog", "crow", "cow", "rooster", "pig", "frog", "hen", "sheep", "Female", "Male", "happy",
                "sad", "angry", "Viviparous", "Spinto tenor", "Fire crackling", "Traffic", "Applause",
                "Chewing cud", "The Red and the Black"]
_FILLER = ["the", "sound", "is", "clear", "answer", "Answer:", "likely", "so", "therefore", "not", "it",
           "maybe", "final", "option", "choice", "audio", "voice", "speaker", "seems", "most", "because",
           "and", "or", "between", "hear", "this", "that", "best", "matches", "correct", "think", "none",
           "of", "options", "could", "be", "wait", "actually", "(", ")", "**", "<", ">", ":", "-", "other",
           "do", "fit", "ruled", "out", "Therefore,", "The", "is:", "most likely", "aligns", "with"]
_MENTIONS = ["({L})", "{L})", "option {L}", "Answer: {L}", "Answer: ({L}) {T}", "**({L}) {T}**", "{T}",
             "not {T}", "<{L}>", "{L}.", "the answer is {T}", "({l})", "\n**{L}**", "It is a {T}.",
             "{L}) {T}", "Final answer: ({L}) {O}", "<Conclusion>{L}</Conclusion>", "so it is {T}"]


@st.composite
def _response_naming_a_subset(draw):
    n = draw(st.integers(min_value=2, max_value=8))
    choices = draw(st.lists(st.sampled_from(_OPTION_POOL), min_size=n, max_size=n, unique_by=str.lower))
    named = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=3))
    pieces = draw(st.lists(st.sampled_from(_FILLER), max_size=40))
    for i in sorted(named):
        template = draw(st.sampled_from(_MENTIONS))
        # "{O}" is another named option's text: a letter/text conflict names both
        other = draw(st.sampled_from(sorted(named)))
        piece = template.format(L=LETTERS[i], l=LETTERS[i].lower(), T=choices[i], O=choices[other])
        pieces.insert(draw(st.integers(min_value=0, max_value=len(pieces))), piece)
    seps = draw(st.lists(st.sampled_from([" ", " ", "\n", ". ", ", "]), min_size=len(pieces), max_size=len(pieces)))
    text = "".join(p + s for p, s in zip(pieces, seps))
    return text, choices, {LETTERS[i] for i in named}


@settings(max_examples=400, deadline=None)
@given(_response_naming_a_subset())
def test_never_parses_to_an_option_it_does_not_name(case):
    text, choices, named = case
    got = parse_answer(text, choices)
    assert got is None or got in named, (text, choices, named, got)


def test_fresh_sample_agreement():
    """The fresh evaluation sample (docs/parsing.md): labelled by reading before the issue 12
    changes. Synthetic AF3-style lines always run; anchor lines need ../shared."""
    labels = _read_jsonl(GOLDEN / "fresh_sample_labels.jsonl")
    assert len(labels) >= 140
    known = FRESH_KNOWN_MISSES
    if not ANCHORS.is_dir():
        assert not CI, f"AUDIOFAITH_CI=1: anchor outputs not found at {ANCHORS} (../shared)"
        labels = [lab for lab in labels if "text" in lab]
        known = {key for key in known if key[0] == "text"}
    cache = {}
    misses = {}
    for lab in labels:
        if "text" in lab:
            text = lab["text"]
        else:
            if lab["file"] not in cache:
                cache[lab["file"]] = {o["id"]: o["raw_model_outputs"] for o in _read_jsonl(ANCHORS / lab["file"])}
            text = cache[lab["file"]][lab["id"]][lab["run"]]
        got = parse_answer(text, lab["choices"])
        if got != lab["label"]:
            key = ("text", lab["text"][:60]) if "text" in lab else (lab["file"], lab["id"], lab["run"])
            misses[key] = f"[{lab['source']}] label {lab['label']} got {got}: {lab['why']}"
    assert misses.keys() == known, "\n".join(f"{key}: {why}" for key, why in misses.items())
