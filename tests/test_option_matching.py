"""The public option matcher shared by the answer parser and the CoT splitter (docs/parsing.md)."""

from audiofaith.text.option_matching import OptionMatcher, is_negated, letter_mentions, positive_options, same_word


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


def test_same_word_inflections_plurals_and_misspellings():
    for a, b in [("offer", "offering"), ("provide", "providing"), ("dismissing", "dismissal"), ("jumped", "jumping"),
                 ("swipe", "swiping"), ("dog", "dogs"), ("rettracted", "retracted")]:
        assert same_word(a, b) and same_word(b, a), (a, b)
    for a, b in [("concert", "concern"), ("cat", "catch"), ("contribution", "control"), ("prosperity", "prosperità")]:
        assert not same_word(a, b), (a, b)


def test_fuzzy_names_one_option_in_other_words():
    opts = OptionMatcher(["Offer a comforting hug.", "Change the topic.", "Celebrate with a cheerful response."])
    sentence = "Therefore, offering a comforting hug is the most suitable response."
    start, end, index = opts.fuzzy(sentence)
    assert index == 0 and sentence[start:end] == "offering a comforting hug"  # "response" is no option word
    assert OptionMatcher(["Colleagues", "Married couple"]).fuzzy("It is best described as a couple.")[2] == 1
    # a word that two options share names neither; half an option's words is the least
    assert OptionMatcher(["A heavy sigh with a frown", "A frown with trembling lips"]).fuzzy("It is a frown.") is None
    assert OptionMatcher(["The collapsed hunter is dead after the shot", "The hunter walked away"]).fuzzy(
        "The shot was loud.") is None
