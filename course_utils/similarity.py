"""Similarity and distance between embeddings: cosine, dot product, Euclidean.

Introduced in ``02_similarity_metrics``. Vectors have shape ``(dim,)``; matrices hold one
vector per row, ``(n, dim)``. The pairwise functions return ``(n_a, n_b)``.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_choice, check_int

METRICS = ("cosine", "dot", "euclidean")


def _pair(a, b, name_a: str, name_b: str, ndim: int):
    a = as_float_array(a, name_a, ndim=ndim)
    b = as_float_array(b, name_b, ndim=ndim)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` have different dimensions ({a.shape[-1]} vs {b.shape[-1]}); "
            "compare embeddings from the same model."
        )
    return a, b


def _check_nonzero(norms: np.ndarray, name: str) -> None:
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        where = "is the zero vector" if norms.ndim == 0 or norms.size == 1 else f"has zero vector(s) at row(s) {zero[:5].tolist()}"
        raise ValueError(f"`{name}` {where}: cosine similarity and normalisation are undefined for it. "
                         "Drop it, or use dot product or Euclidean distance.")


def normalize(x) -> np.ndarray:
    """Scale a vector ``(dim,)`` or each row of a matrix ``(n, dim)`` to unit L2 length."""
    arr = as_float_array(x, "x", ndim=(1, 2))
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    _check_nonzero(norms.ravel() if arr.ndim == 2 else norms.reshape(()), "x")
    return arr / norms


def dot(a, b) -> float:
    """Dot product of two vectors ``a  # (dim,)`` and ``b  # (dim,)``."""
    a, b = _pair(a, b, "a", "b", 1)
    return float(a @ b)


def cosine(a, b) -> float:
    """Cosine similarity of two vectors, in [-1, 1]; raises on a zero vector."""
    a, b = _pair(a, b, "a", "b", 1)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    _check_nonzero(np.asarray(na), "a")
    _check_nonzero(np.asarray(nb), "b")
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


def euclidean(a, b) -> float:
    """Euclidean (L2) distance between two vectors; 0 means identical."""
    a, b = _pair(a, b, "a", "b", 1)
    return float(np.linalg.norm(a - b))


def dot_matrix(A, B) -> np.ndarray:
    """All dot products between the rows of ``A  # (n_a, dim)`` and ``B  # (n_b, dim)``."""
    A, B = _pair(A, B, "A", "B", 2)
    return A @ B.T


def cosine_matrix(A, B) -> np.ndarray:
    """All cosine similarities between rows of ``A`` and ``B``: shape ``(n_a, n_b)``."""
    A, B = _pair(A, B, "A", "B", 2)
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    _check_nonzero(na, "A")
    _check_nonzero(nb, "B")
    return np.clip((A / na[:, None]) @ (B / nb[:, None]).T, -1.0, 1.0)


def euclidean_matrix(A, B) -> np.ndarray:
    """All Euclidean distances between rows of ``A`` and ``B``: shape ``(n_a, n_b)``."""
    A, B = _pair(A, B, "A", "B", 2)
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.sqrt(np.maximum(sq, 0.0))


def pairwise(A, B, metric: str = "cosine") -> np.ndarray:
    """Pairwise ``metric`` (``"cosine"``, ``"dot"`` or ``"euclidean"``) between rows of A and B."""
    metric = check_choice(metric, "metric", METRICS)
    return {"cosine": cosine_matrix, "dot": dot_matrix, "euclidean": euclidean_matrix}[metric](A, B)


def rank(query, docs, metric: str = "cosine", k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank the rows of ``docs  # (n_docs, dim)`` against ``query  # (dim,)``.

    Returns ``(indices, scores)``, best first: highest similarity for cosine and dot, lowest
    distance for Euclidean. Ties keep the lower index first. ``k`` keeps the top ``k``.
    """
    metric = check_choice(metric, "metric", METRICS)
    q = as_float_array(query, "query", ndim=1)
    D = as_float_array(docs, "docs", ndim=2)
    if D.shape[1] != q.shape[0]:
        raise ValueError(f"`query` has dimension {q.shape[0]} but `docs` rows have {D.shape[1]}; "
                         "encode both with the same model.")
    scores = pairwise(q[None, :], D, metric)[0]
    order = np.argsort(scores if metric == "euclidean" else -scores, kind="stable")
    if k is not None:
        k = check_int(k, "k", minimum=1)
        order = order[:k]
    return order, scores[order]
