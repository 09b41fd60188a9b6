"""course_utils.metrics on the edge cases of notebook 10a, each held against trec_eval (pytrec_eval).

tests/test_metrics.py compares random graded cases; here every case is built to hit one
convention: K beyond the end of the ranking, queries with no relevant document (under both
``missing`` modes), tied scores, judged non-relevant documents (grade 0 and below) and
``relevance_level``. Each test also checks that the case is sensitive, i.e. that the other
convention would give a different number, so that a change of convention makes it fail.
"""
import math
import random

import pytest
import pytrec_eval

from course_utils import metrics as M

MEASURES = {"ndcg_cut.5,10,100", "P.5,10,100", "recall.5,10,100", "recip_rank", "map"}
PAIRS = [("ndcg_cut_5", "ndcg@5"), ("ndcg_cut_10", "ndcg@10"), ("ndcg_cut_100", "ndcg@100"),
         ("P_5", "precision@5"), ("P_10", "precision@10"), ("P_100", "precision@100"),
         ("recall_5", "recall@5"), ("recall_10", "recall@10"), ("recall_100", "recall@100"),
         ("recip_rank", "mrr"), ("map", "map")]


def trec(qrels, run, relevance_level=1):
    """pytrec_eval's per-query values, under our metric names."""
    ref = pytrec_eval.RelevanceEvaluator(qrels, MEASURES, relevance_level=relevance_level).evaluate(run)
    return {q: {ours: values[theirs] for theirs, ours in PAIRS} for q, values in ref.items()}


def ours(qrels, run, **kwargs):
    out = M.evaluate(qrels, run, [o for _, o in PAIRS], per_query=True, **kwargs)
    table = out.pop("per_query")
    return out, {q: {m: table[m][q] for m in table} for q in next(iter(table.values()))}


def assert_same_per_query(qrels, run, relevance_level=1):
    ref = trec(qrels, run, relevance_level)
    _, mine = ours(qrels, run, relevance_level=relevance_level)
    assert set(ref) == set(mine)
    for q in ref:
        for m in ref[q]:
            assert math.isclose(ref[q][m], mine[q][m], abs_tol=1e-12), (q, m, ref[q][m], mine[q][m])
    return ref, mine


# ---- K beyond the end of the ranking ---------------------------------------------------------

def test_k_beyond_the_ranking():
    qrels = {"q": {"a": 2, "b": 1, "c": 3, "z": 0}}
    run = {"q": {"a": 0.9, "x": 0.8, "b": 0.7}}            # 3 documents; K = 5, 10, 100
    ref, mine = assert_same_per_query(qrels, run)
    assert mine["q"]["precision@10"] == 2 / 10             # divided by K, not by the 3 returned
    assert mine["q"]["precision@10"] != 2 / 3
    assert mine["q"]["precision@100"] == 2 / 100
    assert mine["q"]["recall@100"] == 2 / 3                # c, never retrieved, still counts
    assert mine["q"]["ndcg@5"] == mine["q"]["ndcg@100"] < 1  # nothing more to gain past rank 3


def test_empty_ranking():
    qrels = {"q": {"a": 1}, "r": {"b": 1}}
    run = {"q": {}, "r": {"b": 1.0}}                       # q answered with nothing at all
    ref, mine = assert_same_per_query(qrels, run)
    assert all(v == 0 for v in mine["q"].values())


# ---- queries with no relevant document, and queries the run lacks ------------------------------

def test_query_without_relevant_documents_scores_zero_and_counts():
    qrels = {"a": {"d1": 2, "d2": 1}, "b": {"d3": 0, "d4": -1}}     # b: judged, nothing relevant
    run = {"a": {"d1": 0.9, "d9": 0.8, "d2": 0.7}, "b": {"d3": 0.9, "d4": 0.5}}
    ref, mine = assert_same_per_query(qrels, run)
    assert all(v == 0 for v in ref["b"].values())
    means, _ = ours(qrels, run)
    for m in means:
        assert math.isclose(means[m], (ref["a"][m] + ref["b"][m]) / 2)
    assert means["map"] != ref["a"]["map"]                # leaving b out (BEIR's way) would differ


