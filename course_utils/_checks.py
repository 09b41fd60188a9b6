"""Argument checks shared by the public functions of ``course_utils``.

A public function checks its data arguments once, at the top, with these helpers, and raises a
``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, wrong value) that names the
argument and says what to do, instead of letting NumPy or PyTorch fail deep inside with a
message a learner cannot act on. Internal calls do not check again.

Each helper returns the checked value (converted where that is its job), so a check reads as an
assignment::

    k = check_int(k, "k", minimum=1)

To report every wrong argument at once rather than the first, collect them::

    with Problems() as problems:
        corpus = problems.check(check_text_mapping, corpus, "corpus", what="doc")
        k = problems.check(check_int, k, "k", minimum=1)
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np


class Problems:
    """Collect argument errors so that one exception names every argument that is wrong.

    ``check(fn, *args, **kwargs)`` runs a check and returns its value, or records its error and
    returns None. Leaving the ``with`` block raises one ``TypeError`` (if any error was a
    ``TypeError``) or ``ValueError`` whose message joins them all. ``raise_if_any()`` does the
    same in the middle of a block, before checks that need the earlier values.
    """

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def check(self, fn: Callable, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            self.errors.append(exc)
            return None

    def add(self, exc: Exception) -> None:
        self.errors.append(exc)

    def raise_if_any(self) -> None:
        if self.errors:
            kind = TypeError if any(isinstance(e, TypeError) for e in self.errors) else ValueError
            errors, self.errors = self.errors, []
            raise kind(" ".join(str(e) for e in errors))

    def __enter__(self) -> "Problems":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.raise_if_any()


def _show(value: Any) -> str:
    return f"{type(value).__name__} ({value!r:.40})"


def as_float_array(x: Any, name: str, *, ndim: int | tuple[int, ...], allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a finite float64 array with the given number of dimensions, or raise."""
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


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not a whole number in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {_show(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}; got {value}.")
    return int(value)


def check_number(value: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 above: float | None = None) -> float:
    """Return ``value`` as a finite float, or raise.

    ``minimum`` / ``maximum`` are inclusive bounds; ``above`` is an exclusive lower bound
    (``above=0`` for a temperature or a scale, which must be positive).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number; got {_show(value)}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number; got {value}.")
    if above is not None and value <= above:
        raise ValueError(f"`{name}` must be > {above}; got {value}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}; got {value}.")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is True or False (not 0/1, not a string), or raise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {_show(value)}.")
    return bool(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {list(choices)}; got {type(value).__name__}.")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}; got {value!r}.")
    return value


def check_text(value: Any, name: str, *, allow_empty: bool = True) -> str:
    """Return ``value`` if it is a string (non-blank unless ``allow_empty``), or raise."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string; got {_show(value)}.")
    if not allow_empty and not value.strip():
        raise ValueError(f"`{name}` is empty; pass some text.")
    return value


def check_texts(texts: Any, name: str = "texts", *, allow_empty: bool = True) -> list[str]:
    """Return ``texts`` as a list of strings, or raise.

    A single string is refused on purpose: ``encode("a sentence")`` would otherwise be read
    character by character by some libraries.
    """
    if isinstance(texts, str):
        raise TypeError(f"`{name}` must be a list of strings; got a single string. Wrap it: [{texts!r:.40}].")
    items = check_sequence(texts, name, what="strings")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"`{name}[{i}]` must be a string; got {_show(t)}.")
    if not allow_empty and not items:
        raise ValueError(f"`{name}` is empty; pass at least one string.")
    return items


def check_sequence(value: Any, name: str, *, what: str = "items", allow_empty: bool = True) -> list:
    """Return ``value`` as a list if it is a list, tuple, array or other iterable (not a string or dict)."""
    if value is None:
        raise TypeError(f"`{name}` is None; pass a list of {what}.")
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"`{name}` must be a list of {what}; got {type(value).__name__}.")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"`{name}` must be a list of {what}; got {type(value).__name__}.") from None
    if not allow_empty and not items:
        raise ValueError(f"`{name}` is empty; pass at least one of the {what}.")
    return items


