"""The exercises of notebook 08 (course_utils.answers.n08): right answers pass, typical wrong ones fail."""
import numpy as np
import pytest

from course_utils.exercises import check, get_exercise, predict, reveal


def good_maxsim(q, d):
    q, d = np.asarray(q, dtype=float), np.asarray(d, dtype=float)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError("shapes")
    qn, dn = np.linalg.norm(q, axis=1, keepdims=True), np.linalg.norm(d, axis=1, keepdims=True)
    if (qn == 0).any() or (dn == 0).any():
        raise ValueError("zero vector")
    return float(((q / qn) @ (d / dn).T).max(axis=1).sum())


def test_maxsim_exercise_accepts_a_right_answer_and_refuses_wrong_ones(capsys):
    assert check("08.1", good_maxsim)
    wrong = {
        "no normalisation": lambda q, d: float((np.asarray(q) @ np.asarray(d).T).max(axis=1).sum()),
        "max over the query": lambda q, d: good_maxsim(d, q),
        "mean instead of sum": lambda q, d: good_maxsim(q, d) / len(q),
        "no error on zeros": lambda q, d: float(np.nan_to_num(
            ((np.asarray(q) / np.linalg.norm(q, axis=1, keepdims=True))
             @ (np.asarray(d) / np.linalg.norm(d, axis=1, keepdims=True)).T).max(axis=1)).sum()),
    }
    for name, fn in wrong.items():
        with np.errstate(all="ignore"):
            assert not check("08.1", fn), name
    assert not check("08.1", None) and "not answered" in capsys.readouterr().out


def test_latency_budget_exercise():
    latency = {10: 120.0, 20: 250.0, 50: 610.0, 100: 1200.0}
    ndcg = {10: 0.40, 20: 0.41, 50: 0.43, 100: 0.44}
    assert check("08.2", 20, latency_ms=latency, ndcg=ndcg, budget_ms=300)
    assert not check("08.2", 100, latency_ms=latency, ndcg=ndcg, budget_ms=300)      # best, but too slow
    assert check("08.2", 10, latency_ms=latency, ndcg={**ndcg, 10: 0.45}, budget_ms=300)  # deeper is not always better
    assert check("08.2", None, latency_ms=latency, ndcg=ndcg, budget_ms=50) is not None
    assert get_exercise("08.2").expected(latency_ms=latency, ndcg=ndcg, budget_ms=50) is None


def test_index_size_exercise():
    context = dict(n_docs=10_000_000, tokens_per_doc=117.9, bi_dim=384, colbert_dim=128)
    right = {"bi-encoder": 15.36, "late interaction": 301.824, "ColBERTv2 2-bit": 42.444, "cross-encoder": 0.0}
    assert check("08.3", right, **context)
    assert not check("08.3", {**right, "late interaction": 603.648}, **context)        # float32 instead of float16
    assert not check("08.3", {k: v for k, v in right.items() if k != "cross-encoder"}, **context)


@pytest.mark.parametrize("before, after, answer", [(0.34, 0.40, "up"), (0.34, 0.20, "down"), (0.34, 0.345, "about the same")])
def test_prediction_is_revealed_against_the_result(before, after, answer, capsys):
    assert predict("08.4", answer)
    assert reveal("08.4", before=before, after=after)
    assert not predict("08.4", "sideways")


@pytest.mark.parametrize("exercise, answer", [
    ("08.1", 3.0), ("08.1", lambda q: 1.0), ("08.1", lambda q, d: "big"), ("08.1", lambda q, d: 1 / 0),
    ("08.2", "twenty"), ("08.2", [20]), ("08.2", 20.5),
    ("08.3", "15 GB"), ("08.3", [1, 2, 3, 4]), ("08.3", {"bi-encoder": "x", "late interaction": 1,
                                                          "ColBERTv2 2-bit": 1, "cross-encoder": 0}),
])
def test_wrong_or_wrongly_typed_answers_are_explained_not_raised(exercise, answer, capsys):
    context = {"08.2": dict(latency_ms={10: 120.0, 20: 250.0}, ndcg={10: 0.40, 20: 0.41}, budget_ms=300),
               "08.3": dict(n_docs=10, tokens_per_doc=2.0, bi_dim=4, colbert_dim=2)}.get(exercise, {})
    assert not check(exercise, answer, **context)
    out = capsys.readouterr().out
    assert out.strip() and "Traceback" not in out


def test_a_check_without_its_data_explains_instead_of_crashing(capsys):
    assert not check("08.2", 20)                                  # the latencies were not passed
    assert "could not be checked" in capsys.readouterr().out
