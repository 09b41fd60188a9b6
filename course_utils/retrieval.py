"""Building blocks of a search system: BM25 and dense runs, late interaction, rank fusion.

Introduced in ``05_sentence_embeddings_and_search``; used again by ``06`` (training) and ``10``
(evaluation). Every function returns or takes a *run* in the format of
:mod:`course_utils.metrics`: ``{query_id: {doc_id: score}}``, higher is better, so that runs from
BM25, a dense encoder, MaxSim or a fusion of them are scored by the same ``evaluate``.

* :func:`bm25_index` / :func:`bm25_run` wrap the ``bm25s`` library (Lucene's BM25 variant);
* :func:`dense_run` ranks documents by cosine similarity of embeddings;
* :func:`maxsim` and :func:`maxsim_rerank` score late interaction (ColBERT's MaxSim) over
  token vectors;
* :func:`rerank` is the second stage of retrieve-then-rerank: it rescores each query's ``k`` best
  first-stage documents (with a cross-encoder, MaxSim or stored scores) and puts them first;
* :func:`rrf` fuses runs by reciprocal rank (Cormack, Clarke & Büttcher, SIGIR 2009);
* :func:`compare_runs` scores several runs into one table.

Rankings are deterministic: equal scores are ordered as :func:`course_utils.metrics.rank_run`
orders them (trec_eval's rule, doc id in decreasing string order), so a run cut at ``k`` and the
same run evaluated later agree on which documents are in it. Nothing heavy is imported until a
function needs it (``bm25s`` inside :func:`bm25_index`, pandas inside :func:`compare_runs`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from ._checks import (Problems, as_float_array, check_bool, check_callable, check_choice, check_ids, check_int,
                      check_mapping, check_nonzero_rows, check_number, check_run, check_text, check_text_mapping)
from .metrics import _means, _parse_metrics, _rank, _table

__all__ = ["BM25Index", "bm25_index", "bm25_run", "dense_run", "maxsim", "maxsim_rerank", "rerank", "rrf",
           "compare_runs"]


# ---- argument checks (shared helpers in course_utils._checks) --------------------------------

def _token_mapping(x: Any, name: str) -> Mapping:
    return check_mapping(x, name, what="{id: token vectors of shape (n_tokens, dim)}", allow_empty=False)


def _top(scores: np.ndarray, ids: list, k: int, *, positive_only: bool = False) -> dict:
    """The ``k`` best of ``scores`` as {id: score}, ties ordered as ``rank_run`` orders them."""
    keep = np.flatnonzero(scores > 0) if positive_only else np.arange(len(ids))
    if keep.size > k:  # a quick cut that keeps every tie at the border, then the exact order
        border = np.partition(scores[keep], keep.size - k)[keep.size - k]
        keep = keep[scores[keep] >= border]
    candidates = {ids[i]: float(scores[i]) for i in keep}
    return {d: candidates[d] for d in _rank(candidates)[:k]}


# ---- BM25 (sparse) ---------------------------------------------------------------------------

class BM25Index:
    """A BM25 index over a corpus, built with ``bm25s``; see :func:`bm25_index`.

    Attributes
    ----------
    doc_ids : list
        The corpus ids, in the order of the index's rows.
    retriever : bm25s.BM25
        The underlying ``bm25s`` index.
    """

    def __init__(self, retriever: Any, doc_ids: list, tokenize: Callable[[list[str]], list[list[str]]]):
        self.retriever, self.doc_ids, self._tokenize = retriever, doc_ids, tokenize
        self._row = {d: i for i, d in enumerate(doc_ids)}

    def tokenize(self, texts) -> list[list[str]]:
        """The words BM25 sees in each text: the index's own tokenizer (stop words, stemmer) applied."""
        from ._checks import check_texts

        return self._tokenize(check_texts(texts))

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __repr__(self) -> str:
        return f"BM25Index({len(self.doc_ids)} documents, {len(self.retriever.vocab_dict)} terms)"

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query``: shape ``(n_docs,)``, in ``doc_ids`` order.

        Query words that never occur in the corpus are ignored; a query with no known word
        scores every document 0.
        """
        check_text(query, "query")
        token_ids = self.retriever.get_tokens_ids(self._tokenize([query])[0])
        if not token_ids:
            return np.zeros(len(self.doc_ids), dtype=np.float64)
        return np.asarray(self.retriever.get_scores_from_ids(token_ids), dtype=np.float64)

    def search(self, query: str, k: int = 10) -> list[tuple[Any, float]]:
        """The ``k`` best documents for ``query`` as ``[(doc_id, score), ...]``, best first.

        Documents that share no word with the query (score 0) are not returned.
        """
        k = check_int(k, "k", minimum=1)
        top = _top(self.scores(query), self.doc_ids, k, positive_only=True)
        return list(top.items())

    def run(self, queries: Mapping, k: int = 100) -> dict:
        """A run ``{query_id: {doc_id: score}}`` with the ``k`` best documents of each query.

        Documents with score 0 (no query word in common) are left out, as a search engine would.
        """
        with Problems() as problems:
            queries = problems.check(check_text_mapping, queries, "queries", what="query")
            k = problems.check(check_int, k, "k", minimum=1)
        return {qid: _top(self.scores(text), self.doc_ids, k, positive_only=True) for qid, text in queries.items()}


BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


def _check_stopwords(stopwords: Any) -> Any:
    if stopwords is None or isinstance(stopwords, str):
        return stopwords
    if isinstance(stopwords, (list, tuple)) and all(isinstance(w, str) for w in stopwords):
        return list(stopwords)
    raise TypeError(f"`stopwords` must be a language code such as 'en', a list of words, or None; "
                    f"got {type(stopwords).__name__}.")


def bm25_index(corpus: Mapping, *, k1: float = 1.5, b: float = 0.75, method: str = "lucene",
               stopwords: str | list[str] | None = "en", stemmer: Callable | None = None) -> BM25Index:
    """Index ``corpus`` for BM25 search with the ``bm25s`` library.

    Parameters
    ----------
    corpus : dict
        ``{doc_id: text}``; the ids come back in every result (never row numbers).
    k1, b : float
        BM25's term-frequency saturation and length normalisation (``bm25s`` defaults).
    method : str
        ``bm25s`` scoring variant: ``"lucene"`` (default), ``"robertson"``, ``"atire"``,
        ``"bm25l"`` or ``"bm25+"``.
    stopwords : str, list of str or None
        Passed to ``bm25s.tokenize``: ``"en"`` drops bm25s's 33 English stop words.
    stemmer : callable, optional
        E.g. ``Stemmer.Stemmer("english").stemWords`` from PyStemmer; None keeps words whole.

    Returns
    -------
    BM25Index : with ``.scores(query)  # (n_docs,)``, ``.search(query, k)`` and ``.run(queries, k)``.

    Notes
    -----
    Queries go through the same tokenizer as the corpus, with ``return_ids=False``: asking
    ``bm25s.tokenize`` for ids on the queries would number their words in a *new* vocabulary
    that does not match the index's.
    """
    with Problems() as problems:
        corpus = problems.check(check_text_mapping, corpus, "corpus", what="doc")
        k1 = problems.check(check_number, k1, "k1", minimum=0)
        b = problems.check(check_number, b, "b", minimum=0)
        method = problems.check(check_choice, method, "method", BM25_METHODS)
        stopwords = problems.check(_check_stopwords, stopwords)
        stemmer = problems.check(check_callable, stemmer, "stemmer", optional=True,
                                 what="a callable that maps a list of words to their stems, or None")
    import bm25s

    def tokenize(texts: list[str]) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords=stopwords, stemmer=stemmer, return_ids=False, show_progress=False)

    doc_ids = list(corpus)
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(tokenize([corpus[d] for d in doc_ids]), show_progress=False)
    return BM25Index(retriever, doc_ids, tokenize)


def bm25_run(corpus: Mapping, queries: Mapping, k: int = 100, **params) -> dict:
    """BM25 run: the ``k`` best documents of ``corpus`` for each query, ``{qid: {doc_id: score}}``.

    ``params`` go to :func:`bm25_index` (``k1``, ``b``, ``method``, ``stopwords``, ``stemmer``).
    Documents that share no word with a query are left out of its ranking.
    """
    with Problems() as problems:
        problems.check(check_text_mapping, corpus, "corpus", what="doc")
        problems.check(check_text_mapping, queries, "queries", what="query")
        problems.check(check_int, k, "k", minimum=1)
    return bm25_index(corpus, **params).run(queries, k)


# ---- dense -----------------------------------------------------------------------------------

def dense_run(query_emb, doc_emb, query_ids, doc_ids, k: int = 100, *, normalize: bool = True) -> dict:
    """Rank documents by cosine similarity (dot product if ``normalize=False``) of embeddings.

    Parameters
    ----------
    query_emb : array, shape (n_queries, dim)
    doc_emb : array, shape (n_docs, dim)
    query_ids : list of ids, length n_queries (row i of ``query_emb`` is query ``query_ids[i]``)
    doc_ids : list of distinct ids, length n_docs
    k : how many documents to keep per query (at most n_docs)
    normalize : scale rows to unit length first, so that the score is the cosine

    Returns
    -------
    dict : the run ``{query_id: {doc_id: score}}``, ``k`` documents per query.
    """
    with Problems() as problems:
        Q = problems.check(as_float_array, query_emb, "query_emb", ndim=2)
        D = problems.check(as_float_array, doc_emb, "doc_emb", ndim=2)
        qids = problems.check(check_ids, query_ids, "query_ids")
        dids = problems.check(check_ids, doc_ids, "doc_ids")
        k = problems.check(check_int, k, "k", minimum=1)
        normalize = problems.check(check_bool, normalize, "normalize")
    with Problems() as problems:
        if Q.shape[1] != D.shape[1]:
            problems.add(ValueError(f"`query_emb` has dimension {Q.shape[1]} but `doc_emb` has {D.shape[1]}; "
                                    "encode queries and documents with the same model."))
        if len(qids) != Q.shape[0]:
            problems.add(ValueError(f"`query_ids` has {len(qids)} ids for {Q.shape[0]} rows of `query_emb`."))
        if len(dids) != D.shape[0]:
            problems.add(ValueError(f"`doc_ids` has {len(dids)} ids for {D.shape[0]} rows of `doc_emb`."))
    if normalize:
        from .similarity import normalize as unit

        Q, D = unit(Q), unit(D)
    scores = Q @ D.T                                   # (n_queries, n_docs)
    k = min(k, len(dids))
    return {q: _top(scores[i], dids, k) for i, q in enumerate(qids)}


# ---- late interaction (multi-vector) ---------------------------------------------------------

def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    return x / check_nonzero_rows(x, name, why="a zero token vector has no cosine")[:, None]


def maxsim(query_tokens, doc_tokens) -> float:
    """Late-interaction score of one query and one document (ColBERT's MaxSim).

    Each query token finds its most similar document token (cosine); the score is the sum of
    those best matches over the query tokens.

    Parameters
    ----------
    query_tokens : array, shape (n_query_tokens, dim)
    doc_tokens : array, shape (n_doc_tokens, dim)

    Returns
    -------
    float : between ``-n_query_tokens`` and ``n_query_tokens``.
    """
    with Problems() as problems:
        q = problems.check(as_float_array, query_tokens, "query_tokens", ndim=2)
        d = problems.check(as_float_array, doc_tokens, "doc_tokens", ndim=2)
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"`query_tokens` has dimension {q.shape[1]} but `doc_tokens` has {d.shape[1]}; "
                         "take both from the same model.")
    q, d = _unit_rows(q, "query_tokens"), _unit_rows(d, "doc_tokens")
    return float((q @ d.T).max(axis=1).sum())


def maxsim_rerank(run: Mapping, query_tokens: Mapping, doc_tokens: Mapping, top: int = 100) -> dict:
    """Rescore the ``top`` documents of each query of ``run`` with :func:`maxsim`.

    Scoring all documents token by token is expensive; re-ranking a first-stage run (BM25 or a
    dense encoder) is how late interaction is often used.

    Parameters
    ----------
    run : the first-stage run ``{query_id: {doc_id: score}}``
    query_tokens : ``{query_id: array (n_query_tokens, dim)}``
    doc_tokens : ``{doc_id: array (n_doc_tokens, dim)}``
    top : how many of each query's best documents to rescore

    Returns
    -------
    dict : a run with the MaxSim scores of those documents.
    """
    with Problems() as problems:
        run = problems.check(check_run, run, "run")
        query_tokens = problems.check(_token_mapping, query_tokens, "query_tokens")
        doc_tokens = problems.check(_token_mapping, doc_tokens, "doc_tokens")
        top = problems.check(check_int, top, "top", minimum=1)
    missing_q = [q for q in run if q not in query_tokens]
    if missing_q:
        raise ValueError(f"`query_tokens` lacks the token vectors of {len(missing_q)} query(ies) of `run`, "
                         f"e.g. {missing_q[0]!r}.")
    unit_docs: dict = {}
    out = {}
    for qid, scores in run.items():
        candidates = _rank(scores)[:top]
        if not candidates:
            out[qid] = {}
            continue
        absent = [d for d in candidates if d not in doc_tokens]
        if absent:
            raise ValueError(f"`doc_tokens` lacks the token vectors of document {absent[0]!r} (in `run` for query {qid!r}).")
        for d in candidates:
            if d not in unit_docs:
                unit_docs[d] = _unit_tokens(doc_tokens[d], f"doc_tokens[{d!r}]")
        q = _unit_tokens(query_tokens[qid], f"query_tokens[{qid!r}]")
        stacked = np.concatenate([unit_docs[d] for d in candidates])            # (sum of n_doc_tokens, dim)
        if stacked.shape[1] != q.shape[1]:
            raise ValueError(f"query {qid!r} has token vectors of dimension {q.shape[1]} but documents have "
                             f"{stacked.shape[1]}; take both from the same model.")
        starts = np.cumsum([0] + [len(unit_docs[d]) for d in candidates[:-1]])
        best = np.maximum.reduceat(stacked @ q.T, starts, axis=0)              # (n_candidates, n_query_tokens)
        out[qid] = {d: float(s) for d, s in zip(candidates, best.sum(axis=1, dtype=np.float64))}
    return out


def _unit_tokens(x: Any, name: str) -> np.ndarray:
    """Checked, unit-length token vectors as float32 (half the memory of float64, BLAS-fast)."""
    return _unit_rows(as_float_array(x, name, ndim=2), name).astype(np.float32)

# ---- retrieve, then rerank -------------------------------------------------------------------

def _candidates(run: dict, corpus: Any) -> dict:
    """Each query's ranked first-stage list, checked: not empty, and every id in ``corpus`` if given."""
    if not run:
        raise ValueError("`run` is empty; pass the first-stage run {query_id: {doc_id: score}} to rerank.")
    out = {}
    for qid, scores in run.items():
        if not scores:
            raise ValueError(f"`run[{qid!r}]` is an empty candidate list: the first stage found nothing to rerank "
                             "for this query. Leave the query out, or retrieve deeper.")
        ranked = _rank(scores)
        stray = None if corpus is None else next((d for d in ranked if d not in corpus), None)
        if stray is not None:
            raise ValueError(f"`run[{qid!r}]` holds document {stray!r}, which is not in `corpus`; the run and the "
                             "corpus must use the same document ids.")
        out[qid] = ranked
    return out


def _check_corpus(corpus: Any) -> Any:
    if corpus is None or isinstance(corpus, Mapping):
        return corpus
    return set(check_ids(corpus, "corpus", unique=False))


def _second_stage(scores: Any) -> Any:
    if callable(scores):
        return scores
    if isinstance(scores, Mapping):
        return check_run(scores, "scores")
    raise TypeError(f"`scores` must be a function scores(query_id, doc_ids) -> one number per doc id, or stored "
                    f"scores {{query_id: {{doc_id: score}}}}; got {type(scores).__name__}.")


def _new_scores(scores: Any, qid: Any, docs: list) -> list[float]:
    """The second stage's scores of ``docs`` for query ``qid``, checked."""
    if isinstance(scores, Mapping):
        have = scores.get(qid)
        if have is None:
            raise ValueError(f"`scores` has no entry for query {qid!r}; it needs a score for each of its "
                             f"{len(docs)} candidates.")
        missing = next((d for d in docs if d not in have), None)
        if missing is not None:
            raise ValueError(f"`scores[{qid!r}]` lacks document {missing!r}, one of the query's candidates.")
        return [float(have[d]) for d in docs]
    got = scores(qid, list(docs))
    try:
        values = np.asarray(got, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"`scores` returned {type(got).__name__} for query {qid!r}; it must return one number per "
                        "doc id.") from None
    if values.size != len(docs):
        raise ValueError(f"`scores` returned {values.size} numbers for the {len(docs)} candidates of query {qid!r}; "
                         "it must return one per doc id, in their order.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"`scores` returned NaN or infinite values for query {qid!r}.")
    return values.tolist()


def rerank(run: Mapping, scores, k: int = 100, *, corpus=None, keep_rest: bool = True) -> dict:
    """Retrieve, then rerank: rescore the ``k`` best first-stage documents of each query and put them first.

    Introduced in ``08_retrieve_and_rerank``. A fast first stage (BM25, a bi-encoder) finds
    candidates in the whole collection; a slower, more precise second stage (a cross-encoder,
    MaxSim over token vectors) scores only those candidates.

    Parameters
    ----------
    run : the first-stage run ``{query_id: {doc_id: score}}``; every query needs at least one candidate
    scores : the second stage, either

        * a function ``scores(query_id, doc_ids) -> sequence of floats``, one per doc id, higher is
          better (e.g. ``lambda q, ds: model.predict([(queries[q], corpus[d]) for d in ds])``), or
        * stored scores ``{query_id: {doc_id: score}}`` holding each of those candidates.
    k : how many of each query's best first-stage documents to rescore (a query with fewer keeps all)
    corpus : optional; the documents (a dict ``{doc_id: text}`` or a list of ids). When given, every
        document of ``run`` must be in it.
    keep_rest : after the ``k`` rescored documents, keep the rest of the first-stage ranking in its
        order (default); False returns the ``k`` rescored documents only.

    Returns
    -------
    dict : a run. The rescored documents carry their new scores; those kept after them get scores
    below the lowest new one, in first-stage order. With ``keep_rest`` each query keeps the same
    documents, so Recall at the first stage's depth cannot change: reranking reorders what the
    first stage found; it never finds more.

    Raises
    ------
    ValueError : an empty ``run`` or candidate list, ``k`` < 1, a document missing from ``corpus``
        or from stored ``scores``; each message names the argument.
    """
    with Problems() as problems:
        run = problems.check(check_run, run, "run")
        scores = problems.check(_second_stage, scores)
        k = problems.check(check_int, k, "k", minimum=1)
        corpus = problems.check(_check_corpus, corpus)
        keep_rest = problems.check(check_bool, keep_rest, "keep_rest")
        problems.raise_if_any()
        candidates = problems.check(_candidates, run, corpus)
    out = {}
    for qid, ranked in candidates.items():
        top = ranked[:k]
        new = dict(zip(top, _new_scores(scores, qid, top)))
        if keep_rest:
            floor = min(new.values())
            step = max(1.0, abs(floor))            # strictly below the lowest new score, whatever its scale
            for i, d in enumerate(ranked[len(top):], start=1):
                new[d] = floor - i * step
        out[qid] = {d: new[d] for d in _rank(new)}
    return out


# ---- fusion ----------------------------------------------------------------------------------

def rrf(runs: Sequence[Mapping], k: int = 60, top: int = 100) -> dict:
    """Reciprocal rank fusion of several runs (Cormack, Clarke & Buettcher, 2009).

    Each document gets ``sum over runs of 1 / (k + rank)``, with ``rank`` its 1-based position in
    that run (a run that does not retrieve it adds nothing). Only ranks matter, so runs whose
    scores live on different scales (BM25, cosine, MaxSim) fuse without any calibration.

    Parameters
    ----------
    runs : list of runs ``{query_id: {doc_id: score}}``; each is ranked with
        :func:`course_utils.metrics.rank_run` (score, then trec_eval's tie rule)
    k : the smoothing constant; 60 in the paper. Larger ``k`` flattens the bonus of top ranks.
    top : how many fused documents to keep per query

    Returns
    -------
    dict : the fused run, for every query found in any of ``runs``.
    """
    with Problems() as problems:
        checked = problems.check(_check_runs, runs)
        k = problems.check(check_int, k, "k", minimum=0)
        top = problems.check(check_int, top, "top", minimum=1)
    queries = sorted({q for r in checked for q in r}, key=str)
    fused = {}
    for q in queries:
        total: dict = {}
        for r in checked:
            for rank, d in enumerate(_rank(r.get(q, {})), start=1):
                total[d] = total.get(d, 0.0) + 1.0 / (k + rank)
        fused[q] = {d: total[d] for d in _rank(total)[:top]}
    return fused


def _check_runs(runs: Any) -> list[dict]:
    if isinstance(runs, (Mapping, str, bytes)) or not isinstance(runs, Sequence):
        raise TypeError(f"`runs` must be a list of runs (dicts {{query_id: {{doc_id: score}}}}); "
                        f"got {type(runs).__name__}. One run: rrf([run]).")
    if not runs:
        raise ValueError("`runs` is empty; pass at least one run.")
    return [check_run(r, f"runs[{i}]") for i, r in enumerate(runs)]


# ---- scoring ---------------------------------------------------------------------------------

def compare_runs(qrels: Mapping, runs: Mapping, metrics: Sequence[str] = ("ndcg@10", "recall@100", "map")):
    """One row per run, one column per metric: a pandas DataFrame (means over queries).

    Parameters
    ----------
    qrels : ``{query_id: {doc_id: grade}}``
    runs : ``{name: run}``, e.g. ``{"BM25": bm25, "dense": dense}``; rows keep this order
    metrics : names understood by :func:`course_utils.metrics.evaluate`
    """
    with Problems() as problems:
        qrels = problems.check(check_run, qrels, "qrels", what="grade")
        runs = problems.check(check_mapping, runs, "runs", what="{name: run}", allow_empty=False)
        if isinstance(metrics, str) or not isinstance(metrics, Sequence):
            problems.add(TypeError(f"`metrics` must be a list of metric names such as ['ndcg@10']; got {type(metrics).__name__}."))
        else:
            parsed = problems.check(_parse_metrics, metrics)
    with Problems() as problems:
        runs = {name: problems.check(check_run, r, f"runs[{name!r}]") for name, r in runs.items()}
    import pandas as pd

    rows = {name: _means(_table(qrels, r, parsed, "ignore", 1)) for name, r in runs.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[list(metrics)]
