"""The exercises of notebooks 10a and 10b: ids with a letter resolve, and the checks can fail."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_utils import check
from course_utils.exercises import get_exercise, predict, reveal
from course_utils.metrics import rank_run


@pytest.mark.parametrize("exercise_id", ["10a.4", "10a.5", "10a.1", "10a.2", "10a.3",
                                         "10b.4", "10b.1", "10b.2", "10b.3"])
def test_lettered_notebook_ids_find_their_answers_module(exercise_id):
    ex = get_exercise(exercise_id)
    assert ex is not None and ex.id == exercise_id


def test_an_unknown_lettered_notebook_is_no_exercise(capsys):
    assert get_exercise("10z.1") is None
    assert not check("10z.1", 1.0)
    assert "there is no exercise" in capsys.readouterr().out


def _r_precision(relevant, ranking):
    relevant = set(relevant)
    return sum(d in relevant for d in ranking[:len(relevant)]) / len(relevant) if relevant else 0.0


def _paired_t(a, b):
    d = np.asarray(a, float) - np.asarray(b, float)
    return d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))


def _mrr_at_k(qrels, run, k):
    rr = []
    for q in sorted(set(qrels) & set(run)):
        ranked = rank_run(run[q])[:k]
        rr.append(next((1 / r for r, d in enumerate(ranked, 1) if qrels[q].get(d, 0) >= 1), 0.0))
    return float(np.mean(rr))


def _spearman(x, y):
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    if len(rx) != len(ry):
        raise ValueError("unequal lengths")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ap(labels, scores):
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    hits = np.asarray(labels, bool)[order]
    return float(np.sum(np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)) / hits.sum())


def _mean_rank(table):
    return table.rank(ascending=False).mean(axis=1)


@pytest.mark.parametrize("exercise_id, answer", [("10a.1", _r_precision), ("10a.2", _paired_t),
                                                 ("10a.3", _mrr_at_k), ("10b.1", _spearman),
                                                 ("10b.2", _ap), ("10b.3", _mean_rank)])
def test_independent_solutions_pass(exercise_id, answer):
    assert check(exercise_id, answer)


@pytest.mark.parametrize("exercise_id, wrong, words", [
    ("10a.1", lambda rel, ranking: sum(d in set(rel) for d in ranking[:len(set(rel))]) / max(len(ranking), 1),
     "not the expected value"),
    ("10a.2", lambda a, b: float(np.mean(np.subtract(a, b)) / np.std(np.subtract(a, b))), "not the expected value"),
    # a plain sort keeps ties in dictionary order: trec_eval breaks them by decreasing id
    ("10a.3", lambda qrels, run, k: float(np.mean([
        next((1 / r for r, d in enumerate(sorted(run[q], key=run[q].get, reverse=True)[:k], 1)
              if qrels[q].get(d, 0) >= 1), 0.0) for q in run if q in qrels])), "tied scores"),
    ("10a.3", lambda qrels, run, k: float(np.mean([v for v in [
        next((1 / r for r, d in enumerate(rank_run(run[q])[:k], 1) if qrels[q].get(d, 0) >= 1), 0.0)
        for q in run if q in qrels] if v > 0] or [0.0])), "on "),
    ("10b.1", lambda x, y: float(np.corrcoef(x, y)[0, 1]), "not the expected value"),
    ("10b.2", lambda labels, scores: float(np.mean(np.asarray(labels, bool))), "not the expected value"),
    ("10b.3", lambda table: table.mean(axis=1), "values differ"),
])
def test_wrong_answers_fail_with_a_reason(capsys, exercise_id, wrong, words):
    assert not check(exercise_id, wrong)
    out = capsys.readouterr().out
    assert words in out and "Hint:" in out


def test_predictions_are_revealed_against_the_data(capsys):
    before = {"precision@10": 0.3, "recall@10": 1.0, "mrr": 1.0, "map": 1.0, "ndcg@10": 1.0}
    after = {"precision@10": 0.3, "recall@10": 1.0, "mrr": 1.0, "map": 0.917, "ndcg@10": 0.824}
    assert not predict("10a.4", "accuracy")                 # not one of the choices
    assert predict("10a.4", "map") and not reveal("10a.4", before=before, after=after)
    assert predict("10a.4", "ndcg@10") and reveal("10a.4", before=before, after=after)
    assert predict("10a.5", "no clear difference") and reveal("10a.5", difference=-0.004, p=0.5, alpha=0.01)
    assert not reveal("10a.5", difference=0.05, p=0.001, alpha=0.01)
    table = pd.DataFrame({"STS": [82.0, 83.4, 84.0], "Clustering": [39.0, 38.0, 93.0],
                          "Retrieval": [94.0, 96.0, 93.0]}, index=["MiniLM", "mpnet", "E5"])
    assert predict("10b.4", "less than 1 point") and not reveal("10b.4", table=table)     # +18.7 points
    assert "you predicted 'less than 1 point'" in capsys.readouterr().out
    assert predict("10b.4", "more than 5 points") and reveal("10b.4", table=table)
    assert predict("10b.4", "less than 1 point") and reveal("10b.4", table=table.drop(columns="Clustering"))


@pytest.mark.parametrize("exercise_id", ["10a.1", "10a.2", "10a.3", "10b.1", "10b.2", "10b.3"])
def test_an_unfinished_function_gets_the_same_message_every_time(capsys, exercise_id):
    def unfinished(*args):
        ...

    messages = []
    for _ in range(3):
        assert not check(exercise_id, unfinished)
        messages.append(capsys.readouterr().out)
    assert len(set(messages)) == 1 and "not answered yet" in messages[0]
