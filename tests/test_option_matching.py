"""The public option matcher shared by the answer parser and the CoT splitter (docs/parsing.md)."""

from audiofaith.option_matching import OptionMatcher, is_negated, letter_mentions, positive_options


def test_option_texts_match_whole_words_longest_first():
    opts = OptionMatcher(["Male", "Female"])
    text = "The voice is female, not male."
    assert [i for _, _, i in opts.mentions(text)] == [1, 0]  # "female" never also counts as "male"
    assert positive_options(text, opts) == [1]  # the negated mention is no pick
    start, end, _ = opts.mentions(text)[1]
    assert is_negated(text, start, end)


def test_aliases_word_forms_and_distinctive_words():
    assert OptionMatcher(["happy", "sad"]).whole("Sadness") == 1
    assert OptionMatcher(["Oviparous", "Viviparous"]).whole("viviparity") == 1
    assert OptionMatcher(["Leonardo DiCaprio", "Brad Pitt"]).whole("DiCaprio") == 0
    assert OptionMatcher(["dog", "cat"]).whole("a parrot") is None


def test_letter_mentions_only_in_answer_forms():
    assert [i for _, _, i in letter_mentions("I pick option B over (c).", 4)] == [1, 2]
    assert letter_mentions("A dog barks.", 4) == []  # the article is no letter
    assert [i for _, _, i in letter_mentions("maybe (E)", 4)] == [-1]  # past the last option
