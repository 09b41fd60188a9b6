"""References of the exercises of ``07_matryoshka`` (out of the learner's sight).

* ``07.1`` — a prediction, recorded in section 1 before the truncation table: the share of its
  STS-B test Spearman that plain truncation keeps at 64 of 384 dimensions.
* ``07.2`` — a prediction, recorded in section 5 before the tables: which of the five methods
  scores the highest Cranfield nDCG@10 at 16 dimensions.
* ``07.3`` — from scratch: PCA by SVD, then the row-wise cosine of each pair in ``dim`` dimensions.
* ``07.4`` — a value: the Matryoshka head's Cranfield nDCG@10 at 48 dimensions, a size it was not
  trained for, on the 75 held-out queries.
* ``07.5`` — from scratch: shortlist with a prefix, rerank the shortlist with the full vectors.
"""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register

RETENTION_BANDS = ("under 50%", "50-80%", "80-95%", "over 95%")
METHODS = ("truncation", "centred truncation", "PCA", "plain head", "Matryoshka head")


def _band(share: float) -> str:
    """The band of ``RETENTION_BANDS`` that a percentage falls in."""
    if share < 50:
        return RETENTION_BANDS[0]
    if share < 80:
        return RETENTION_BANDS[1]
    if share <= 95:
        return RETENTION_BANDS[2]
    return RETENTION_BANDS[3]


def _truncation_band(vectors, gold) -> str:
    """Band of the STS-B retention of plain truncation at 64 of 384 dimensions.

    ``vectors`` (2 n, 384): every sentence1, then every sentence2; ``gold``: the n scores.
    """
    from ..matryoshka import truncate
    from ..metrics import sts_correlation

    v = np.asarray(vectors, dtype=np.float32)
    n = len(v) // 2

    def spearman(dim: int) -> float:
        a, b = truncate(v[:n], dim), truncate(v[n:], dim)
        return sts_correlation(np.sum(a * b, axis=1), gold)["spearman"]

    return _band(100 * spearman(64) / spearman(v.shape[1]))


def pca_cosines(fit_vectors, a, b, dim):
    """Row-wise cosine of ``a[i]`` and ``b[i]`` after a PCA fitted on ``fit_vectors``, keeping ``dim`` components.

    fit_vectors (n_fit, d), a and b (n, d) -> (n,). PCA centres with the mean of ``fit_vectors``
    and projects on the ``dim`` directions of largest variance (scikit-learn's ``PCA``).
    """
    from sklearn.decomposition import PCA

    fit = np.asarray(fit_vectors, dtype=float)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not 1 <= dim <= min(fit.shape):
        raise ValueError(f"dim must be between 1 and {min(fit.shape)}; got {dim}.")
    pca = PCA(n_components=dim).fit(fit)
    pa, pb = pca.transform(a), pca.transform(b)
    return np.sum(pa * pb, axis=1) / (np.linalg.norm(pa, axis=1) * np.linalg.norm(pb, axis=1))


def _pca_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(3):
        d = int(rng.integers(4, 10))
        rotation = np.linalg.qr(rng.normal(size=(d, d)))[0]
        scales = np.geomspace(5.0, 0.3, d)                                # well-separated variances
        offset = rng.normal(size=d) * 3                                  # a shared offset: centring matters
        fit = (rng.normal(size=(80, d)) * scales) @ rotation + offset
        a = (rng.normal(size=(6, d)) * scales) @ rotation + offset
        b = (rng.normal(size=(6, d)) * scales) @ rotation + offset
        cases.append((fit, a, b, int(rng.integers(1, d + 1))))
    return cases


_FIT_INT = np.array([[3, 1, 0], [1, 2, 1], [0, 0, 4], [5, 4, 1], [2, 6, 2], [4, 0, 3], [1, 5, 5]])
_A_INT, _B_INT = np.array([[3, 2, 1], [0, 4, 2]]), np.array([[1, 1, 4], [5, 2, 0]])


def matryoshka_ndcg_at_48(query_vectors, doc_vectors) -> float:
    """Cranfield nDCG@10 on the 75 held-out queries, searching with the first 48 coordinates.

    query_vectors (225, d): the vectors of queries "1".."225"; doc_vectors (1400, d): of abstracts
    "1".."1400".
    """
    from ..datasets import cranfield_split, load_cranfield
    from ..matryoshka import truncate
    from ..metrics import evaluate
    from ..retrieval import dense_run

    _, _, qrels = load_cranfield()
    _, test_qids = cranfield_split()
    q = np.asarray(query_vectors, dtype=np.float32)[[int(x) - 1 for x in test_qids]]
    docs = np.asarray(doc_vectors, dtype=np.float32)
    run = dense_run(truncate(q, 48), truncate(docs, 48), test_qids, [str(i) for i in range(1, len(docs) + 1)], k=100)
    return evaluate({x: qrels[x] for x in test_qids}, run, ["ndcg@10"])["ndcg@10"]


