"""Retrieval and STS metrics, following trec_eval's conventions.

Introduced in ``10_evaluation`` (and used from ``05`` on). Conventions, as in trec_eval:

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

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import as_float_array, check_choice, check_int

_MEASURES = ("ndcg", "recall", "precision", "mrr", "map")


# ---- one query: a ranked list of ids and the relevant ids ---------------------------------

def _ranked(retrieved: Any, name: str = "retrieved") -> list:
    if isinstance(retrieved, (str, bytes)) or not isinstance(retrieved, Sequence) and not isinstance(retrieved, np.ndarray):
        raise TypeError(f"`{name}` must be a list of document ids, best first; got {type(retrieved).__name__}.")
    items = list(retrieved)
    if len(set(map(str, items))) != len(items):
        raise ValueError(f"`{name}` lists a document more than once; a ranking holds each document once.")
    return items


def _relevant(relevant: Any, name: str = "relevant") -> set:
    if isinstance(relevant, (str, bytes)) or isinstance(relevant, Mapping):
        raise TypeError(f"`{name}` must be a set or list of relevant document ids; got {type(relevant).__name__}. "
                        "For graded judgments use ndcg_at_k(gains, retrieved, k).")
    try:
        return set(relevant)
    except TypeError:
        raise TypeError(f"`{name}` must be a set or list of document ids; got {type(relevant).__name__}.") from None


def precision_at_k(relevant, retrieved, k: int) -> float:
    """Fraction of the top ``k`` retrieved ids that are relevant (divides by ``k``)."""
    rel, ranked, k = _relevant(relevant), _ranked(retrieved), check_int(k, "k", minimum=1)
    return sum(1 for d in ranked[:k] if d in rel) / k


def recall_at_k(relevant, retrieved, k: int) -> float:
    """Fraction of the relevant ids found in the top ``k``; 0 when nothing is relevant."""
    rel, ranked, k = _relevant(relevant), _ranked(retrieved), check_int(k, "k", minimum=1)
    if not rel:
        return 0.0
    return sum(1 for d in ranked[:k] if d in rel) / len(rel)


def reciprocal_rank(relevant, retrieved) -> float:
    """1 / rank of the first relevant id (ranks start at 1); 0 if none is retrieved."""
    rel, ranked = _relevant(relevant), _ranked(retrieved)
    for i, d in enumerate(ranked, start=1):
        if d in rel:
            return 1.0 / i
    return 0.0


def average_precision(relevant, retrieved) -> float:
    """Mean of Precision@rank over the ranks of relevant ids, divided by all relevant ids."""
    rel, ranked = _relevant(relevant), _ranked(retrieved)
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranked, start=1):
        if d in rel:
            hits += 1
            total += hits / i
    return total / len(rel)


def _gains(gains: Any, name: str = "gains") -> dict:
    if not isinstance(gains, Mapping):
        raise TypeError(f"`{name}` must be a dict {{doc_id: grade}}; got {type(gains).__name__}. "
                        "With binary relevance use {doc_id: 1 for doc_id in relevant}.")
    out = {}
    for d, g in gains.items():
        if isinstance(g, bool) or not isinstance(g, (int, float, np.integer, np.floating)) or not math.isfinite(g):
            raise ValueError(f"`{name}[{d!r}]` must be a finite number (a relevance grade); got {g!r}.")
        out[d] = float(g)
    return out


def dcg_at_k(grades: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of grades in ranked order: sum of g / log2(rank + 1)."""
    k = check_int(k, "k", minimum=1)
    if isinstance(grades, (str, bytes)) or not hasattr(grades, "__iter__"):
        raise TypeError(f"`grades` must be a list of relevance grades in ranked order; got {type(grades).__name__}.")
    g = as_float_array(list(grades), "grades", ndim=1, allow_empty=True)[:k]
    return float(np.sum(g / np.log2(np.arange(2, g.size + 2)))) if g.size else 0.0


def ndcg_at_k(gains, retrieved, k: int) -> float:
    """nDCG@k with graded gains ``{doc_id: grade}`` (grade <= 0: not relevant); 0 if no gain."""
    gains, ranked, k = _gains(gains), _ranked(retrieved), check_int(k, "k", minimum=1)
    positive = sorted((g for g in gains.values() if g > 0), reverse=True)
    ideal = dcg_at_k(positive, k)
    if ideal == 0:
        return 0.0
    return dcg_at_k([max(gains.get(d, 0.0), 0.0) for d in ranked], k) / ideal


