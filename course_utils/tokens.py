"""Finding a word's tokens in a text, and its contextual vectors.

Introduced in ``04_contextual_embeddings``. A transformer does not see words: it sees tokens,
and one word may be one token (``bank``), several (``embeddings`` -> ``em ##bed ##ding ##s``),
or share a text with other copies of itself. Looking a word up with ``tokens.index(word) + 1``
fails on all of these. The functions here go through the tokenizer's *offset mapping* (the
character span of every token) instead:

* :func:`word_token_spans` finds every whole-word occurrence of a word in a text and returns
  the token range of each;
* :func:`word_vectors` runs the model once and returns one vector per occurrence, from any
  layer, pooled over the word's tokens.

Both need a *fast* (Rust-backed) Hugging Face tokenizer, which every ``AutoTokenizer`` is by
default and which :func:`course_utils.models.load_token_encoder` returns. PyTorch is imported
only when :func:`word_vectors` runs.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ._checks import Problems, check_bool, check_choice, check_text

POOLS = ("mean", "first", "last")


# ---- argument checks -----------------------------------------------------------------------

def _check_tokenizer(tokenizer: Any) -> Any:
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TypeError(f"`tokenizer` must be a Hugging Face tokenizer, e.g. the first item of "
                        f"load_token_encoder('all-MiniLM-L6-v2'); got {type(tokenizer).__name__}.")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"`tokenizer` must be a fast (Rust-backed) tokenizer, which reports the character span of "
                        f"every token; got {type(tokenizer).__name__}, a slow one. Load it with "
                        "AutoTokenizer.from_pretrained(..., use_fast=True).")
    return tokenizer


def _check_model(model: Any) -> Any:
    if not callable(model) or not hasattr(model, "config") or not hasattr(model, "parameters"):
        raise TypeError(f"`model` must be a Hugging Face transformer (a torch module with a `config`), e.g. the "
                        f"second item of load_token_encoder('all-MiniLM-L6-v2'); got {type(model).__name__}.")
    if not isinstance(getattr(model.config, "num_hidden_layers", None), int):
        raise TypeError("`model.config` has no `num_hidden_layers`; pass an encoder such as BERT, MiniLM or MPNet.")
    return model


def _check_layer(layer: Any) -> int | str:
    if isinstance(layer, str) and layer == "all":
        return layer
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"`layer` must be an integer (0 = embeddings, -1 = last) or 'all'; got {type(layer).__name__} ({layer!r:.40}).")
    return int(layer)


def _check_values(text: str, word: str) -> None:
    if not text.strip():
        raise ValueError("`text` is empty; pass the sentence or passage that contains the word.")
    if not word.strip():
        raise ValueError("`word` is empty; pass the word to look for, e.g. 'bank'.")
    if word != word.strip():
        raise ValueError(f"`word` {word!r} starts or ends with spaces; pass {word.strip()!r}.")


# ---- characters --------------------------------------------------------------------------------

def _char_spans(text: str, word: str, ignore_case: bool) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of every whole-word occurrence of ``word`` in ``text``.

    "Whole word" means no letter, digit or underscore touches the match on either side, so
    ``bank`` is found in ``bank,`` and ``bank's`` but not in ``banks`` or ``embankment``.
    """
    flags = re.IGNORECASE if ignore_case else 0
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", flags)
    return [m.span() for m in pattern.finditer(text)]


def _not_found_message(text: str, word: str, ignore_case: bool) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    how = "ignoring case" if ignore_case else "with this exact capitalisation"
    msg = f"`word` {word!r} does not occur in `text` as a whole word ({how}): {shown!r}."
    if not ignore_case and _char_spans(text, word, True):
        return msg + " It does occur with other capitalisation: pass ignore_case=True."
    inside = re.search(r"\w*" + re.escape(word) + r"\w*", text, re.IGNORECASE if ignore_case else 0)
    if inside:
        return (msg + f" It occurs only inside the longer word {inside.group(0)!r}; whole words are matched "
                "on purpose (so 'bank' does not find 'embankment'): pass that word if you mean it.")
    return msg + " Check the spelling, or pick a text that contains it."


# ---- tokens ------------------------------------------------------------------------------------

def _encode_and_find(tokenizer, text: str, word: str, ignore_case: bool):
    """Tokenize ``text`` once; return the encoding and the token range of every occurrence."""
    chars = _char_spans(text, word, ignore_case)
    if not chars:
        raise ValueError(_not_found_message(text, word, ignore_case))
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True,
                    truncation=False, verbose=False)
    offsets, special = enc["offset_mapping"], enc["special_tokens_mask"]
    spans = []
    for start, end in chars:
        hits = [i for i, ((s, e), sp) in enumerate(zip(offsets, special))
                if not sp and e > s and s < end and e > start]
        if not hits:
            raise ValueError(f"`word` {word!r} occurs in `text` at characters {start}-{end}, but the tokenizer "
                             "kept no token there (it drops some characters); pick another word.")
        spans.append((hits[0], hits[-1] + 1))
    return enc, spans


