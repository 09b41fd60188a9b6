"""Exercises of ``10a_retrieval_metrics``: three functions written from scratch, two predictions.

* ``10a.1``: R-precision of one ranking;
* ``10a.2``: the paired t statistic of two systems' per-query scores;
* ``10a.3``: MRR@k of a whole run, with trec_eval's conventions (ties, unanswered queries);
* ``10a.4`` (prediction): which metric of a toy ranking loses most when its best document drops;
* ``10a.5`` (prediction): does MiniLM rank Cranfield better when it reads 256 tokens, not 128.
"""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import evaluate, precision_at_k, rank_run

METRICS = ("precision@10", "recall@10", "mrr", "map", "ndcg@10")
VERDICTS = ("clearly higher", "clearly lower", "no clear difference")


def _largest_drop(before: dict, after: dict) -> str:
    """The metric that lost most between two states of the toy ranking."""
    return max(before, key=lambda m: before[m] - after[m])


def _verdict(difference: float, p: float, alpha: float) -> str:
    if p >= alpha:
        return "no clear difference"
    return "clearly higher" if difference > 0 else "clearly lower"


def r_precision(relevant, ranking) -> float:
    """Precision at rank R, R = the number of relevant documents; 0 when there is none."""
    rel = set(relevant)
    return precision_at_k(rel, list(ranking), len(rel)) if rel else 0.0


def paired_t(a, b) -> float:
    """The paired t statistic: mean of the differences over their standard error."""
    from scipy import stats

    return float(stats.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float)).statistic)


def mrr_at_k(qrels, run, k) -> float:
    """MRR@k of a run: each query's ranking (trec_eval's tie rule) cut at k, averaged by trec_eval."""
    cut = {q: {d: scores[d] for d in rank_run(scores)[:k]} for q, scores in run.items()}
    return evaluate(qrels, cut, ["mrr"])["mrr"]


def _ranking_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(6):
        pool = [f"d{i}" for i in rng.permutation(60)]
        relevant = set(rng.choice(pool, size=int(rng.integers(1, 9)), replace=False).tolist())
        cases.append((relevant, pool[:int(rng.integers(5, 40))]))
    return cases


def _paired_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in rng.integers(5, 300, size=5):
        a = rng.random(n)
        cases.append((a, np.clip(a + rng.normal(0.05, 0.2, n), 0, 1)))
    return cases


def _run_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        docs = [f"d{i}" for i in range(30)]
        qrels, run = {}, {}
        for q in (f"q{i}" for i in range(int(rng.integers(3, 15)))):
            judged = rng.choice(docs, size=int(rng.integers(1, 8)), replace=False)
            qrels[q] = {d: int(rng.integers(0, 4)) for d in judged}
            retrieved = rng.choice(docs, size=int(rng.integers(1, 30)), replace=False)
            run[q] = {d: float(rng.random()) for d in retrieved}
        cases.append((qrels, run, int(rng.integers(1, 11))))
    return cases


register(
    Exercise("10a.4", "the metric that loses most when A drops from rank 1 to rank 4",
             expected=_largest_drop, choices=METRICS),
    Exercise("10a.5", "MiniLM reading 256 tokens of each abstract instead of 128, on nDCG@10",
             expected=_verdict, choices=VERDICTS),
    Exercise("10a.1", "R-precision from scratch",
             hint="Look at the top R of the ranking, R being the number of relevant ids, and divide the hits there "
                  "by R, even when the ranking is shorter than R. Nothing relevant: 0.0.",
             reference=r_precision, cases=_ranking_cases,
             edge_cases=(("no relevant document", (set(), ["a", "b"])),
                         ("a ranking shorter than R", ({"a", "b", "c", "d"}, ["a", "x"])),
                         ("relevant ids given as a list", (["b", "a"], ["a", "b", "c"])),
                         ("integer ids", ({3, 7}, [7, 1, 3])))),
    Exercise("10a.2", "the paired t statistic from scratch",
             hint="Work on the differences as a float array. The standard error is the sample standard "
                  "deviation (ddof=1) over the square root of their number. Unequal lengths are not "
                  "paired: NumPy's ValueError is the right answer there.",
             reference=paired_t, cases=_paired_cases,
             edge_cases=(("lists of integers", ([1, 2, 3, 5], [0, 2, 1, 2])),
                         ("two queries", ([0.5, 0.7], [0.4, 0.2])),
                         ("unequal lengths", ([0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4])))),
    Exercise("10a.3", "MRR@k of a run from scratch",
             hint="Order each query's documents with rank_run (trec_eval breaks ties by decreasing id), not "
                  "sorted(); a query with nothing relevant in its top k counts as 0; a query missing "
                  "from the run is left out of the mean.",
             reference=mrr_at_k, cases=_run_cases,
             edge_cases=(("tied scores", ({"q": {"d1": 1}}, {"q": {"d1": 0.5, "d2": 0.5}}, 1)),
                         ("a query with no relevant document", ({"q1": {"a": 1}, "q2": {"b": 0}},
                                                                 {"q1": {"a": 0.9}, "q2": {"b": 0.9}}, 10)),
                         ("a query the run does not answer", ({"q1": {"a": 2}, "q2": {"b": 1}},
                                                               {"q1": {"x": 0.9, "a": 0.5}}, 10)),
                         ("the first relevant document below k", ({"q": {"c": 3}},
                                                                    {"q": {"a": 0.9, "b": 0.8, "c": 0.7}}, 2)))),
)
