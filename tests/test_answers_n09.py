"""The exercises of 09_multimodal: a right answer passes, a careless one fails."""
from __future__ import annotations

import numpy as np

from course_utils import check


def _loss(i, t, scale, refuse=True):
    i, t = np.asarray(i, dtype=float), np.asarray(t, dtype=float)
    if refuse and (i.shape != t.shape or not np.linalg.norm(i, axis=1).all() or not np.linalg.norm(t, axis=1).all()):
        raise ValueError("no answer")
    i, t = i / np.linalg.norm(i, axis=1, keepdims=True), t / np.linalg.norm(t, axis=1, keepdims=True)
    logits = scale * i @ t.T

    def ce(rows):
        rows = rows - rows.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(rows).sum(axis=1)) - np.diag(rows)))

    return (ce(logits) + ce(logits.T)) / 2


def test_clip_loss_exercise_accepts_a_right_answer():
    assert check("09.1", _loss)


def test_clip_loss_exercise_wants_a_zero_vector_refused():
    def careless(i, t, s):
        with np.errstate(divide="ignore", invalid="ignore"):   # a zero vector: NaN, not a refusal
            return _loss(i, t, s, refuse=False)

    assert not check("09.1", careless)


def test_ge2e_binding_prediction_has_three_bands():
    from course_utils.exercises import predict, reveal

    predict("09.5", None)                                                    # nothing recorded
    assert not reveal("09.5", ge2e_emergent=0.425, whisper_emergent=0.95)    # answer shown, no prediction to match
    assert predict("09.5", "between chance and Whisper's")
    assert reveal("09.5", ge2e_emergent=0.425, whisper_emergent=0.95)        # the notebook's numbers
    assert not reveal("09.5", ge2e_emergent=0.15, whisper_emergent=0.95)     # near chance
    assert not reveal("09.5", ge2e_emergent=0.9, whisper_emergent=0.95)      # near Whisper's
    assert not predict("09.5", "about half")                                 # not one of the choices


def test_ensemble_exercise_tells_a_missing_prompt_normalisation():
    rng = np.random.default_rng(0)
    prompt_emb = rng.normal(size=(10, 6, 8)) * rng.uniform(0.1, 10, size=(10, 6, 1))   # very unequal lengths
    image_emb = rng.normal(size=(200, 8))
    unit = prompt_emb / np.linalg.norm(prompt_emb, axis=-1, keepdims=True)
    right = (image_emb @ (unit.mean(1) / np.linalg.norm(unit.mean(1), axis=1, keepdims=True)).T).argmax(1)
    careless = (image_emb @ prompt_emb.mean(1).T).argmax(1)
    assert (right != careless).any()
    assert check("09.2", right, image_emb=image_emb, prompt_emb=prompt_emb)
    assert not check("09.2", careless, image_emb=image_emb, prompt_emb=prompt_emb)