@pytest.mark.parametrize("missing", ["ignore", "zero"])
def test_missing_queries_in_both_modes(missing):
    qrels = {"a": {"d1": 2, "d2": 1}, "b": {"d3": 1}, "c": {"d5": 0}, "d": {"d6": 3}}
    run = {"a": {"d1": 0.2, "d2": 0.9, "d7": 0.5}, "c": {"d5": 1.0}, "x": {"d1": 1.0}}  # b, d missing; x unjudged
    ref = trec(qrels, run)
    assert set(ref) == {"a", "c"}                         # trec_eval scores the intersection
    means, _ = ours(qrels, run, missing=missing)
    denominator = len(ref) if missing == "ignore" else len(qrels)      # trec_eval -c: all judged queries
    for _, m in PAIRS:
        expected = sum(ref[q][m] for q in ref) / denominator
        assert math.isclose(means[m], expected, abs_tol=1e-12), (missing, m)
    other, _ = ours(qrels, run, missing="zero" if missing == "ignore" else "ignore")
    assert other["map"] != means["map"]


# ---- tied scores ------------------------------------------------------------------------------

def test_ties_follow_trec_eval():
    # three documents tie; as strings "d2" > "d10" > "d1", so trec_eval ranks d2, d10, d1
    qrels = {"q": {"d1": 3, "d10": 1}}
    run = {"q": {"d1": 0.5, "d10": 0.5, "d2": 0.5, "d0": 0.1}}
    ref, mine = assert_same_per_query(qrels, run)
    assert M.rank_run(run["q"]) == ["d2", "d10", "d1", "d0"]
    assert mine["q"]["mrr"] == 1 / 2
    increasing = {"q": {"d1": 4.0, "d10": 3.0, "d2": 2.0, "d0": 1.0}}   # the ties broken the other way
    assert trec(qrels, increasing)["q"]["mrr"] != mine["q"]["mrr"]


def test_ties_do_not_depend_on_insertion_order():
    qrels = {"q": {"b": 1}}
    first = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    second = {"q": {"c": 1.0, "b": 1.0, "a": 1.0}}
    assert ours(qrels, first)[1] == ours(qrels, second)[1]
    assert_same_per_query(qrels, first)
    assert_same_per_query(qrels, second)


@pytest.mark.parametrize("seed", range(40))
def test_random_heavy_ties(seed):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(25)]
    qrels = {f"q{j}": {d: rng.choice([0, 1, 2, 3, 4]) for d in rng.sample(docs, 8)} for j in range(4)}
    run = {q: {d: rng.choice([0.5, 1.0, 2.0]) for d in rng.sample(docs, rng.randint(3, 25))} for q in qrels}
    assert_same_per_query(qrels, run)


# ---- judged non-relevant documents ------------------------------------------------------------

def test_grade_zero_and_negative_judgments_are_not_relevant():
    qrels = {"q": {"a": 0, "b": -1, "c": 2, "d": 1}}
    run = {"q": {"a": 0.9, "b": 0.8, "c": 0.7, "e": 0.6, "d": 0.5}}
    ref, mine = assert_same_per_query(qrels, run)
    assert mine["q"]["mrr"] == 1 / 3                       # a and b were judged, and are not relevant
    judged_as_relevant = {"q": {d: 1 for d in qrels["q"]}}
    assert trec(judged_as_relevant, run)["q"]["map"] != mine["q"]["map"]
    assert M.ndcg_at_k(qrels["q"], ["b", "a"], 10) == 0.0  # negative grades gain nothing, never less


# ---- relevance_level -------------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_relevance_level(level):
    rng = random.Random(level)
    docs = [f"d{i}" for i in range(30)]
    qrels = {f"q{j}": {d: rng.choice([0, 1, 2, 3, 4]) for d in rng.sample(docs, 12)} for j in range(6)}
    run = {q: {d: rng.random() for d in rng.sample(docs, 20)} for q in qrels}
    assert_same_per_query(qrels, run, relevance_level=level)
    if level > 1:                                          # the threshold changes the binary measures ...
        assert ours(qrels, run, relevance_level=level)[0]["map"] != ours(qrels, run)[0]["map"]
    assert ours(qrels, run, relevance_level=level)[0]["ndcg@10"] == ours(qrels, run)[0]["ndcg@10"]  # ... not nDCG


def test_relevance_level_leaves_queries_without_relevant_documents():
    qrels = {"a": {"d1": 4, "d2": 1}, "b": {"d3": 2, "d4": 1}}      # at level 3, b has nothing relevant
    run = {"a": {"d2": 0.9, "d1": 0.8}, "b": {"d3": 0.9}}
    ref, mine = assert_same_per_query(qrels, run, relevance_level=3)
    assert all(ref["b"][m] == 0 for m in ("map", "mrr", "recall@10", "precision@10"))
    assert ref["b"]["ndcg@10"] > 0                         # nDCG still uses the grades
