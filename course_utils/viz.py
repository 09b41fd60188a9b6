"""Interactive maps of embeddings: plotly scatter plots with a hover label on every point.

Introduced in ``03_word_embeddings``. A map is made from points that a projection (PCA, UMAP,
t-SNE) has already computed: ``points  # (n, 2)`` or ``(n, 3)``, one label per point (shown when
the mouse hovers over it) and, optionally, one group per point (one colour and one legend entry
per group; clicking a legend entry hides that group).

Coordinates are rounded (``digits``) and stored as plain numbers, so a saved notebook stays
small and re-running it writes the same figure. :func:`same_group_neighbour_rate` gives the
static summary to print beside a map: how often a point's nearest neighbour shares its group.
plotly is imported only when a figure is drawn.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import as_float_array, check_int, check_text

MARKER_SIZE = {2: 8, 3: 4}


def _check_items(items: Any, name: str, *, optional: bool = False) -> list | None:
    """Return ``items`` as a list (one entry per point), or raise naming ``name``."""
    if items is None and optional:
        return None
    if isinstance(items, (str, bytes)) or not isinstance(items, (Sequence, np.ndarray)):
        what = "None or a list" if optional else "a list"
        raise TypeError(f"`{name}` must be {what} with one entry per point (e.g. the words); "
                        f"got {type(items).__name__}.")
    items = list(np.asarray(items).ravel()) if isinstance(items, np.ndarray) else list(items)
    return items


def _check_points(points: Any, n_dims: int, n_labels: int) -> np.ndarray:
    arr = as_float_array(points, "points", ndim=2)
    if arr.shape[1] != n_dims:
        raise ValueError(f"`points` must have {n_dims} columns (one per axis) for a {n_dims}-D map; "
                         f"got shape {arr.shape}. Project to {n_dims} dimensions first, e.g. "
                         f"PCA(n_components={n_dims}).fit_transform(vectors).")
    if arr.shape[0] != n_labels:
        raise ValueError(f"`labels` has {n_labels} entries but `points` has {arr.shape[0]} rows; "
                         "give one label per point.")
    return arr


def _scatter(points, labels, groups, title, digits, axis_titles, n_dims: int):
    labels = _check_items(labels, "labels")
    groups = _check_items(groups, "groups", optional=True)
    title = None if title is None else check_text(title, "title")
    digits = check_int(digits, "digits", minimum=0)
    if axis_titles is not None:
        if isinstance(axis_titles, str) or not isinstance(axis_titles, Sequence):
            raise TypeError(f"`axis_titles` must be None or a list of {n_dims} strings; got {type(axis_titles).__name__}.")
        if len(axis_titles) != n_dims or not all(isinstance(t, str) for t in axis_titles):
            raise ValueError(f"`axis_titles` must hold {n_dims} strings, one per axis; got {list(axis_titles)!r:.80}.")
    arr = _check_points(points, n_dims, len(labels))
    if groups is not None and len(groups) != len(labels):
        raise ValueError(f"`groups` has {len(groups)} entries but there are {len(labels)} points; "
                         "give one group per point, or None.")

    import plotly.graph_objects as go

    coords = np.round(arr, digits)
    names = [str(g) for g in groups] if groups is not None else [""] * len(labels)
    order = list(dict.fromkeys(names))  # groups in order of first appearance
    fig = go.Figure()
    for group in order:
        rows = [i for i, g in enumerate(names) if g == group]
        axes = {key: [float(coords[i, d]) for i in rows] for d, key in enumerate("xyz"[:n_dims])}
        trace = go.Scatter if n_dims == 2 else go.Scatter3d
        fig.add_trace(trace(
            **axes, mode="markers", name=group or "points", showlegend=groups is not None,
            hovertext=[str(labels[i]) for i in rows], hoverinfo="text",
            marker={"size": MARKER_SIZE[n_dims], "opacity": 0.85},
        ))
    titles = axis_titles or [f"{'xyz'[d]}" for d in range(n_dims)]
    layout: dict[str, Any] = {"title": title, "template": "plotly_white", "height": 520,
                              "legend_title_text": "group" if groups is not None else None,
                              "margin": {"l": 40, "r": 20, "t": 60 if title else 20, "b": 40}}
    if n_dims == 2:
        layout.update(xaxis_title=titles[0], yaxis_title=titles[1])
    else:
        layout["scene"] = {f"{axis}axis": {"title": {"text": t}} for axis, t in zip("xyz", titles)}
    fig.update_layout(**layout)
    return fig


def scatter_2d(points, labels, groups=None, *, title: str | None = None, digits: int = 3,
               axis_titles: Sequence[str] | None = None):
    """A 2-D plotly scatter plot with a hover label on every point.

    Parameters
    ----------
    points : array-like, shape (n, 2)
        Coordinates from a projection, e.g. ``PCA(n_components=2).fit_transform(vectors)``.
    labels : list, length n
        What to show when hovering over each point (e.g. the words).
    groups : list, length n, optional
        A group per point: one colour and one legend entry per group, in order of first
        appearance. None draws every point in one colour, without a legend.
    title : str, optional
        The figure's title.
    digits : int
        Coordinates are rounded to this many decimals (keeps saved notebooks small and stable).
    axis_titles : two strings, optional
        Titles of the x and y axes (default ``"x"``, ``"y"``).

    Returns
    -------
    plotly.graph_objects.Figure
        Display it by leaving it as a cell's last line (or ``fig.show()``).

    Raises
    ------
    TypeError, ValueError
        When an argument has the wrong type or shape; the message names it.
    """
    return _scatter(points, labels, groups, title, digits, axis_titles, n_dims=2)


def scatter_3d(points, labels, groups=None, *, title: str | None = None, digits: int = 3,
               axis_titles: Sequence[str] | None = None):
    """A 3-D plotly scatter plot (drag to rotate) with a hover label on every point.

    The same as :func:`scatter_2d` with ``points`` of shape ``(n, 3)``.
    """
    return _scatter(points, labels, groups, title, digits, axis_titles, n_dims=3)


def same_group_neighbour_rate(points, groups) -> float:
    """The share of points whose nearest other point (Euclidean) belongs to the same group.

    A number to print beside a map: 1.0 means every point sits next to one of its own group;
    with ``g`` equal-sized groups, random points score about ``1/g``. Compare it before and after
    a projection to see how much of the neighbourhood structure the projection kept. Ties go to
    the lower index.

    Parameters
    ----------
    points : array-like, shape (n, dim), n >= 2
        Any number of dimensions: the original vectors or a 2-D/3-D projection.
    groups : list, length n
        The group of each point.

    Returns
    -------
    float
        A share between 0 and 1.
    """
    groups = _check_items(groups, "groups")
    arr = as_float_array(points, "points", ndim=2)
    if arr.shape[0] != len(groups):
        raise ValueError(f"`groups` has {len(groups)} entries but `points` has {arr.shape[0]} rows; "
                         "give one group per point.")
    if arr.shape[0] < 2:
        raise ValueError(f"`points` must hold at least 2 rows to have neighbours; got {arr.shape[0]}.")
    sq = (arr * arr).sum(1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (arr @ arr.T)
    np.fill_diagonal(dist, np.inf)
    nearest = np.argmin(dist, axis=1)
    names = np.array([str(g) for g in groups], dtype=object)
    return float(np.mean(names[nearest] == names))


def keep_compiled(package) -> int:
    """Keep on disk the machine code numba compiles for an imported ``package`` (e.g. ``umap``).

    UMAP is Python compiled by numba the first time it runs: about 15 s on a laptop CPU, in every
    new kernel, for a map that then takes 0.3 s. numba stores the code of the functions that
    their authors marked ``cache=True``; this switches the same storage on (numba's
    ``Dispatcher.enable_caching``) for the others of ``package`` and of its submodules already
    imported, so only the first run ever compiles them. The code is stored beside the package's
    files (or in ``NUMBA_CACHE_DIR``) and numba recompiles whenever the package changes.

    Returns the number of functions switched on (0 on a second call).
    """
    import sys
    import types

    if not isinstance(package, types.ModuleType):
        raise TypeError(f"`package` must be an imported module such as `umap`; got {type(package).__name__}.")
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    prefix = package.__name__ + "."
    modules = [m for name, m in list(sys.modules.items()) if m is not None and (name == package.__name__ or name.startswith(prefix))]
    switched = 0
    for module in modules:
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                obj.enable_caching()
                switched += 1
    return switched
