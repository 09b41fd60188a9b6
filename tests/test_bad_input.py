"""Every public function of course_utils meets a wrong-typed argument with a clear error.

For each public function and each of its parameters, the test passes an object of no sensible
type (and, for text parameters, a number) and expects ``TypeError`` or ``ValueError`` whose
message names the parameter — never an AttributeError, IndexError or a raw NumPy/PyTorch error
from deep inside. ``check`` is the exception by design: it never raises, it explains.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import course_utils

NEVER_RAISES = {"course_utils.exercises.check", "course_utils.exercises.predict", "course_utils.exercises.reveal",
                "course_utils.exercises.get_exercise", "course_utils.exercises.register"}
NO_ARGUMENTS_TO_CHECK = {"course_utils.datasets.describe", "course_utils.models.describe",
                         "course_utils.models.prepare", "course_utils.datasets.cache_dir",
                         "course_utils.datasets.mirror_dir", "course_utils.datasets.downloads_allowed",
                         "course_utils.datasets.load_cranfield", "course_utils.datasets.cranfield_split"}


class Nonsense:
    """An object that is no vector, text, number, mapping or path."""

    def __repr__(self):
        return "Nonsense()"


def public_functions():
    out = []
    for info in pkgutil.iter_modules(course_utils.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"course_utils.{info.name}")
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
                continue
            qual = f"{module.__name__}.{name}"
            if qual in NEVER_RAISES or qual in NO_ARGUMENTS_TO_CHECK:
                continue
            out.append(pytest.param(fn, id=qual))
    return out


def sample_arguments(fn):
    """Plausible values for every required parameter, so that only the one under test is wrong."""
    plausible = {"a": [1.0, 0.0], "b": [0.0, 1.0], "A": [[1.0, 0.0]], "B": [[0.0, 1.0]], "x": [1.0, 2.0],
                 "query": [1.0, 0.0], "docs": [[1.0, 0.0]], "relevant": {1}, "retrieved": [1, 2], "k": 1,
                 "gains": {1: 1}, "grades": [1.0], "scores": {"d": 1.0}, "qrels": {"q": {"d": 1}},
                 "run": {"q": {"d": 1.0}}, "metrics": ["mrr"], "predicted": [1.0, 2.0, 3.0],
                 "gold": [1.0, 3.0, 2.0], "name": "all-MiniLM-L6-v2", "split": "test", "seed": 0,
                 "texts": ["a"], "metric": "cosine", "kind": "sentence-encoder",
                 "angle_deg": 30.0, "length": 1.0, "model": "all-MiniLM-L6-v2", "embeddings": [[1.0, 0.0]],
                 "anchors": [[1.0, 0.0], [0.0, 1.0]], "positives": [[1.0, 0.2], [0.1, 1.0]],
                 "negatives": [[0.0, 1.0], [1.0, 0.0]], "views_a": [[1.0, 0.0], [0.0, 1.0]],
                 "views_b": [[1.0, 0.2], [0.1, 1.0]]}
    if fn.__module__ == "course_utils.datasets":
        plausible["name"] = "stsbenchmark"
    if fn.__module__ == "course_utils.embcache":
        plausible["name"] = "sts-test"
    args = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            args[p.name] = plausible.get(p.name, [1.0])
    return args


@pytest.mark.parametrize("fn", public_functions())
def test_wrong_types_get_a_clear_error(fn, monkeypatch):
    monkeypatch.setenv("COURSE_ONLINE", "0")
    base = sample_arguments(fn)
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not params:
        pytest.skip("takes no arguments")
    for p in params:
        for bad in (Nonsense(), float("nan")) if p.name not in ("online",) else (Nonsense(),):
            args = dict(base, **{p.name: bad})
            try:
                fn(**args)
            except (TypeError, ValueError) as exc:
                assert p.name in str(exc), f"{fn.__name__}({p.name}=...) does not name the argument: {exc}"
            except Exception as exc:  # anything else is the raw error a learner cannot act on
                pytest.fail(f"{fn.__module__}.{fn.__name__}({p.name}={bad!r}) raised {type(exc).__name__}: {exc}")
            else:
                if isinstance(bad, Nonsense):
                    pytest.fail(f"{fn.__module__}.{fn.__name__}({p.name}=Nonsense()) raised nothing")
