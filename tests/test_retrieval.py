"""course_utils.retrieval: hand-worked examples, agreement with bm25s and sentence-transformers, errors."""
import math

import numpy as np
import pytest

from course_utils import retrieval as R
from course_utils.metrics import evaluate, rank_run

# ---- RRF ---------------------------------------------------------------------------------------

RUN_A = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
RUN_B = {"q": {"b": 0.9, "c": 0.8, "d": 0.1}}


def test_rrf_by_hand():
    fused = R.rrf([RUN_A, RUN_B], k=60)
    by_hand = {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 62, "d": 1 / 63}
    assert fused["q"].keys() == by_hand.keys()
    for d, s in by_hand.items():
        assert math.isclose(fused["q"][d], s)
    assert rank_run(fused["q"]) == ["b", "c", "a", "d"]


def test_rrf_uses_ranks_not_scores():
    scaled = {"q": {d: 1000 * s - 7 for d, s in RUN_B["q"].items()}}   # same order, other scale
    assert R.rrf([RUN_A, scaled]) == R.rrf([RUN_A, RUN_B])


def test_rrf_top_k_and_queries():
    fused = R.rrf([RUN_A, RUN_B, {"other": {"x": 1.0}}], k=0, top=2)
    assert list(fused) == ["other", "q"]
    assert list(fused["q"]) == ["b", "a"]                      # the two best, best first
    assert math.isclose(fused["q"]["b"], 1 / 2 + 1 / 1)        # k=0: plain reciprocal ranks, so a
    assert math.isclose(fused["q"]["a"], 1 / 1)                # single first place (1) beats c's 1/3 + 1/2
    assert fused["other"] == {"x": 1.0}


def test_rrf_of_one_run_keeps_its_order():
    fused = R.rrf([RUN_A])
    assert rank_run(fused["q"]) == rank_run(RUN_A["q"])


def test_rrf_ties_follow_trec_eval_rule():
    tied = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}             # rank_run orders ties by doc id, decreasing
    fused = R.rrf([tied], k=60)
    assert math.isclose(fused["q"]["c"], 1 / 61) and math.isclose(fused["q"]["a"], 1 / 63)


# ---- MaxSim ------------------------------------------------------------------------------------

def test_maxsim_by_hand():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    d = np.array([[2.0, 0.0], [1.0, 1.0]])          # lengths do not matter: rows are normalised
    assert math.isclose(R.maxsim(q, d), 1.0 + 1 / math.sqrt(2))
    assert math.isclose(R.maxsim(q, d[:1]), 1.0 + 0.0)


def test_maxsim_is_not_symmetric():
    q = np.array([[1.0, 0.0]])
    d = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert R.maxsim(q, d) == 1.0 and R.maxsim(d, q) == 1.0 + 0.0
    assert math.isclose(R.maxsim(d, q[:, ::-1]), 1.0)


def test_maxsim_agrees_with_sentence_transformers():
    from sentence_transformers.util import maxsim as st_maxsim

    rng = np.random.default_rng(0)
    queries = [rng.normal(size=(n, 8)) for n in (3, 5)]
    docs = [rng.normal(size=(n, 8)) for n in (4, 7, 2)]
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in queries + docs]
    lib = st_maxsim([t.astype(np.float32) for t in unit[:2]], [t.astype(np.float32) for t in unit[2:]]).numpy()
    ours = np.array([[R.maxsim(q, d) for d in docs] for q in queries])
    assert np.allclose(ours, lib, atol=1e-5)


def test_maxsim_rerank_matches_maxsim_and_keeps_top():
    rng = np.random.default_rng(1)
    doc_tokens = {f"d{i}": rng.normal(size=(rng.integers(1, 6), 4)) for i in range(6)}
    query_tokens = {"q1": rng.normal(size=(3, 4)), "q2": rng.normal(size=(2, 4))}
    first = {"q1": {f"d{i}": float(6 - i) for i in range(6)}, "q2": {"d5": 1.0, "d0": 0.5}}
    out = R.maxsim_rerank(first, query_tokens, doc_tokens, top=4)
    assert set(out["q1"]) == {"d0", "d1", "d2", "d3"}          # the 4 best of the first stage
    for q, scores in out.items():
        for d, s in scores.items():
            assert math.isclose(s, R.maxsim(query_tokens[q], doc_tokens[d]), rel_tol=1e-5)


