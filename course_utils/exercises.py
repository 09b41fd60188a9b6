"""Self-checks for the exercises: ``check(name, got, expected)`` prints a clear verdict.

Introduced in ``00_course_tour``. A check never raises, whatever it is given: an unanswered
exercise (``None`` or ``...``), a wrong type, a wrong shape or a wrong value each gets a sentence
that says what is off and, where the exercise has one, a hint. It returns ``True`` or ``False``
(a :class:`Verdict`) so that a solutions notebook can ``assert`` it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Set
from typing import Any

import numpy as np

PASS = "✅"
FAIL = "❌"
TODO = "✏️"


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{type(x).__name__} of shape {tuple(x.shape)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of length {len(x)}"
    text = repr(x)
    return f"{type(x).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """Return None when ``got`` matches ``expected``, else a sentence saying what differs."""
    if _is_number(expected):
        if isinstance(got, bool) or not _is_number(got):
            if hasattr(got, "item") and getattr(got, "size", 0) == 1:
                got = got.item()
            else:
                return f"expected a number, got {_describe(got)}."
        if not math.isfinite(float(got)):
            return f"got {got}, which is not a finite number; check for a division by zero."
        if not math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return f"got {float(got):.4g}, which is not the expected value."
        return None
    if isinstance(expected, str):
        if not isinstance(got, str):
            return f"expected a string, got {_describe(got)}."
        if got.strip().lower() != expected.strip().lower():
            return f"got {got!r}, which is not the expected answer."
        return None
    if isinstance(expected, bool):
        if not isinstance(got, (bool, np.bool_)):
            return f"expected True or False, got {_describe(got)}."
        return None if bool(got) == expected else f"got {bool(got)}, which is not the expected answer."
    if isinstance(expected, Set):
        try:
            got_set = set(got)
        except TypeError:
            return f"expected a set (or list) of items, got {_describe(got)}."
        if got_set == set(expected):
            return None
        extra, lacking = len(got_set - set(expected)), len(set(expected) - got_set)
        return f"{lacking} expected item(s) are missing and {extra} are not expected."
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"expected a dict, got {_describe(got)}."
        if set(got) != set(expected):
            return f"the keys differ: expected {sorted(map(str, expected))[:8]}, got {sorted(map(str, got))[:8]}."
        for key in expected:
            why = _compare(got[key], expected[key], rtol, atol)
            if why:
                return f"at key {key!r}: {why}"
        return None
    if isinstance(expected, (list, tuple, np.ndarray)) or hasattr(expected, "shape"):
        exp = np.asarray(expected)
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
        if isinstance(got, (str, bytes)) or got is None or not hasattr(got, "__len__"):
            return f"expected {_describe(exp)}, got {_describe(got)}."
        try:
            arr = np.asarray(got)
        except Exception:  # ragged lists and other oddities
            return f"expected {_describe(exp)}, got {_describe(got)} that NumPy cannot turn into an array."
        if arr.shape != exp.shape:
            return f"expected shape {exp.shape}, got shape {arr.shape}."
        if exp.dtype.kind in "fiub" and arr.dtype.kind in "fiub":
            if not np.all(np.isfinite(arr.astype(float))):
                return "the answer contains NaN or infinite values."
            if not np.allclose(arr.astype(float), exp.astype(float), rtol=rtol, atol=atol):
                diff = float(np.max(np.abs(arr.astype(float) - exp.astype(float))))
                return f"the shape is right but values differ (largest difference {diff:.3g})."
            return None
        if arr.dtype.kind in "fiub" and exp.dtype.kind not in "fiub":
            return f"expected items like {exp.ravel()[0]!r}, got numbers."
        return None if arr.tolist() == exp.tolist() else "the items or their order differ from the expected ones."
    return None if got == expected else f"got {_describe(got)}, which is not the expected answer."


class Verdict:
    """The result of :func:`check`: true when the answer is right.

    It has already printed its message, so a notebook shows nothing more for it when it is
    the last line of a cell; ``assert check(...)`` works as with a bool.
    """

    __slots__ = ("passed", "message")

    def __init__(self, passed: bool, message: str):
        self.passed, self.message = passed, message

    def __bool__(self) -> bool:
        return self.passed

    def __eq__(self, other: Any) -> bool:
        return bool(self) == other if isinstance(other, (bool, Verdict)) else NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Verdict(passed={self.passed})"

    def _ipython_display_(self) -> None:  # the message was printed already
        return None


def check(name: str, got: Any, expected: Any, *, hint: str | None = None,
          rtol: float = 1e-3, atol: float = 1e-6) -> Verdict:
    """Compare an exercise answer with the expected one and print a verdict.

    Parameters
    ----------
    name : what the exercise is called, printed with the verdict
    got : the learner's answer (``None`` or ``...`` means not answered yet)
    expected : the reference answer, computed by the notebook, never typed in
    hint : one sentence printed when the answer is wrong
    rtol, atol : tolerances for numbers and arrays

    Returns
    -------
    Verdict : true when the answer matches (usable as ``assert check(...)``).
    """
    label = name if isinstance(name, str) else repr(name)
    if got is None or got is Ellipsis:
        return _say(False, f"{TODO} {label}: not answered yet — replace the None with your answer and run the cell again.")
    try:
        why = _compare(got, expected, rtol, atol)
    except Exception as exc:  # a check must never crash the learner's notebook
        why = f"the answer could not be compared with the expected one ({type(exc).__name__})."
    if why is None:
        return _say(True, f"{PASS} {label}: correct.")
    return _say(False, f"{FAIL} {label}: {why}" + (f" Hint: {hint}" if hint else ""))


def _say(passed: bool, message: str) -> Verdict:
    print(message)
    return Verdict(passed, message)
