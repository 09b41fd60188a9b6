"""Tests of course_utils.widgets: the pure functions' numbers, argument errors, headless widgets."""
import math

import matplotlib

matplotlib.use("Agg")  # headless: no display needed

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import similarity
from course_utils.widgets import (
    ANGLE_RANGE,
    EXPLORER_DEFAULTS,
    LENGTH_RANGE,
    REPORT_KEYS,
    format_report,
    plot_vectors,
    polar_to_vector,
    similarity_explorer,
    similarity_report,
)


# ---- polar_to_vector -------------------------------------------------------------------------

def test_polar_to_vector_axes_and_length():
    assert np.allclose(polar_to_vector(0, 2), [2.0, 0.0])
    assert np.allclose(polar_to_vector(90, 1.5), [0.0, 1.5])
    assert np.allclose(polar_to_vector(-180, 1), [-1.0, 0.0])
    v = polar_to_vector(37, 2.5)
    assert v.shape == (2,)
    assert math.isclose(float(np.linalg.norm(v)), 2.5)


@pytest.mark.parametrize("angle, length, exc, word", [
    ("30", 1.0, TypeError, "angle_deg"),
    (None, 1.0, TypeError, "angle_deg"),
    (True, 1.0, TypeError, "angle_deg"),
    (float("nan"), 1.0, ValueError, "angle_deg"),
    (30, 0.0, ValueError, "length"),
    (30, -1.0, ValueError, "length"),
    (30, [1.0], TypeError, "length"),
    (30, float("inf"), ValueError, "length"),
])
def test_polar_to_vector_bad_input(angle, length, exc, word):
    with pytest.raises(exc, match=word):
        polar_to_vector(angle, length)


# ---- similarity_report -----------------------------------------------------------------------

def test_report_numbers_3_4_triangle():
    r = similarity_report([3.0, 4.0], [4.0, 3.0])
    assert set(r) == set(REPORT_KEYS)
    assert all(type(v) is float for v in r.values())
    assert math.isclose(r["dot"], 24.0)
    assert math.isclose(r["cosine"], 24.0 / 25.0)
    assert math.isclose(r["euclidean"], math.sqrt(2.0))
    assert math.isclose(r["norm_a"], 5.0) and math.isclose(r["norm_b"], 5.0)
    assert math.isclose(r["angle_deg"], math.degrees(math.acos(0.96)))


def test_report_agrees_with_similarity_module():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    r = similarity_report(a, b)
    assert math.isclose(r["cosine"], similarity.cosine(a, b))
    assert math.isclose(r["dot"], similarity.dot(a, b))
    assert math.isclose(r["euclidean"], similarity.euclidean(a, b))


def test_report_scaling_keeps_cosine_and_triples_dot():
    a, b = polar_to_vector(10, 1.0), polar_to_vector(70, 1.0)
    r1, r3 = similarity_report(a, b), similarity_report(a, 3 * b)
    assert math.isclose(r1["cosine"], r3["cosine"])
    assert math.isclose(r3["dot"], 3 * r1["dot"])
    assert not math.isclose(r1["euclidean"], r3["euclidean"])
    assert math.isclose(r3["angle_deg"], 60.0)


def test_report_unit_vectors_identity():
    r = similarity_report(polar_to_vector(15, 1.0), polar_to_vector(130, 1.0))
    assert math.isclose(r["euclidean"] ** 2, 2 - 2 * r["cosine"])


def test_report_identical_and_opposite():
    assert math.isclose(similarity_report([1, 2], [1, 2])["angle_deg"], 0.0, abs_tol=1e-6)
    r = similarity_report([1, 0], [-2, 0])
    assert math.isclose(r["cosine"], -1.0) and math.isclose(r["angle_deg"], 180.0)


def test_report_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    r = similarity_report(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 3.0]))
    assert math.isclose(r["dot"], 24.0)


@pytest.mark.parametrize("a, b, exc, word", [
    (None, [1.0, 0.0], TypeError, "`a`"),
    ([1.0, 0.0], "hello", TypeError, "`b`"),
    ([1.0, 0.0], [1.0, 0.0, 0.0], ValueError, "different dimensions"),
    ([[1.0, 0.0]], [1.0, 0.0], ValueError, "`a`"),
    ([0.0, 0.0], [1.0, 0.0], ValueError, "`a` is the zero vector"),
    ([1.0, 0.0], [0.0, 0.0], ValueError, "`b` is the zero vector"),
    ([1.0, float("nan")], [1.0, 0.0], ValueError, "`a`"),
    ([], [], ValueError, "`a`"),
])
def test_report_bad_input(a, b, exc, word):
    with pytest.raises(exc, match=word):
        similarity_report(a, b)


# ---- format_report ---------------------------------------------------------------------------

