"""Argument checks shared by the public functions of ``course_utils``.

Every public function validates what it is given and raises a ``TypeError`` or ``ValueError``
that names the argument and says what to do, instead of letting NumPy or PyTorch fail deep
inside with a message a learner cannot act on.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def as_float_array(x: Any, name: str, *, ndim: int | tuple[int, ...], allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a float64 array with the given number of dimensions, or raise."""
    if x is None:
        raise TypeError(f"`{name}` is None; pass a vector (list or NumPy array) of numbers.")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"`{name}` is a string ({x!r:.40}); pass numbers, e.g. an embedding from model.encode(...).")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    if hasattr(x, "toarray") and callable(x.toarray):  # a SciPy sparse matrix
        x = x.toarray()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must contain only numbers; got {type(x).__name__} that NumPy cannot convert ({exc}).") from None
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        want = " or ".join({1: "1-D (dim,)", 2: "2-D (n, dim)"}.get(d, f"{d}-D") for d in ndims)
        hint = ""
        if 1 in ndims and arr.ndim == 2 and 1 in arr.shape:
            hint = " A single row or column can be flattened with `.ravel()`."
        if 2 in ndims and arr.ndim == 1:
            hint = " A single vector can be made a one-row matrix with `x[None, :]`."
        raise ValueError(f"`{name}` must be {want}; got shape {arr.shape}.{hint}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}); pass at least one value.")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"`{name}` contains {bad} NaN or infinite value(s); check how it was computed.")
    return arr


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not a whole number >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {type(value).__name__} ({value!r:.40}).")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    return int(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {list(choices)}; got {type(value).__name__}.")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}; got {value!r}.")
    return value


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """Return ``texts`` as a list of strings, or raise.

    A single string is refused on purpose: ``encode("a sentence")`` would otherwise be read
    character by character by some libraries.
    """
    if isinstance(texts, str):
        raise TypeError(f"`{name}` must be a list of strings; got a single string. Wrap it: [{texts!r:.40}].")
    if texts is None:
        raise TypeError(f"`{name}` is None; pass a list of strings.")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"`{name}` must be a list of strings; got {type(texts).__name__}.") from None
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"`{name}[{i}]` must be a string; got {type(t).__name__} ({t!r:.40}).")
    return items
