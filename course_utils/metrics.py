"""Retrieval and STS metrics, following trec_eval's conventions.

Introduced in ``10a_retrieval_metrics`` (and used from ``01`` on). Conventions, as in trec_eval:

* a run is ``{query_id: {doc_id: score}}``; it is ranked by score, highest first, and ties are
  broken by doc id in *decreasing* string order (trec_eval's rule, so results do not depend on
  dictionary order);
* qrels are ``{query_id: {doc_id: grade}}``; a document is relevant when its grade is >= 1
  (``relevance_level``); grades <= 0 mean judged non-relevant;
* Precision@K divides by K even when fewer than K documents were retrieved;
* Recall@K, MAP divide by the number of relevant documents in the qrels; a query with none
  scores 0 on every measure;
* nDCG@K uses the grade itself as the gain (trec_eval's ``ndcg_cut``), discount ``log2(rank+1)``,
  and the ideal ranking of all judged grades;
* MRR is the reciprocal rank of the first relevant document anywhere in the ranking
  (trec_eval's ``recip_rank``, no cut-off);
* ``evaluate`` averages over the queries that appear in both the run and the qrels, as
  trec_eval does by default; ``missing="zero"`` counts a query of the qrels that the run lacks
  as 0 on every measure (trec_eval ``-c``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import (Problems, as_float_array, check_bool, check_choice, check_int, check_number, check_run,
                      check_scores, check_sequence)

_MEASURES = ("ndcg", "recall", "precision", "mrr", "map")


# ---- one query: a ranked list of ids and the relevant ids ---------------------------------

def _ranked(retrieved: Any, name: str = "retrieved") -> list:
    if isinstance(retrieved, (str, bytes)) or not isinstance(retrieved, (Sequence, np.ndarray)):
        raise TypeError(f"`{name}` must be a list of document ids, best first; got {type(retrieved).__name__}.")
    items = list(retrieved)
    if len(set(map(str, items))) != len(items):
        raise ValueError(f"`{name}` lists a document more than once; a ranking holds each document once.")
    return items


def _relevant(relevant: Any, name: str = "relevant") -> set:
    if isinstance(relevant, Mapping):
        raise TypeError(f"`{name}` must be a set or list of relevant document ids; got a dict. "
                        "For graded judgments use ndcg_at_k(gains, retrieved, k).")
    return set(check_sequence(relevant, name, what="relevant document ids"))


def _checked(relevant: Any, retrieved: Any, k: Any = 1) -> tuple[set, list, int]:
    with Problems() as problems:
        rel = problems.check(_relevant, relevant)
        ranked = problems.check(_ranked, retrieved)
        k = problems.check(check_int, k, "k", minimum=1)
    return rel, ranked, k


def precision_at_k(relevant, retrieved, k: int) -> float:
    """Fraction of the top ``k`` retrieved ids that are relevant (divides by ``k``)."""
    return _precision(*_checked(relevant, retrieved, k))


def recall_at_k(relevant, retrieved, k: int) -> float:
    """Fraction of the relevant ids found in the top ``k``; 0 when nothing is relevant."""
    return _recall(*_checked(relevant, retrieved, k))


def reciprocal_rank(relevant, retrieved) -> float:
    """1 / rank of the first relevant id (ranks start at 1); 0 if none is retrieved."""
    return _reciprocal_rank(*_checked(relevant, retrieved)[:2])


def average_precision(relevant, retrieved) -> float:
    """Mean of Precision@rank over the ranks of relevant ids, divided by all relevant ids."""
    return _average_precision(*_checked(relevant, retrieved)[:2])


def _precision(rel: set, ranked: list, k: int) -> float:
    return sum(1 for d in ranked[:k] if d in rel) / k


def _recall(rel: set, ranked: list, k: int) -> float:
    return sum(1 for d in ranked[:k] if d in rel) / len(rel) if rel else 0.0


def _reciprocal_rank(rel: set, ranked: list) -> float:
    return next((1.0 / i for i, d in enumerate(ranked, start=1) if d in rel), 0.0)


def _average_precision(rel: set, ranked: list) -> float:
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked, start=1):
        if d in rel:
            hits += 1
            total += hits / i
    return total / len(rel)


def dcg_at_k(grades: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of grades in ranked order: sum of g / log2(rank + 1)."""
    with Problems() as problems:
        grades = problems.check(check_sequence, grades, "grades", what="relevance grades in ranked order")
        k = problems.check(check_int, k, "k", minimum=1)
    return _dcg(as_float_array(grades, "grades", ndim=1, allow_empty=True), k)


