"""Tests for audiofaith.text.answers.parse_answer: hand-written cases, hand-labelled samples of real
Qwen2.5-Omni and Audio Flamingo 3 responses (read from ../shared at test time), and property tests."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiofaith.text.answers import LETTERS, parse_answer
from audiofaith.text.option_matching import same_word
from tests.conftest import CI, require

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
SHARED = Path(__file__).resolve().parents[2] / "shared"
ANCHORS = SHARED / "anchor-outputs" / "qwen2.5-omni"
STUDY = SHARED / "anchor-outputs" / "study-e4cee03"
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


# --- real Audio Flamingo 3 responses (the published study's MMAR outputs) ----------------------

AF3_SAMPLES = ("af3_heldout_labels.jsonl", "af3_dev_labels.jsonl")
#: 1-based lines of each label file that the parser reads differently from the label, as
#: `scripts/parser_agreement.py measure --labels tests/golden/<file>` prints them. Exact sets: a new
#: miss fails, and so does a fixed one (then take it out here and update docs/parsing.md).
AF3_KNOWN_MISSES = {
    # four truncated responses whose unfinished reasoning points at an option ("... characteristic of an
    # outdoor environment. The"), and one pick in words in a sentence that does not conclude
    "af3_heldout_labels.jsonl": {14, 39, 81, 128, 129},
    # a truncated count ("two"), "Driver is a word" (a paraphrase both options share), "the pun" (one
    # word of a long option), a truncated paraphrase
    "af3_dev_labels.jsonl": {1, 41, 77, 113},
}


def test_af3_label_files_are_well_formed():
    """Reference lines only (the text stays in ../shared), labels in range, the two samples disjoint."""
    keys = {}
    for name in AF3_SAMPLES:
        labels = _read_jsonl(GOLDEN / name)
        assert len(labels) >= 120
        for lab in labels:
            assert set(lab) == {"source", "study_file", "line", "id", "sha256", "choices", "label", "why"}, lab
            assert re.fullmatch(r"[0-9a-f]{64}", lab["sha256"]) and lab["study_file"].startswith("results/flamingo_hf/")
            assert lab["label"] is None or lab["label"] in LETTERS[: len(lab["choices"])], lab
        keys[name] = {(lab["study_file"], lab["line"]) for lab in labels}
        assert len(keys[name]) == len(labels)
    assert not keys["af3_heldout_labels.jsonl"] & keys["af3_dev_labels.jsonl"]


@pytest.mark.parametrize("name", AF3_SAMPLES)
def test_af3_sample_known_misses(name):
    require(STUDY.is_dir(), f"the study's outputs are not at {STUDY} (../shared/anchor-outputs/study-e4cee03)")
    files = {}
    misses = set()
    for number, lab in enumerate(_read_jsonl(GOLDEN / name), 1):
        if lab["study_file"] not in files:
            files[lab["study_file"]] = (STUDY / lab["study_file"]).read_text(encoding="utf-8").splitlines()
        text = json.loads(files[lab["study_file"]][lab["line"]])["final_answer_raw"]
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == lab["sha256"], (name, number)
        if parse_answer(text, lab["choices"]) != lab["label"]:
            misses.add(number)
    assert misses == AF3_KNOWN_MISSES[name]


_ANSWER_TEMPLATES = ["The answer is ({L}) {T}.", "Answer: ({L})", "The answer is {T}.", "Final answer: {L}) {T}.",
                     "<answer>{L}</answer>", "So the correct answer is ({L}).", "I choose option {L}."]
_NEUTRAL = ["Let me listen again.", "Hmm.", "The clip is short.", "None of the options fit well.", "Listening once more."]


@st.composite
def _every_option_as_the_answer(draw):
    n = draw(st.integers(min_value=2, max_value=8))
    choices = draw(st.lists(st.sampled_from(_OPTION_POOL), min_size=n, max_size=n, unique_by=str.lower))
    order = draw(st.permutations(range(n)))
    pieces = []
    for i in order:
        pieces += draw(st.lists(st.sampled_from(_NEUTRAL), max_size=2))
        pieces.append(draw(st.sampled_from(_ANSWER_TEMPLATES)).format(L=LETTERS[i], T=choices[i]))
    seps = draw(st.lists(st.sampled_from([" ", "\n", "\n\n"]), min_size=len(pieces), max_size=len(pieces)))
    return "".join(p + sep for p, sep in zip(pieces, seps)), choices


@settings(max_examples=300, deadline=None)
@given(_every_option_as_the_answer())
def test_every_option_given_as_the_answer_is_null(case):
    """A response that gives every option as "the answer", in any order and wording, picks none."""
    text, choices = case
    assert parse_answer(text, choices) is None, (text, choices)


@settings(max_examples=300, deadline=None)
@given(stem=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=12),
       endings=st.lists(st.sampled_from(["", "s", "ed", "ing", "er", "ion", "ly"]), min_size=2, max_size=2))
def test_inflected_forms_are_one_word(stem, endings):
    """Two inflections of one stem of 4 or more letters name the same word, whichever comes first."""
    a, b = stem + endings[0], stem + endings[1]
    assert same_word(a, b) and same_word(b, a)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_paraphrase_names_only_its_own_option(data):
    """A concluding sentence with an inflected form of one option's words picks that option, and the
    same sentence with the words negated picks none (options with disjoint words)."""
    pool = ["comforting hug", "quiet library", "crowded market", "barking dogs", "heavy rain", "sliding door",
            "burning wood", "ringing phone"]
    choices = data.draw(st.lists(st.sampled_from(pool), min_size=2, max_size=6, unique=True))
    pick = data.draw(st.integers(min_value=0, max_value=len(choices) - 1))
    words = choices[pick].split()
    inflected = " ".join(w + data.draw(st.sampled_from(["", "s", "ing"])) if not w.endswith("ing") else w for w in words)
    assert parse_answer(f"I listened closely. Therefore, it is most likely {inflected}.", choices) == LETTERS[pick]
    assert parse_answer(f"I listened closely. Therefore, it is not {inflected}.", choices) is None
