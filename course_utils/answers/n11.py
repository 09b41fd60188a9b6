"""Exercises of ``11_vector_search``: recall@k and Hamming search from scratch, int8 search with
rescoring, the memory of a billion-vector index, and a prediction about binary quantization."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..vectordb import recall_at_k


def _id_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n_queries, width, k in ((5, 10, 10), (20, 15, 10), (3, 4, 1), (50, 100, 37)):
        truth = np.stack([rng.permutation(200)[:width] for _ in range(n_queries)])
        found = np.where(rng.random((n_queries, width)) < 0.6, truth[:, rng.permutation(width)],
                         rng.integers(200, 400, (n_queries, width)))
        cases.append((found, truth, k))
    return cases


def hamming_top_k(query_bits, doc_bits, k):
    """The ids of the k rows of ``doc_bits`` nearest to ``query_bits`` in Hamming distance, nearest first.

    ``query_bits`` (n_bytes,) and ``doc_bits`` (n_docs, n_bytes) are packed bits (uint8, as
    ``quantize_embeddings(..., precision="ubinary")`` returns them); ties go to the lower id.
    """
    query_bits, doc_bits = np.asarray(query_bits), np.asarray(doc_bits)
    if query_bits.dtype != np.uint8 or doc_bits.dtype != np.uint8:
        raise TypeError("packed bits must be uint8 arrays")
    if doc_bits.ndim != 2 or query_bits.shape != doc_bits.shape[1:]:
        raise ValueError("query_bits must be (n_bytes,) and doc_bits (n_docs, n_bytes)")
    if not 1 <= k <= len(doc_bits):
        raise ValueError("k must be between 1 and the number of documents")
    distances = np.unpackbits(doc_bits ^ query_bits, axis=1).sum(axis=1)
    return np.argsort(distances, kind="stable")[:k]


def _bit_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n_docs, n_bytes, k in ((30, 4, 5), (200, 48, 10), (10, 1, 10), (500, 7, 40)):
        docs = rng.integers(0, 256, (n_docs, n_bytes), dtype=np.uint8)
        cases.append((rng.integers(0, 256, n_bytes, dtype=np.uint8), docs, k))
    return cases


_TIES = np.array([[0b1111_0000], [0b0000_1111], [0b1111_0000], [0b1100_0000]], dtype=np.uint8)


def _int8_rescore_ndcg(doc_vecs, query_vecs, query_ids, doc_ids, qrels, multiplier=1, k=10):
    """nDCG@10 of int8 search (documents and queries quantized with the documents' ranges) whose
    top k * multiplier are rescored with the full float32 vectors (multiplier 1: the top k reordered)."""
    from sentence_transformers.util.quantization import quantize_embeddings

    from ..metrics import evaluate

    docs8 = quantize_embeddings(doc_vecs, precision="int8", calibration_embeddings=doc_vecs).astype(np.int32)
    queries8 = quantize_embeddings(query_vecs, precision="int8", calibration_embeddings=doc_vecs).astype(np.int32)
    run = {}
    for qid, q8, q in zip(query_ids, queries8, query_vecs):
        shortlist = np.argsort(-(docs8 @ q8), kind="stable")[: k * multiplier]
        scores = doc_vecs[shortlist] @ q
        run[qid] = {doc_ids[i]: float(s) for i, s in zip(shortlist, scores)}
    return evaluate(qrels, run, ["ndcg@10"])["ndcg@10"]


register(
    Exercise(
        "11.1", "recall@k from scratch",
        hint="For each query (row), count how many of its first k found ids are among its first k true "
             "ids (sets help; ignore -1), divide by k, and average over the rows. Raise ValueError when "
             "k is larger than a row.",
        reference=recall_at_k, cases=_id_cases,
        edge_cases=(
            ("a query with no results (-1)", (np.array([[-1, -1, 3]]), np.array([[3, 4, 5]]), 3)),
            ("the same ids in another order", (np.array([[5, 4, 3]]), np.array([[3, 4, 5]]), 3)),
            ("k smaller than the rows", (np.array([[1, 9, 9, 9]]), np.array([[1, 2, 3, 4]]), 1)),
            ("k larger than the rows", (np.array([[1, 2]]), np.array([[1, 2]]), 3)),
        )),
    Exercise(
        "11.2", "Hamming search from scratch",
        hint="XOR the query's bytes with every document's bytes, count the 1 bits per row (np.unpackbits "
             "then sum, or np.bitwise_count), and take the k smallest with a stable sort "
             "(np.argsort(..., kind='stable')) so that ties keep the lower id. Check the inputs first: "
             "TypeError unless both arrays are uint8, ValueError unless 1 <= k <= the number of rows.",
        reference=hamming_top_k, cases=_bit_cases,
        edge_cases=(
            ("ties (rows 0 and 2 are equal)", (np.array([0b1111_0000], dtype=np.uint8), _TIES, 3)),
            ("k equal to the number of documents", (np.array([0b1010_1010], dtype=np.uint8), _TIES, 4)),
            ("k larger than the number of documents", (np.array([0b1010_1010], dtype=np.uint8), _TIES, 5)),
            ("k = 0", (np.array([0b1010_1010], dtype=np.uint8), _TIES, 0)),
            ("documents as int64, not packed uint8 bits", (np.array([0b1010_1010], dtype=np.uint8),
                                                           _TIES.astype(np.int64), 2)),
        )),
    Exercise(
        "11.3", "int8 search, rescored",
        hint="Quantize documents and queries to int8 with calibration_embeddings=doc_vecs, score with the "
             "int8 dot product (cast to int32 or float32 first), keep the 10 best per query, score those 10 "
             "again with the float32 vectors, and evaluate the run with evaluate(qrels, run, ['ndcg@10']).",
        expected=lambda doc_vecs, query_vecs, query_ids, doc_ids, qrels: _int8_rescore_ndcg(
            np.asarray(doc_vecs, dtype=np.float32), np.asarray(query_vecs, dtype=np.float32),
            list(query_ids), list(doc_ids), qrels),
        rtol=1e-4),
    Exercise(
        "11.4", "a billion binary vectors in an HNSW graph",
        hint="Work out what one node of the graph weighs: how many bytes does a 768-dimensional binary code "
             "take, and what does the graph add for each vector (section 5 measured it)? Then scale one node "
             "to a billion and express the bytes in GiB.",
        expected=lambda links_per_vector: 10**9 * (768 / 8 + float(links_per_vector)) / 2**30,
        rtol=1e-3),
    Exercise(  # the recalls are binary search's recall@10 on collections of equal size (1,400 vectors)
        "11.5", "Where does binary quantization keep more?",
        expected=lambda glove_recall, minilm_recall: "MiniLM" if minilm_recall > glove_recall else "GloVe",
        choices=("GloVe", "MiniLM")),
)