def _dcg(grades: np.ndarray, k: int) -> float:
    g = np.asarray(grades, dtype=np.float64)[:k]
    return float(np.sum(g / np.log2(np.arange(2, g.size + 2)))) if g.size else 0.0


def ndcg_at_k(gains, retrieved, k: int) -> float:
    """nDCG@k with graded gains ``{doc_id: grade}`` (grade <= 0: not relevant); 0 if no gain."""
    with Problems() as problems:
        gains = problems.check(check_scores, gains, "gains", what="grade")
        ranked = problems.check(_ranked, retrieved)
        k = problems.check(check_int, k, "k", minimum=1)
    return _ndcg(gains, ranked, k)


def _ndcg(gains: Mapping, ranked: list, k: int) -> float:
    ideal = _dcg(sorted((g for g in gains.values() if g > 0), reverse=True), k)
    if ideal == 0:
        return 0.0
    return _dcg([max(gains.get(d, 0.0), 0.0) for d in ranked], k) / ideal


# ---- many queries: qrels and runs as nested dicts ----------------------------------------

def rank_run(scores: Mapping) -> list:
    """Doc ids of ``{doc_id: score}`` best first; ties broken by doc id, decreasing (trec_eval)."""
    return _rank(check_scores(scores, "scores"))


def _rank(scores: Mapping) -> list:
    by_id = sorted(scores, key=str, reverse=True)
    return sorted(by_id, key=scores.__getitem__, reverse=True)   # stable: equal scores keep the id order


def _parse_metric(metric: Any) -> tuple[str, int | None]:
    if not isinstance(metric, str):
        raise TypeError(f"each item of `metrics` must be a string such as 'ndcg@10'; got {type(metric).__name__}.")
    name, _, cut = metric.lower().partition("@")
    if name not in _MEASURES:
        raise ValueError(f"unknown metric {metric!r}; use one of ndcg@K, recall@K, precision@K, mrr, map.")
    if name in ("mrr", "map"):
        if cut:
            raise ValueError(f"{name!r} takes no cut-off in trec_eval's convention; write {name!r}, not {metric!r}.")
        return name, None
    if not cut.isdigit() or int(cut) < 1:
        raise ValueError(f"metric {metric!r} needs a cut-off K >= 1, e.g. '{name}@10'.")
    return name, int(cut)


def _parse_metrics(metrics: Any) -> list[tuple[str, str, int | None]]:
    if isinstance(metrics, str):
        raise TypeError(f"`metrics` must be a list of metric names; got a single string. Wrap it: [{metrics!r}].")
    items = check_sequence(metrics, "metrics", what="metric names such as 'ndcg@10'", allow_empty=False)
    return [(m, *_parse_metric(m)) for m in items]


def _score_query(judged: dict, ranked: list, name: str, k: int | None, level: float) -> float:
    if name == "ndcg":
        return _ndcg(judged, ranked, k)
    relevant = {d for d, g in judged.items() if g >= level}
    if name == "recall":
        return _recall(relevant, ranked, k)
    if name == "precision":
        return _precision(relevant, ranked, k)
    if name == "mrr":
        return _reciprocal_rank(relevant, ranked)
    return _average_precision(relevant, ranked)


