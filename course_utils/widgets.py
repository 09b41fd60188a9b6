"""Interactive explorers: ipywidgets sliders driving a matplotlib drawing.

Introduced in ``02_similarity_metrics``. Every explorer rests on pure functions that compute
what it shows, so that a notebook can print the explorer's default state (its static twin,
which reads on GitHub and is checked by nbval) and tests can check the numbers without a
browser. ipywidgets and matplotlib are imported only when a function needs them.
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._checks import as_float_array, check_int, check_number
from .similarity import cosine, dot, euclidean

#: Where :func:`similarity_explorer` starts; a notebook's static twin uses the same state.
EXPLORER_DEFAULTS: dict[str, float] = {"angle_a": 20.0, "length_a": 2.0, "angle_b": 60.0, "length_b": 1.0}
#: Slider ranges of :func:`similarity_explorer`: angles in degrees, lengths in units.
ANGLE_RANGE = (-180.0, 180.0)
LENGTH_RANGE = (0.1, 3.0)

REPORT_KEYS = ("cosine", "dot", "euclidean", "angle_deg", "norm_a", "norm_b")


def polar_to_vector(angle_deg: float, length: float) -> np.ndarray:
    """The 2-D vector with a given angle and length: shape ``(2,)``.

    Parameters
    ----------
    angle_deg : angle in degrees, counter-clockwise from the x-axis
    length : the vector's Euclidean length, > 0
    """
    angle = math.radians(check_number(angle_deg, "angle_deg"))
    length = check_number(length, "length", above=0)
    return np.array([length * math.cos(angle), length * math.sin(angle)])


def similarity_report(a, b) -> dict[str, float]:
    """Cosine, dot product and Euclidean distance of ``a  # (dim,)`` and ``b  # (dim,)``.

    Also returns the angle between them in degrees and both lengths. Keys: ``cosine``,
    ``dot``, ``euclidean``, ``angle_deg``, ``norm_a``, ``norm_b`` (plain floats).
    Raises ``ValueError`` on a zero vector (its cosine is undefined) or on vectors of
    different dimensions, ``TypeError`` on something that is not a vector of numbers.
    """
    a = as_float_array(a, "a", ndim=1)
    b = as_float_array(b, "b", ndim=1)
    cos = cosine(a, b)  # checks the shapes and refuses zero vectors, naming `a` or `b`
    ua, ub = a / np.linalg.norm(a), b / np.linalg.norm(b)
    # 2 atan2(|ua - ub|, |ua + ub|) is the angle, accurate even where acos(cos) is not (near 0 and 180)
    angle = 2 * math.atan2(float(np.linalg.norm(ua - ub)), float(np.linalg.norm(ua + ub)))
    return {
        "cosine": cos,
        "dot": dot(a, b),
        "euclidean": euclidean(a, b),
        "angle_deg": math.degrees(angle),
        "norm_a": float(np.linalg.norm(a)),
        "norm_b": float(np.linalg.norm(b)),
    }


def format_report(report: Mapping, digits: int = 3) -> str:
    """The numbers of :func:`similarity_report` as four aligned lines of text."""
    d = check_int(digits, "digits", minimum=0)
    if not isinstance(report, Mapping):
        raise TypeError(f"`report` must be the dict returned by similarity_report(a, b); got {type(report).__name__}.")
    lacking = [k for k in REPORT_KEYS if k not in report]
    if lacking:
        raise ValueError(f"`report` lacks the key(s) {lacking}; pass the dict returned by similarity_report(a, b).")
    r = {k: check_number(report[k], f"report[{k!r}]") for k in REPORT_KEYS}
    return "\n".join([
        f"|a| = {r['norm_a']:.{d}f}   |b| = {r['norm_b']:.{d}f}   angle = {r['angle_deg']:.1f} degrees",
        f"cosine    = {r['cosine']:.{d}f}",
        f"dot       = {r['dot']:.{d}f}",
        f"euclidean = {r['euclidean']:.{d}f}",
    ])


def plot_vectors(a, b, ax=None, *, limit: float | None = None):
    """Draw 2-D vectors ``a`` and ``b`` as arrows from the origin, and the segment ``a - b``.

    The dashed segment between the two tips has the length of the Euclidean distance; the
    angle at the origin is what cosine measures. Returns the matplotlib ``Axes``. ``limit``
    fixes the half-width of the square view (default: large enough for the explorer's longest
    vectors, so that the view does not jump while a slider moves).
    """
    a = as_float_array(a, "a", ndim=1)
    b = as_float_array(b, "b", ndim=1)
    for name, v in (("a", a), ("b", b)):
        if v.shape != (2,):
            raise ValueError(f"`{name}` must be a 2-D vector of shape (2,) to be drawn; got shape {v.shape}.")
    if limit is None:
        limit = max(LENGTH_RANGE[1], float(np.abs(np.concatenate([a, b])).max())) * 1.1
    else:
        limit = check_number(limit, "limit", above=0)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 4.5))
    elif not (hasattr(ax, "annotate") and hasattr(ax, "set_xlim")):
        raise TypeError(f"`ax` must be a matplotlib Axes (e.g. from plt.subplots()) or None; got {type(ax).__name__}.")
    for v, color, label in ((a, "tab:blue", "a"), (b, "tab:orange", "b")):
        ax.annotate("", xy=tuple(v), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": color, "lw": 2})
        ax.text(*(v * 1.08), label, color=color, fontsize=12, ha="center", va="center")
    ax.plot([a[0], b[0]], [a[1], b[1]], "--", color="gray", lw=1)
    r = similarity_report(a, b)
    ax.set_title(f"cos = {r['cosine']:.2f}   dot = {r['dot']:.2f}   dist = {r['euclidean']:.2f}", fontsize=10)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.axhline(0, color="lightgray", lw=0.8, zorder=0)
    ax.axvline(0, color="lightgray", lw=0.8, zorder=0)
    return ax


def similarity_explorer(angle_a: float = EXPLORER_DEFAULTS["angle_a"],
                        length_a: float = EXPLORER_DEFAULTS["length_a"],
                        angle_b: float = EXPLORER_DEFAULTS["angle_b"],
                        length_b: float = EXPLORER_DEFAULTS["length_b"]):
    """Sliders for the angle and length of two 2-D vectors, their drawing and their three metrics.

    Returns an ``ipywidgets.VBox``; display it (leave it as a cell's last line) and move the
    sliders. The box also carries ``sliders`` (a dict of the four sliders, named like the
    arguments) and ``report`` (the current :func:`similarity_report`), handy for tests.
    """
    import ipywidgets as widgets
    from IPython.display import display
    from matplotlib.figure import Figure

    start = {
        "angle_a": check_number(angle_a, "angle_a", minimum=ANGLE_RANGE[0], maximum=ANGLE_RANGE[1]),
        "length_a": check_number(length_a, "length_a", minimum=LENGTH_RANGE[0], maximum=LENGTH_RANGE[1]),
        "angle_b": check_number(angle_b, "angle_b", minimum=ANGLE_RANGE[0], maximum=ANGLE_RANGE[1]),
        "length_b": check_number(length_b, "length_b", minimum=LENGTH_RANGE[0], maximum=LENGTH_RANGE[1]),
    }
    style = {"description_width": "80px"}
    sliders = {
        name: widgets.FloatSlider(
            value=value, description=name.replace("_", " "), style=style, readout_format=".1f",
            min=(ANGLE_RANGE if name.startswith("angle") else LENGTH_RANGE)[0],
            max=(ANGLE_RANGE if name.startswith("angle") else LENGTH_RANGE)[1],
            step=5.0 if name.startswith("angle") else 0.1,
        )
        for name, value in start.items()
    }
    readout = widgets.HTML()
    drawing = widgets.Output()
    controls = widgets.HBox([
        widgets.VBox([sliders["angle_a"], sliders["length_a"]]),
        widgets.VBox([sliders["angle_b"], sliders["length_b"]]),
    ])
    box = widgets.VBox([controls, widgets.HBox([drawing, readout])])
    box.sliders = sliders

    def update(_change=None) -> None:
        a = polar_to_vector(sliders["angle_a"].value, sliders["length_a"].value)
        b = polar_to_vector(sliders["angle_b"].value, sliders["length_b"].value)
        box.report = similarity_report(a, b)
        readout.value = f"<pre>{html.escape(format_report(box.report))}</pre>"
        fig = Figure(figsize=(4.5, 4.5))
        plot_vectors(a, b, ax=fig.subplots())
        with drawing:
            drawing.clear_output(wait=True)
            display(fig)

    for slider in sliders.values():
        slider.observe(update, names="value")
    update()
    return box
