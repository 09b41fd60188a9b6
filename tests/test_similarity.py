"""Property and error tests for course_utils.similarity."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial import distance
from sklearn.metrics.pairwise import cosine_similarity, euclidean_distances

from course_utils import similarity as S

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def nonzero_vectors(dim):
    return arrays(np.float64, dim, elements=finite).filter(lambda v: np.linalg.norm(v) > 1e-3)


@pytest.mark.slow  # 200 examples, each checked against SciPy
@settings(max_examples=200, deadline=None)
@given(st.integers(1, 16).flatmap(lambda d: st.tuples(nonzero_vectors(d), nonzero_vectors(d))))
def test_vector_metrics_match_scipy(pair):
    a, b = pair
    assert np.isclose(S.cosine(a, b), 1 - distance.cosine(a, b), atol=1e-9)
    assert np.isclose(S.euclidean(a, b), distance.euclidean(a, b))
    assert np.isclose(S.dot(a, b), float(np.dot(a, b)))
    assert -1.0 <= S.cosine(a, b) <= 1.0
    assert np.isclose(S.cosine(a, a), 1.0)
    assert np.isclose(S.cosine(a, b), S.cosine(b, a))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8).flatmap(lambda d: st.tuples(nonzero_vectors(d), nonzero_vectors(d), st.floats(0.01, 100))))
def test_cosine_is_scale_invariant_dot_is_not(args):
    a, b, c = args
    assert np.isclose(S.cosine(c * a, b), S.cosine(a, b), atol=1e-9)
    assert np.isclose(S.dot(c * a, b), c * S.dot(a, b), rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 8).flatmap(lambda d: st.tuples(nonzero_vectors(d), nonzero_vectors(d))))
def test_unit_vectors_distance_identity(pair):
    a, b = (S.normalize(v) for v in pair)
    assert np.isclose(np.linalg.norm(a), 1.0)
    assert np.isclose(S.euclidean(a, b) ** 2, 2 - 2 * S.cosine(a, b), atol=1e-9)


def test_matrices_match_sklearn():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    assert np.allclose(S.cosine_matrix(A, B), cosine_similarity(A, B))
    assert np.allclose(S.euclidean_matrix(A, B), euclidean_distances(A, B))
    assert np.allclose(S.dot_matrix(A, B), A @ B.T)
    assert S.pairwise(A, B, "cosine").shape == (7, 4)


def test_same_ranking_for_unit_vectors():
    rng = np.random.default_rng(1)
    docs = S.normalize(rng.normal(size=(50, 8)))
    q = S.normalize(rng.normal(size=8))
    orders = [S.rank(q, docs, m)[0] for m in S.METRICS]
    assert all(np.array_equal(orders[0], o) for o in orders[1:])
    idx, scores = S.rank(q, docs, "euclidean", k=3)
    assert len(idx) == 3 and np.all(np.diff(scores) >= 0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: S.cosine([0, 0], [1, 2]), ValueError, "`a` is the zero vector"),
    (lambda: S.cosine([1, 2], [1, 2, 3]), ValueError, "different dimensions"),
    (lambda: S.cosine([1, np.nan], [1, 2]), ValueError, "NaN"),
    (lambda: S.cosine("abc", [1, 2]), TypeError, "`a` is a string"),
    (lambda: S.cosine(None, [1, 2]), TypeError, "`a` is None"),
    (lambda: S.cosine([[1, 2]], [1, 2]), ValueError, "must be 1-D"),
    (lambda: S.dot([], []), ValueError, "empty"),
    (lambda: S.cosine_matrix([1, 2], [[1, 2]]), ValueError, "`A` must be 2-D"),
    (lambda: S.cosine_matrix([[1, 2], [0, 0]], [[1, 2]]), ValueError, "row(s) [1]"),
    (lambda: S.normalize([0.0, 0.0]), ValueError, "zero vector"),
    (lambda: S.pairwise([[1.0]], [[1.0]], "manhattan"), ValueError, "`metric` must be one of"),
    (lambda: S.rank([1, 0], [[1, 0]], k=0), ValueError, "`k` must be >= 1"),
    (lambda: S.rank([1, 0], [[1, 0, 0]]), ValueError, "`query` has dimension 2"),
    (lambda: S.cosine([1, "x"], [1, 2]), TypeError, "only numbers"),
])
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)


def test_accepts_torch_and_sparse_inputs():
    import scipy.sparse as sp
    import torch

    assert np.isclose(S.cosine(torch.tensor([1.0, 0.0]), np.array([1.0, 0.0])), 1.0)
    M = sp.csr_matrix(np.eye(3))
    assert np.allclose(S.cosine_matrix(M, M), np.eye(3))