def evaluate(qrels: Mapping, run: Mapping, metrics: Sequence[str], *, per_query: bool = False,
             missing: str = "ignore", relevance_level: float = 1) -> dict:
    """Score a run against qrels: ``{metric: mean over queries}`` (or per query).

    Parameters
    ----------
    qrels : {query_id: {doc_id: grade}}
    run : {query_id: {doc_id: score}}
    metrics : e.g. ``["ndcg@10", "recall@100", "precision@5", "mrr", "map"]``
    per_query : also return ``{metric: {query_id: value}}`` under the key ``"per_query"``
        (:func:`per_query` gives one metric's values directly)
    missing : ``"ignore"`` (trec_eval default) or ``"zero"`` (trec_eval ``-c``)
    relevance_level : smallest grade that counts as relevant for the binary measures
    """
    with Problems() as problems:
        qrels = problems.check(check_run, qrels, "qrels", what="grade")
        run = problems.check(check_run, run, "run")
        parsed = problems.check(_parse_metrics, metrics)
        missing = problems.check(check_choice, missing, "missing", ("ignore", "zero"))
        per_query = problems.check(check_bool, per_query, "per_query")
        relevance_level = problems.check(check_number, relevance_level, "relevance_level")
    table = _table(qrels, run, parsed, missing, relevance_level)
    out: dict[str, Any] = _means(table)
    if per_query:
        out["per_query"] = table
    return out


def _means(table: dict[str, dict]) -> dict[str, float]:
    return {m: float(np.mean(list(v.values()))) for m, v in table.items()}


def per_query(qrels: Mapping, run: Mapping, metric: str, *, missing: str = "ignore",
              relevance_level: float = 1) -> dict:
    """One metric's value for each query: ``{query_id: value}``, the queries :func:`evaluate` averages.

    For paired comparisons of two runs (notebook ``10a``), take both on the same queries:
    ``a, b = per_query(qrels, run_a, "ndcg@10"), per_query(qrels, run_b, "ndcg@10")``.
    """
    with Problems() as problems:
        qrels = problems.check(check_run, qrels, "qrels", what="grade")
        run = problems.check(check_run, run, "run")
        parsed = problems.check(_parse_metrics, [metric] if isinstance(metric, str) else metric)
        missing = problems.check(check_choice, missing, "missing", ("ignore", "zero"))
        relevance_level = problems.check(check_number, relevance_level, "relevance_level")
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be one metric name such as 'ndcg@10'; got {type(metric).__name__}.")
    return _table(qrels, run, parsed, missing, relevance_level)[metric]


def _table(qrels: dict, run: dict, parsed: list, missing: str, level: float) -> dict[str, dict]:
    if not qrels:
        raise ValueError("`qrels` is empty; there is nothing to evaluate against.")
    queries = sorted(set(qrels) & set(run), key=str) if missing == "ignore" else sorted(qrels, key=str)
    if not queries:
        raise ValueError("no query id of `run` appears in `qrels`; check that both use the same ids "
                         "(e.g. strings '1', '2', ... in both).")
    table: dict[str, dict] = {m: {} for m, _, _ in parsed}
    for q in queries:
        ranked = _rank(run[q]) if q in run else []
        for m, name, k in parsed:
            table[m][q] = _score_query(qrels[q], ranked, name, k, level)
    return table


def _per_query_values(x: Any, name: str) -> tuple[list | None, np.ndarray]:
    """``x`` as (query ids or None, finite 1-D float array): a dict {query_id: value} or a sequence."""
    if isinstance(x, Mapping):
        if not x:
            raise ValueError(f"`{name}` is empty; pass one value per query.")
        ids = sorted(x, key=str)
        return ids, as_float_array([x[q] for q in ids], name, ndim=1)
    return None, as_float_array(x, name, ndim=1)


