"""course_utils.matryoshka: truncation by hand and by sentence-transformers, stored vectors in a real model."""
import numpy as np
import pytest

from course_utils import matryoshka as M

RNG = np.random.default_rng(0)
EMB = RNG.normal(size=(6, 8)).astype(np.float32)
TEXTS = [f"text {i}" for i in range(6)]


# ---- truncate -------------------------------------------------------------------------------

def test_truncate_by_hand():
    out = M.truncate(EMB, 3)
    assert out.shape == (6, 3) and out.dtype == np.float32
    assert np.allclose(out, EMB[:, :3] / np.linalg.norm(EMB[:, :3], axis=1, keepdims=True))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_truncate_one_vector_and_full_size():
    assert M.truncate(EMB[0], 2).shape == (2,)
    assert np.allclose(M.truncate(EMB, 8), EMB / np.linalg.norm(EMB, axis=1, keepdims=True))


def test_truncate_agrees_with_sentence_transformers():
    import torch
    from sentence_transformers.sentence_transformer.losses.matryoshka import shrink

    assert np.allclose(M.truncate(EMB, 4), shrink(torch.from_numpy(EMB), 4).numpy(), atol=1e-6)


def test_truncate_errors():
    with pytest.raises(ValueError, match="dim"):
        M.truncate(EMB, 9)
    with pytest.raises(ValueError, match="dim"):
        M.truncate(EMB, 0)
    with pytest.raises(TypeError, match="dim"):
        M.truncate(EMB, 2.0)
    zero = EMB.copy()
    zero[2, :2] = 0
    with pytest.raises(ValueError, match=r"row\(s\) \[2\]"):
        M.truncate(zero, 2)
    with pytest.raises(ValueError, match="embeddings"):
        M.truncate([[np.nan, 1.0]], 1)


# ---- stored_vectors ----------------------------------------------------------------------------

def _model(head=True):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.dense import Dense

    modules = [M.stored_vectors(TEXTS, EMB)]
    if head:
        modules.append(Dense(8, 8, bias=False, activation_function=None, init_weight=torch.eye(8)))
    return SentenceTransformer(modules=modules, device="cpu")


def test_stored_vectors_encode_returns_the_stored_rows():
    model = _model(head=False)
    out = model.encode([TEXTS[3], TEXTS[0], TEXTS[3]])
    assert np.array_equal(out, EMB[[3, 0, 3]])
    assert model.get_embedding_dimension() == 8
    assert np.allclose(model.encode(TEXTS, truncate_dim=3, normalize_embeddings=True), M.truncate(EMB, 3), atol=1e-6)


def test_stored_vectors_are_frozen_and_the_head_trains():
    import torch
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    torch.manual_seed(0)
    model = _model()
    assert [name for name, _ in model.named_parameters()] == ["1.linear.weight"]   # only the head
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), [8, 4, 2])
    features = [model.preprocess(TEXTS[:3]), model.preprocess(TEXTS[3:])]
    value = loss(features, torch.zeros(3))
    value.backward()
    assert torch.isfinite(value) and model[1].linear.weight.grad.abs().sum() > 0
    assert model[0].vectors.grad is None


def test_stored_vectors_with_the_trainer(tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss, MultipleNegativesRankingLoss

    model = _model()
    before = model[1].linear.weight.detach().clone()
    data = Dataset.from_dict({"anchor": TEXTS[:3], "positive": TEXTS[3:]})
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=3,
                                                learning_rate=0.1, save_strategy="no", report_to="none",
                                                disable_tqdm=True, use_cpu=True)
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), [8, 4, 2])
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    assert not np.allclose(model[1].linear.weight.detach().numpy(), before.numpy())
    assert np.array_equal(model[0].vectors.numpy(), EMB)          # the frozen part did not move


def test_stored_vectors_save_and_load(tmp_path):
    from sentence_transformers import SentenceTransformer

    model = _model(head=False)
    model.save(str(tmp_path / "m"))
    again = SentenceTransformer(str(tmp_path / "m"), device="cpu", trust_remote_code=True)   # our own class
    assert np.array_equal(again.encode(TEXTS), EMB)


def test_stored_vectors_share_a_float32_array_and_copy_others():
    shared = M.stored_vectors(TEXTS, EMB)
    assert np.shares_memory(shared.vectors.numpy(), EMB)
    copied = M.stored_vectors(TEXTS, EMB.astype(np.float64))
    assert not np.shares_memory(copied.vectors.numpy(), EMB) and copied.vectors.dtype.is_floating_point
    assert np.array_equal(copied.vectors.numpy(), EMB)


def test_stored_vectors_errors():
    model = _model(head=False)
    with pytest.raises(ValueError, match="no stored vector"):
        model.encode(["never seen"])
    with pytest.raises(ValueError, match="rows"):
        M.stored_vectors(TEXTS[:2], EMB)
    with pytest.raises(TypeError, match="texts"):
        M.stored_vectors("one text", EMB[:1])
    with pytest.raises(ValueError, match="texts"):
        M.stored_vectors([], EMB[:0])
    with pytest.raises(ValueError, match="vectors"):
        M.stored_vectors(TEXTS, EMB[0])
    bad = EMB.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="vectors"):
        M.stored_vectors(TEXTS, bad)


def test_package_import_does_not_import_torch():
    """``import course_utils`` stays light; the matryoshka module imports torch at its top, like losses."""
    import subprocess
    import sys

    code = ("import sys, course_utils; a = 'torch' in sys.modules; import course_utils.matryoshka as m; "
            "print(a, 'torch' in sys.modules, m.StoredVectors.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "course_utils.matryoshka"]