def test_maxsim_rerank_missing_vectors():
    with pytest.raises(ValueError, match="doc_tokens"):
        R.maxsim_rerank({"q": {"x": 1.0}}, {"q": np.ones((1, 2))}, {"y": np.ones((1, 2))})
    with pytest.raises(ValueError, match="query_tokens"):
        R.maxsim_rerank({"q": {"x": 1.0}}, {"p": np.ones((1, 2))}, {"x": np.ones((1, 2))})


def test_maxsim_errors():
    with pytest.raises(ValueError, match="query_tokens"):
        R.maxsim(np.ones(3), np.ones((2, 3)))                    # 1-D: not a set of token vectors
    with pytest.raises(ValueError, match="dimension"):
        R.maxsim(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="zero token vector"):
        R.maxsim(np.ones((2, 3)), np.zeros((1, 3)))


# ---- dense -------------------------------------------------------------------------------------

def test_dense_run_by_hand():
    docs = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    queries = np.array([[2.0, 0.0], [0.0, 1.0]])
    run = R.dense_run(queries, docs, ["x", "y"], ["d1", "d2", "d3"], k=2)
    assert list(run["x"]) == ["d1", "d3"] and math.isclose(run["x"]["d1"], 1.0)
    assert math.isclose(run["x"]["d3"], 1 / math.sqrt(2))
    assert list(run["y"]) == ["d2", "d3"]
    raw = R.dense_run(queries, docs, ["x", "y"], ["d1", "d2", "d3"], k=3, normalize=False)
    assert raw["y"] == {"d2": 3.0, "d3": 1.0, "d1": 0.0}


def test_dense_run_ties_at_the_cut():
    docs = np.ones((5, 3))                                       # every document scores the same
    run = R.dense_run(np.ones((1, 3)), docs, ["q"], ["a", "b", "c", "d", "e"], k=2)
    assert list(run["q"]) == ["e", "d"]                          # trec_eval's tie rule: id, decreasing
    assert R.dense_run(np.ones((1, 3)), docs, ["q"], list("abcde"), k=50)["q"].keys() == set("abcde")


def test_dense_run_agrees_with_similarity_rank():
    from course_utils.similarity import rank

    rng = np.random.default_rng(2)
    docs, q = rng.normal(size=(30, 5)), rng.normal(size=(1, 5))
    run = R.dense_run(q, docs, ["q"], list(range(30)), k=10)
    order, _ = rank(q[0], docs, "cosine", k=10)
    assert list(run["q"]) == order.tolist()


def test_dense_run_errors_name_the_argument():
    q, d = np.ones((2, 3)), np.ones((4, 3))
    with pytest.raises(ValueError, match="query_ids"):
        R.dense_run(q, d, ["a"], list("wxyz"))
    with pytest.raises(ValueError, match="doc_ids"):
        R.dense_run(q, d, ["a", "b"], list("wxy"))
    with pytest.raises(ValueError, match="doc_ids"):
        R.dense_run(q, d, ["a", "b"], list("wxyy"))
    with pytest.raises(ValueError, match="dimension"):
        R.dense_run(q, np.ones((4, 5)), ["a", "b"], list("wxyz"))
    with pytest.raises(TypeError, match="k"):
        R.dense_run(q, d, ["a", "b"], list("wxyz"), k=2.5)


# ---- BM25 --------------------------------------------------------------------------------------

CORPUS = {"d7": "the wing stalls at high angle of attack",
          "d3": "heat transfer in a laminar boundary layer",
          "d10": "boundary layer transition on a flat plate wing",
          "d1": "",
          "d5": "supersonic flow around a cone"}
QUERIES = {"1": "boundary layer on a wing", "2": "cone in supersonic flow", "3": "zebra"}


def bm25_by_hand(corpus, query, k1=1.5, b=0.75):
    """Lucene's BM25 from its formula, for the tokens bm25s produces."""
    import bm25s

    docs = bm25s.tokenize(list(corpus.values()), stopwords="en", return_ids=False, show_progress=False)
    terms = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
    out = {}
    for doc_id, toks in zip(corpus, docs):
        s = 0.0
        for t in terms:
            df = sum(t in d for d in docs)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = toks.count(t)
            s += idf * tf / (tf + k1 * (1 - b + b * len(toks) / avgdl))
        out[doc_id] = s
    return out


def test_bm25_run_maps_rows_back_to_doc_ids():
    run = R.bm25_run(CORPUS, QUERIES, k=10)
    assert set(run) == {"1", "2", "3"}
    assert list(run["2"]) == ["d5"]                       # the only document with "cone"
    assert run["3"] == {}                                  # no known word: nothing retrieved
    assert set(run["1"]) == {"d3", "d10", "d7"}           # zero-score documents are left out
    assert rank_run(run["1"])[0] == "d10"