def paired_tests(a, b, *, n_resamples: int = 10_000, seed: int = 0) -> dict:
    """Paired significance tests of two systems scored on the same queries: is ``a - b`` more than noise?

    The methods of ``10a_retrieval_metrics`` (section 6), shared from ``08_retrieve_and_rerank`` on.
    Both systems answer the same queries, so every test looks at the per-query differences
    ``d = a - b``:

    * paired t-test (``scipy.stats.ttest_rel``): is the mean of ``d`` far from 0 for its standard error?
    * Wilcoxon signed-rank (``scipy.stats.wilcoxon``): the ranks of ``|d|``, robust to a few extreme
      queries; queries with ``d == 0`` are dropped;
    * permutation test (``scipy.stats.permutation_test``, ``permutation_type="samples"``): swap the two
      systems' scores on random queries ``n_resamples`` times; how often is the mean difference as
      large as observed?

    Parameters
    ----------
    a, b : per-query scores of the two systems: arrays of the same length (same query order), or
        dicts ``{query_id: value}`` over the same queries (what :func:`per_query` returns)
    n_resamples : permutations drawn for the permutation test (>= 100)
    seed : seeds the permutation test

    Returns
    -------
    dict : ``"mean diff"`` (mean of a - b), ``"wins"``, ``"losses"``, ``"ties"`` (queries where a is
    above, below, equal to b), and the two-sided p-values ``"t-test p"``, ``"Wilcoxon p"``,
    ``"permutation p"``. When every difference is 0 there is no evidence of a difference and each
    p-value is 1.0 (the t statistic and Wilcoxon's ranks are undefined there).
    """
    with Problems() as problems:
        ids_a, x = problems.check(_per_query_values, a, "a") or (None, None)
        ids_b, y = problems.check(_per_query_values, b, "b") or (None, None)
        n_resamples = problems.check(check_int, n_resamples, "n_resamples", minimum=100)
        seed = problems.check(check_int, seed, "seed", minimum=0)
        problems.raise_if_any()
        if (ids_a is None) != (ids_b is None):
            problems.add(TypeError("`a` and `b` must both be dicts {query_id: value} or both be arrays; got one of each."))
        elif ids_a is not None and ids_a != ids_b:
            problems.add(ValueError(f"`a` and `b` must score the same queries; {len(set(ids_a) ^ set(ids_b))} "
                                    "query id(s) are in only one of them."))
        elif x.size != y.size:
            problems.add(ValueError(f"`a` and `b` must have one value per query each; got {x.size} and {y.size}."))
        elif x.size < 2:
            problems.add(ValueError(f"`a` and `b` hold {x.size} query; a paired test needs at least 2."))
    from scipy import stats

    d = x - y
    out = {"mean diff": float(d.mean()), "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
           "ties": int((d == 0).sum())}
    if not np.any(d != 0):
        return {**out, "t-test p": 1.0, "Wilcoxon p": 1.0, "permutation p": 1.0}
    perm = stats.permutation_test((x, y), lambda u, v, axis: np.mean(u - v, axis=axis), vectorized=True,
                                  permutation_type="samples", n_resamples=n_resamples, random_state=seed)
    t_p = stats.ttest_rel(x, y).pvalue
    return {**out, "t-test p": float(t_p) if np.isfinite(t_p) else 0.0,
            "Wilcoxon p": float(stats.wilcoxon(x, y).pvalue), "permutation p": float(perm.pvalue)}


def sts_correlation(predicted, gold) -> dict[str, float]:
    """Spearman and Pearson correlation (x100, as MTEB reports them) of scores with gold."""
    from scipy.stats import pearsonr, spearmanr

    p = as_float_array(predicted, "predicted", ndim=1)
    g = as_float_array(gold, "gold", ndim=1)
    if p.shape != g.shape:
        raise ValueError(f"`predicted` and `gold` must have the same length; got {p.size} and {g.size}.")
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(g) == 0:
        raise ValueError("a correlation needs at least two values that are not all equal in both "
                         "`predicted` and `gold`.")
    return {"spearman": 100 * float(spearmanr(p, g).statistic), "pearson": 100 * float(pearsonr(p, g).statistic)}