def test_format_report_lines():
    text = format_report(similarity_report([3.0, 4.0], [4.0, 3.0]))
    assert text.splitlines() == [
        "|a| = 5.000   |b| = 5.000   angle = 16.3 degrees",
        "cosine    = 0.960",
        "dot       = 24.000",
        "euclidean = 1.414",
    ]
    assert "cosine    = 0.96\n" in format_report(similarity_report([3.0, 4.0], [4.0, 3.0]), digits=2)


@pytest.mark.parametrize("report, digits, exc, word", [
    ([0.9], 3, TypeError, "report"),
    ({"cosine": 0.5}, 3, ValueError, "lacks"),
    ({k: 1.0 for k in REPORT_KEYS}, -1, ValueError, "digits"),
    ({k: 1.0 for k in REPORT_KEYS}, 2.5, TypeError, "digits"),
    ({**{k: 1.0 for k in REPORT_KEYS}, "dot": "x"}, 3, TypeError, "report\\['dot'\\]"),
])
def test_format_report_bad_input(report, digits, exc, word):
    with pytest.raises(exc, match=word):
        format_report(report, digits=digits)


# ---- plot_vectors ----------------------------------------------------------------------------

def test_plot_vectors_draws_on_given_axes():
    fig, ax = plt.subplots()
    try:
        out = plot_vectors([1.0, 0.0], [0.0, 2.0], ax=ax)
        assert out is ax
        assert "cos = 0.00" in ax.get_title() and "dot = 0.00" in ax.get_title()
        assert ax.get_xlim() == pytest.approx((-3.3, 3.3))
        assert len(ax.texts) == 4  # two arrows (annotations) and two labels
    finally:
        plt.close(fig)


def test_plot_vectors_new_axes_and_limit():
    ax = plot_vectors([5.0, 0.0], [0.0, 1.0])
    try:
        assert ax.get_xlim() == pytest.approx((-5.5, 5.5))
        plot_vectors([1.0, 0.0], [0.0, 1.0], ax=ax, limit=2)
        assert ax.get_ylim() == pytest.approx((-2.0, 2.0))
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("a, b, kwargs, exc, word", [
    ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], {}, ValueError, "shape \\(2,\\)"),
    ([1.0, 0.0], [0.0, 1.0], {"ax": "axes"}, TypeError, "`ax`"),
    ([1.0, 0.0], [0.0, 1.0], {"limit": 0}, ValueError, "`limit`"),
    ([0.0, 0.0], [0.0, 1.0], {}, ValueError, "zero vector"),
])
def test_plot_vectors_bad_input(a, b, kwargs, exc, word):
    try:
        with pytest.raises(exc, match=word):
            plot_vectors(a, b, **kwargs)
    finally:
        plt.close("all")


# ---- similarity_explorer (headless) ----------------------------------------------------------

def test_explorer_builds_headless_with_default_state():
    widgets = pytest.importorskip("ipywidgets")
    box = similarity_explorer()
    assert isinstance(box, widgets.VBox)
    assert set(box.sliders) == set(EXPLORER_DEFAULTS)
    for name, value in EXPLORER_DEFAULTS.items():
        assert box.sliders[name].value == value
    expected = similarity_report(polar_to_vector(EXPLORER_DEFAULTS["angle_a"], EXPLORER_DEFAULTS["length_a"]),
                                 polar_to_vector(EXPLORER_DEFAULTS["angle_b"], EXPLORER_DEFAULTS["length_b"]))
    assert box.report == pytest.approx(expected)
    html_widgets = [w for w in box.children[1].children if isinstance(w, widgets.HTML)]
    assert "cosine    = 0.766" in html_widgets[0].value


def test_explorer_updates_when_a_slider_moves():
    pytest.importorskip("ipywidgets")
    box = similarity_explorer(angle_a=0, length_a=1, angle_b=90, length_b=1)
    assert box.report["cosine"] == pytest.approx(0.0, abs=1e-12)
    box.sliders["angle_b"].value = 0.0
    assert box.report["cosine"] == pytest.approx(1.0)
    box.sliders["length_b"].value = 3.0
    assert box.report["dot"] == pytest.approx(3.0)
    assert box.report["cosine"] == pytest.approx(1.0)


def test_explorer_slider_ranges():
    pytest.importorskip("ipywidgets")
    box = similarity_explorer()
    assert (box.sliders["angle_a"].min, box.sliders["angle_a"].max) == ANGLE_RANGE
    assert (box.sliders["length_b"].min, box.sliders["length_b"].max) == LENGTH_RANGE


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"angle_a": 500}, ValueError, "angle_a"),
    ({"length_b": 0}, ValueError, "length_b"),
    ({"length_a": 10}, ValueError, "length_a"),
    ({"angle_b": "north"}, TypeError, "angle_b"),
])
def test_explorer_bad_input(kwargs, exc, word):
    pytest.importorskip("ipywidgets")
    with pytest.raises(exc, match=word):
        similarity_explorer(**kwargs)
