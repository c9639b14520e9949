"""Tests for audiofaith.text.cot: sentence splitting, reasoning/answer separation, answer sentences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audiofaith.text.cot import answer_stating_sentences, split_reasoning, split_sentences


def _nows(s: str) -> str:
    return "".join(s.split())


def test_split_abbreviations_decimals_labels():
    text = (
        "The peak is at 3.5 kHz, e.g. a bark. It is not (a) cat, i.e. no meow. Dr. Smith and Mr. Lee "
        "agree, vs. last time... So the answer is option B. The crow caws."
    )
    assert split_sentences(text) == [
        "The peak is at 3.5 kHz, e.g. a bark.",
        "It is not (a) cat, i.e. no meow.",
        "Dr. Smith and Mr. Lee agree, vs. last time...",
        "So the answer is option B.",
        "The crow caws.",
    ]


def test_split_lines_bullets_and_labels():
    text = "Options:\n- A. dog\n- B. crow\n\n* The call is harsh.  It repeats!\nA. dog is wrong"
    assert split_sentences(text) == ["Options:", "- A. dog", "- B. crow", "* The call is harsh.", "It repeats!", "A. dog is wrong"]


def test_split_ellipsis_quotes_questions():
    assert split_sentences('Hmm... maybe. Wait, what? "Yes." J. S. Bach etc. are fine.') == [
        "Hmm... maybe.", "Wait, what?", '"Yes."', "J. S. Bach etc. are fine.",
    ]


def test_split_empty():
    assert split_sentences("") == [] and split_sentences(" \n ") == []


def test_join_reads_naturally():
    text = "It barks.\nDogs bark.   So it is a dog."
    assert " ".join(split_sentences(text)) == "It barks. Dogs bark. So it is a dog."


def test_split_reasoning_think_tags():
    assert split_reasoning("<think>It moos. Cows moo.</think>\nAnswer: (C)") == (
        "<think>It moos. Cows moo.</think>", "Answer: (C)")


def test_split_reasoning_xml_tags():
    r, a = split_reasoning("<Reasoning>\nIt moos.\n</Reasoning>\n<Conclusion>\nC\n</Conclusion>")
    assert r == "<Reasoning>\nIt moos.\n</Reasoning>" and a == "<Conclusion>\nC\n</Conclusion>"
    assert split_reasoning("<Reasoning>It is male.</Reasoning>\n<B>") == ("<Reasoning>It is male.</Reasoning>", "<B>")


def test_split_reasoning_answer_line():
    assert split_reasoning("It moos. Cows moo.\nAnswer: (C)") == ("It moos. Cows moo.", "Answer: (C)")
    assert split_reasoning("Cows moo.\nFinal answer: C") == ("Cows moo.", "Final answer: C")
    assert split_reasoning("Answer: (C)") == ("", "Answer: (C)")


def test_split_reasoning_statements():
    assert split_reasoning("It moos and dogs bark. Therefore, the answer is (B) dog.") == (
        "It moos and dogs bark.", "Therefore, the answer is (B) dog.")
    assert split_reasoning("Harsh caws. The correct option is B") == ("Harsh caws.", "The correct option is B")


def test_split_reasoning_free_form_af3():
    text = ("Okay, let me think. The clip has a low, long call. Dogs bark and crows caw. "
            "So the most likely animal is the cow.")
    assert split_reasoning(text) == (
        "Okay, let me think. The clip has a low, long call. Dogs bark and crows caw.",
        "So the most likely animal is the cow.")


def test_split_reasoning_no_statement():
    assert split_reasoning("  The call is low. Cows moo.  ") == ("The call is low. Cows moo.", "")
    assert split_reasoning("") == ("", "")


def test_answer_stating_sentences():
    sents = split_sentences("The sound is a dog. It is not a cat. A bird would chirp. Answer: (A)")
    assert answer_stating_sentences(sents, ["dog", "cat"], "A") == [0, 3]
    assert answer_stating_sentences(sents, ["dog", "cat"], "B") == [1]
    assert answer_stating_sentences(sents, ["dog", "cat"], None) == []
    sents = ["Option B fits.", "The speaker is female.", "B"]
    assert answer_stating_sentences(sents, ["Male", "Female"], "B") == [0, 1, 2]
    assert answer_stating_sentences(sents, ["Male", "Female"], "A") == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_split_sentences_keeps_all_text(text):
    sents = split_sentences(text)
    assert _nows("".join(sents)) == _nows(text)
    assert all(s == s.strip() and s for s in sents)
    assert split_sentences(text) == sents


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("abcAB .!?\n()<>/:eg.i3") + ["Answer: (B)", "</think>", "So the answer is", "etc.", "Dr. "]), max_size=80).map("".join))
def test_split_reasoning_keeps_all_text(text):
    reasoning, statement = split_reasoning(text)
    assert _nows(reasoning + statement) == _nows(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_split_reasoning_keeps_all_text_arbitrary(text):
    reasoning, statement = split_reasoning(text)
    assert _nows(reasoning + statement) == _nows(text)


@given(st.text(alphabet=st.sampled_from(list("ab. \nCD!?e.g")), max_size=80))
def test_sentence_spans_cut_the_original_text(text):
    from audiofaith.text.cot import sentence_spans

    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == split_sentences(text)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))


def test_eight_options_and_closing_parenthesis_labels():
    """2 to 8 options (A-H): answer lines, label forms and answer sentences for late letters."""
    scenes = ["Rain", "Thunder", "Wind", "Fire crackling", "Waves", "Birdsong", "Traffic", "Applause"]
    assert split_reasoning("A crowd claps.\nAnswer: (H)") == ("A crowd claps.", "Answer: (H)")
    assert split_reasoning("Water hits the shore. The answer is E) Waves.") == (
        "Water hits the shore.", "The answer is E) Waves.")
    assert split_reasoning("Cars hum. So it matches G) Traffic") == ("Cars hum.", "So it matches G) Traffic")
    sents = ["The hum is steady.", "It matches G) Traffic.", "Option (H) is wrong.", "<G>"]
    assert answer_stating_sentences(sents, scenes, "G") == [1, 3]
    assert answer_stating_sentences(sents, scenes, "H") == [2]
    assert answer_stating_sentences(["So: E) the sea."], scenes[:5], "E") == [0]
    assert answer_stating_sentences(["Answer: (B)"], ["Yes", "No"], "B") == [0]
