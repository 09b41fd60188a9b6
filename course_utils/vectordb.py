"""Vector search helpers: the embedded database's folders in the course cache, and ANN recall.

Introduced in ``11_vector_search``.

**Collections on disk.** The course's vector database is LanceDB, which runs inside the Python
process and keeps a database in a plain folder. Every such folder lives in the course cache,
``$COURSE_CACHE_DIR/vectordb/<name>/`` (default ``~/.cache/embeddings-course/vectordb/``), never in
the repository. Two functions guard it:

* :func:`new_collection` gives a LanceDB connection to a *staging* folder; create and fill the
  tables there (with LanceDB's own API). Only when the ``with`` block ends without an error is a
  marker file written and the folder moved into place in one rename, replacing any older
  collection of that name. A run that stops half-way leaves no folder that looks finished.
* :func:`connect` opens a collection and checks it first: the folder exists, holds the marker,
  and every table it lists opens and reads back. A damaged or half-written folder raises
  :class:`CollectionError`, which names the folder and says how to rebuild it, instead of an
  error from deep inside the storage engine.

**Recall of an approximate index.** :func:`recall_at_k` is the fraction of the true ``k`` nearest
neighbours (found by exact search) that an approximate index returned, averaged over queries: the
x-axis of every ANN benchmark's recall / queries-per-second plot.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import Problems, check_bool, check_int, check_sequence
from .datasets import cache_dir

MARKER = "course-collection.json"
FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_STAGING = ".staging-"

__all__ = ["CollectionError", "collection_dir", "new_collection", "connect", "list_collections",
           "remove_collection", "recall_at_k"]


class CollectionError(RuntimeError):
    """A collection folder is missing, half-written or damaged; the message says how to rebuild it.

    ``reason`` holds the short cause in the course's words (e.g. "table 'docs' cannot be read"),
    ``detail`` the storage engine's own message, if any.
    """

    def __init__(self, message: str, *, reason: str = "", detail: str = ""):
        super().__init__(message)
        self.reason, self.detail = reason, detail


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a collection name (str), e.g. 'cranfield-minilm'; got {type(name).__name__}.")
    if not _NAME.match(name) or name.startswith(_STAGING):
        raise ValueError(f"`name` {name!r:.60} is not a usable collection name: use letters, digits, '.', '_' "
                         "or '-' (at most 100), starting with a letter or digit; it becomes a folder name.")
    return name


def _root() -> Path:
    return cache_dir() / "vectordb"


def collection_dir(name: str) -> Path:
    """The folder of collection ``name``: ``<course cache>/vectordb/<name>`` (it may not exist yet).

    Parameters
    ----------
    name : the collection's name (letters, digits, ``.``, ``_``, ``-``), as given to :func:`new_collection`

    Returns
    -------
    pathlib.Path  # the folder, whether or not it exists
    """
    return _root() / _check_name(name)


def _engine_version() -> str:
    try:
        return metadata.version("lancedb")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Staging:
    """The context manager behind :func:`new_collection` (a LanceDB connection to a staging folder)."""

    def __init__(self, name: str):
        self.name = name
        self.target = _root() / name
        self.staging = _root() / f"{_STAGING}{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.db = None

    def __enter__(self):
        import lancedb

        self.staging.mkdir(parents=True)
        self.db = lancedb.connect(str(self.staging))
        return self.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is not None:
                return False
            tables = _table_names(self.db)
            if not tables:
                raise CollectionError(f"collection {self.name!r} was not saved: no table was created in it. "
                                      "Call db.create_table(...) inside the `with` block.")
            rows = {t: int(self.db.open_table(t).count_rows()) for t in tables}
            record = {"format": FORMAT, "engine": "lancedb", "engine_version": _engine_version(), "tables": rows}
            (self.staging / MARKER).write_text(json.dumps(record, indent=1, sort_keys=True))
            old = None
            if self.target.exists():
                old = self.target.with_name(f"{_STAGING}old-{self.name}-{uuid.uuid4().hex[:8]}")
                os.replace(self.target, old)
            os.replace(self.staging, self.target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return False
        finally:
            self.db = None
            shutil.rmtree(self.staging, ignore_errors=True)


def new_collection(name: str) -> _Staging:
    """Build collection ``name`` in a staging folder; it replaces the old one only if the build succeeds.

    Use it as ``with new_collection("cranfield-minilm") as db: db.create_table("docs", data=...)``:
    ``db`` is a ``lancedb`` connection, so everything inside the block is LanceDB's own API. On
    leaving the block without an error, a marker (engine version, tables and their row counts)
    is written and the staging folder is renamed to :func:`collection_dir` (``name``). On an
    error the staging folder is deleted and any older collection of that name is left as it was.

    Parameters
    ----------
    name : the collection's name (letters, digits, ``.``, ``_``, ``-``): its folder's name

    Returns
    -------
    a context manager whose ``__enter__`` returns a ``lancedb.DBConnection``
    """
    return _Staging(_check_name(name))


def _table_names(db) -> list[str]:
    listed = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    names = getattr(listed, "tables", listed)  # newer lancedb returns a response object
    return sorted(names)


def _damaged(folder: Path, name: str, why: str, exc: BaseException | None = None) -> CollectionError:
    detail = f"{type(exc).__name__}: {str(exc)[:200]}" if exc is not None else ""
    return CollectionError(
        f"the collection folder {folder} is damaged or was not completely written ({why}"
        f"{': ' + detail if detail else ''}). It cannot be used: delete it with "
        f"course_utils.vectordb.remove_collection({name!r}) and build the collection again "
        "(the notebook cell that calls new_collection does it).", reason=why, detail=detail)


def connect(name: str, *, verify: bool = True):
    """Open collection ``name`` after checking that its folder is complete; return a LanceDB connection.

    Checks, in order: the folder exists; it holds the marker that :func:`new_collection` writes
    last (a folder without it was never finished); the marker is readable; every table it lists
    opens; and, with ``verify`` (the default), every row of every table reads back. Reading a
    table scans it once, which takes milliseconds for the course's collections.

    Parameters
    ----------
    name : the collection's name, as given to :func:`new_collection`
    verify : also read every table in full (catches damaged data files, not just missing ones)

    Returns
    -------
    lancedb.DBConnection  # open its tables with db.open_table(...)

    Raises
    ------
    CollectionError : the collection does not exist, or its folder is half-written or damaged.
    """
    with Problems() as problems:
        name = problems.check(_check_name, name)
        verify = problems.check(check_bool, verify, "verify")
    folder = _root() / name
    if not folder.is_dir():
        raise CollectionError(f"there is no collection {name!r} (no folder {folder}). Build it first with "
                              f"course_utils.vectordb.new_collection({name!r}).", reason="no such collection")
    marker = folder / MARKER
    if not marker.is_file():
        raise _damaged(folder, name, f"it has no {MARKER}, which is written only after a build finishes")
    try:
        record = json.loads(marker.read_text())
        tables = dict(record["tables"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(folder, name, f"its {MARKER} cannot be read", exc) from None
    import lancedb

    try:
        db = lancedb.connect(str(folder))
        present = set(_table_names(db))
    except Exception as exc:  # the engine's own errors (OSError, RuntimeError, pyo3 panics, ...)
        raise _damaged(folder, name, "LanceDB cannot open it", exc) from None
    for table in sorted(tables):
        if table not in present:
            raise _damaged(folder, name, f"table {table!r} is missing")
        try:
            tbl = db.open_table(table)
            tbl.count_rows()
            if verify:
                tbl.to_arrow()
        except Exception as exc:
            raise _damaged(folder, name, f"table {table!r} cannot be read", exc) from None
    return db


def list_collections() -> list[str]:
    """The names of the finished collections in the course cache (folders holding the marker).

    Half-written builds (staging folders) and folders without the marker are not listed.

    Returns
    -------
    list[str]  # sorted names, each usable with :func:`connect`
    """
    root = _root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(_STAGING)
                  and (p / MARKER).is_file())


def remove_collection(name: str) -> bool:
    """Delete collection ``name``'s folder, finished, half-written or damaged.

    Parameters
    ----------
    name : the collection's name, as given to :func:`new_collection`

    Returns
    -------
    bool  # True if there was a folder to delete, False if there was none
    """
    folder = _root() / _check_name(name)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def _as_id_matrix(x: Any, name: str) -> np.ndarray:
    if x is None or isinstance(x, (str, bytes, dict)):
        raise TypeError(f"`{name}` must be a 2-D array of ids, one row per query (e.g. the I of faiss's "
                        f"D, I = index.search(...)); got {type(x).__name__}.")
    if not isinstance(x, np.ndarray):
        rows = check_sequence(x, name, what="rows of ids (one per query)")
        try:
            x = np.asarray(rows)
        except ValueError:
            raise ValueError(f"`{name}` has rows of different lengths; every query needs at least k ids.") from None
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (n_queries, k); got shape {x.shape}. For one query, wrap it: [ids].")
    if x.size and x.dtype.kind not in "iu":
        if x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
            x = x.astype(np.int64)
        else:
            raise TypeError(f"`{name}` must hold integer ids; got dtype {x.dtype}.")
    return x


def recall_at_k(found, truth, k: int = 10) -> float:
    """Recall@k of an approximate search: the share of the true k nearest neighbours it returned.

    For each query, ``|found[:k] ∩ truth[:k]| / k``, averaged over queries. ``truth`` comes from
    exact search; an id of -1 (faiss's "no result") never counts as found. Order within the
    first ``k`` does not matter. Introduced in ``11_vector_search``.

    Parameters
    ----------
    found : (n_queries, >= k) integer ids returned by the index under test
    truth : (n_queries, >= k) integer ids of the exact nearest neighbours, best first
    k : how many neighbours count, 1 <= k <= both widths

    Returns
    -------
    float in [0, 1]
    """
    with Problems() as problems:
        found = problems.check(_as_id_matrix, found, "found")
        truth = problems.check(_as_id_matrix, truth, "truth")
        k = problems.check(check_int, k, "k", minimum=1)
    if found.shape[0] != truth.shape[0]:
        raise ValueError(f"`found` has {found.shape[0]} rows and `truth` {truth.shape[0]}: one row per query in both.")
    if found.shape[0] == 0:
        raise ValueError("`found` and `truth` have no rows; pass at least one query.")
    if k > min(found.shape[1], truth.shape[1]):
        raise ValueError(f"`k` = {k} is larger than the ids given per query (found: {found.shape[1]}, "
                         f"truth: {truth.shape[1]}).")
    hits = 0
    for got, want in zip(found[:, :k], truth[:, :k]):
        hits += len(set(got[got >= 0].tolist()) & set(want.tolist()))
    return hits / (k * found.shape[0])
