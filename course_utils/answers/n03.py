"""The exercises of ``03_word_embeddings``: nearest neighbours, the odd one out, Spearman's
correlation and the skip-gram negative-sampling loss, the three functions written from scratch."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register


def _nearest(vectors, i, k):
    """Indices of the k rows of ``vectors`` (n, dim) with the highest cosine with row i, i excluded, best first."""
    v = np.asarray(vectors, dtype=float)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    scores = unit @ unit[i]
    scores[i] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]


def _nearest_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        n, dim = int(rng.integers(20, 60)), int(rng.integers(3, 10))
        vectors = rng.normal(size=(n, dim)) * rng.uniform(0.1, 10, size=(n, 1))   # lengths vary: cosine, not dot
        cases.append((vectors, int(rng.integers(0, n)), int(rng.integers(1, 6))))
    return cases


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _spearman_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(3):
        n = int(rng.integers(5, 30))
        cases.append((rng.normal(size=n), rng.normal(size=n)))
    for _ in range(3):                                    # ratings on a small scale: many ties
        n = int(rng.integers(8, 30))
        cases.append((rng.integers(0, 5, size=n), rng.integers(0, 11, size=n) / 2))
    return cases


def _sgns_loss(w, c_real, c_noise) -> float:
    """-log sigma(w . c_real) - sum_j log sigma(-w . c_noise_j), computed stably."""
    from scipy.special import log_expit

    w, c_real, c_noise = (np.asarray(x, dtype=float) for x in (w, c_real, c_noise))
    return float(-log_expit(w @ c_real) - log_expit(-(np.atleast_2d(c_noise) @ w)).sum())


def _sgns_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        dim, k = int(rng.integers(3, 10)), int(rng.integers(1, 7))
        cases.append((rng.normal(size=dim), rng.normal(size=dim), rng.normal(size=(k, dim))))
    return cases


register(
    Exercise("03.1", "nearest neighbours from scratch", reference=_nearest, cases=_nearest_cases,
             edge_cases=(("integers, and a row twice as long as another", ([[1, 0], [0, 1], [1, 1], [2, 0]], 0, 2)),
                         ("k = 1", ([[1.0, 0.2], [0.0, 1.0], [0.9, 0.5], [-1.0, 0.0]], 2, 1))),
             hint="Normalise the rows, take unit @ unit[i], set position i to -np.inf so that the row is not its "
                  "own neighbour, then np.argsort(-scores)[:k]."),
    Exercise("03.2", "odd one out", expected=lambda kv, words: kv.doesnt_match(words),
             hint="Stack unit[kv.key_to_index[w]] for each word, average the rows, and take the argmin of rows @ mean."),
    Exercise("03.3", "Spearman's correlation from scratch", reference=_spearman, cases=_spearman_cases,
             edge_cases=(("ties", ([1, 2, 2, 3, 4], [1.0, 3.0, 2.0, 2.0, 5.0])),
                         ("the reverse order", ([1, 2, 3, 4], [8, 6, 4, 2]))),
             hint="Spearman is Pearson's correlation of the ranks; tied values share the average of their ranks "
                  "(scipy.stats.rankdata does that), then np.corrcoef(rank_x, rank_y)[0, 1]."),
    Exercise("03.4", "the SGNS loss of one pair", reference=_sgns_loss, cases=_sgns_cases,
             edge_cases=(("very confident, very wrong scores", (np.full(5, 40.0), np.full(5, -40.0), np.full((2, 5), 40.0))),
                         ("a single noise word", ([0.5, -1.0, 2.0], [1.0, 0.0, 1.0], [[0.2, 0.1, -0.3]]))),
             hint="-log sigma(x) overflows to inf for very negative x when computed as np.log(expit(x)); "
                  "scipy.special.log_expit(x) computes log sigma(x) without that."),
)