def test_bm25_scores_match_the_formula():
    index = R.bm25_index(CORPUS)
    for q in QUERIES.values():
        by_hand = bm25_by_hand(CORPUS, q)
        ours = dict(zip(index.doc_ids, index.scores(q)))
        for d in CORPUS:
            assert math.isclose(ours[d], by_hand[d], rel_tol=1e-5, abs_tol=1e-6)


def test_bm25_run_agrees_with_bm25s_retrieve():
    import bm25s

    index = R.bm25_index(CORPUS)
    tokens = bm25s.tokenize([QUERIES["1"]], stopwords="en", return_ids=False, show_progress=False)
    docs, scores = index.retriever.retrieve(tokens, corpus=index.doc_ids, k=3, show_progress=False)
    ours = R.bm25_run(CORPUS, QUERIES, k=3)["1"]
    assert dict(zip(docs[0].tolist(), scores[0].tolist())) == pytest.approx(ours)


def test_bm25_search_and_k():
    index = R.bm25_index(CORPUS)
    hits = index.search("boundary layer", k=1)
    assert len(hits) == 1 and hits[0][0] in {"d3", "d10"}
    assert len(R.bm25_run(CORPUS, QUERIES, k=1)["1"]) == 1
    assert len(index) == len(CORPUS) and "BM25Index(5 documents" in repr(index)


def test_bm25_integer_ids_and_stopwords():
    corpus = {10: "the cat", 20: "the dog", 30: "a bird"}
    run = R.bm25_run(corpus, {1: "the dog"}, stopwords=None)
    assert rank_run(run[1])[0] == 20 and 10 in run[1]     # "the" counts when stop words are kept
    assert list(R.bm25_run(corpus, {1: "the dog"})[1]) == [20]


def test_bm25_errors_name_the_argument():
    with pytest.raises(TypeError, match="corpus"):
        R.bm25_run(["a text"], QUERIES)
    with pytest.raises(TypeError, match="queries"):
        R.bm25_run(CORPUS, "boundary layer")
    with pytest.raises(ValueError, match="corpus"):
        R.bm25_run({}, QUERIES)
    with pytest.raises(ValueError, match="method"):
        R.bm25_index(CORPUS, method="bm26")
    with pytest.raises(ValueError, match="k1"):
        R.bm25_index(CORPUS, k1=-1.0)
    with pytest.raises(TypeError, match="query"):
        R.bm25_index(CORPUS).scores(["boundary"])


def test_every_bad_argument_is_named_at_once():
    with pytest.raises(TypeError) as err:
        R.bm25_run(None, None, k="10")
    assert all(name in str(err.value) for name in ("`corpus`", "`queries`", "`k`"))


# ---- runs into a table ---------------------------------------------------------------------------

def test_compare_runs_matches_evaluate():
    qrels = {"q": {"a": 2, "d": 1, "z": 0}}
    table = R.compare_runs(qrels, {"A": RUN_A, "B": RUN_B}, ["ndcg@10", "map"])
    assert list(table.index) == ["A", "B"] and list(table.columns) == ["ndcg@10", "map"]
    assert table.loc["B", "map"] == evaluate(qrels, RUN_B, ["map"])["map"]
    with pytest.raises(TypeError, match="runs"):
        R.compare_runs(qrels, [RUN_A])
    with pytest.raises(ValueError, match="runs"):
        R.rrf([])
    with pytest.raises(ValueError, match=r"runs\[1\]"):
        R.rrf([RUN_A, {"q": {"x": float("nan")}}])


def test_import_has_no_side_effects():
    import subprocess
    import sys

    code = "import sys, course_utils.retrieval; print('bm25s' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_bm25_index_tokenize_is_the_index_tokenizer():
    index = R.bm25_index(CORPUS)
    words = index.tokenize(["The shock waves of the wings"])
    assert words == [w for w in words]  # a list of lists
    assert "the" not in words[0] and "shock" in words[0]      # bm25s's English stop words are dropped
    scores = index.scores("shock")
    assert scores.shape == (len(CORPUS),)
    with pytest.raises(TypeError, match="texts"):
        index.tokenize("a single string")


# ---- rerank ------------------------------------------------------------------------------------

FIRST = {"q1": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0, "e": 1.0}, "q2": {"x": 2.0, "y": 1.0}}
SECOND = {"q1": {"a": 0.1, "b": 0.9, "c": 0.5, "d": 9.0, "e": 8.0}, "q2": {"x": -1.0, "y": 3.0}}