def word_token_spans(tokenizer, text: str, word: str, *, ignore_case: bool = True) -> list[tuple[int, int]]:
    """The token range of every whole-word occurrence of ``word`` in ``text``.

    Introduced in ``04_contextual_embeddings``. The text is tokenized as the model sees it,
    special tokens included (``[CLS] ... [SEP]``), and each occurrence is found through the
    tokenizer's offset mapping: the tokens whose characters overlap the word's characters.

    Parameters
    ----------
    tokenizer : a fast Hugging Face tokenizer, e.g. from ``load_token_encoder(name)[0]``
    text : the sentence or passage
    word : the word (or a short phrase) to find; matched as a whole word, so ``"bank"`` finds
        ``"bank,"`` and ``"Bank's"`` but not ``"banks"`` or ``"embankment"``
    ignore_case : match ``"Bank"`` when looking for ``"bank"`` (default True)

    Returns
    -------
    list of (start, end) : one half-open range per occurrence, in text order, indexing the
        token sequence ``tokenizer(text)["input_ids"]``: ``hidden[0, start:end]`` are the
        word's token vectors. ``end - start`` is the number of sub-tokens (1 for ``"bank"``,
        4 for ``"embeddings"`` with MiniLM's tokenizer).

    Raises
    ------
    TypeError : a slow tokenizer (no offset mapping), or ``text`` / ``word`` not strings.
    ValueError : empty ``text`` or ``word``, or ``word`` not in ``text`` (the message says
        whether it occurs only inside a longer word or with other capitalisation).

    Examples
    --------
    >>> tokenizer, _ = load_token_encoder("all-MiniLM-L6-v2")
    >>> word_token_spans(tokenizer, "Embeddings map words; embeddings are vectors.", "embeddings")
    [(1, 5), (8, 12)]
    """
    with Problems() as problems:
        problems.check(_check_tokenizer, tokenizer)
        problems.check(check_text, text, "text")
        problems.check(check_text, word, "word")
        ignore_case = problems.check(check_bool, ignore_case, "ignore_case")
    _check_values(text, word)
    return _encode_and_find(tokenizer, text, word, ignore_case)[1]


def word_vectors(tokenizer, model, text: str, word: str, *, layer: int | str = -1, pool: str = "mean",
                 ignore_case: bool = True) -> np.ndarray:
    """The contextual vector of every occurrence of ``word`` in ``text``.

    Introduced in ``04_contextual_embeddings``. Runs ``model`` once on ``text`` (no gradient),
    takes the hidden states of the requested layer, and pools each occurrence's sub-tokens
    into one vector.

    Parameters
    ----------
    tokenizer : a fast Hugging Face tokenizer; ``model`` : the matching transformer in eval
        mode, e.g. ``tokenizer, model = load_token_encoder("all-mpnet-base-v2")``
    text, word, ignore_case : as in :func:`word_token_spans`
    layer : which hidden state: 0 is the embedding layer (before any attention), 1 ... L the
        outputs of the L transformer layers, -1 the last; ``"all"`` returns every one of them
    pool : how to merge a word's sub-tokens: ``"mean"`` (default), ``"first"`` or ``"last"``

    Returns
    -------
    np.ndarray, float32 : ``(n_occurrences, dim)`` for one layer, or
        ``(n_layers + 1, n_occurrences, dim)`` for ``layer="all"``.

    Raises
    ------
    TypeError, ValueError : as :func:`word_token_spans`; also a ``layer`` outside
        ``-(L + 1) ... L``, an unknown ``pool``, a model in training mode (dropout makes its
        vectors random: call ``model.eval()``), a tokenizer that does not belong to the model,
        or a text longer than the model can read.
    """
    with Problems() as problems:
        problems.check(_check_tokenizer, tokenizer)
        problems.check(_check_model, model)
        problems.check(check_text, text, "text")
        problems.check(check_text, word, "word")
        layer = problems.check(_check_layer, layer)
        pool = problems.check(check_choice, pool, "pool", POOLS)
        ignore_case = problems.check(check_bool, ignore_case, "ignore_case")
    n_layers = model.config.num_hidden_layers
    if layer != "all":
        if not -(n_layers + 1) <= layer <= n_layers:
            raise ValueError(f"`layer` must be between {-(n_layers + 1)} and {n_layers} for this {n_layers}-layer model "
                             f"(0 = embeddings, {n_layers} or -1 = last); got {layer}.")
    if getattr(model, "training", False):
        raise ValueError("`model` is in training mode: dropout makes its vectors change from call to call. "
                         "Call model.eval() first.")
    vocab = getattr(model.config, "vocab_size", None)
    if isinstance(vocab, int) and len(tokenizer) > vocab:
        raise ValueError(f"`tokenizer` has {len(tokenizer):,} tokens but `model` knows only {vocab:,}: they do not "
                         "belong together. Load both from the same model, e.g. with load_token_encoder(name).")
    _check_values(text, word)
    enc, spans = _encode_and_find(tokenizer, text, word, ignore_case)
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512),
                int(getattr(model.config, "max_position_embeddings", 512) or 512))
    if len(enc["input_ids"]) > limit:
        raise ValueError(f"`text` is {len(enc['input_ids'])} tokens long but the model reads at most {limit}; "
                         "split it into shorter passages and look for the word in each.")
    return _run(model, enc, spans, layer, pool)


def _run(model, enc, spans: list[tuple[int, int]], layer: int | str, pool: str) -> np.ndarray:
    import torch

    names = ("input_ids", "attention_mask", "token_type_ids")
    device = next(model.parameters()).device
    inputs = {k: torch.tensor([enc[k]], device=device) for k in names if k in enc}
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states   # L + 1 tensors (1, n_tokens, dim)
    states = torch.stack(hidden)[:, 0]                                      # (L + 1, n_tokens, dim)
    pick = {"mean": lambda s, a, b: s[:, a:b].mean(dim=1),
            "first": lambda s, a, b: s[:, a],
            "last": lambda s, a, b: s[:, b - 1]}[pool]
    out = torch.stack([pick(states, a, b) for a, b in spans], dim=1)       # (L + 1, n_occurrences, dim)
    out = out.float().cpu().numpy()
    return out if layer == "all" else out[layer]
