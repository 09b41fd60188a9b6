"""Contrastive losses written from scratch: InfoNCE, triplet, multiple-negatives ranking, NT-Xent.

Introduced in ``06_contrastive_learning``. Each function takes embeddings — PyTorch tensors (or
arrays / nested lists of numbers), one row per text — and returns the loss as a 0-dim tensor,
averaged over the batch, that gradients flow through. ``tests/test_losses.py`` checks each one
against sentence-transformers' own loss on the same embeddings (values and gradients):

======================================  ====================================================
here                                    sentence-transformers
======================================  ====================================================
``multiple_negatives_ranking_loss``     ``MultipleNegativesRankingLoss(scale=1/temperature)``
``info_nce``                            the same loss, fed one (anchor, positive, negatives)
                                        tuple at a time (a batch of one: no in-batch negatives)
``triplet_loss``                        ``TripletLoss`` with the same distance and margin
``nt_xent``                             the mean of ``MultipleNegativesRankingLoss(scale=1/t,
                                        directions=("query_to_doc", "query_to_query"))`` on
                                        ``(views_a, views_b)`` and on ``(views_b, views_a)``
``clip_loss``                           ``MultipleNegativesRankingLoss(scale=logit_scale,
                                        directions=("query_to_doc", "doc_to_query"),
                                        partition_mode="per_direction")`` on (images, texts),
                                        and ``transformers``' CLIP loss on the same logits
======================================  ====================================================

Similarities are cosines, as in sentence-transformers' defaults; ``temperature`` is the inverse
of its ``scale`` (``scale=20`` is ``temperature=0.05``). Importing ``course_utils`` does not
import this module, so it does not import PyTorch either.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._checks import Problems, as_float_array, check_choice, check_number

__all__ = ["info_nce", "multiple_negatives_ranking_loss", "triplet_loss", "nt_xent", "clip_loss"]

DISTANCES = ("euclidean", "cosine", "manhattan")


# ---- argument checks -------------------------------------------------------------------------

def _embeddings(x: Any, name: str, ndim: int | tuple[int, ...], *, nonzero: bool = True) -> torch.Tensor:
    """``x`` as a floating-point tensor with ``ndim`` dimensions and finite values (non-zero rows
    too when ``nonzero``: cosine similarity is undefined for a zero vector)."""
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    shape_text = " or ".join({2: "(batch, dim)", 3: "(batch, n_negatives, dim)"}[d] for d in ndims)
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"`{name}` must hold real numbers; got a tensor of dtype {x.dtype}.")
        t = x if x.is_floating_point() else x.float()
        if t.dim() not in ndims:
            raise ValueError(f"`{name}` must have shape {shape_text}; got shape {tuple(t.shape)}. "
                             "Stack one embedding per row, e.g. torch.stack(list_of_vectors).")
        if t.numel() == 0:
            raise ValueError(f"`{name}` is empty (shape {tuple(t.shape)}); pass at least one embedding.")
        if not torch.isfinite(t.detach()).all():
            raise ValueError(f"`{name}` contains NaN or infinite values; check how it was computed.")
    else:
        t = torch.from_numpy(as_float_array(x, name, ndim=ndims))
    if nonzero and (t.detach().norm(dim=-1) == 0).any():
        raise ValueError(f"`{name}` holds a zero vector: its cosine similarity is undefined. "
                         "Drop that row, or check how the embeddings were computed.")
    return t


def _same_batch(first: torch.Tensor, first_name: str, other: torch.Tensor, other_name: str) -> None:
    if other.shape[0] != first.shape[0]:
        raise ValueError(f"`{other_name}` has {other.shape[0]} rows but `{first_name}` has {first.shape[0]}; "
                         f"row i of `{other_name}` belongs to row i of `{first_name}`.")
    if other.shape[-1] != first.shape[-1]:
        raise ValueError(f"`{other_name}` has dimension {other.shape[-1]} but `{first_name}` has "
                         f"{first.shape[-1]}; embed all texts with the same model.")


def _common_dtype(*tensors: torch.Tensor) -> list[torch.Tensor]:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``: shape (len(a), len(b))."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


# ---- the losses ------------------------------------------------------------------------------

def info_nce(anchors, positives, negatives, *, temperature: float = 0.05) -> torch.Tensor:
    """InfoNCE with explicit negatives: each anchor must pick its positive out of its candidates.

    For anchor ``i`` the candidates are its positive and its own negatives; the loss is the
    cross-entropy of a softmax over their cosine similarities divided by ``temperature``, with
    the positive as the right answer (van den Oord et al., 2018)::

        loss_i = -log( exp(cos(a_i, p_i) / t) / (exp(cos(a_i, p_i) / t) + sum_k exp(cos(a_i, n_ik) / t)) )

    Introduced in ``06_contrastive_learning``.

    Parameters
    ----------
    anchors : tensor, shape (batch, dim)
    positives : tensor, shape (batch, dim); row i is the positive of anchor i
    negatives : tensor, shape (batch, n_negatives, dim), or (batch, dim) for one negative each;
        ``negatives[i]`` are anchor i's negatives (no other row's texts are used)
    temperature : float > 0; sentence-transformers' ``scale`` is ``1 / temperature``

    Returns
    -------
    tensor, shape () : the mean of ``loss_i`` over the batch.

    Notes
    -----
    :func:`multiple_negatives_ranking_loss` is this loss with the *other rows'* positives as the
    negatives (in-batch negatives). sentence-transformers has no separate class for it: its
    ``MultipleNegativesRankingLoss`` given one (anchor, positive, negatives) tuple at a time, as a
    batch of one, computes exactly ``loss_i``.
    """
    a = _embeddings(anchors, "anchors", 2)
    p = _embeddings(positives, "positives", 2)
    n = _embeddings(negatives, "negatives", (2, 3))
    t = check_number(temperature, "temperature", above=0)
    _same_batch(a, "anchors", p, "positives")
    _same_batch(a, "anchors", n, "negatives")
    a, p, n = _common_dtype(a, p, n)
    if n.dim() == 2:
        n = n[:, None, :]                                                    # (batch, 1, dim)
    candidates = F.normalize(torch.cat([p[:, None, :], n], dim=1), dim=-1)   # (batch, 1 + n_neg, dim)
    logits = (candidates @ F.normalize(a, dim=-1)[:, :, None]).squeeze(-1) / t  # (batch, 1 + n_neg)
    right = torch.zeros(len(a), dtype=torch.long)                            # the positive is column 0
    return F.cross_entropy(logits, right)


def multiple_negatives_ranking_loss(anchors, positives, negatives=None, *, temperature: float = 0.05) -> torch.Tensor:
    """Multiple-negatives ranking loss: InfoNCE with in-batch negatives (and optional hard ones).

    Anchor ``i`` must pick positive ``i`` out of *all* the positives of the batch, plus all the
    hard negatives if given: every other row's positive serves as a negative for free. The
    logits are cosine similarities divided by ``temperature``; the loss is their cross-entropy
    with the right column. Henderson et al. (2017) named it; it is SimCSE's and E5's objective.

    Introduced in ``06_contrastive_learning``.

    Parameters
    ----------
    anchors : tensor, shape (batch, dim)
    positives : tensor, shape (batch, dim); row i is the positive of anchor i
    negatives : optional tensor, shape (batch, dim) or (batch, n_negatives, dim): hard negatives,
        which every anchor of the batch sees as candidates (as sentence-transformers does)
    temperature : float > 0; sentence-transformers' ``scale`` is ``1 / temperature``

    Returns
    -------
    tensor, shape () : the mean loss over the batch; equal to sentence-transformers'
    ``MultipleNegativesRankingLoss(model, scale=1 / temperature)`` on the same embeddings.
    """
    a = _embeddings(anchors, "anchors", 2)
    p = _embeddings(positives, "positives", 2)
    t = check_number(temperature, "temperature", above=0)
    _same_batch(a, "anchors", p, "positives")
    candidates = [p]
    if negatives is not None:
        n = _embeddings(negatives, "negatives", (2, 3))
        _same_batch(a, "anchors", n, "negatives")
        candidates += [n] if n.dim() == 2 else list(n.unbind(dim=1))        # one (batch, dim) per column
    a, *candidates = _common_dtype(a, *candidates)
    logits = _cos(a, torch.cat(candidates)) / t                             # (batch, batch * (1 + n_neg))
    return F.cross_entropy(logits, torch.arange(len(a)))                    # anchor i's positive: column i


def triplet_loss(anchors, positives, negatives, *, margin: float = 5.0, distance: str = "euclidean") -> torch.Tensor:
    """Triplet loss: each negative should be at least ``margin`` farther from its anchor than the positive.

    ``loss_i = max(0, d(a_i, p_i) - d(a_i, n_i) + margin)`` (Schroff et al., 2015, FaceNet).
    Triplets that already satisfy the margin contribute 0 and no gradient.

    Introduced in ``06_contrastive_learning``.

    Parameters
    ----------
    anchors, positives, negatives : tensors, shape (batch, dim); row i of each is one triplet
    margin : float >= 0, in the units of ``distance``; sentence-transformers' default is 5 with
        Euclidean distance (for unit-length embeddings, whose distances are at most 2, a margin
        of 5 is never met and the loss is the plain difference of distances plus 5)
    distance : "euclidean", "cosine" (1 - cosine similarity) or "manhattan"

    Returns
    -------
    tensor, shape () : the mean over the batch; equal to sentence-transformers'
    ``TripletLoss(model, distance_metric=TripletDistanceMetric.<DISTANCE>, triplet_margin=margin)``.
    """
    distance = check_choice(distance, "distance", DISTANCES)
    cosine = distance == "cosine"
    a = _embeddings(anchors, "anchors", 2, nonzero=cosine)
    p = _embeddings(positives, "positives", 2, nonzero=cosine)
    n = _embeddings(negatives, "negatives", 2, nonzero=cosine)
    margin = check_number(margin, "margin", minimum=0)
    _same_batch(a, "anchors", p, "positives")
    _same_batch(a, "anchors", n, "negatives")
    a, p, n = _common_dtype(a, p, n)

    def d(x, y):                                                             # (batch,)
        if distance == "cosine":
            return 1 - F.cosine_similarity(x, y, dim=-1)
        return (x - y).norm(p=2 if distance == "euclidean" else 1, dim=-1)

    return F.relu(d(a, p) - d(a, n) + margin).mean()


def nt_xent(views_a, views_b, *, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, SimCLR's loss: each of 2N views must find its partner among the other 2N - 1.

    Row ``i`` of ``views_a`` and row ``i`` of ``views_b`` are two views of the same item (two
    augmentations of an image; two dropout passes over a sentence in SimCSE). Stack them into
    2N vectors; for each, the candidates are all the other 2N - 1 (itself excluded), its partner
    is the right answer, and the logits are cosines divided by ``temperature`` (Chen et al.,
    2020). The loss is the mean over all 2N views, so both directions count.

    Introduced in ``06_contrastive_learning``.

    Parameters
    ----------
    views_a : tensor, shape (batch, dim)
    views_b : tensor, shape (batch, dim); row i is the second view of row i of ``views_a``
    temperature : float > 0 (SimCSE uses 0.05)

    Returns
    -------
    tensor, shape () : the mean over the 2N views.

    Notes
    -----
    No single sentence-transformers configuration is NT-Xent. For the views of ``views_a``,
    ``MultipleNegativesRankingLoss(scale=1/t, directions=("query_to_doc", "query_to_query"),
    partition_mode="joint")`` computes exactly their half (candidates: all of ``views_b``, and the
    other rows of ``views_a``); swapping the two arguments gives the other half, and NT-Xent is
    the mean of the two. The symmetric variant, ``directions=("query_to_doc", "doc_to_query"),
    partition_mode="per_direction"`` (the former ``MultipleNegativesSymmetricRankingLoss``, CLIP's
    loss), differs: its candidates are only the *other* side's views, N instead of 2N - 1. All
    four directions with ``partition_mode="joint"`` (GTE's loss) differ too: one softmax per
    *pair* over 4N - 2 candidates from both sides, instead of one per view.
    """
    a = _embeddings(views_a, "views_a", 2)
    b = _embeddings(views_b, "views_b", 2)
    t = check_number(temperature, "temperature", above=0)
    _same_batch(a, "views_a", b, "views_b")
    a, b = _common_dtype(a, b)
    n = len(a)
    z = torch.cat([a, b])                                                   # (2N, dim)
    logits = _cos(z, z) / t                                                 # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))  # never pick yourself
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])          # view i <-> view i + N
    return F.cross_entropy(logits, partner)


