"""The exercises of ``04_contextual_embeddings``: token ranges from ``word_ids()``, the silhouette
score from scratch, and centring [CLS] vectors, predicted first."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import sts_correlation


def _spans(tokenizer, text, word):
    from ..tokens import word_token_spans

    return word_token_spans(tokenizer, text, word)


def _silhouette(X, labels) -> float:
    """scikit-learn's silhouette score with the cosine distance (1 - cosine)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(np.asarray(X, dtype=float), np.asarray(labels), metric="cosine"))


def _silhouette_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(4):
        dim, n_a, n_b = int(rng.integers(3, 9)), int(rng.integers(2, 8)), int(rng.integers(2, 8))
        centres = rng.normal(size=(2, dim)) * 2
        X = np.vstack([centres[0] + rng.normal(size=(n_a, dim)), centres[1] + rng.normal(size=(n_b, dim))])
        labels = np.array(["river"] * n_a + ["money"] * n_b)
        order = rng.permutation(len(X))                        # the senses interleaved, not in two blocks
        cases.append((X[order], labels[order]))
    return cases


def _centred_cls_spearman(cls1, cls2, gold) -> float:
    """Spearman x100 of the cosines of [CLS] vectors centred on the mean of both columns.

    Computed with scikit-learn's ``StandardScaler(with_std=False)`` and ``paired_cosine_distances``,
    a route independent of the learner's NumPy.
    """
    from sklearn.metrics.pairwise import paired_cosine_distances
    from sklearn.preprocessing import StandardScaler

    centre = StandardScaler(with_std=False).fit(np.vstack([cls1, cls2]))
    cos = 1 - paired_cosine_distances(centre.transform(cls1), centre.transform(cls2))
    return sts_correlation(cos, gold)["spearman"]


def _centring_helps(cls1, cls2, gold) -> str:
    cls1, cls2 = np.asarray(cls1, dtype=float), np.asarray(cls2, dtype=float)
    raw = np.sum(cls1 * cls2, axis=1) / (np.linalg.norm(cls1, axis=1) * np.linalg.norm(cls2, axis=1))
    return "better" if _centred_cls_spearman(cls1, cls2, gold) > sts_correlation(raw, gold)["spearman"] else "worse"


register(
    Exercise("04.1", "token ranges from word_ids()", expected=_spans,
             hint="Collect the positions i where enc_1.word_ids()[i] == 1 (then == 4); each range is (first, last + 1)."),
    Exercise("04.2", "silhouette from scratch", reference=_silhouette, cases=_silhouette_cases,
             edge_cases=(("integers", ([[1, 0], [2, 1], [0, 1], [1, 3], [3, 1]], ["a", "a", "b", "b", "a"])),),
             hint="D = 1 - cosine_matrix(X, X); for row i, a = mean of D[i] over its own label without i itself, "
                  "b = mean over the other label; s = (b - a) / max(a, b); return the mean of s."),
    Exercise("04.3", "what centring does to [CLS] vectors on STS Benchmark", expected=_centring_helps,
             choices=("better", "worse")),
    Exercise("04.4", "centred [CLS] on STS", expected=_centred_cls_spearman,
             hint="mu = np.vstack([cls1, cls2]).mean(axis=0); then pair_cosines(cls1 - mu, cls2 - mu) and "
                  "sts_correlation(..., gold)['spearman']."),
)
