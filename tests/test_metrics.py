"""course_utils.metrics: hand-checked examples, edge cases, and agreement with trec_eval."""
import math
import random

import numpy as np
import pytest
import pytrec_eval
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import metrics as M

RELEVANT = {42, 87, 153}
RETRIEVED = [10, 42, 5, 87, 200, 153, 99, 300, 12, 50]


def test_worked_example():
    assert round(M.recall_at_k(RELEVANT, RETRIEVED, 5), 2) == 0.67
    assert M.recall_at_k(RELEVANT, RETRIEVED, 10) == 1.0
    assert M.reciprocal_rank(RELEVANT, RETRIEVED) == 0.5
    assert M.precision_at_k(RELEVANT, RETRIEVED, 5) == 2 / 5
    assert math.isclose(M.average_precision(RELEVANT, RETRIEVED), (1 / 2 + 2 / 4 + 3 / 6) / 3)


def test_ndcg_by_hand():
    gains = {"a": 3, "b": 2, "c": 1}
    ranked = ["c", "x", "a"]
    dcg = 1 / math.log2(2) + 3 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert math.isclose(M.ndcg_at_k(gains, ranked, 3), dcg / ideal)
    assert M.ndcg_at_k(gains, ["a", "b", "c"], 3) == 1.0


def test_edge_cases():
    assert M.recall_at_k(set(), RETRIEVED, 5) == 0.0          # no relevant documents
    assert M.ndcg_at_k({"a": 0}, ["a"], 5) == 0.0              # only judged non-relevant
    assert M.precision_at_k({1}, [1], 10) == 0.1               # K beyond the list: divide by K
    assert M.recall_at_k({1, 2}, [1], 100) == 0.5
    assert M.reciprocal_rank({1}, []) == 0.0


def test_ties_broken_by_doc_id_descending():
    assert M.rank_run({"a": 1.0, "b": 1.0, "c": 2.0}) == ["c", "b", "a"]


def test_evaluate_missing_queries():
    qrels = {"1": {"a": 1}, "2": {"b": 1}}
    run = {"1": {"a": 1.0}}
    assert M.evaluate(qrels, run, ["mrr"])["mrr"] == 1.0
    assert M.evaluate(qrels, run, ["mrr"], missing="zero")["mrr"] == 0.5


def _random_case(rng):
    qrels, run = {}, {}
    for q in range(rng.randint(1, 6)):
        docs = [f"d{i}" for i in range(rng.randint(1, 40))]
        qrels[f"q{q}"] = {d: rng.choice([0, 0, 1, 2, 3, 4, -1]) for d in rng.sample(docs, rng.randint(1, len(docs)))}
        run[f"q{q}"] = {d: float(rng.choice([0.5, 1.0, rng.random(), -rng.random()]))
                        for d in rng.sample(docs, rng.randint(1, len(docs)))}
    if rng.random() < 0.3:  # a query judged only non-relevant
        qrels["q_none"] = {"d0": 0}
        run["q_none"] = {"d0": 1.0, "d1": 0.5}
    return qrels, run


PAIRS = [("ndcg_cut_10", "ndcg@10"), ("ndcg_cut_5", "ndcg@5"), ("recall_5", "recall@5"),
         ("recall_100", "recall@100"), ("P_5", "precision@5"), ("P_10", "precision@10"),
         ("recip_rank", "mrr"), ("map", "map")]


@pytest.mark.parametrize("seed", range(300))
def test_agrees_with_trec_eval(seed):
    qrels, run = _random_case(random.Random(seed))
    ref = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.5,10", "recall.5,100", "P.5,10", "recip_rank", "map"}).evaluate(run)
    ours = M.evaluate(qrels, run, [o for _, o in PAIRS], per_query=True)
    for q in ref:
        for theirs, mine in PAIRS:
            assert math.isclose(ref[q][theirs], ours["per_query"][mine][q], abs_tol=1e-9), (q, mine)
    for _, mine in PAIRS:
        assert math.isclose(ours[mine], np.mean([ours["per_query"][mine][q] for q in ref]), abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), unique=True, max_size=30), st.sets(st.integers(0, 30), max_size=10),
       st.integers(1, 40))