# ---- many queries: qrels and runs as nested dicts ----------------------------------------

def rank_run(scores: Mapping) -> list:
    """Doc ids of ``{doc_id: score}`` best first; ties broken by doc id, decreasing (trec_eval)."""
    if not isinstance(scores, Mapping):
        raise TypeError(f"`scores` (one query's entry of a run) must be a dict {{doc_id: score}}; "
                        f"got {type(scores).__name__}.")
    for d, s in scores.items():
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) or not math.isfinite(s):
            raise ValueError(f"the score of document {d!r} must be a finite number; got {s!r}.")
    by_id = sorted(scores, key=str, reverse=True)
    return sorted(by_id, key=lambda d: -float(scores[d]))


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


def _score_query(judged: dict, ranked: list, name: str, k: int | None, level: float) -> float:
    relevant = {d for d, g in judged.items() if g >= level}
    if name == "ndcg":
        return ndcg_at_k({d: g for d, g in judged.items()}, ranked, k)
    if name == "recall":
        return recall_at_k(relevant, ranked, k)
    if name == "precision":
        return precision_at_k(relevant, ranked, k)
    if name == "mrr":
        return reciprocal_rank(relevant, ranked)
    return average_precision(relevant, ranked)


def evaluate(qrels: Mapping, run: Mapping, metrics: Sequence[str], *, per_query: bool = False,
             missing: str = "ignore", relevance_level: float = 1) -> dict:
    """Score a run against qrels: ``{metric: mean over queries}`` (or per query).

    Parameters
    ----------
    qrels : {query_id: {doc_id: grade}}
    run : {query_id: {doc_id: score}}
    metrics : e.g. ``["ndcg@10", "recall@100", "precision@5", "mrr", "map"]``
    per_query : also return ``{metric: {query_id: value}}`` under the key ``"per_query"``
    missing : ``"ignore"`` (trec_eval default) or ``"zero"`` (trec_eval ``-c``)
    relevance_level : smallest grade that counts as relevant for the binary measures
    """
    if not isinstance(qrels, Mapping):
        raise TypeError(f"`qrels` must be a dict {{query_id: {{doc_id: grade}}}}; got {type(qrels).__name__}.")
    if not isinstance(run, Mapping):
        raise TypeError(f"`run` must be a dict {{query_id: {{doc_id: score}}}}; got {type(run).__name__}.")
    if isinstance(metrics, str):
        raise TypeError(f"`metrics` must be a list of metric names; got a single string. Wrap it: [{metrics!r}].")
    if not hasattr(metrics, "__iter__"):
        raise TypeError(f"`metrics` must be a list of metric names such as ['ndcg@10', 'mrr']; got {type(metrics).__name__}.")
    parsed = [(m, *_parse_metric(m)) for m in metrics]
    if not parsed:
        raise ValueError("`metrics` is empty; ask for at least one, e.g. ['ndcg@10'].")
    missing = check_choice(missing, "missing", ("ignore", "zero"))
    if not isinstance(per_query, bool):
        raise TypeError(f"`per_query` must be True or False; got {type(per_query).__name__}.")
    if isinstance(relevance_level, bool) or not isinstance(relevance_level, (int, float)) or not math.isfinite(relevance_level):
        raise TypeError(f"`relevance_level` must be a finite number (the smallest relevant grade); got {relevance_level!r}.")
    if not qrels:
        raise ValueError("`qrels` is empty; there is nothing to evaluate against.")
    queries = sorted(set(qrels) & set(run), key=str) if missing == "ignore" else sorted(qrels, key=str)
    if not queries:
        raise ValueError("no query id of `run` appears in `qrels`; check that both use the same ids "
                         "(e.g. strings '1', '2', ... in both).")
    table: dict[str, dict] = {m: {} for m, _, _ in parsed}
    for q in queries:
        judged = _gains(qrels[q], f"qrels[{q!r}]")
        ranked = rank_run(run[q]) if q in run else []
        for m, name, k in parsed:
            table[m][q] = _score_query(judged, ranked, name, k, relevance_level)
    out: dict[str, Any] = {m: float(np.mean(list(v.values()))) for m, v in table.items()}
    if per_query:
        out["per_query"] = table
    return out


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
