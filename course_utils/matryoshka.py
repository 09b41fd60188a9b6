"""Matryoshka embeddings: truncate-and-renormalise, and a frozen encoder served from stored vectors.

Introduced in ``07_matryoshka``.

* :func:`truncate` keeps the first ``dim`` coordinates of each embedding and scales the rows back
  to unit length — what ``SentenceTransformer.encode(..., truncate_dim=dim,
  normalize_embeddings=True)`` returns, for vectors you already have.
* :func:`stored_vectors` builds a sentence-transformers input module that answers each text with
  its stored vector (for instance one read from :mod:`course_utils.embcache`). Put a trainable
  module after it, e.g. ``Dense``, and ``SentenceTransformer(modules=[stored, head])`` is exactly a
  frozen encoder with a head on top: the encoder's output for a text never changes during
  training, so computing it once and looking it up gives the same vectors as running it at every
  step, at a fraction of the cost. It works with ``SentenceTransformerTrainer`` and every loss,
  ``MatryoshkaLoss`` included. Texts it was not given raise a ``ValueError``.

Importing this module imports PyTorch and sentence-transformers (``import course_utils`` does not
import this module).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from sentence_transformers.base.modules.input_module import InputModule

from ._checks import as_float_array, check_int, check_nonzero_rows, check_texts

__all__ = ["truncate", "stored_vectors", "StoredVectors"]


def truncate(embeddings, dim: int) -> np.ndarray:
    """The first ``dim`` coordinates of each row, rescaled to unit length.

    Parameters
    ----------
    embeddings : (n, full_dim) array  # or (full_dim,) for one vector
    dim : how many leading coordinates to keep, 1 <= dim <= full_dim

    Returns
    -------
    np.ndarray  # (n, dim) float32 (or (dim,)), each row of length 1
    """
    emb = as_float_array(embeddings, "embeddings", ndim=(1, 2))
    dim = check_int(dim, "dim", minimum=1)
    if dim > emb.shape[-1]:
        raise ValueError(f"`dim` = {dim} is larger than the embeddings' dimension {emb.shape[-1]}; "
                         "a prefix cannot be longer than the vector.")
    head = emb[..., :dim]
    norms = check_nonzero_rows(head, "embeddings", why=f"its first {dim} coordinates are all zero, so that prefix "
                                                       "has no direction and cannot be normalised (use a larger `dim`)")
    return (head / norms[..., None]).astype(np.float32)


class StoredVectors(InputModule):
    """A frozen encoder: each text is answered with its stored vector (a buffer, never trained)."""

    config_keys: list[str] = []
    save_in_root = False

    def __init__(self, texts: list[str], vectors) -> None:
        super().__init__()
        self.texts = list(texts)
        self.row = {}
        for i, text in enumerate(self.texts):
            self.row.setdefault(text, i)
        self.register_buffer("vectors", torch.as_tensor(np.ascontiguousarray(vectors, dtype=np.float32)))

    def preprocess(self, inputs, prompt: str | None = None, **kwargs) -> dict:
        if prompt:
            raise ValueError("stored vectors cannot take a prompt: they were computed without one.")
        try:
            rows = [self.row[text] for text in inputs]
        except (KeyError, TypeError):
            missing = next((t for t in inputs if not isinstance(t, str) or t not in self.row), None)
            raise ValueError(f"no stored vector for the text {missing!r:.80}; only the texts given to "
                             "stored_vectors(...) can be encoded.") from None
        # "input_ids" is the key the trainer looks for when it splits a batch into its columns.
        return {"input_ids": torch.tensor(rows, dtype=torch.long)}

    def forward(self, features: dict, **kwargs) -> dict:
        features["sentence_embedding"] = self.vectors[features["input_ids"]]
        return features

    def get_embedding_dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __repr__(self) -> str:
        return f"StoredVectors(texts={len(self.texts)}, dim={self.get_embedding_dimension()})"

    @property
    def max_seq_length(self) -> int:
        return 10**9  # stored vectors have no input length limit

    def save(self, output_path: str, *args, **kwargs) -> None:
        with open(os.path.join(output_path, "texts.json"), "w", encoding="utf-8") as fh:
            json.dump(self.texts, fh)
        np.save(os.path.join(output_path, "vectors.npy"), self.vectors.numpy(), allow_pickle=False)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs):
        folder = os.path.join(model_name_or_path, subfolder)
        with open(os.path.join(folder, "texts.json"), encoding="utf-8") as fh:
            texts = json.load(fh)
        return cls(texts, np.load(os.path.join(folder, "vectors.npy"), allow_pickle=False))


def stored_vectors(texts, vectors):
    """A sentence-transformers input module that returns the stored vector of each text.

    Parameters
    ----------
    texts : list of str  # n, the texts the vectors belong to (repeats are fine)
    vectors : (n, dim) array  # row i is the frozen encoder's vector of texts[i]; a C-contiguous
        float32 array is shared with the module, not copied (do not change it afterwards)

    Returns
    -------
    StoredVectors  # an ``InputModule``: ``SentenceTransformer(modules=[it, ...])``
    """
    texts = check_texts(texts, "texts", allow_empty=False)
    if isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 and vectors.ndim == 2 and vectors.size:
        if not np.isfinite(vectors).all():
            raise ValueError("`vectors` contains NaN or infinite values; check how they were computed.")
        emb = vectors  # shared, not copied: several models can serve one large array
    else:
        emb = as_float_array(vectors, "vectors", ndim=2)
    if emb.shape[0] != len(texts):
        raise ValueError(f"`vectors` has {emb.shape[0]} rows but `texts` has {len(texts)}; "
                         "pass one vector per text, in the same order.")
    return StoredVectors(texts, emb)