def test_metric_ranges(ranked, relevant, k):
    for value in (M.precision_at_k(relevant, ranked, k), M.recall_at_k(relevant, ranked, k),
                  M.reciprocal_rank(relevant, ranked), M.average_precision(relevant, ranked),
                  M.ndcg_at_k({d: 1 for d in relevant}, ranked, k)):
        assert 0.0 <= value <= 1.0
    if relevant and set(ranked[:k]) >= relevant:
        assert M.recall_at_k(relevant, ranked, k) == 1.0


@pytest.mark.parametrize("call, exc, words", [
    (lambda: M.recall_at_k({1}, [1], 0), ValueError, "`k` must be >= 1"),
    (lambda: M.recall_at_k({1}, [1], 2.5), TypeError, "`k` must be an integer"),
    (lambda: M.recall_at_k({1}, "abc", 2), TypeError, "`retrieved`"),
    (lambda: M.recall_at_k({1}, [1, 1], 2), ValueError, "more than once"),
    (lambda: M.recall_at_k({"a": 1}, [1], 2), TypeError, "ndcg_at_k"),
    (lambda: M.ndcg_at_k([1, 2], [1], 2), TypeError, "`gains`"),
    (lambda: M.ndcg_at_k({"a": float("nan")}, ["a"], 2), ValueError, "finite"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": 1}}, "ndcg@10"), TypeError, "single string"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": 1}}, ["ndcg"]), ValueError, "cut-off"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": 1}}, ["mrr@10"]), ValueError, "no cut-off"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": 1}}, ["f1"]), ValueError, "unknown metric"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"2": {"a": 1}}, ["mrr"]), ValueError, "same ids"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": float("nan")}}, ["mrr"]), ValueError, "finite"),
    (lambda: M.evaluate([], {}, ["mrr"]), TypeError, "`qrels`"),
    (lambda: M.evaluate({"1": {"a": 1}}, {"1": {"a": 1}}, ["mrr"], missing="drop"), ValueError, "`missing`"),
    (lambda: M.sts_correlation([1, 2, 3], [1, 2]), ValueError, "same length"),
    (lambda: M.sts_correlation([1, 1, 1], [1, 2, 3]), ValueError, "not all equal"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)


def test_sts_correlation_scale():
    out = M.sts_correlation([0.1, 0.4, 0.35, 0.8], [0, 1, 2, 3])
    assert math.isclose(out["spearman"], 80.0)
    assert 0 < out["pearson"] <= 100


def test_per_query_equals_evaluate_per_query():
    from course_utils.metrics import evaluate, per_query

    qrels = {"1": {"a": 2, "b": 0}, "2": {"c": 1}, "3": {"d": 1}}
    run = {"1": {"a": 0.9, "b": 0.8}, "2": {"a": 0.5, "c": 0.1}}
    values = per_query(qrels, run, "ndcg@10")
    assert values == evaluate(qrels, run, ["ndcg@10"], per_query=True)["per_query"]["ndcg@10"]
    assert set(values) == {"1", "2"}                      # trec_eval: queries the run lacks are ignored
    assert set(per_query(qrels, run, "map", missing="zero")) == {"1", "2", "3"}
    with pytest.raises(TypeError, match="metric"):
        per_query(qrels, run, ["map", "mrr"])
    with pytest.raises(ValueError, match="unknown metric"):
        per_query(qrels, run, "ndgc@10")


# ---- paired significance tests ------------------------------------------------------------------

def test_paired_tests_agree_with_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    a = rng.uniform(size=40)
    b = np.clip(a - 0.05 + rng.normal(scale=0.1, size=40), 0, 1)
    out = M.paired_tests(a, b, n_resamples=2000, seed=1)
    d = a - b
    assert math.isclose(out["mean diff"], d.mean())
    assert (out["wins"], out["losses"], out["ties"]) == ((d > 0).sum(), (d < 0).sum(), (d == 0).sum())
    assert math.isclose(out["t-test p"], stats.ttest_rel(a, b).pvalue)
    assert math.isclose(out["Wilcoxon p"], stats.wilcoxon(a, b).pvalue)
    perm = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                  permutation_type="samples", n_resamples=2000, random_state=1)
    assert out["permutation p"] == perm.pvalue
    assert out == M.paired_tests(a, b, n_resamples=2000, seed=1)       # seeded: the same every time


