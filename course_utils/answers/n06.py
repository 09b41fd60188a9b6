"""The exercises of ``06_contrastive_learning``: three losses from scratch, a count, two predictions."""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from ..exercises import Exercise, register
from ..losses import multiple_negatives_ranking_loss, nt_xent, triplet_loss


def _tensor(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    """Random embeddings of unequal lengths (a loss on cosines must not depend on them)."""
    x = rng.normal(size=shape) * rng.uniform(0.2, 5.0, size=(*shape[:-1], 1))
    return torch.from_numpy(x).float()


def _batch(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(2, 17)), int(rng.integers(3, 33))


# ---- 06.1 MNRL from scratch ---------------------------------------------------------------------

def _mnrl(anchors, positives, temperature) -> float:
    return multiple_negatives_ranking_loss(anchors, positives, temperature=temperature).item()


def _paired_cases(*temperatures: float):
    """Cases for a loss over two (B, d) batches and a temperature: one random batch per temperature."""
    def cases(rng: np.random.Generator) -> list[tuple]:
        out = []
        for temperature in temperatures:
            b, dim = _batch(rng)
            out.append((_tensor(rng, b, dim), _tensor(rng, b, dim), temperature))
        return out
    return cases


_mnrl_cases = _paired_cases(0.05, 0.1, 1.0)


# ---- 06.2 NT-Xent from scratch ------------------------------------------------------------------

def _nt_xent(views_a, views_b, temperature) -> float:
    return nt_xent(views_a, views_b, temperature=temperature).item()


_nt_xent_cases = _paired_cases(0.05, 0.5, 2.0)


# ---- 06.3 the triplet loss with cosine distance, from scratch ----------------------------------

def _triplet(anchors, positives, negatives, margin) -> float:
    return triplet_loss(anchors, positives, negatives, margin=margin, distance="cosine").item()


def _triplet_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for margin in (0.1, 0.3, 1.0):
        b, dim = _batch(rng)
        cases.append((_tensor(rng, b, dim), _tensor(rng, b, dim), _tensor(rng, b, dim), margin))
    return cases


_E = torch.eye(3)  # three orthogonal unit vectors: every cosine is 0 or 1

register(
    Exercise("06.1", "MNRL from scratch", reference=_mnrl, cases=_mnrl_cases,
             edge_cases=(("one pair: no negative, nothing to learn", (torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, -1.0]]), 0.05)),
                         ("every anchor equal to its positive", (_E, _E.clone(), 0.1)),
                         ("vectors far from length 1", (100 * _E, 0.01 * _E.roll(1, dims=0), 0.5)),
                         ("float64 tensors", (torch.ones(2, 3, dtype=torch.float64), torch.eye(2, 3, dtype=torch.float64), 1.0))),
             hint="Scale every row to length 1 (F.normalize(x, dim=1)); the logits are a @ p.T / temperature; "
                  "row i's right column is i: F.cross_entropy(logits, torch.arange(len(a)))."),
    Exercise("06.2", "NT-Xent from scratch", reference=_nt_xent, cases=_nt_xent_cases,
             edge_cases=(("one pair: each vector's only candidate is its partner", (torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), 0.5)),
                         ("vectors far from length 1", (100 * _E, 0.01 * _E.roll(1, dims=0), 0.5)),
                         ("both views identical", (_E, _E.clone(), 0.05))),
             hint="z = F.normalize(torch.cat([a, b]), dim=1); logits = z @ z.T / temperature with the diagonal set "
                  "to -inf (a vector is not its own candidate); for B pairs, row i's target is i + B for i < B, "
                  "i - B otherwise; F.cross_entropy averages over all 2B rows."),
    Exercise("06.3", "the triplet loss with cosine distance, from scratch", reference=_triplet, cases=_triplet_cases,
             edge_cases=(("margin 0", (_E, _E.roll(1, dims=0), _E.roll(2, dims=0), 0.0)),
                         ("positive identical to the anchor", (_E, _E.clone(), _E.roll(1, dims=0), 0.3)),
                         ("negative closer than the positive", (_E, _E.roll(1, dims=0), _E.clone(), 0.3)),
                         ("vectors far from length 1", (100 * _E, 0.01 * _E.roll(1, dims=0), 3 * _E, 0.5))),
             hint="Cosine distance is 1 - F.cosine_similarity(a, p, dim=1); the loss is "
                  "(d_ap - d_an + margin).clamp(min=0).mean()."),
    Exercise("06.4", "queries that appear more than once in a batch",
             expected=lambda batch, pairs: int(sum(n > 1 for n in Counter(pairs[k][0] for k in batch).values())),
             hint="collections.Counter(pairs[k][0] for k in batch) counts each query of the batch; count the counts above 1."),
    Exercise("06.5", "what the MNRL loss does as the batch grows",
             expected=lambda losses: ("grows" if losses[-1] > 1.1 * losses[0] else
                                      "shrinks" if losses[-1] < losses[0] / 1.1 else "stays about the same"),
             choices=("grows", "shrinks", "stays about the same")),
    Exercise("06.6", "the added negative that raises MiniLM's MNRL loss the most",
             expected=lambda losses: max(losses, key=losses.get), choices=("random", "BM25", "MiniLM")),
)
