"""Exercises of ``10b_benchmarks``: three functions written from scratch, one prediction.

* ``10b.1``: Spearman's rank correlation (the STS task's score);
* ``10b.2``: average precision of scores against 0/1 labels (the pair-classification score);
* ``10b.3``: each model's mean rank over the tasks of a benchmark table;
* ``10b.4`` (prediction): by how much E5's mini-MTEB average beats mpnet's.
"""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register

MODELS = ("MiniLM", "mpnet", "E5")


MARGINS = ("less than 1 point", "1 to 5 points", "more than 5 points")


def _margin(table) -> str:
    """How far E5's average over the tasks (columns) lies above mpnet's, in words."""
    gap = float(table.loc["E5"].mean() - table.loc["mpnet"].mean())
    return MARGINS[0] if gap < 1 else MARGINS[1] if gap <= 5 else MARGINS[2]


def spearman(x, y) -> float:
    """Spearman's rho: Pearson's correlation of the ranks (ties get their average rank)."""
    from scipy import stats

    return float(stats.spearmanr(np.asarray(x, dtype=float), np.asarray(y, dtype=float)).statistic)


def average_precision(labels, scores) -> float:
    """Average precision of ``scores`` as a ranking of the items whose label is true (scikit-learn's)."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(np.asarray(labels).astype(bool), np.asarray(scores, dtype=float)))


def mean_rank(table):
    """Each row's (model's) rank on each column (task), 1 = best, ties averaged; mean over columns."""
    return table.rank(axis=0, ascending=False, method="average").mean(axis=1)


def _correlated(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in rng.integers(5, 300, size=4):
        x = rng.normal(size=n)
        cases.append((x, x + rng.normal(scale=1.0, size=n)))
    x = rng.integers(0, 6, size=50).astype(float)               # STS-like gold scores: many ties
    cases.append((x, x + rng.normal(scale=2.0, size=50)))
    return cases


def _labelled(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in rng.integers(5, 300, size=5):
        labels = rng.random(n) < rng.uniform(0.2, 0.8)
        labels[0] = True                                         # at least one positive
        cases.append((labels, labels * 0.5 + rng.normal(scale=0.5, size=n)))
    return cases


def _tables(rng: np.random.Generator) -> list[tuple]:
    import pandas as pd

    cases = []
    for case in range(5):   # the first table has the notebook's shape, so an unfinished answer reads the same each time
        n_models, n_tasks = (3, 6) if case == 0 else (int(rng.integers(2, 6)), int(rng.integers(1, 8)))
        cases.append((pd.DataFrame(rng.uniform(30, 100, size=(n_models, n_tasks)).round(1),
                                   index=[f"model {i}" for i in range(n_models)],
                                   columns=[f"task {j}" for j in range(n_tasks)]),))
    return cases


def _tie_table():
    import pandas as pd

    return pd.DataFrame({"STS": [82.0, 83.4, 84.0], "Clustering": [39.2, 39.2, 92.7]}, index=list(MODELS))


def _one_task_table():
    import pandas as pd

    return pd.DataFrame({"STS": [82.0, 83.4, 84.0]}, index=list(MODELS))


register(
    Exercise("10b.4", "E5's lead over mpnet in the six-task average",
             expected=_margin, choices=MARGINS),
    Exercise("10b.1", "Spearman's rank correlation from scratch",
             hint="Replace each value by its rank (scipy.stats.rankdata gives tied values the average of their "
                  "ranks), then take Pearson's correlation of the two rank arrays.",
             reference=spearman, cases=_correlated,
             edge_cases=(("integer scores with ties", ([1, 2, 2, 3, 5], [0, 1, 1, 1, 4])),
                         ("a decreasing relation", ([1.0, 2.0, 3.0, 4.0], [9.0, 4.0, 1.0, 0.5])),
                         ("unequal lengths", ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])))),
    Exercise("10b.2", "average precision from scratch",
             hint="Sort the items by score, highest first; at the rank of each positive item take the "
                  "precision so far (positives seen / rank); average these over all positives.",
             reference=average_precision, cases=_labelled,
             edge_cases=(("0/1 integer labels", ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])),
                         ("a single positive, ranked last", ([0, 0, 1], [0.9, 0.8, 0.1])),
                         ("every item positive", ([True, True], [0.2, 0.1])))),
    Exercise("10b.3", "mean rank over tasks from scratch",
             hint="Within each task (column), the best model gets rank 1 and tied models share the average of "
                  "their ranks; then average each model's ranks. Return a Series indexed like the rows.",
             reference=mean_rank, cases=_tables,
             edge_cases=(("two models tied on a task", (_tie_table(),)),
                         ("a single task", (_one_task_table(),)))),
)
