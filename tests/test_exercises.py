"""course_utils.check never crashes, and says what is wrong."""
import numpy as np
import pytest

from course_utils import check
from course_utils.exercises import _check_against


@pytest.mark.parametrize("got, expected, ok, words", [
    (None, 1.0, False, "not answered yet"),
    (..., 1.0, False, "not answered yet"),
    (0.5, 0.5, True, "correct"),
    (np.float32(0.5), 0.5, True, "correct"),
    (np.array([0.5]), 0.5, True, "correct"),
    ("0.5", 0.5, False, "expected a number"),
    (float("nan"), 0.5, False, "not a finite number"),
    (0.7, 0.5, False, "not the expected value"),
    ([1, 2, 3], np.array([1, 2, 3]), True, "correct"),
    ([1, 2], np.array([1, 2, 3]), False, "expected shape (3,)"),
    ([1, 2, 4], np.array([1, 2, 3]), False, "values differ"),
    ([[1], [2, 3]], np.array([1, 2, 3]), False, "cannot turn into an array"),
    ({"b", "a"}, {"a", "b"}, True, "correct"),
    (["a"], {"a", "b"}, False, "1 expected item(s) are missing"),
    (5, {"a", "b"}, False, "expected a set"),
    ({"x": 1.0}, {"x": 1.0}, True, "correct"),
    ({"y": 1.0}, {"x": 1.0}, False, "keys differ"),
    ([1], {"x": 1.0}, False, "expected a dict"),
    (" Queen ", "queen", True, "correct"),
    (3, "queen", False, "expected a string"),
    (True, True, True, "correct"),
    (1, True, False, "expected True or False"),
    (object(), 1.0, False, "expected a number"),
])
def test_check_verdicts(capsys, got, expected, ok, words):
    verdict = _check_against("ex", got, expected, hint="a hint")
    assert bool(verdict) is ok and verdict == ok
    out = capsys.readouterr().out
    assert words in out
    assert out.startswith("ex:") is False  # always a symbol first
    assert ("Hint: a hint" in out) == (not ok and got is not None and got is not ...)


def test_check_survives_a_hostile_object(capsys):
    class Weird:
        def __eq__(self, other):
            raise RuntimeError("boom")
        __hash__ = None

    assert not _check_against("ex", Weird(), "text")
    assert not _check_against("ex", Weird(), object())
    assert "could not be compared" in capsys.readouterr().out


def test_check_with_torch_tensor(capsys):
    import torch

    assert _check_against("ex", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))


def test_verdict_shows_nothing_more_in_a_notebook():
    verdict = _check_against("ex", 1, 1)
    assert verdict._ipython_display_() is None and repr(verdict) == "Verdict(passed=True)"


# ---- exercises by id: references out of sight ------------------------------------------------

from course_utils.exercises import Exercise, predict, register, reveal  # noqa: E402


def _cosine(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise ValueError("zero vector")
    return float(a @ b / (na * nb))


register(
    Exercise("99.1", "a mean", hint="Sum, then divide.", expected=lambda values: float(np.mean(values))),
    Exercise("99.2", "cosine from scratch", hint="Divide the dot product by both lengths.", reference=_cosine,
             cases=lambda rng: [tuple(rng.normal(size=(2, 5)))],
             edge_cases=(("integers", ([1, 2], [2, 1])), ("a zero vector", ([0.0, 0.0], [1.0, 0.0])))),
    Exercise("99.3", "which wins", expected=lambda scores: max(scores, key=scores.get), choices=("a", "b")),
)


def test_value_exercise_computes_its_reference_from_the_context(capsys):
    assert check("99.1", 2.0, values=[1, 2, 3])
    assert not check("99.1", 2.5, values=[1, 2, 3])
    out = capsys.readouterr().out
    assert "Exercise 1: a mean: correct" in out and "Hint: Sum, then divide." in out


def test_function_exercise_runs_fresh_cases_and_edge_cases(capsys):
    assert check("99.2", _cosine)
    assert not check("99.2", lambda a, b: float(np.dot(a, b)))                       # forgot to normalise
    assert "random input" in capsys.readouterr().out
    no_guard = lambda a, b: float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) if np.any(a) else 0.0)  # noqa: E731
    assert not check("99.2", no_guard)
    assert "it should raise ValueError" in capsys.readouterr().out
    assert not check("99.2", lambda a, b: 1 / 0)
    assert "raised ZeroDivisionError" in capsys.readouterr().out
    assert not check("99.2", 0.5)
    assert "asks for a function" in capsys.readouterr().out


def test_an_unfinished_function_gets_the_same_message_every_time(capsys):
    """A stub that returns None must not be told about a random input: its message never changes."""
    messages = set()
    for _ in range(5):
        assert not check("99.2", lambda a, b: None)
        messages.add(capsys.readouterr().out)
    assert len(messages) == 1 and "not answered yet" in messages.pop()

    def stub(a, b):
        raise NotImplementedError("write your function here")
    assert not check("99.2", stub)
    out = capsys.readouterr().out
    assert "not answered yet" in out and "Hint" not in out          # the hint waits for a real attempt


def test_unknown_or_unanswered_exercise_never_raises(capsys):
    assert not check("99.9", 1.0)
    assert not check(42, 1.0)
    assert not check("99.1", None, values=[1])
    assert not check("99.1", 1.0)                     # context missing: explained, not raised
    out = capsys.readouterr().out
    assert "there is no exercise" in out and "not answered yet" in out and "could not be checked" in out


def test_prediction_is_recorded_before_the_reveal(capsys):
    scores = {"a": 1.0, "b": 2.0}
    assert not reveal("99.3", scores=scores)
    assert "recorded no prediction" in capsys.readouterr().out
    assert not predict("99.3", None)
    assert not predict("99.3", "c")
    assert predict("99.3", "a")
    assert not reveal("99.3", scores=scores)
    assert "'b'; you predicted 'a'" in capsys.readouterr().out
    assert predict("99.3", "b") and reveal("99.3", scores=scores)


@pytest.mark.parametrize("guess", [np.array(["a", "b"]), np.array(["a"]), ["a"], {"a": 1}, 1.5, b"a", object()])
def test_a_prediction_that_is_no_choice_is_explained(guess, capsys):
    """Arrays, lists, dicts and other types are named in the message, never a raw traceback."""
    assert not predict("99.3", guess)
    assert "choose one of ['a', 'b']" in capsys.readouterr().out


def test_a_prediction_names_its_choice_by_value_but_not_a_bool_by_a_number():
    from course_utils.answers.n00 import CLOSEST_OPTIONS

    assert predict("00.1", np.int64(len(CLOSEST_OPTIONS) - 1))      # what np.argmax returns
    assert not predict("05.6", 1) and predict("05.6", np.bool_(True)) and predict("05.6", False)