def test_paired_tests_take_per_query_dicts_in_any_order():
    a = {"q1": 0.5, "q2": 0.9, "q3": 0.1, "q4": 0.7}
    b = {"q4": 0.6, "q3": 0.1, "q1": 0.2, "q2": 0.8}
    out = M.paired_tests(a, b, n_resamples=500)
    assert (out["wins"], out["losses"], out["ties"]) == (3, 0, 1)
    assert math.isclose(out["mean diff"], (0.3 + 0.1 + 0.0 + 0.1) / 4)
    assert out == M.paired_tests([0.5, 0.9, 0.1, 0.7], [0.2, 0.8, 0.1, 0.6], n_resamples=500)


def test_paired_tests_see_a_clear_difference_and_no_difference():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=60)
    clear = M.paired_tests(a + 0.2, a + rng.normal(scale=0.01, size=60), n_resamples=1000)
    assert max(clear["t-test p"], clear["Wilcoxon p"], clear["permutation p"]) < 0.01   # 2 / 1001: the smallest two-sided permutation p
    same = M.paired_tests(a, a.copy(), n_resamples=1000)
    assert same == {"mean diff": 0.0, "wins": 0, "losses": 0, "ties": 60, "t-test p": 1.0, "Wilcoxon p": 1.0,
                    "permutation p": 1.0}


def test_paired_tests_errors_name_the_argument():
    with pytest.raises(ValueError, match="`a` and `b` must have one value per query"):
        M.paired_tests([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same queries"):
        M.paired_tests({"q1": 1.0, "q2": 0.0}, {"q1": 1.0, "q3": 0.0})
    with pytest.raises(TypeError, match="both be dicts"):
        M.paired_tests({"q1": 1.0, "q2": 0.0}, [1.0, 0.0])
    with pytest.raises(ValueError, match="at least 2"):
        M.paired_tests([1.0], [0.0])
    with pytest.raises(ValueError, match="`a` contains 1 NaN"):
        M.paired_tests([1.0, float("nan")], [0.0, 1.0])
    with pytest.raises(ValueError, match="`n_resamples` must be >= 100"):
        M.paired_tests([1.0, 0.0], [0.0, 1.0], n_resamples=10)
    with pytest.raises(TypeError) as info:
        M.paired_tests("abc", None, seed=-1.5)
    assert all(f"`{name}`" in str(info.value) for name in ("a", "b", "seed"))


@pytest.mark.parametrize("bad, exc", [
    (float("nan"), ValueError), (float("inf"), ValueError), (np.float32("nan"), ValueError),
    (-np.inf, ValueError), (True, ValueError), ("0.5", ValueError), (None, ValueError), (1 + 2j, ValueError),
])
def test_a_bad_score_deep_in_a_long_run_is_named(bad, exc):
    # a run checks its scores in one NumPy pass; a bad one among 1,000 good ones is still found and named
    scores = {f"d{i}": float(i) / 7 for i in range(1000)}
    scores["d500"] = bad
    with pytest.raises(exc, match=r"`run\['q'\]\['d500'\]` must be a finite number"):
        M.evaluate({"q": {"d1": 1}}, {"q": scores}, ["mrr"])


def test_scores_of_any_numeric_type_are_accepted_and_ranked_alike():
    kinds = [float, int, np.float32, np.float64, np.int64, np.float16]
    mixed = {f"d{i}": kinds[i % len(kinds)](i % 5) for i in range(30)}
    trec_eval_order = sorted(sorted(mixed, key=str, reverse=True), key=lambda d: -float(mixed[d]))
    assert M.rank_run(mixed) == M.rank_run({d: float(s) for d, s in mixed.items()}) == trec_eval_order
