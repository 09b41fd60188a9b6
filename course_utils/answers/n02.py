"""The exercises of ``02_similarity_metrics``: a careful cosine from scratch, a distance from a
cosine, a ranking by dot product, and the sign of a distance's correlation, predicted first."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import sts_correlation
from ..similarity import cosine, euclidean, rank


def _cosine_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        dim = int(rng.integers(2, 12))
        a, b = rng.normal(size=dim) * rng.uniform(0.1, 10), rng.normal(size=dim) * rng.uniform(0.1, 10)
        cases.append((a, b))
    return cases


def _plain_distance_spearman(emb1, emb2, gold) -> float:
    """Spearman x100 of the plain (not negated) Euclidean distances with the gold scores.

    Computed through sentence-transformers' ``pairwise_euclidean_sim`` (the negated distance),
    a route independent of the learner's ``np.linalg.norm``.
    """
    from sentence_transformers import util

    return -sts_correlation(util.pairwise_euclidean_sim(np.asarray(emb1), np.asarray(emb2)).numpy(), gold)["spearman"]


def _sign(x: float) -> str:
    return "zero" if abs(x) < 1 else ("positive" if x > 0 else "negative")


register(
    Exercise("02.1", "a cosine that refuses what has no cosine", reference=cosine, cases=_cosine_cases,
             edge_cases=(("two lists of integers", ([1, 2, 3], [3, 2, 1])),
                         ("float32 vectors", (np.array([0.5, 1.5], dtype=np.float32), np.array([2.0, -1.0], dtype=np.float32))),
                         ("a zero vector", ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])),
                         ("vectors of different lengths", ([1.0], [1.0, 2.0, 3.0]))),
             hint="Convert with np.asarray(..., dtype=float); raise ValueError when the shapes differ or a "
                  "length is 0; then dot / (norm * norm)."),
    Exercise("02.2", "distance from cosine", expected=lambda u, v: euclidean(u, v),
             hint="For unit vectors, ||u - v||^2 = 2 - 2 cos(u, v); take the square root."),
    Exercise("02.3", "ranking by dot product", expected=lambda q, docs: rank(q, docs, metric="dot")[0],
             hint="The scores are docs @ q; np.argsort sorts ascending, so sort the negated scores."),
    Exercise("02.4", "the sign of the Spearman correlation of plain distances",
             expected=lambda emb1, emb2, gold: _sign(_plain_distance_spearman(emb1, emb2, gold)),
             choices=("positive", "negative", "zero")),
    Exercise("02.5", "Spearman of the plain distances", expected=_plain_distance_spearman,
             hint="np.linalg.norm(emb1 - emb2, axis=1) gives one distance per pair; then "
                  "sts_correlation(distances, gold)['spearman']."),
)
