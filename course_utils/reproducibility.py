"""Seeding, so that a re-executed notebook prints the same numbers."""
from __future__ import annotations

import random

import numpy as np

from ._checks import check_int


def set_seed(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and (if installed) PyTorch; return the seed.

    Introduced in ``00_course_tour``. Call it in a notebook's setup cell, and again right
    before any cell whose output depends on randomness. String hashing (``PYTHONHASHSEED``)
    is fixed when Python starts and cannot be seeded here; gensim needs ``workers=1`` and its
    own ``seed`` argument to be reproducible.

    Parameters
    ----------
    seed : int
        A non-negative integer.
    """
    seed = check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # torch is optional for the numpy-only helpers
        return seed
    torch.manual_seed(seed)
    return seed
