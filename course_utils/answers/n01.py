"""The exercises of ``01_sparse_vs_dense``: what TF-IDF keeps, TF-IDF from scratch, BM25's
saturation and length normalisation predicted, a reciprocal rank."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import rank_run, reciprocal_rank


def _tfidf_reference(counts) -> np.ndarray:
    """scikit-learn's TF-IDF of a count matrix (n_docs, vocab): smooth IDF, rows scaled to length 1."""
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError("counts must be a matrix (n_docs, vocab)")
    return TfidfTransformer().fit_transform(counts).toarray()


def _tfidf_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(4):
        n_docs, vocab = int(rng.integers(3, 9)), int(rng.integers(4, 12))
        counts = rng.poisson(0.8, size=(n_docs, vocab))
        counts[0, :] += rng.integers(0, 2, size=vocab)           # no empty matrix
        cases.append((counts,))
    return cases


def _bm25_term(f: float, length: float, avgdl: float, k1: float = 1.5, b: float = 0.75) -> float:
    return f / (f + k1 * (1 - b + b * length / avgdl))


#: Exercise 01.3: two abstracts, (length in tokens, occurrences of the query word).
SHORT_DOC, LONG_DOC = (50, 2), (200, 4)


def _which_scores_higher(avgdl: float) -> str:
    a, b = (_bm25_term(f, length, avgdl) for length, f in (SHORT_DOC, LONG_DOC))
    return "same" if np.isclose(a, b) else ("A" if a > b else "B")


def _reciprocal_rank_of_scores(scores, doc_ids, judged) -> float:
    ranking = rank_run({d: float(s) for d, s in zip(doc_ids, scores)})
    return reciprocal_rank({d for d, grade in judged.items() if grade >= 1}, ranking)


register(
    Exercise("01.1", "distinct known words of query 42", expected=lambda tfidf, text: int(tfidf.transform([text]).nnz),
             hint="Apply tfidf.build_analyzer() to the query, make a set, keep the words that are keys of "
                  "tfidf.vocabulary_."),
    Exercise("01.2", "TF-IDF from scratch", reference=_tfidf_reference, cases=_tfidf_cases,
             edge_cases=(("an empty document (a row of zeros)", ([[1, 0, 2], [0, 0, 0], [3, 1, 0]],)),
                         ("a word found in every document", ([[2, 1], [1, 0], [4, 3]],)),
                         ("a single document", ([[1, 2, 0, 5]],))),
             hint="idf = np.log((1 + n_docs) / (1 + df)) + 1 with df = (counts > 0).sum(axis=0); multiply, then "
                  "divide each row by its length, leaving rows of length 0 as they are."),
    Exercise("01.3", "which abstract scores higher for 'flutter'", expected=_which_scores_higher,
             choices=("A", "B", "same")),
    Exercise("01.4", "reciprocal rank of BM25 on query 5", expected=_reciprocal_rank_of_scores,
             hint="np.argsort(-scores, kind='stable') gives positions best first; ranks start at 1, not 0."),
)