def test_rerank_reorders_the_top_k_and_keeps_the_rest_in_order():
    out = R.rerank(FIRST, SECOND, k=3)
    assert rank_run(out["q1"]) == ["b", "c", "a", "d", "e"]     # d, e have high new scores but were not rescored
    assert out["q1"]["b"] == 0.9 and out["q1"]["c"] == 0.5 and out["q1"]["a"] == 0.1
    assert max(out["q1"]["d"], out["q1"]["e"]) < 0.1             # the tail sits below every rescored document
    assert rank_run(out["q2"]) == ["y", "x"]                      # fewer candidates than k: all rescored


def test_rerank_with_a_function_equals_stored_scores():
    calls = []

    def score(qid, docs):
        calls.append((qid, tuple(docs)))
        return [SECOND[qid][d] for d in docs]

    assert R.rerank(FIRST, score, k=3) == R.rerank(FIRST, SECOND, k=3)
    assert calls == [("q1", ("a", "b", "c")), ("q2", ("x", "y"))]   # only the top k, best first, once per query


def test_rerank_keep_rest_false_and_k_beyond_the_run():
    assert R.rerank(FIRST, SECOND, k=2, keep_rest=False) == {"q1": {"b": 0.9, "a": 0.1}, "q2": {"y": 3.0, "x": -1.0}}
    full = R.rerank(FIRST, SECOND, k=100)
    assert rank_run(full["q1"]) == ["d", "e", "b", "c", "a"]


def test_rerank_cannot_change_recall_at_the_first_stage_depth():
    qrels = {"q1": {"d": 1, "e": 1}, "q2": {"y": 1}}
    for k in (1, 2, 3, 5):
        out = R.rerank(FIRST, SECOND, k=k)
        assert evaluate(qrels, out, ["recall@5"]) == evaluate(qrels, FIRST, ["recall@5"])
    assert evaluate(qrels, R.rerank(FIRST, SECOND, k=5), ["ndcg@2"])["ndcg@2"] == 1.0


def test_rerank_ties_and_large_scores():
    out = R.rerank({"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q": {"a": 1e300, "b": 1e300}}, k=2)
    assert rank_run(out["q"]) == ["b", "a", "c"]                 # a tie is ordered as rank_run orders ties
    assert out["q"]["c"] < 1e300


def test_rerank_errors_name_the_argument():
    with pytest.raises(ValueError, match="`run` is empty"):
        R.rerank({}, SECOND)
    with pytest.raises(ValueError, match=r"`run\['q'\]` is an empty candidate list"):
        R.rerank({"q": {}}, SECOND)
    for k in (0, -3):
        with pytest.raises(ValueError, match="`k` must be >= 1"):
            R.rerank(FIRST, SECOND, k=k)
    with pytest.raises(ValueError, match=r"`run\['q1'\]` holds document 'e', which is not in `corpus`"):
        R.rerank(FIRST, SECOND, corpus={"a": "", "b": "", "c": "", "d": "", "x": "", "y": ""})
    with pytest.raises(ValueError, match="not in `corpus`"):
        R.rerank(FIRST, SECOND, corpus=["a", "b"])
    assert R.rerank(FIRST, SECOND, k=2, corpus=set("abcdexy")) == R.rerank(FIRST, SECOND, k=2)
    with pytest.raises(ValueError, match=r"`scores\['q1'\]` lacks document 'c'"):
        R.rerank(FIRST, {"q1": {"a": 1.0, "b": 2.0}, "q2": SECOND["q2"]}, k=3)
    with pytest.raises(ValueError, match="`scores` has no entry for query 'q2'"):
        R.rerank(FIRST, {"q1": SECOND["q1"]})
    with pytest.raises(ValueError, match="`scores` returned 1 numbers"):
        R.rerank(FIRST, lambda q, ds: [1.0])
    with pytest.raises(ValueError, match="NaN"):
        R.rerank(FIRST, lambda q, ds: [float("nan")] * len(ds))
    with pytest.raises(TypeError, match="`scores` must be a function"):
        R.rerank(FIRST, [1.0, 2.0])
    with pytest.raises(TypeError, match="`corpus`"):
        R.rerank(FIRST, SECOND, corpus="abc")
    with pytest.raises(TypeError) as info:                      # every wrong argument is named at once
        R.rerank({"q": {"a": "x"}}, 3, k="2")
    assert all(f"`{name}" in str(info.value) for name in ("run[", "scores`", "k`"))