def check_mapping(value: Any, name: str, *, what: str = "{key: value}", allow_empty: bool = True) -> dict:
    """Return ``value`` as a dict if it is a mapping, or raise."""
    if not isinstance(value, Mapping):
        raise TypeError(f"`{name}` must be a dict {what}; got {type(value).__name__}.")
    if not allow_empty and not value:
        raise ValueError(f"`{name}` is empty; pass at least one entry {what}.")
    return dict(value)


def check_callable(value: Any, name: str, *, what: str, optional: bool = False) -> Callable | None:
    """Return ``value`` if it can be called (or is None when ``optional``), or raise."""
    if value is None and optional:
        return None
    if not callable(value):
        raise TypeError(f"`{name}` must be {what}; got {type(value).__name__}.")
    return value


def check_nonzero_rows(arr: np.ndarray, name: str, *,
                       why: str = "its cosine and its direction are undefined. Drop it, or use a dot product or a distance") -> np.ndarray:
    """Return the L2 norms of ``arr``'s rows (or of a vector), or raise if any is zero."""
    norms = np.linalg.norm(arr, axis=-1)
    zero = np.flatnonzero(np.atleast_1d(norms) == 0)
    if zero.size:
        where = "is the zero vector" if arr.ndim == 1 else f"has zero vector(s) at row(s) {zero[:5].tolist()}"
        raise ValueError(f"`{name}` {where}: {why}.")
    return norms


def _is_id(x: Any) -> bool:
    return isinstance(x, (str, numbers.Integral)) and not isinstance(x, bool)


def check_ids(value: Any, name: str, *, unique: bool = True) -> list:
    """Return ``value`` as a list of ids (strings or integers), each at most once if ``unique``."""
    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise TypeError(f"`{name}` must be a list of ids (strings or integers); got {type(value).__name__}.")
    items = [i.item() if isinstance(i, np.generic) else i for i in check_sequence(value, name, what="ids")]
    for i, item in enumerate(items):
        if not _is_id(item):
            raise TypeError(f"`{name}[{i}]` must be a string or an integer id; got {_show(item)}.")
    if unique and len(set(items)) != len(items):
        raise ValueError(f"`{name}` holds the same id more than once; each row needs its own id.")
    return items


def check_text_mapping(value: Any, name: str, *, what: str) -> dict:
    """Return ``value`` as a non-empty dict {id: text}, or raise (``what``: "doc", "query")."""
    if not isinstance(value, Mapping):
        raise TypeError(f"`{name}` must be a dict {{{what}_id: text}}; got {type(value).__name__}. "
                        f"With a list of texts, number them: dict(enumerate(texts)).")
    if not value:
        raise ValueError(f"`{name}` is empty; pass at least one {what}.")
    for key, text in value.items():
        if not _is_id(key):
            raise TypeError(f"`{name}` has a key of type {type(key).__name__} ({key!r:.40}); ids must be strings or integers.")
        if not isinstance(text, str):
            raise TypeError(f"`{name}[{key!r}]` must be a string; got {_show(text)}.")
    return dict(value)


# Number types whose every finite value is a valid score: checked together, in one NumPy pass.
_PLAIN_NUMBERS = frozenset({float, int, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8})


def check_scores(value: Any, name: str, *, what: str = "score") -> dict:
    """Return ``value`` as a dict {id: finite number}: one query's entry of a run, or of qrels."""
    value = check_mapping(value, name, what=f"{{doc_id: {what}}}")
    scores = value.values()
    if all(type(s) in _PLAIN_NUMBERS for s in scores):     # the usual case: a run of floats, qrels of ints
        try:
            if np.isfinite(np.fromiter(scores, np.float64, len(value))).all():
                return value
        except OverflowError:                               # an int too large for a float: reported below
            pass
    for key, s in value.items():
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s):
            raise ValueError(f"`{name}[{key!r}]` must be a finite number (a {what}); got {s!r:.40}.")
    return value


def check_run(value: Any, name: str, *, what: str = "score") -> dict:
    """Return ``value`` as a run (or qrels) ``{query_id: {doc_id: number}}``, or raise."""
    value = check_mapping(value, name, what=f"{{query_id: {{doc_id: {what}}}}}")
    return {q: check_scores(entry, f"{name}[{q!r}]", what=what) for q, entry in value.items()}
