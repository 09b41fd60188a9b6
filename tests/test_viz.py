"""Tests of course_utils.viz: the figures' contents, the neighbour rate, argument errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from course_utils.viz import same_group_neighbour_rate, scatter_2d, scatter_3d

POINTS = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [0.0, 0.2]])
LABELS = ["cat", "dog", "car", "bus", "cow"]
GROUPS = ["animal", "animal", "vehicle", "vehicle", "animal"]


# ---- scatter_2d / scatter_3d -----------------------------------------------------------------

def test_one_trace_per_group_in_order_of_first_appearance():
    fig = scatter_2d(POINTS, LABELS, GROUPS, title="demo")
    assert [t.name for t in fig.data] == ["animal", "vehicle"]
    animal = fig.data[0]
    assert list(animal.hovertext) == ["cat", "dog", "cow"]
    assert list(animal.x) == [0.0, 0.1, 0.0] and list(animal.y) == [0.0, 0.0, 0.2]
    assert fig.layout.title.text == "demo"
    assert all(t.type == "scatter" and t.mode == "markers" for t in fig.data)


def test_without_groups_one_trace_and_no_legend():
    fig = scatter_2d(POINTS, LABELS)
    assert len(fig.data) == 1 and fig.data[0].showlegend is False
    assert list(fig.data[0].hovertext) == LABELS


def test_coordinates_are_rounded_plain_numbers():
    pts = np.array([[1.23456789, -2.98765432], [0.5, 0.25]])
    fig = scatter_2d(pts, ["a", "b"], digits=2)
    assert list(fig.data[0].x) == [1.23, 0.5] and list(fig.data[0].y) == [-2.99, 0.25]
    # stored as decimal numbers, not as a binary blob: small and identical on every re-run
    data = json.loads(fig.to_json())["data"][0]
    assert data["x"] == [1.23, 0.5]


def test_same_input_same_json():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 2))
    labels = [f"w{i}" for i in range(50)]
    assert scatter_2d(pts, labels).to_json() == scatter_2d(pts.copy(), list(labels)).to_json()


def test_3d_and_axis_titles():
    pts = np.column_stack([POINTS, np.arange(5.0)])
    fig = scatter_3d(pts, LABELS, GROUPS, axis_titles=["PC 1", "PC 2", "PC 3"])
    assert all(t.type == "scatter3d" for t in fig.data)
    assert list(fig.data[1].z) == [2.0, 3.0]
    assert fig.layout.scene.zaxis.title.text == "PC 3"
    fig2 = scatter_2d(POINTS, LABELS, axis_titles=("PC 1", "PC 2"))
    assert fig2.layout.xaxis.title.text == "PC 1"


def test_labels_and_groups_may_be_arrays_of_anything_printable():
    fig = scatter_2d(POINTS, np.array(LABELS), np.array([1, 1, 2, 2, 1]))
    assert [t.name for t in fig.data] == ["1", "2"]


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"points": POINTS[:, :1]}, ValueError, "points"),           # one column
    ({"points": POINTS[:4]}, ValueError, "labels"),              # 4 rows, 5 labels
    ({"points": POINTS[0]}, ValueError, "points"),               # 1-D
    ({"points": "abc"}, TypeError, "points"),
    ({"points": np.full((5, 2), np.nan)}, ValueError, "points"),
    ({"labels": "cat dog"}, TypeError, "labels"),
    ({"labels": None}, TypeError, "labels"),
    ({"groups": GROUPS[:3]}, ValueError, "groups"),
    ({"groups": "animal"}, TypeError, "groups"),
    ({"title": 3}, TypeError, "title"),
    ({"digits": -1}, ValueError, "digits"),
    ({"digits": 2.5}, TypeError, "digits"),
    ({"axis_titles": "xy"}, TypeError, "axis_titles"),
    ({"axis_titles": ["x"]}, ValueError, "axis_titles"),
])
def test_scatter_bad_input_names_the_argument(kwargs, exc, word):
    args = {"points": POINTS, "labels": LABELS, "groups": GROUPS, **kwargs}
    with pytest.raises(exc, match=word):
        scatter_2d(**args)


def test_3d_needs_three_columns():
    with pytest.raises(ValueError, match="3 columns"):
        scatter_3d(POINTS, LABELS)


# ---- same_group_neighbour_rate ---------------------------------------------------------------

def test_neighbour_rate_by_hand():
    assert same_group_neighbour_rate(POINTS, GROUPS) == 1.0
    # call cat a vehicle and bus an animal: every point's nearest neighbour (cat-dog, car-bus,
    # cow-cat) now lies in the other group
    assert same_group_neighbour_rate(POINTS, ["vehicle", "animal", "vehicle", "animal", "animal"]) == 0.0


def test_neighbour_rate_matches_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    pts = rng.normal(size=(60, 5))
    groups = rng.integers(0, 3, size=60)
    _, nn = NearestNeighbors(n_neighbors=2).fit(pts).kneighbors(pts)
    assert np.isclose(same_group_neighbour_rate(pts, list(groups)), np.mean(groups[nn[:, 1]] == groups))


@pytest.mark.parametrize("points, groups, exc, word", [
    (POINTS, GROUPS[:2], ValueError, "groups"),
    (POINTS[:1], GROUPS[:1], ValueError, "points"),
    (POINTS, "animal", TypeError, "groups"),
    ([[1.0, np.inf]] * 5, GROUPS, ValueError, "points"),
])
def test_neighbour_rate_bad_input(points, groups, exc, word):
    with pytest.raises(exc, match=word):
        same_group_neighbour_rate(points, groups)


def test_importing_viz_does_not_import_plotly():
    code = "import sys, course_utils, course_utils.viz; assert 'plotly' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_keep_compiled_stores_numba_code_on_disk(tmp_path, monkeypatch):
    package = tmp_path / "jitted_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import numba\n\n@numba.njit\ndef twice(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import jitted_pkg

    from course_utils.viz import keep_compiled

    assert keep_compiled(jitted_pkg) == 1
    assert keep_compiled(jitted_pkg) == 0, "already switched on"
    assert jitted_pkg.twice(21) == 42
    stored = list((package / "__pycache__").glob("*.nbi")) + list((package / "__pycache__").glob("*.nbc"))
    assert len(stored) >= 2, "numba wrote an index and the compiled code"


def test_keep_compiled_wants_a_module():
    from course_utils.viz import keep_compiled

    with pytest.raises(TypeError, match="package"):
        keep_compiled("umap")
