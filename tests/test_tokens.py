"""Tests of course_utils.tokens with the packaged all-MiniLM-L6-v2 tokenizer and transformer.

Each case where the seed's ``tokens.index(word) + 1`` breaks (a word split into sub-tokens, a
repeated word, a capitalised word, punctuation) is checked twice: the seed's recipe fails, and
``word_token_spans`` finds the right tokens. Then ``word_vectors`` against a forward pass by
hand, and every error a learner can meet.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.models import ModelUnavailableError, load_token_encoder
from course_utils.tokens import word_token_spans, word_vectors


@pytest.fixture(scope="module")
def encoder():
    try:
        return load_token_encoder("all-MiniLM-L6-v2")
    except ModelUnavailableError as exc:  # the model package is not installed here
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tokenizer(encoder):
    return encoder[0]


@pytest.fixture(scope="module")
def model(encoder):
    return encoder[1]


def tokens_of(tokenizer, text, spans):
    tokens = tokenizer(text).tokens()
    return [tokens[a:b] for a, b in spans]


def seed_position(tokenizer, text, word):
    """The recipe the course replaces: position of `word` among the tokens, +1 for [CLS]."""
    return tokenizer.tokenize(text).index(word) + 1


# ---- the cases where the seed breaks --------------------------------------------------------

def test_single_token_word_matches_the_seed(tokenizer):
    text = "We sat on the bank of the river."
    assert word_token_spans(tokenizer, text, "bank") == [(5, 6)]
    assert seed_position(tokenizer, text, "bank") == 5


def test_word_split_into_sub_tokens(tokenizer):
    text = "Contextual embeddings change with the sentence."
    with pytest.raises(ValueError):
        seed_position(tokenizer, text, "embeddings")
    spans = word_token_spans(tokenizer, text, "embeddings")
    assert tokens_of(tokenizer, text, spans) == [["em", "##bed", "##ding", "##s"]]
    # a rare word, cut into pieces too
    spans = word_token_spans(tokenizer, "A lexicographer wrote it.", "lexicographer")
    assert len(spans) == 1 and spans[0][1] - spans[0][0] > 1


def test_repeated_word_gives_every_occurrence(tokenizer):
    text = "I left the bank and walked along the river bank."
    assert seed_position(tokenizer, text, "bank") == 4            # the seed stops at the first
    spans = word_token_spans(tokenizer, text, "bank")
    assert spans == [(4, 5), (10, 11)]
    assert tokens_of(tokenizer, text, spans) == [["bank"], ["bank"]]


def test_capitalised_word(tokenizer):
    text = "Bank holidays close every branch."
    with pytest.raises(ValueError):
        seed_position(tokenizer, text, "Bank")                     # the tokens are lowercase
    assert word_token_spans(tokenizer, text, "Bank") == [(1, 2)]
    assert word_token_spans(tokenizer, text, "bank") == [(1, 2)]   # case ignored by default
    assert word_token_spans(tokenizer, text, "Bank", ignore_case=False) == [(1, 2)]


def test_case_sensitive_match_says_other_capitalisation_exists(tokenizer):
    with pytest.raises(ValueError, match="other capitalisation") as info:
        word_token_spans(tokenizer, "Bank holidays close every branch.", "bank", ignore_case=False)
    assert "`word`" in str(info.value) and "ignore_case=True" in str(info.value)


def test_punctuation_inside_the_word(tokenizer):
    text = "She sent the bank an e-mail."
    with pytest.raises(ValueError):
        seed_position(tokenizer, text, "e-mail")
    spans = word_token_spans(tokenizer, text, "e-mail")
    assert tokens_of(tokenizer, text, spans) == [["e", "-", "mail"]]


def test_word_glued_to_punctuation_is_a_whole_word(tokenizer):
    text = "The Bank's clerk, who works at the bank, lives by (bank) the embankment."
    spans = word_token_spans(tokenizer, text, "bank")
    assert len(spans) == 3
    assert tokens_of(tokenizer, text, spans) == [["bank"]] * 3
    # asked with its punctuation, as text.split() would give it, the word still maps to its tokens
    assert tokens_of(tokenizer, text, word_token_spans(tokenizer, text, "bank,")) == [["bank", ","]]


def test_whole_words_only(tokenizer):
    text = "Banks and the embankment, but one bank."
    assert word_token_spans(tokenizer, text, "bank") == [(8, 9)]


def test_a_short_phrase(tokenizer):
    text = "We walked along the River Bank."
    assert tokens_of(tokenizer, text, word_token_spans(tokenizer, text, "river bank")) == [["river", "bank"]]


WORDS = ["bank", "Bank", "bank,", "BANK.", "banks", "embankment", "river", "embeddings", "e-mail", "money", "-"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
def test_every_whole_word_occurrence_is_found_in_order(tokenizer, words):
    text = " ".join(words)
    expected = sum(w.lower().strip(",.") == "bank" for w in words)
    if expected == 0:
        with pytest.raises(ValueError, match="does not occur"):
            word_token_spans(tokenizer, text, "bank")
        return
    spans = word_token_spans(tokenizer, text, "bank")
    assert len(spans) == expected
    assert all(tokens == ["bank"] for tokens in tokens_of(tokenizer, text, spans))
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


# ---- word_vectors ---------------------------------------------------------------------------

def test_word_vectors_match_a_forward_pass_by_hand(tokenizer, model):
    import torch

    text = "I left the bank and walked along the river bank."
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    vecs = word_vectors(tokenizer, model, text, "bank")
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert np.allclose(vecs[0], hidden[-1][0, 4].numpy(), atol=1e-5)
    assert np.allclose(vecs[1], hidden[-1][0, 10].numpy(), atol=1e-5)
    assert np.allclose(word_vectors(tokenizer, model, text, "bank", layer=3), hidden[3][0, [4, 10]].numpy(), atol=1e-5)


def test_layers_and_pooling(tokenizer, model):
    text = "Contextual embeddings change with the sentence."
    every = word_vectors(tokenizer, model, text, "embeddings", layer="all", pool="mean")
    assert every.shape == (7, 1, 384)
    assert np.allclose(every[0], word_vectors(tokenizer, model, text, "embeddings", layer=0), atol=1e-6)
    assert np.allclose(every[-1], word_vectors(tokenizer, model, text, "embeddings", layer=6), atol=1e-6)
    assert np.allclose(every[0], word_vectors(tokenizer, model, text, "embeddings", layer=-7), atol=1e-6)
    import torch

    start, end = word_token_spans(tokenizer, text, "embeddings")[0]
    with torch.no_grad():
        hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0].numpy()
    for pool, expected in [("mean", hidden[start:end].mean(axis=0)), ("first", hidden[start]), ("last", hidden[end - 1])]:
        assert np.allclose(word_vectors(tokenizer, model, text, "embeddings", pool=pool)[0], expected, atol=1e-5), pool
    assert not np.allclose(hidden[start], hidden[end - 1])         # four sub-tokens, different vectors


def test_context_changes_the_vector_but_not_at_layer_0(tokenizer, model):
    text = "The river bank flooded, so the bank closed."
    top = word_vectors(tokenizer, model, text, "bank")
    bottom = word_vectors(tokenizer, model, text, "bank", layer=0)
    cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))
    assert cos(*bottom) > 0.9                                      # the same token; only its position differs
    assert cos(*top) < cos(*bottom)


# ---- errors ----------------------------------------------------------------------------------

def test_word_not_in_text(tokenizer, model):
    for fn, args in [(word_token_spans, (tokenizer,)), (word_vectors, (tokenizer, model))]:
        with pytest.raises(ValueError, match="does not occur") as info:
            fn(*args, "The river was calm.", "bank")
        assert "`word`" in str(info.value) and "spelling" in str(info.value)


def test_word_only_inside_a_longer_word(tokenizer):
    with pytest.raises(ValueError, match="embankment") as info:
        word_token_spans(tokenizer, "The embankment held.", "bank")
    assert "whole word" in str(info.value)


@pytest.mark.parametrize("text, word, name", [("", "bank", "text"), ("   ", "bank", "text"),
                                              ("the bank", "", "word"), ("the bank", " bank", "word")])
def test_empty_or_padded_arguments(tokenizer, text, word, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        word_token_spans(tokenizer, text, word)


@pytest.mark.parametrize("kwargs, name", [({"text": ["the bank"]}, "text"), ({"word": 3}, "word"),
                                          ({"ignore_case": "yes"}, "ignore_case"), ({"tokenizer": "bert"}, "tokenizer")])
def test_wrong_types_name_the_argument(tokenizer, kwargs, name):
    args = dict({"tokenizer": tokenizer, "text": "the bank", "word": "bank"}, **kwargs)
    with pytest.raises(TypeError, match=f"`{name}`"):
        word_token_spans(**args)


def test_a_slow_tokenizer_is_refused(tokenizer):
    class SlowTokenizer:
        is_fast = False

        def __call__(self, text, **kwargs):
            return tokenizer(text, **kwargs)

        def convert_ids_to_tokens(self, ids):
            return tokenizer.convert_ids_to_tokens(ids)

    with pytest.raises(TypeError, match="fast") as info:
        word_token_spans(SlowTokenizer(), "the bank", "bank")
    assert "use_fast=True" in str(info.value)


def test_all_wrong_types_are_listed_at_once(tokenizer):
    with pytest.raises(TypeError) as info:
        word_vectors(tokenizer, "a model", 42, None)
    assert all(f"`{name}`" in str(info.value) for name in ("model", "text", "word"))


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"layer": 7}, ValueError, "between -7 and 6"), ({"layer": -8}, ValueError, "between -7 and 6"),
    ({"layer": True}, TypeError, "`layer`"), ({"layer": 1.0}, TypeError, "`layer`"), ({"layer": "last"}, TypeError, "`layer`"),
    ({"pool": "max"}, ValueError, "`pool`"), ({"pool": None}, TypeError, "`pool`"),
])
def test_bad_layer_or_pool(tokenizer, model, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        word_vectors(tokenizer, model, "the bank", "bank", **kwargs)


def test_model_in_training_mode_is_refused(tokenizer, model):
    model.train()
    try:
        with pytest.raises(ValueError, match="model.eval()"):
            word_vectors(tokenizer, model, "the bank", "bank")
    finally:
        model.eval()


def test_tokenizer_from_another_model_is_refused(tokenizer):
    from transformers import BertConfig, BertModel

    tiny = BertModel(BertConfig(vocab_size=100, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                intermediate_size=8)).eval()
    with pytest.raises(ValueError, match="do not belong together"):
        word_vectors(tokenizer, tiny, "the bank", "bank")


def test_text_longer_than_the_model_reads(tokenizer, model):
    with pytest.raises(ValueError, match="shorter passages") as info:
        word_vectors(tokenizer, model, "the bank " * 400, "bank")
    assert "`text`" in str(info.value)
    assert len(word_token_spans(tokenizer, "the bank " * 400, "bank")) == 400   # finding tokens has no limit