def clip_loss(image_embeddings, text_embeddings, *, logit_scale=1 / 0.07) -> torch.Tensor:
    """CLIP's symmetric contrastive loss: N images and their N captions, each must find its partner.

    Row ``i`` of ``image_embeddings`` and row ``i`` of ``text_embeddings`` are a real pair; the
    other N - 1 rows of the other side are its negatives. With unit vectors, the N x N logits
    are ``logit_scale * I @ T.T``; the loss is the mean of the cross-entropy over each row
    (image -> text) and over each column (text -> image), as in CLIP's pseudocode (Radford et
    al., 2021, Figure 3)::

        logits = logit_scale * normalize(I) @ normalize(T).T          # (N, N)
        loss = (cross_entropy(logits, arange(N)) + cross_entropy(logits.T, arange(N))) / 2

    Introduced in ``09_multimodal``.

    Parameters
    ----------
    image_embeddings : tensor, shape (batch, dim)
    text_embeddings : tensor, shape (batch, dim); row i is the caption of image i
    logit_scale : float > 0, or a 0-dim tensor (``model.logit_scale.exp()`` for a learnable
        temperature: gradients flow into it). It is ``1 / temperature``; CLIP starts it at
        1 / 0.07 and clips it at 100.

    Returns
    -------
    tensor, shape () : the mean of the two directions' mean losses.

    Notes
    -----
    Equal to sentence-transformers' ``MultipleNegativesRankingLoss(scale=logit_scale,
    directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")`` with the
    images as queries, and to ``transformers``' ``image_text_contrastive_loss`` (the loss of
    ``CLIPModel(return_loss=True)``) on the same logits. Images of the same class in one batch
    are still "negatives" of each other's captions: with k images of a class per batch, the
    loss cannot go much below log(k).
    """
    with Problems() as problems:
        i = problems.check(_embeddings, image_embeddings, "image_embeddings", 2)
        t = problems.check(_embeddings, text_embeddings, "text_embeddings", 2)
        scale = problems.check(_logit_scale, logit_scale)
    _same_batch(i, "image_embeddings", t, "text_embeddings")
    i, t = _common_dtype(i, t)
    logits = scale * _cos(i, t)                                               # (N, N): image i vs text j
    labels = torch.arange(len(i))                                             # the pairs: the diagonal
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def _logit_scale(value: Any) -> Any:
    """A positive number, or a 0-dim real tensor holding one (kept as a tensor: gradients flow)."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0 or not value.is_floating_point():
            raise TypeError(f"`logit_scale` must be a number or a 0-dim float tensor; got a tensor of shape "
                            f"{tuple(value.shape)} and dtype {value.dtype}.")
        if not torch.isfinite(value.detach()) or value.detach() <= 0:
            raise ValueError(f"`logit_scale` must be > 0 and finite; got {value.item()!r}.")
        return value
    return check_number(value, "logit_scale", above=0)
