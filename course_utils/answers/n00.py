"""The exercises of ``00_course_tour``: the demo check, a prediction, two values and a function."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..similarity import cosine, cosine_matrix

#: The candidates of exercise 00.1, numbered as the notebook shows them.
CLOSEST_QUERY = "A man is playing a guitar."
CLOSEST_OPTIONS = ("A man is playing football.", "Someone is strumming an instrument.", "A woman is slicing an onion.")


def _closest(model, query: str = CLOSEST_QUERY, options=CLOSEST_OPTIONS) -> int:
    """The number of the option whose embedding has the highest cosine with the query's."""
    emb = model.encode([query, *options])
    return int(np.argmax(cosine_matrix(emb[:1], emb[1:])[0]))


def _two_sentences(model) -> float:
    emb = model.encode(["I love my dog.", "I adore my puppy."])
    return float(cosine(emb[0], emb[1]))


def _most_similar(query, candidates) -> int:
    """Index of the row of ``candidates`` (n, dim) with the highest cosine with ``query`` (dim,)."""
    return int(np.argmax(cosine_matrix(np.asarray(query, dtype=float)[None, :], candidates)[0]))


def _most_similar_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        n, dim = int(rng.integers(3, 9)), int(rng.integers(2, 12))
        # rows of very different lengths: a dot product and a cosine disagree on them
        candidates = rng.normal(size=(n, dim)) * rng.uniform(0.1, 10, size=(n, 1))
        cases.append((rng.normal(size=dim), candidates))
    return cases


register(
    Exercise("00.0", "2 + 2", hint="Count on your fingers.", expected=lambda: 4),
    Exercise("00.1", "the sentence closest to 'A man is playing a guitar.'", expected=_closest,
             choices=tuple(range(len(CLOSEST_OPTIONS)))),
    Exercise("00.2", "cosine of two sentences", expected=_two_sentences,
             hint="Encode both sentences in one call, then cosine(emb[0], emb[1])."),
    Exercise("00.3", "pairs scored >= 4", expected=lambda sts: int((sts["score"] >= 4).sum()),
             hint="Compare the `score` column with 4 and count the True values."),
    Exercise("00.4", "the most similar row", reference=_most_similar, cases=_most_similar_cases,
             edge_cases=(("integers", ([1, 0], [[0, 1], [3, 1], [1, 1]])),
                         ("one candidate", ([0.5, 0.5], [[1.0, -2.0]])),
                         ("a long row that points elsewhere", ([1.0, 0.0], [[0.9, 0.1], [100.0, 90.0]]))),
             hint="Score every row with cosine_matrix(query[None, :], candidates)[0] (a dot product would favour "
                  "long rows), then np.argmax."),
)