def shortlist_rerank(queries, docs, short_dim, shortlist, k):
    """Top ``k`` documents per query: cosine on the first ``short_dim`` coordinates picks ``shortlist``
    candidates, cosine on the full vectors orders them.

    queries (n_q, d), docs (n_d, d) -> (n_q, k) int array of document rows, best first.
    """
    q, d = np.asarray(queries, dtype=float), np.asarray(docs, dtype=float)
    if not 1 <= short_dim <= q.shape[1]:
        raise ValueError(f"short_dim must be between 1 and {q.shape[1]}; got {short_dim}.")
    if not k <= shortlist <= len(d):
        raise ValueError(f"shortlist must be between k = {k} and the number of documents {len(d)}; got {shortlist}.")

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    short = unit(q[:, :short_dim]) @ unit(d[:, :short_dim]).T        # (n_q, n_d) cheap scores
    full = unit(q) @ unit(d).T                                      # (n_q, n_d) full scores
    out = []
    for i in range(len(q)):
        candidates = np.argsort(-short[i], kind="stable")[:shortlist]
        out.append(candidates[np.argsort(-full[i, candidates], kind="stable")][:k])
    return np.array(out, dtype=int)


def _shortlist_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(3):
        d, n_docs = int(rng.integers(8, 24)), int(rng.integers(30, 80))
        k = int(rng.integers(1, 6))
        cases.append((rng.normal(size=(4, d)), rng.normal(size=(n_docs, d)), int(rng.integers(2, d)),
                      int(rng.integers(k, n_docs // 2)), k))
    return cases


_Q_EDGE = np.random.default_rng(7).normal(size=(3, 12))
_D_EDGE = np.random.default_rng(8).normal(size=(40, 12))

register(
    Exercise(
        "07.1", "how much of its STS-B score plain truncation keeps at 64 of 384 dimensions",
        expected=_truncation_band, choices=RETENTION_BANDS),
    Exercise(
        "07.2", "the best method at 16 dimensions on Cranfield",
        expected=lambda scores: str(scores.idxmax()), choices=METHODS),
    Exercise(
        "07.3", "PCA from scratch",
        hint="Centre with the mean of fit_vectors (not of a or b); the principal directions are the rows of Vt "
             "in np.linalg.svd(centred, full_matrices=False); project a - mean and b - mean on the first `dim` "
             "rows, then take each pair's cosine. Raise ValueError when dim is not between 1 and the number of "
             "directions there are.",
        reference=pca_cosines, cases=_pca_cases,
        edge_cases=(("integer vectors", (_FIT_INT, _A_INT, _B_INT, 2)),
                    ("dim = every direction (centred cosine)", (_FIT_INT, _A_INT, _B_INT, 3)),
                    ("dim larger than the vectors", (_FIT_INT, _A_INT, _B_INT, 4)),
                    ("dim = 0", (_FIT_INT, _A_INT, _B_INT, 0))),
        rtol=1e-5, atol=1e-6),
    Exercise(
        "07.4", "nDCG@10 at 48 dimensions, a size the head was not trained for",
        hint="truncate() the rows of the held-out queries (test_rows) and all abstracts to 48, then "
             "dense_run(..., test_qids, doc_ids, k=100) and evaluate(test_qrels, run, ['ndcg@10']).",
        expected=matryoshka_ndcg_at_48, rtol=1e-6),
    Exercise(
        "07.5", "shortlist and rerank from scratch",
        hint="Normalise the prefixes (queries[:, :short_dim], docs[:, :short_dim]) and the full vectors; for each "
             "query take the `shortlist` best documents by prefix cosine (np.argsort(-scores)), order those by "
             "full cosine and keep the first k. Raise ValueError if short_dim is not between 1 and the dimension, "
             "or shortlist is smaller than k or larger than the number of documents.",
        reference=shortlist_rerank, cases=_shortlist_cases,
        edge_cases=(("a shortlist of every document (exact search)", (_Q_EDGE, _D_EDGE, 4, 40, 5)),
                    ("a shortlist of exactly k", (_Q_EDGE, _D_EDGE, 4, 5, 5)),
                    ("a shortlist shorter than k", (_Q_EDGE, _D_EDGE, 4, 3, 5)),
                    ("short_dim larger than the vectors", (_Q_EDGE, _D_EDGE, 13, 10, 5)),
                    ("a shortlist longer than the collection", (_Q_EDGE, _D_EDGE, 4, 41, 5)))),
)
