"""Exercises of ``08_retrieve_and_rerank``: MaxSim from scratch, k for a latency budget, index sizes."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..retrieval import maxsim


def _maxsim_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(6):
        dim = int(rng.integers(2, 17))
        q = rng.normal(size=(int(rng.integers(1, 9)), dim))
        d = rng.normal(size=(int(rng.integers(1, 40)), dim)) * rng.uniform(0.1, 5.0)   # lengths must not matter
        cases.append((q, d))
    return cases


def _best_k(latency_ms: dict, ndcg: dict, budget_ms: float):
    """The depth with the best nDCG@10 among those whose latency fits the budget (None if none fits)."""
    fits = [k for k, ms in latency_ms.items() if ms <= budget_ms]
    return max(fits, key=lambda k: (ndcg[k], -k)) if fits else None


def _index_sizes(n_docs: int, tokens_per_doc: float, bi_dim: int, colbert_dim: int) -> dict:
    """Gigabytes (1e9 bytes) each architecture stores for ``n_docs`` documents."""
    return {"bi-encoder": n_docs * bi_dim * 4 / 1e9,                            # one float32 vector
            "late interaction": n_docs * tokens_per_doc * colbert_dim * 2 / 1e9,  # a float16 vector per token
            "ColBERTv2 2-bit": n_docs * tokens_per_doc * 36 / 1e9,               # 4-byte centroid + 32-byte residual
            "cross-encoder": 0.0}                                                # nothing: it reads the text


register(
    Exercise("08.1", "MaxSim from scratch",
             hint="Scale every row of both matrices to length 1, take q @ d.T (query tokens x document tokens), "
                  "keep each row's maximum and add them up. A zero row has no direction: raise ValueError.",
             reference=maxsim, cases=_maxsim_cases,
             edge_cases=(("integer token vectors", (np.array([[1, 0], [0, 2]]), np.array([[3, 1], [0, 1], [1, 1]]))),
                         ("one token each", (np.array([[0.6, 0.8]]), np.array([[1.0, 0.0]]))),
                         ("a document token of zeros", (np.ones((2, 3)), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))),
                         ("dimensions that differ", (np.ones((2, 3)), np.ones((4, 5)))))),
    Exercise("08.2", "the depth k for a latency budget",
             hint="Keep the k whose milliseconds per query fit the budget; among them, take the one with the highest "
                  "nDCG@10 (the smaller k on a tie).",
             expected=lambda latency_ms, ndcg, budget_ms: _best_k(latency_ms, ndcg, budget_ms)),
    Exercise("08.3", "index sizes for 10 million documents",
             hint="bytes = documents x vectors per document x dimensions x bytes per number; the bi-encoder stores "
                  "one float32 vector, late interaction one float16 vector per token, ColBERTv2's 2-bit "
                  "compression 36 bytes per token, a cross-encoder nothing. Divide by 1e9 for GB.",
             expected=lambda n_docs, tokens_per_doc, bi_dim, colbert_dim: _index_sizes(n_docs, tokens_per_doc, bi_dim,
                                                                                    colbert_dim),
             rtol=1e-2),
    Exercise("08.4", "reranking BM25's 100 best with the cross-encoder trained here: nDCG@10 goes",
             expected=lambda before, after: "up" if after > before + 0.01 else "down" if after < before - 0.01 else "about the same",
             choices=("up", "down", "about the same")),
)
