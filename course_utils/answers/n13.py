"""The whiteboard exercises of ``13_interview_questions``: five functions an interviewer asks for
at the whiteboard (cosine, in-batch InfoNCE, nDCG@k, MaxSim, the recall@k of an ANN index), each
checked on fresh random inputs and edge cases against ``course_utils``' own implementation."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import ndcg_at_k
from ..retrieval import maxsim
from ..similarity import cosine
from ..vectordb import recall_at_k


def _info_nce(queries, docs, temperature) -> float:
    """In-batch InfoNCE: query i must pick document i among all the batch's documents (cosines / τ)."""
    from ..losses import multiple_negatives_ranking_loss

    return float(multiple_negatives_ranking_loss(queries, docs, temperature=temperature))


def _cosine_cases(rng: np.random.Generator) -> list[tuple]:
    out = []
    for _ in range(5):
        dim = int(rng.integers(2, 16))
        out.append((rng.normal(size=dim) * rng.uniform(0.1, 10), rng.normal(size=dim) * rng.uniform(0.1, 10)))
    return out


def _info_nce_cases(rng: np.random.Generator) -> list[tuple]:
    out = []
    for _ in range(4):
        batch, dim = int(rng.integers(2, 12)), int(rng.integers(3, 24))
        queries = rng.normal(size=(batch, dim)) * rng.uniform(0.5, 5)
        docs = queries + rng.normal(scale=rng.uniform(0.2, 2), size=(batch, dim))   # positives near their query
        out.append((queries, docs, float(rng.choice([0.02, 0.05, 0.1, 0.5, 1.0]))))
    return out


def _ndcg_cases(rng: np.random.Generator) -> list[tuple]:
    out = []
    for _ in range(5):
        n = int(rng.integers(5, 25))
        docs = [f"d{i}" for i in range(n)]
        gains = {d: float(rng.integers(0, 4)) for d in rng.choice(docs, size=int(rng.integers(1, n)), replace=False)}
        gains[str(rng.choice(docs))] = float(rng.integers(1, 4))                  # at least one relevant
        ranking = [str(d) for d in rng.permutation(docs)[: int(rng.integers(1, n + 1))]]
        out.append((gains, ranking, int(rng.integers(1, 15))))
    return out


def _maxsim_cases(rng: np.random.Generator) -> list[tuple]:
    out = []
    for _ in range(5):
        dim = int(rng.integers(2, 16))
        out.append((rng.normal(size=(int(rng.integers(1, 8)), dim)), rng.normal(size=(int(rng.integers(1, 20)), dim))))
    return out


def _recall_cases(rng: np.random.Generator) -> list[tuple]:
    out = []
    for _ in range(5):
        n_queries, width = int(rng.integers(1, 12)), int(rng.integers(5, 20))
        truth = np.stack([rng.permutation(1000)[:width] for _ in range(n_queries)])
        found = truth.copy()
        for row in found:                                      # an ANN index: some neighbours missed, order shuffled
            missed = rng.random(width) < rng.uniform(0, 0.6)
            row[missed] = rng.integers(1000, 2000, size=int(missed.sum()))
            if rng.random() < 0.3:
                row[-1] = -1                                   # faiss's "no result"
            rng.shuffle(row)
        out.append((found, truth, int(rng.integers(1, width + 1))))
    return out


register(
    Exercise("13.1", "cosine similarity at the whiteboard", reference=cosine, cases=_cosine_cases,
             edge_cases=(("two lists of integers", ([1, 2, 3], [3, 2, 1])),
                         ("a zero vector", ([0.0, 0.0], [1.0, 2.0])),
                         ("vectors of different lengths", ([1.0, 2.0], [1.0, 2.0, 3.0]))),
             hint="np.asarray(..., dtype=float); raise ValueError if the shapes differ or a norm is 0; "
                  "then a @ b / (norm(a) * norm(b))."),
    Exercise("13.2", "in-batch InfoNCE", reference=_info_nce, cases=_info_nce_cases,
             edge_cases=(("a batch of one pair (no negative)", (np.array([[1.0, 2.0]]), np.array([[2.0, -1.0]]), 0.05)),
                         ("a low temperature (exp overflows without care)",
                          (np.eye(4) * 3.0, np.eye(4)[::-1] * 2.0, 0.001))),
             hint="Normalise the rows, S = Q @ D.T / temperature, then the mean over rows of "
                  "logsumexp(S[i]) - S[i, i]; subtract each row's max before exp to avoid overflow."),
    Exercise("13.3", "nDCG@k with graded relevance", reference=ndcg_at_k, cases=_ndcg_cases,
             edge_cases=(("no relevant document at all", ({"d1": 0.0}, ["d1", "d2"], 5)),
                         ("k larger than the ranking", ({"d1": 2.0, "d2": 1.0, "d3": 3.0}, ["d2", "d1"], 10)),
                         ("unjudged documents in the ranking", ({"d3": 1.0}, ["x", "y", "d3"], 3))),
             hint="DCG = sum over the first k ranks of gain / log2(rank + 1) (rank from 1; unjudged = 0); "
                  "divide by the DCG of the k largest gains sorted; 0.0 when that ideal is 0."),
    Exercise("13.4", "MaxSim (late interaction)", reference=maxsim, cases=_maxsim_cases,
             edge_cases=(("one token each", (np.array([[1.0, 0.0]]), np.array([[0.6, 0.8]]))),
                         ("token vectors of different dimensions", (np.ones((2, 3)), np.ones((4, 2)))),
                         ("a zero token vector (no cosine)", (np.array([[0.0, 0.0], [1.0, 0.0]]), np.ones((3, 2))))),
             hint="Normalise every token vector (raise ValueError for a zero one or mismatched dimensions), "
                  "S = Q @ D.T, then S.max(axis=1).sum()."),
    Exercise("13.5", "recall@k of an approximate index", reference=recall_at_k, cases=_recall_cases,
             edge_cases=(("nothing found (-1 everywhere)", (np.full((2, 3), -1), np.array([[1, 2, 3], [4, 5, 6]]), 3)),
                         ("k wider than the results", (np.array([[1, 2]]), np.array([[1, 2]]), 5))),
             hint="For each query, len(set(found[:k]) & set(truth[:k])) / k, ignoring -1; average over queries; "
                  "raise ValueError if k exceeds the width of found or truth."),
)
