"""course_utils.losses against sentence-transformers' own losses, values and gradients.

Each from-scratch loss is compared with the sentence-transformers loss it claims to equal, on
random embeddings over several seeds, batch sizes and temperatures, through
``compute_loss_from_embeddings`` (so no model is needed). Known values pin the formulas down
independently of the library, and the last tests check that a wrong configuration is *not*
equal, so the comparisons can fail.
"""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")

from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric  # noqa: E402

from course_utils.losses import info_nce, multiple_negatives_ranking_loss, nt_xent, triplet_loss  # noqa: E402

SEEDS = (0, 1, 2)
BATCHES = (1, 2, 7, 32)
TEMPERATURES = (0.02, 0.05, 0.3, 1.0)
DIM = 24


def embeddings(seed, *shape, grad=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    return x.requires_grad_(grad)


def mnrl(temperature, **kwargs):
    return st_losses.MultipleNegativesRankingLoss(None, scale=1 / temperature, **kwargs)


def st_nt_xent(a, b, temperature):
    half = mnrl(temperature, directions=("query_to_doc", "query_to_query"), partition_mode="joint")
    return (half.compute_loss_from_embeddings([a, b], None) + half.compute_loss_from_embeddings([b, a], None)) / 2


def grads(loss_fn, *tensors):
    inputs = [t.detach().clone().requires_grad_(True) for t in tensors]
    loss = loss_fn(*inputs)
    loss.backward()
    return loss.detach(), [t.grad for t in inputs]


def assert_same(ours_fn, theirs_fn, *tensors):
    ours, g_ours = grads(ours_fn, *tensors)
    theirs, g_theirs = grads(theirs_fn, *tensors)
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-10), (ours.item(), theirs.item())
    for a, b in zip(g_ours, g_theirs):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


# ---- equality with sentence-transformers: values and gradients --------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_mnrl_equals_sentence_transformers(seed, batch, temperature):
    a, p = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM)
    assert_same(lambda a, p: multiple_negatives_ranking_loss(a, p, temperature=temperature),
                lambda a, p: mnrl(temperature).compute_loss_from_embeddings([a, p], None), a, p)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n_negatives", (1, 3))
def test_mnrl_with_hard_negatives_equals_sentence_transformers(seed, batch, n_negatives):
    a, p = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM)
    n = embeddings(seed + 200, batch, n_negatives, DIM)
    assert_same(lambda a, p, n: multiple_negatives_ranking_loss(a, p, n, temperature=0.05),
                lambda a, p, n: mnrl(0.05).compute_loss_from_embeddings([a, p, *n.unbind(1)], None), a, p, n)


def test_mnrl_accepts_a_single_negative_column():
    a, p, n = embeddings(0, 5, DIM), embeddings(1, 5, DIM), embeddings(2, 5, DIM)
    assert torch.allclose(multiple_negatives_ranking_loss(a, p, n), multiple_negatives_ranking_loss(a, p, n[:, None, :]))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_info_nce_equals_mnrl_on_batches_of_one(seed, batch, temperature):
    a, p = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM)
    n = embeddings(seed + 200, batch, 4, DIM)

    def theirs(a, p, n):
        rows = [mnrl(temperature).compute_loss_from_embeddings([a[i:i + 1], p[i:i + 1], *n[i:i + 1].unbind(1)], None)
                for i in range(len(a))]
        return torch.stack(rows).mean()

    assert_same(lambda a, p, n: info_nce(a, p, n, temperature=temperature), theirs, a, p, n)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", (2, 7, 32))
def test_mnrl_is_info_nce_with_the_other_positives_as_negatives(seed, batch):
    a, p = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM)
    others = torch.stack([torch.cat([p[:i], p[i + 1:]]) for i in range(batch)])   # (batch, batch - 1, dim)
    assert torch.allclose(multiple_negatives_ranking_loss(a, p), info_nce(a, p, others))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("distance,metric", [("euclidean", "EUCLIDEAN"), ("cosine", "COSINE"), ("manhattan", "MANHATTAN")])
@pytest.mark.parametrize("margin", (0.0, 0.3, 5.0))
def test_triplet_equals_sentence_transformers(seed, batch, distance, metric, margin):
    a, p, n = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM), embeddings(seed + 200, batch, DIM)
    theirs = st_losses.TripletLoss(None, distance_metric=getattr(TripletDistanceMetric, metric), triplet_margin=margin)
    assert_same(lambda a, p, n: triplet_loss(a, p, n, margin=margin, distance=distance),
                lambda a, p, n: theirs.compute_loss_from_embeddings([a, p, n], None), a, p, n)


