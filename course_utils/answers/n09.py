"""The exercises of ``09_multimodal``: CLIP's loss from scratch, prompt ensembling, a prediction."""
from __future__ import annotations

import numpy as np

from ..exercises import Exercise, register


# ---- 09.1 CLIP's symmetric loss from scratch ---------------------------------------------------

def _clip_loss(image_embeddings, text_embeddings, logit_scale) -> float:
    """The reference: course_utils.losses.clip_loss, as a float."""
    import torch

    from ..losses import clip_loss

    i = torch.as_tensor(np.asarray(image_embeddings, dtype=np.float64))
    t = torch.as_tensor(np.asarray(text_embeddings, dtype=np.float64))
    return float(clip_loss(i, t, logit_scale=float(logit_scale)))


def _clip_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(5):
        n, dim = int(rng.integers(2, 20)), int(rng.integers(2, 32))
        # rows of very different lengths: CLIP compares directions (it normalises first)
        images = rng.normal(size=(n, dim)) * rng.uniform(0.1, 10, size=(n, 1))
        texts = rng.normal(size=(n, dim)) * rng.uniform(0.1, 10, size=(n, 1))
        cases.append((images, texts, float(rng.choice([1.0, 1 / 0.07, 100.0]))))
    return cases


# ---- 09.2 zero-shot predictions with a prompt ensemble -----------------------------------------

def _ensemble_predictions(image_emb, prompt_emb) -> np.ndarray:
    """Each image's class: the nearest (cosine) of the normalised mean of each class's unit prompt vectors."""
    images = np.asarray(image_emb, dtype=np.float64)
    prompts = np.asarray(prompt_emb, dtype=np.float64)                          # (classes, templates, dim)
    prompts = prompts / np.linalg.norm(prompts, axis=-1, keepdims=True)
    classes = prompts.mean(axis=1)
    classes /= np.linalg.norm(classes, axis=-1, keepdims=True)
    images = images / np.linalg.norm(images, axis=-1, keepdims=True)
    return (images @ classes.T).argmax(axis=1)


# ---- 09.3 what a speaker encoder keeps ---------------------------------------------------------

def _closer(ge2e_digit, whisper_digit, chance=0.1) -> str:
    return "chance" if abs(ge2e_digit - chance) < abs(whisper_digit - ge2e_digit) else "whisper"


register(
    Exercise("09.1", "CLIP's symmetric loss from scratch",
             hint="Normalise both sides' rows, logits = logit_scale * I @ T.T, then the mean of the cross-entropy "
                  "of the rows and of the columns, the right answer being the diagonal.",
             reference=_clip_loss, cases=_clip_cases, rtol=1e-5, atol=1e-8,
             edge_cases=(("integer embeddings", (np.array([[1, 0], [0, 2]]), np.array([[3, 1], [0, 1]]), 10.0)),
                         ("one pair", (np.array([[1.0, 2.0]]), np.array([[0.5, -1.0]]), 1 / 0.07)),
                         # no right answer (the reference raises ValueError): the function must refuse them
                         ("a zero vector", (np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), 10.0)),
                         ("3 images but 2 texts", (np.ones((3, 4)), np.eye(2, 4), 10.0)),
                         ("images and texts of different dimensions", (np.eye(2, 4), np.eye(2, 3), 10.0)))),
    Exercise("09.2", "zero-shot predictions with a prompt ensemble",
             hint="Normalise every prompt vector, average them per digit, normalise the averages, then take "
                  "each image's most similar digit (argmax of the cosine).",
             expected=lambda image_emb, prompt_emb: _ensemble_predictions(image_emb, prompt_emb)),
    Exercise("09.3", "what a speaker encoder keeps of the digit",
             hint="GE2E was trained to tell voices apart, whatever they say.",
             expected=lambda ge2e_digit, whisper_digit: _closer(ge2e_digit, whisper_digit),
             choices=("chance", "whisper")),
)


# ---- 09.4 emergent accuracy with one prompt ----------------------------------------------------

def _nearest_prompt_accuracy(audio_emb, text_emb, labels) -> float:
    a = np.asarray(audio_emb, dtype=np.float64)
    t = np.asarray(text_emb, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return float(((a @ t.T).argmax(axis=1) == np.asarray(labels)).mean())


register(Exercise("09.4", "emergent accuracy with one prompt",
                  hint="Cosine of every recording with the 10 prompts, argmax per row, compare with the digits, "
                       "take the mean.",
                  expected=lambda audio_emb, text_emb, labels: _nearest_prompt_accuracy(audio_emb, text_emb, labels)))


# ---- 09.5 a binding of GE2E's vectors ----------------------------------------------------------

BANDS = ("near chance", "between chance and Whisper's", "near Whisper's")


def _emergent_band(ge2e_emergent, whisper_emergent, chance=0.1) -> str:
    """Where GE2E's emergent accuracy lands: within 10 points of chance, within 10 points of
    Whisper's binding, or between the two."""
    if ge2e_emergent - chance < 0.1:
        return BANDS[0]
    if whisper_emergent - ge2e_emergent < 0.1:
        return BANDS[2]
    return BANDS[1]


register(Exercise("09.5", "the emergent accuracy of a binding of GE2E's vectors",
                  hint="The projection passes on only what the audio vectors hold: read both encoders' digit "
                       "accuracy, speaker held out, in section 5's table.",
                  expected=lambda ge2e_emergent, whisper_emergent: _emergent_band(ge2e_emergent, whisper_emergent),
                  choices=BANDS))
