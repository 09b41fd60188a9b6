"""course_utils.check never crashes, and says what is wrong."""
import numpy as np
import pytest

from course_utils import check


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
    verdict = check("ex", got, expected, hint="a hint")
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

    assert not check("ex", Weird(), "text")
    assert not check("ex", Weird(), object())
    assert "could not be compared" in capsys.readouterr().out


def test_check_with_torch_tensor(capsys):
    import torch

    assert check("ex", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))


def test_verdict_shows_nothing_more_in_a_notebook():
    verdict = check("ex", 1, 1)
    assert verdict._ipython_display_() is None and repr(verdict) == "Verdict(passed=True)"
