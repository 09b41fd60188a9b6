"""Exercises of ``12_choosing_a_model``: two functions written from scratch, a cost, one prediction.

* ``12.1``: the Pareto front of models scored on quality and cost;
* ``12.2``: a long text cut into chunks of a fixed number of words;
* ``12.3``: what it costs to embed a collection through a hosted API, priced from the landscape table;
* ``12.4`` (prediction): how a search does when its queries come from one model and its
  documents from another.
"""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register
from ..selection import chunk_words, load_landscape, pareto_front

MIXED = ("about as good as either model alone", "clearly worse, but far above chance", "no better than chance")


def _points(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n in rng.integers(3, 40, size=4):
        cases.append((rng.uniform(0.2, 0.9, size=n).round(2), rng.uniform(1, 1000, size=n).round(0)))
    q = rng.integers(0, 4, size=12) / 4                      # ties on quality and on cost
    cases.append((q, rng.integers(1, 4, size=12).astype(float)))
    return cases


def _texts(rng: np.random.Generator) -> list[tuple]:
    words = np.array("lift drag flow shock wave boundary layer plate cone mach number heat".split())
    cases = []
    for _ in range(5):
        n = int(rng.integers(0, 60))
        text = " ".join(rng.choice(words, size=n))
        if n and rng.random() < 0.5:                          # irregular spacing, as in real abstracts
            text = "  " + text.replace(" ", " \n ", 3) + " "
        cases.append((text, int(rng.integers(1, 15))))
    return cases


def _api_cost(tokens_per_doc: float, n_docs: int) -> float:
    """Dollars to embed ``n_docs`` documents of ``tokens_per_doc`` tokens with text-embedding-3-small."""
    price = float(load_landscape().table.at["text-embedding-3-small", "price_usd_per_1m_tokens"])
    return tokens_per_doc * n_docs / 1e6 * price


def _mixed(own: float, mixed: float, chance: float) -> str:
    """Which of MIXED describes nDCG@10 ``mixed`` beside the model's own ``own`` and a random order's ``chance``."""
    if mixed >= 0.8 * own:
        return MIXED[0]
    return MIXED[2] if mixed <= 2 * chance else MIXED[1]


register(
    Exercise("12.1", "the Pareto front from scratch",
             hint="A point is dominated when another point has quality >= and cost <= it, and is strictly "
                  "better on one of the two. Return the indices of the points nobody dominates, sorted by "
                  "increasing cost (ties: higher quality first), as a NumPy array of integers. Quality and "
                  "cost of different lengths have no answer: raise ValueError.",
             reference=pareto_front, cases=_points,
             edge_cases=(("two identical points", ([0.5, 0.5], [10.0, 10.0])),
                         ("a single point", ([0.3], [1.0])),
                         ("unequal lengths", ([0.5, 0.6], [1.0, 2.0, 3.0])))),
    Exercise("12.2", "chunks of words from scratch",
             hint="text.split() gives the words (any run of spaces or newlines separates them); take them "
                  "size at a time and join each group with one space. A text with no words gives []. "
                  "A size below 1 has no answer: raise ValueError.",
             reference=chunk_words, cases=_texts,
             edge_cases=(("an empty text", ("", 3)), ("a size of zero", ("a b c", 0)),
                         ("a size larger than the text", ("a b c", 10)))),
    Exercise("12.3", "the price of embedding a collection through an API",
             hint="Tokens in all = tokens per document x documents; the price is per million tokens: "
                  "divide by 1e6 and multiply by the price in the landscape table.",
             expected=_api_cost, rtol=1e-3),
    Exercise("12.4", "queries from one model, documents from another", expected=_mixed, choices=MIXED),
)
