"""The exercises of ``05_sentence_embeddings_and_search``: three functions, a value, two predictions."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..metrics import evaluate
from ..retrieval import maxsim, rrf


# ---- 05.1 MaxSim from scratch ------------------------------------------------------------------

def _maxsim(query_tokens, doc_tokens) -> float:
    return maxsim(query_tokens, doc_tokens)


def _maxsim_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        n_q, n_d, dim = int(rng.integers(1, 12)), int(rng.integers(1, 40)), int(rng.integers(2, 24))
        # token vectors of very different lengths: MaxSim compares directions (cosines), not lengths
        q = rng.normal(size=(n_q, dim)) * rng.uniform(0.1, 10, size=(n_q, 1))
        d = rng.normal(size=(n_d, dim)) * rng.uniform(0.1, 10, size=(n_d, 1))
        cases.append((q, d))
    return cases


# ---- 05.2 reciprocal rank fusion from scratch --------------------------------------------------

def _rrf(rankings, k=60) -> dict:
    """RRF scores ``{doc: score}`` of ranked lists (best first), through course_utils.retrieval.rrf."""
    runs = [{"q": {doc: float(len(ranking) - i) for i, doc in enumerate(ranking)}} for ranking in rankings]
    return rrf(runs, k=k, top=10**9).get("q", {})


def _rrf_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    docs = [str(i) for i in range(1, 30)]
    for _ in range(5):
        n_runs = int(rng.integers(2, 5))
        rankings = [[str(d) for d in rng.choice(docs, int(rng.integers(1, 12)), replace=False)] for _ in range(n_runs)]
        cases.append((rankings, int(rng.choice([0, 1, 10, 60]))))
    return cases


# ---- 05.4 Recall@k from scratch ----------------------------------------------------------------

def _recall(ranking, judgments, k) -> float:
    """Recall@k as trec_eval counts it: relevant = grade >= 1; no relevant document scores 0."""
    run = {"q": {doc: float(len(ranking) - i) for i, doc in enumerate(ranking)}}
    return evaluate({"q": dict(judgments)}, run, [f"recall@{k}"])[f"recall@{k}"]


def _recall_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    docs = [str(i) for i in range(1, 60)]
    for _ in range(5):
        ranking = [str(d) for d in rng.choice(docs, int(rng.integers(5, 40)), replace=False)]
        judged = [str(d) for d in rng.choice(docs, int(rng.integers(3, 25)), replace=False)]
        judgments = {doc: int(rng.integers(0, 5)) for doc in judged}   # grades 0 (not relevant) to 4
        judgments[judged[0]] = 3                                  # at least one relevant document
        cases.append((ranking, judgments, int(rng.choice([1, 5, 10, 20, 100]))))
    return cases


def _best(scores) -> str:
    """The name with the highest score in ``{name: score}``."""
    return max(scores, key=scores.get)


#: The three E5 prefix settings of exercise 05.5, named as notebook 05 names them.
PREFIX_SETTINGS = ("as trained", "query instruction removed", "query: on both sides")

register(
    Exercise("05.1", "MaxSim from scratch", reference=_maxsim, cases=_maxsim_cases,
             edge_cases=(("one token on each side", (np.array([[1.0, 2.0, 2.0]]), np.array([[2.0, 1.0, -2.0]]))),
                         ("integer token vectors", (np.array([[1, 0], [0, 2]]), np.array([[3, 1], [1, 1], [0, 5]]))),
                         ("float32 token vectors", (np.ones((3, 4), dtype=np.float32),
                                                    np.arange(8, dtype=np.float32).reshape(2, 4) + 1)),
                         ("a zero token vector (no direction, no cosine)", (np.array([[0.0, 0.0], [1.0, 0.0]]),
                                                                           np.array([[1.0, 1.0]]))),
                         ("query and document from different models (4 vs 3 dimensions)",
                          (np.ones((2, 4)), np.ones((5, 3))))),
             hint="Divide every row by its length (np.linalg.norm(..., axis=1, keepdims=True)) and raise "
                  "ValueError if a row has length 0; Q @ D.T holds every token-pair cosine; take the max of "
                  "each row and sum. Vectors of different dimensions cannot be compared: let the matrix "
                  "product raise its ValueError."),
    Exercise("05.2", "reciprocal rank fusion from scratch", reference=_rrf, cases=_rrf_cases,
             edge_cases=(("a document that only one ranking holds", ([["a", "b", "c"], ["c", "d"]], 60)),
                         ("one ranking alone", ([["x", "y"]], 60)),
                         ("an empty ranking among others", ([["a", "b"], []], 60)),
                         ("k = 0, the top rank weighs 1", ([["a", "b"], ["b", "a"]], 0))),
             hint="Start from an empty dict; for each ranking, for rank, doc in enumerate(ranking, start=1), add "
                  "1 / (k + rank) to that doc's score (scores.get(doc, 0.0) + ...). Return the dict."),
    Exercise("05.3", "bm25s rows to doc ids",
             expected=lambda bm25, query: [doc for doc, _ in bm25.search(query, k=10)],
             hint="Tokenize with bm25s.tokenize([query], stopwords='en', return_ids=False), retrieve with k=10, "
                  "then map each row i of rows[0] to doc_ids[i]."),
    Exercise("05.4", "Recall@k from scratch", reference=_recall, cases=_recall_cases,
             edge_cases=(("k longer than the ranking", (["1", "2"], {"1": 2, "3": 1}, 100)),
                         ("a retrieved document judged not relevant (grade 0)", (["1", "2", "3"], {"1": 0, "2": 4}, 3)),
                         ("a relevant document just below the cut", (["1", "2", "3"], {"3": 1}, 2)),
                         ("no relevant document at all (trec_eval scores 0)", (["1", "2"], {"1": 0}, 10)),
                         ("an empty ranking", ([], {"1": 1}, 10))),
             hint="relevant = {d for d, g in judgments.items() if g >= 1}; count those among ranking[:k] and divide "
                  "by len(relevant), returning 0.0 when there is no relevant document."),
    Exercise("05.5", "the E5 prefix setting that ranks titles best", expected=_best, choices=PREFIX_SETTINGS),
    Exercise("05.6", "RRF of the dense and the BM25 run beats both on nDCG@10",
             expected=lambda fused, dense, bm25: bool(fused > max(dense, bm25)), choices=(True, False)),
)