def test_triplet_defaults_are_sentence_transformers_defaults():
    a, p, n = embeddings(0, 6, DIM), embeddings(1, 6, DIM), embeddings(2, 6, DIM)
    theirs = st_losses.TripletLoss(None).compute_loss_from_embeddings([a, p, n], None)
    assert torch.allclose(triplet_loss(a, p, n), theirs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_nt_xent_equals_two_halves_of_mnrl_with_query_to_query(seed, batch, temperature):
    a, b = embeddings(seed, batch, DIM), embeddings(seed + 100, batch, DIM)
    assert_same(lambda a, b: nt_xent(a, b, temperature=temperature),
                lambda a, b: st_nt_xent(a, b, temperature), a, b)


@pytest.mark.parametrize("seed", SEEDS)
def test_nt_xent_by_the_textbook_formula(seed):
    """SimCLR's equation written out with loops, independently of both implementations."""
    n, t = 5, 0.5
    a, b = embeddings(seed, n, DIM), embeddings(seed + 100, n, DIM)
    z = torch.nn.functional.normalize(torch.cat([a, b]), dim=-1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denominator = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / denominator)
    assert math.isclose(nt_xent(a, b, temperature=t).item(), total / (2 * n), rel_tol=1e-10)


# ---- known values ---------------------------------------------------------------------------

@pytest.mark.parametrize("batch", (2, 8, 64))
def test_uniform_similarities_give_log_batch(batch):
    same = torch.ones(batch, DIM, dtype=torch.float64)          # every cosine is 1: nothing to choose
    assert math.isclose(multiple_negatives_ranking_loss(same, same).item(), math.log(batch), rel_tol=1e-12)
    assert math.isclose(nt_xent(same, same).item(), math.log(2 * batch - 1), rel_tol=1e-12)
    assert math.isclose(info_nce(same, same, torch.ones(batch, 3, DIM)).item(), math.log(4), rel_tol=1e-12)


def test_high_temperature_tends_to_log_batch():
    a, p = embeddings(0, 16, DIM), embeddings(1, 16, DIM)
    assert abs(multiple_negatives_ranking_loss(a, p, temperature=1e6).item() - math.log(16)) < 1e-5


@pytest.mark.parametrize("batch", (2, 8, 32))
def test_aligned_pairs_with_large_scale_give_zero(batch):
    a = torch.eye(batch, 64, dtype=torch.float64)               # orthogonal anchors, each its own positive
    assert multiple_negatives_ranking_loss(a, a, temperature=0.01).item() < 1e-12
    assert nt_xent(a, a, temperature=0.01).item() < 1e-12
    assert info_nce(a, a, -a[:, None, :], temperature=0.01).item() < 1e-12
    # at temperature 1 the same batch costs log(1 + (batch - 1) / e): far from 0
    expected = math.log(1 + (batch - 1) * math.exp(-1))
    assert math.isclose(multiple_negatives_ranking_loss(a, a, temperature=1.0).item(), expected, rel_tol=1e-12)


def test_a_duplicate_anchor_costs_at_least_log_2():
    """Two rows with the same anchor and different positives: each row's positive is the other's negative."""
    a = torch.eye(4, DIM, dtype=torch.float64)
    a[1] = a[0]                                                  # row 1 repeats the anchor of row 0
    p = torch.eye(4, DIM, dtype=torch.float64)
    p[1] = a[0]                                                  # and its positive is as close as row 0's
    loss = multiple_negatives_ranking_loss(a, p, temperature=0.01).item()
    assert math.isclose(loss, 2 * math.log(2) / 4, rel_tol=1e-9)            # rows 0 and 1: log 2 each; 2, 3: ~0


def test_triplet_known_values():
    a = torch.tensor([[0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0]])                               # distance 1
    n = torch.tensor([[0.0, 3.0]])                               # distance 3
    assert triplet_loss(a, p, n, margin=0.5).item() == 0.0                                   # 1 - 3 + 0.5 < 0
    assert math.isclose(triplet_loss(a, p, n, margin=2.5).item(), 0.5, rel_tol=1e-6)         # 1 - 3 + 2.5
    assert math.isclose(triplet_loss(a, p, n, margin=2.5, distance="manhattan").item(), 0.5, rel_tol=1e-6)
    assert math.isclose(triplet_loss(p, p * 2, p * -1, margin=0.0, distance="cosine").item(), 0.0, abs_tol=1e-7)


# ---- the comparisons can fail ---------------------------------------------------------------

def test_scale_is_the_inverse_of_temperature_not_the_temperature():
    a, p = embeddings(0, 8, DIM), embeddings(1, 8, DIM)
    wrong = st_losses.MultipleNegativesRankingLoss(None, scale=0.05).compute_loss_from_embeddings([a, p], None)
    assert not torch.allclose(multiple_negatives_ranking_loss(a, p, temperature=0.05), wrong)


def test_nt_xent_is_not_the_symmetric_loss():
    """CLIP's symmetric loss (the former MultipleNegativesSymmetricRankingLoss) lacks same-side negatives."""
    a, b = embeddings(0, 8, DIM), embeddings(1, 8, DIM)
    symmetric = mnrl(0.5, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
    assert not torch.allclose(nt_xent(a, b), symmetric.compute_loss_from_embeddings([a, b], None))
    one_half = mnrl(0.5, directions=("query_to_doc", "query_to_query"))
    assert not torch.allclose(nt_xent(a, b), one_half.compute_loss_from_embeddings([a, b], None))
    gte = mnrl(0.5, directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"))
    assert not torch.allclose(nt_xent(a, b), gte.compute_loss_from_embeddings([a, b], None))


def test_info_nce_does_not_use_other_rows():
    a, p, n = embeddings(0, 6, DIM), embeddings(1, 6, DIM), embeddings(2, 6, 2, DIM)
    assert not torch.allclose(info_nce(a, p, n), multiple_negatives_ranking_loss(a, p, n))
    shuffled = p.clone()
    shuffled[1:] = p[1:].flip(0)                                 # other rows change, row 0 does not
    assert torch.allclose(info_nce(a[:1], p[:1], n[:1]), info_nce(a[:1], shuffled[:1], n[:1]))


def test_triplet_distances_differ():
    a, p, n = embeddings(0, 6, DIM), embeddings(1, 6, DIM), embeddings(2, 6, DIM)
    values = {d: triplet_loss(a, p, n, margin=1.0, distance=d).item() for d in ("euclidean", "cosine", "manhattan")}
    assert len(set(round(v, 6) for v in values.values())) == 3


# ---- inputs -----------------------------------------------------------------------------------

def test_float32_tensors_and_lists_are_accepted():
    a32 = embeddings(0, 4, DIM).float()
    p32 = embeddings(1, 4, DIM).float()
    loss32 = multiple_negatives_ranking_loss(a32, p32)
    assert loss32.dtype == torch.float32 and loss32.dim() == 0
    from_lists = multiple_negatives_ranking_loss(a32.tolist(), p32.tolist())
    assert math.isclose(from_lists.item(), loss32.item(), rel_tol=1e-5)


def test_gradients_flow_to_the_embeddings():
    a, p = embeddings(0, 4, DIM, grad=True), embeddings(1, 4, DIM, grad=True)
    nt_xent(a, p).backward()
    assert a.grad is not None and a.grad.abs().sum() > 0 and p.grad.abs().sum() > 0


@pytest.mark.parametrize("call,name", [
    (lambda: multiple_negatives_ranking_loss(torch.ones(3, 4), torch.ones(2, 4)), "positives"),
    (lambda: multiple_negatives_ranking_loss(torch.ones(3, 4), torch.ones(3, 5)), "positives"),
    (lambda: multiple_negatives_ranking_loss(torch.ones(3, 4), torch.ones(3, 4), torch.ones(2, 4)), "negatives"),
    (lambda: multiple_negatives_ranking_loss(torch.ones(4), torch.ones(4)), "anchors"),
    (lambda: multiple_negatives_ranking_loss(torch.ones(3, 4), torch.ones(3, 4), temperature=0), "temperature"),
    (lambda: multiple_negatives_ranking_loss(torch.ones(3, 4), torch.ones(3, 4), temperature=-1.0), "temperature"),
    (lambda: multiple_negatives_ranking_loss(torch.zeros(3, 4), torch.ones(3, 4)), "anchors"),
    (lambda: multiple_negatives_ranking_loss(torch.full((3, 4), float("nan")), torch.ones(3, 4)), "anchors"),
    (lambda: info_nce(torch.ones(3, 4), torch.ones(3, 4), torch.ones(3, 2, 2, 4)), "negatives"),
    (lambda: triplet_loss(torch.ones(3, 4), torch.ones(3, 4), torch.ones(3, 4), margin=-1.0), "margin"),
    (lambda: triplet_loss(torch.ones(3, 4), torch.ones(3, 4), torch.ones(3, 4), distance="dot"), "distance"),
    (lambda: triplet_loss(torch.zeros(3, 4), torch.ones(3, 4), torch.ones(3, 4), distance="cosine"), "anchors"),
    (lambda: nt_xent(torch.ones(3, 4), torch.ones(4, 4)), "views_b"),
    (lambda: nt_xent(torch.ones(3, 4), "text"), "views_b"),
])
def test_bad_arguments_are_named(call, name):
    with pytest.raises((TypeError, ValueError), match=f"`{name}`"):
        call()


# ---- CLIP's symmetric loss --------------------------------------------------------------------

from course_utils.losses import clip_loss  # noqa: E402


def _clip_independent(images, texts, scale):
    """The loss written out element by element (NumPy, float64): -log softmax of the diagonal, both ways."""
    import numpy as np

    i = images.detach().numpy().astype(np.float64)
    t = texts.detach().numpy().astype(np.float64)
    i /= np.linalg.norm(i, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    logits = scale * i @ t.T
    n = len(i)
    rows = [-(logits[k, k] - np.log(np.exp(logits[k]).sum())) for k in range(n)]
    cols = [-(logits[k, k] - np.log(np.exp(logits[:, k]).sum())) for k in range(n)]
    return (sum(rows) / n + sum(cols) / n) / 2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("scale", (1.0, 1 / 0.07, 100.0))
def test_clip_loss_equals_the_libraries_and_an_independent_formula(seed, batch, scale):
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss

    images, texts = embeddings(seed, batch, DIM), embeddings(seed + 10, batch, DIM)
    ours = clip_loss(images, texts, logit_scale=scale)
    assert math.isclose(ours.item(), _clip_independent(images, texts, scale), rel_tol=1e-9, abs_tol=1e-10)
    st = mnrl(1 / scale, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
    assert_same(lambda i, t: clip_loss(i, t, logit_scale=scale), lambda i, t: st.compute_loss_from_embeddings([i, t], None),
                images, texts)
    unit = lambda x: x / x.norm(dim=-1, keepdim=True)  # noqa: E731
    hf = image_text_contrastive_loss(scale * unit(texts) @ unit(images).T)  # transformers takes logits_per_text
    assert torch.allclose(ours, hf, rtol=1e-10, atol=1e-10)


def test_clip_loss_known_values():
    # perfect, confident pairs: loss -> 0; identical rows everywhere: log(N) both ways
    eye = torch.eye(4, dtype=torch.float64)
    assert clip_loss(eye, eye, logit_scale=100.0).item() < 1e-30
    same = torch.ones(5, 3, dtype=torch.float64)
    assert math.isclose(clip_loss(same, same).item(), math.log(5), rel_tol=1e-12)
    # one pair: nothing to contrast, the loss is 0
    assert clip_loss([[1.0, 2.0]], [[-3.0, 0.5]]).item() == 0.0


def test_clip_loss_is_symmetric_and_not_one_directional():
    images, texts = embeddings(0, 6, DIM), embeddings(1, 6, DIM)
    both = clip_loss(images, texts)
    assert torch.allclose(both, clip_loss(texts, images), rtol=1e-12)
    one_way = mnrl(0.07).compute_loss_from_embeddings([images, texts], None)   # image -> text only
    assert not torch.allclose(both, one_way, rtol=1e-3)


def test_clip_loss_learnable_scale_gets_a_gradient():
    t = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    images, texts = embeddings(0, 8, DIM, grad=True), embeddings(1, 8, DIM, grad=True)
    clip_loss(images, texts, logit_scale=t.exp()).backward()
    assert t.grad is not None and t.grad != 0 and images.grad.abs().sum() > 0 and texts.grad.abs().sum() > 0


@pytest.mark.parametrize("call,name,error", [
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(2, 4)), "text_embeddings", ValueError),
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(3, 5)), "text_embeddings", ValueError),
    (lambda: clip_loss(torch.ones(4), torch.ones(4)), "image_embeddings", ValueError),
    (lambda: clip_loss(torch.ones(2, 28, 28), torch.ones(2, 4)), "image_embeddings", ValueError),
    (lambda: clip_loss(torch.zeros(3, 4), torch.ones(3, 4)), "image_embeddings", ValueError),
    (lambda: clip_loss(torch.ones(3, 4), "a photo of a cat"), "text_embeddings", TypeError),
    (lambda: clip_loss(torch.ones(3, 4, dtype=torch.bool), torch.ones(3, 4)), "image_embeddings", TypeError),
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(3, 4), logit_scale=0), "logit_scale", ValueError),
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(3, 4), logit_scale=torch.tensor([1.0, 2.0])), "logit_scale", TypeError),
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(3, 4), logit_scale=torch.tensor(-1.0)), "logit_scale", ValueError),
    (lambda: clip_loss(torch.ones(3, 4), torch.ones(3, 4), logit_scale="14"), "logit_scale", TypeError),
])
def test_clip_loss_bad_arguments_are_named(call, name, error):
    with pytest.raises(error, match=f"`{name}`"):
        call()
