"""Self-checked exercises: the learner answers, ``check`` says whether it is right and why not.

Introduced in ``00_course_tour``. Every exercise has an id, ``"NN.k"`` (notebook ``NN``, exercise
``k``), and is defined in ``course_utils.answers.nNN``, out of the learner's sight: the notebook
cell holds only the learner's answer and the data it was computed from, never the reference.

Three kinds:

* **value** exercises: ``check("07.1", answer_1, v=vectors, gold=scores)``. The keyword
  arguments are the notebook's data; the exercise computes the expected value from them.
* **function** exercises ("write it from scratch"): ``check("02.1", my_cosine)``. The checker
  calls the learner's function on fresh random inputs and on edge cases (a zero vector, a
  wrong shape, ints instead of floats) and compares each result with a reference, as CS224N's
  sanity checks do. Where the reference raises (a zero vector has no cosine), the learner's
  function must raise the same kind of error.
* **predictions**: ``predict("04.2", "layer 6")`` records a guess before the notebook computes the
  answer; ``reveal("04.2", ...)`` then prints the answer beside the recorded guess.

A check never raises, whatever it is given: an unanswered exercise (``None`` or ``...``), a wrong
type, a wrong shape, a function that crashes, each gets a sentence that says what is off and
the exercise's hint. It returns a :class:`Verdict` (true when right) so that a solutions notebook
can ``assert check(...)``.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

PASS = "✅"
FAIL = "❌"
TODO = "✏️"


@dataclass(frozen=True)
class Raises:
    """An edge case whose right answer is an error of type ``error`` (e.g. a zero vector's cosine)."""

    error: type[BaseException]


@dataclass(frozen=True)
class Exercise:
    """One exercise; see the module doc for the three kinds.

    ``expected(**context)`` computes a value exercise's answer (or a prediction's) from the data
    the notebook passes; ``reference`` is the function a from-scratch answer must agree with,
    on the argument tuples that ``cases(rng)`` draws (fresh each time) plus ``edge_cases``.
    """

    id: str
    title: str
    hint: str = ""
    expected: Callable[..., Any] | None = None
    reference: Callable[..., Any] | None = None
    cases: Callable[[np.random.Generator], list[tuple]] | None = None
    edge_cases: tuple[tuple[str, tuple], ...] = ()
    rtol: float = 1e-3
    atol: float = 1e-6
    choices: tuple[Any, ...] = field(default=())

    @property
    def kind(self) -> str:
        return "function" if self.reference is not None else "value"


_REGISTRY: dict[str, Exercise] = {}
_PREDICTIONS: dict[str, Any] = {}


def register(*exercises: Exercise) -> None:
    """Add exercises to the registry (called by the ``course_utils.answers`` modules)."""
    for ex in exercises:
        _REGISTRY[ex.id] = ex


def get_exercise(exercise_id: str) -> Exercise | None:
    """The registered exercise ``"NN.k"``, importing ``course_utils.answers.nNN`` on first use."""
    if not isinstance(exercise_id, str) or "." not in exercise_id:
        return None
    if exercise_id not in _REGISTRY:
        notebook = exercise_id.split(".", 1)[0]
        try:
            importlib.import_module(f"course_utils.answers.n{notebook}")
        except ImportError:
            return None
    return _REGISTRY.get(exercise_id)


# ---- comparing an answer with the expected one -------------------------------------------------

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
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
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
        exp = np.asarray(expected.detach().cpu().numpy() if hasattr(expected, "detach") else expected)
        if hasattr(got, "detach"):
            got = got.detach().cpu().numpy()
        if isinstance(got, (str, bytes)) or got is None or not hasattr(got, "__len__"):
            if exp.ndim == 0 and _is_number(got):
                got = np.asarray(got)
            else:
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


UNFINISHED = "unfinished"  # what _check_function returns for a stub: it returned None or raised NotImplementedError


def _check_function(ex: Exercise, fn: Any) -> str | None:
    """Run ``fn`` on fresh random cases and the edge cases; None if it agrees with the reference."""
    if not callable(fn):
        return f"this exercise asks for a function (def ...), got {_describe(fn)}."
    rng = np.random.default_rng()
    cases = [(f"random input #{i + 1}", args) for i, args in enumerate(ex.cases(rng) if ex.cases else [])]
    for label, args in cases + list(ex.edge_cases):
        try:
            want: Any = ex.reference(*args)
        except Exception as exc:  # the right answer is an error
            want = Raises(type(exc))
        try:
            got = fn(*args)
        except Exception as exc:
            if isinstance(want, Raises) and isinstance(exc, want.error):
                continue
            if isinstance(exc, NotImplementedError):  # the stub as given: nothing written yet
                return UNFINISHED
            return f"on {label} your function raised {type(exc).__name__}: {exc}"
        if got is None and want is not None and not isinstance(want, Raises):
            return UNFINISHED
        if isinstance(want, Raises):
            return (f"on {label} your function returned {_describe(got)}, but there is no right answer there: "
                    f"it should raise {want.error.__name__}.")
        why = _compare(got, want, ex.rtol, ex.atol)
        if why:
            return f"on {label}: {why}"
    return None


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


def check(exercise: str, answer: Any, **context: Any) -> Verdict:
    """Check the answer to exercise ``exercise`` ("NN.k") and print a verdict.

    Parameters
    ----------
    exercise : the exercise's id, e.g. ``"07.1"``
    answer : the learner's answer: a value, or a function for a "from scratch" exercise
        (``None`` or ``...`` means not answered yet)
    **context : the notebook's data the exercise is about (a value exercise computes its
        expected answer from them)

    Returns
    -------
    Verdict : true when the answer is right (usable as ``assert check(...)``).
    """
    ex = get_exercise(exercise)
    if ex is None:
        return _say(False, f"{FAIL} there is no exercise {exercise!r}; the ids look like '07.1' (notebook 07, exercise 1).")
    label = f"Exercise {ex.id.split('.', 1)[1]}: {ex.title}"
    if answer is None or answer is Ellipsis or ex.kind == "value":
        try:
            expected = None if answer is None or answer is Ellipsis else ex.expected(**context)
        except Exception as exc:  # a check must never crash the learner's notebook
            return _say(False, f"{FAIL} {label}: the answer could not be checked ({type(exc).__name__}: {exc}).")
        return _check_against(label, answer, expected, hint=ex.hint, rtol=ex.rtol, atol=ex.atol)
    try:
        why = _check_function(ex, answer)
    except Exception as exc:
        why = f"the answer could not be checked ({type(exc).__name__}: {exc})."
    if why is None:
        return _say(True, f"{PASS} {label}: correct.")
    if why is UNFINISHED:  # no hint yet: it would give the recipe away before the learner has tried
        return _say(False, f"{TODO} {label}: not answered yet — write the function's body, `return` its result, "
                           "and run the cell again.")
    return _say(False, f"{FAIL} {label}: {why}" + (f" Hint: {ex.hint}" if ex.hint else ""))


def _check_against(name: Any, got: Any, expected: Any, *, hint: str | None = None, rtol: float = 1e-3,
                   atol: float = 1e-6) -> Verdict:
    """Compare ``got`` with ``expected``, print the verdict with ``hint`` if wrong; never raises."""
    label = name if isinstance(name, str) else repr(name)
    if got is None or got is Ellipsis:
        return _say(False, f"{TODO} {label}: not answered yet — replace the None with your answer and run the cell again.")
    try:
        why = _compare(got, expected, rtol, atol)
    except Exception as exc:
        why = f"the answer could not be compared with the expected one ({type(exc).__name__})."
    if why is None:
        return _say(True, f"{PASS} {label}: correct.")
    return _say(False, f"{FAIL} {label}: {why}" + (f" Hint: {hint}" if hint else ""))


def predict(exercise: str, guess: Any) -> Verdict:
    """Record a prediction before the notebook computes the answer (``reveal`` shows both)."""
    ex = get_exercise(exercise)
    if ex is None:
        return _say(False, f"{FAIL} there is no prediction {exercise!r}.")
    if guess is None or guess is Ellipsis:
        _PREDICTIONS.pop(ex.id, None)
        return _say(False, f"{TODO} {ex.title}: no prediction recorded yet — write your guess, then run the cell.")
    if ex.choices:
        named = [c for c in ex.choices if _names(guess, c)]
        if not named:
            return _say(False, f"{FAIL} {ex.title}: choose one of {list(ex.choices)}; got {guess!r}.")
        guess = named[0]
    _PREDICTIONS[ex.id] = guess
    return _say(True, f"{TODO} {ex.title}: your prediction {guess!r} is recorded. Run on to see the answer.")


def _names(guess: Any, choice: Any) -> bool:
    """Whether ``guess`` is ``choice``: equal, a truth value only for a truth value, and never an
    array (whose ``==`` compares element by element)."""
    if isinstance(guess, (bool, np.bool_)) != isinstance(choice, bool):
        return False
    try:
        same = guess == choice
    except Exception:
        return False
    return isinstance(same, (bool, np.bool_)) and bool(same)


def reveal(exercise: str, **context: Any) -> Verdict:
    """Print the answer of a prediction beside the recorded guess (or say none was recorded)."""
    ex = get_exercise(exercise)
    if ex is None:
        return _say(False, f"{FAIL} there is no prediction {exercise!r}.")
    try:
        answer = ex.expected(**context)
    except Exception as exc:
        return _say(False, f"{FAIL} {ex.title}: the answer could not be computed ({type(exc).__name__}: {exc}).")
    if ex.id not in _PREDICTIONS:
        return _say(False, f"{ex.title}: {answer!r}. (You recorded no prediction; next time commit to one first.)")
    guess = _PREDICTIONS[ex.id]
    right = _compare(guess, answer, ex.rtol, ex.atol) is None
    return _say(right, f"{PASS if right else FAIL} {ex.title}: {answer!r}; you predicted {guess!r}.")


def _say(passed: bool, message: str) -> Verdict:
    print(message)
    return Verdict(passed, message)
