"""Unit tests of ``course_utils.selection`` (notebook 12): the landscape table's schema, hard
constraints, Pareto fronts, judged sets read from a learner's files (errors with file, line and
column; the files never modified), and the comparison of models on them."""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from course_utils import selection as sel
from course_utils.selection import JudgedSetError


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads(sel.LANDSCAPE_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def land():
    return sel.load_landscape()


# ---- the landscape table ----------------------------------------------------------------------

def test_the_landscape_file_passes_its_schema(raw, land):
    sel.check_landscape(raw)
    wanted = {"text-embedding-3-large", "text-embedding-3-small", "BAAI/bge-m3", "intfloat/e5-mistral-7b-instruct",
              "nomic-ai/nomic-embed-text-v1.5", "Alibaba-NLP/gte-Qwen2-7B-instruct", "jinaai/jina-embeddings-v3",
              "all-MiniLM-L6-v2", "all-mpnet-base-v2", "multilingual-e5-small", "glove-6B-50d",
              "wordllama-l2-supercat-256", "minilm-model2vec-256"}
    assert wanted <= set(land.table.index)
    assert any(name.startswith("embed-") and name.endswith("v3.0") for name in land.table.index)   # Cohere v3
    for field in ("dimensions", "max_tokens", "matryoshka", "languages", "license", "open_weights",
                  "params_millions", "price_usd_per_1m_tokens", "mteb_en_avg"):
        assert field in land.fields


def test_every_value_has_a_dated_source_and_every_gap_a_reason(raw):
    for model in raw["models"]:
        for field, cell in model["cells"].items():
            if cell["value"] is None:
                assert cell.get("note", "").strip(), (model["name"], field)
            else:
                source = raw["sources"][cell["source"]]
                assert source["url"] and (source.get("published") or source.get("accessed")), (model["name"], field)


def test_units_are_consistent(raw, land):
    for field, spec in raw["fields"].items():
        if spec["kind"] in ("integer", "number"):
            assert spec["unit"] in sel._UNITS, field
    scores = [f for f, spec in raw["fields"].items() if spec["unit"] == "score 0-100"]
    assert land.table[scores].stack().dropna().between(0, 100).all()
    assert (land.table["params_millions"].dropna() > 0).all()
    assert (land.table["price_usd_per_1m_tokens"].dropna() >= 0).all()
    assert land.table.loc["text-embedding-3-small", "price_usd_per_1m_tokens"] == 0.02


@pytest.mark.parametrize("break_it, message", [
    (lambda d: d["models"][0]["cells"]["dimensions"].pop("source"), "has no source"),
    (lambda d: d["models"][0]["cells"]["dimensions"].update(source="nowhere"), "names an unknown one"),
    (lambda d: d["models"][0]["cells"]["params_millions"].update(value="7B", source="openai-2024-01"), "no unit letters"),
    (lambda d: d["models"][0]["cells"]["mteb_en_avg"].update(value=646), "at most 100"),
    (lambda d: d["models"][0]["cells"]["price_usd_per_1m_tokens"].update(value=-1), "below 0"),
    (lambda d: d["models"][0]["cells"]["dimensions"].update(value=3072.5), "whole number"),
    (lambda d: d["models"][0]["cells"]["mteb_en_sts"].pop("note"), "needs a 'note'"),
    (lambda d: d["models"][0]["cells"].pop("license"), "field 'license' is missing"),
    (lambda d: d["fields"]["dimensions"].update(unit="thousands"), "a number needs one of the units"),
    (lambda d: d["sources"]["openai-2024-01"].update(published="25/01/2024"), "YYYY"),
    (lambda d: d["sources"]["openai-2024-01"].pop("url"), "non-empty 'url'"),
    (lambda d: d["models"].append(copy.deepcopy(d["models"][0])), "listed twice"),
])
def test_the_schema_check_catches(raw, break_it, message):
    data = copy.deepcopy(raw)
    break_it(data)
    with pytest.raises(ValueError, match=message):
        sel.check_landscape(data)


def test_load_landscape_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "landscape.json"
    bad.write_bytes(b"\xff{")
    with pytest.raises(ValueError, match="not valid UTF-8 JSON"):
        sel.load_landscape(bad)
    with pytest.raises(ValueError, match="no landscape file"):
        sel.load_landscape(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="file path"):
        sel.load_landscape(3)


def test_view_landscape_sorts_and_filters(land):
    view = sel.view_landscape(land, sort_by="mteb_en_avg", open_weights=True)
    assert land.table.loc[view.index, "open_weights"].all()
    scores = view["mteb_en_avg"].dropna()
    assert list(scores) == sorted(scores, reverse=True) and view["mteb_en_avg"].iloc[len(scores):].isna().all()
    with pytest.raises(ValueError, match="sort_by"):
        sel.view_landscape(land, sort_by="speed")


# ---- hard constraints and the Pareto front ---------------------------------------------------------

def test_shortlist_gives_a_verdict_and_reasons_for_every_model(land):
    out = sel.shortlist(land, open_weights=True, commercial_use=True, multilingual=True, min_max_tokens=8192)
    assert set(out.index) == set(land.table.index) and (out["reasons"] != "").all()
    assert set(out.index[out["verdict"] == "candidate"]) == {"BAAI/bge-m3", "Alibaba-NLP/gte-Qwen2-7B-instruct"}
    assert "forbids commercial use" in out.at["jinaai/jina-embeddings-v3", "reasons"]
    assert "hosted API only" in out.at["text-embedding-3-small", "reasons"]
    order = {"candidate": 0, "check": 1, "excluded": 2}
    assert list(out["verdict"].map(order)) == sorted(out["verdict"].map(order))


def test_shortlist_dimensions_use_the_smallest_documented_size(land):
    out = sel.shortlist(land, max_dimensions=256)
    assert out.at["text-embedding-3-large", "verdict"] == "candidate"          # 256 in the announcement's table
    assert out.at["text-embedding-3-small", "verdict"] == "excluded"           # 512 at the smallest
    assert out.at["all-MiniLM-L6-v2", "verdict"] == "excluded"                 # one size, 384
    assert out.at["BAAI/bge-m3", "verdict"] == "excluded"
    unknown = sel.shortlist(land, max_params_millions=1000)
    assert unknown.at["nomic-ai/nomic-embed-text-v1.5", "verdict"] == "check"   # its size is not published


def test_shortlist_checks_its_arguments(land):
    with pytest.raises(TypeError) as err:
        sel.shortlist(land, open_weights="yes", min_max_tokens=2.5)
    assert "open_weights" in str(err.value) and "min_max_tokens" in str(err.value)
    with pytest.raises(TypeError, match="Landscape"):
        sel.shortlist({"models": []})


def test_pareto_front():
    quality, cost = [0.5, 0.7, 0.6, 0.7, 0.2], [1.0, 5.0, 5.0, 9.0, 0.5]
    assert sel.pareto_front(quality, cost).tolist() == [4, 0, 1]
    assert sel.pareto_front([0.5, 0.5], [1.0, 1.0]).tolist() == [0, 1]           # equal points dominate nothing
    with pytest.raises(ValueError, match="same length"):
        sel.pareto_front([0.1, 0.2], [1.0])


def test_chunk_words():
    assert sel.chunk_words("a b  c\nd e", 2) == ["a b", "c d", "e"]
    assert sel.chunk_words("   ", 3) == []
    with pytest.raises(ValueError, match="size"):
        sel.chunk_words("a b", 0)
    with pytest.raises(TypeError, match="text"):
        sel.chunk_words(["a b"], 1)


# ---- a learner's own judged set ------------------------------------------------------------------

DOCS = "id,text\nd1,supersonic flow over a wedge\nd2,heat transfer in a laminar boundary layer\nd3,buckling of thin cylinders\n"
QUERIES = "id,text\nq1,flow over a wedge at high mach number\nq2,boundary layer heat transfer\n"
JUDGMENTS = "query_id,doc_id,grade\nq1,d1,2\nq2,d2,1\nq2,d3,0\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.fixture
def files(tmp_path):
    return (write(tmp_path, "docs.csv", DOCS), write(tmp_path, "queries.csv", QUERIES),
            write(tmp_path, "judgments.csv", JUDGMENTS))


def test_read_judged_set_from_csv_and_jsonl(files, tmp_path):
    data = sel.read_judged_set(*files)
    assert list(data.documents) == ["d1", "d2", "d3"] and data.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1, "d3": 0}}
    lines = [json.dumps({"id": i, "text": t}) for i, t in data.documents.items()]
    jsonl = write(tmp_path, "docs.jsonl", "\n".join(lines) + "\n\n")
    assert sel.read_judged_set(jsonl, files[1], files[2]).documents == data.documents
    assert sel.read_judged_set(files[0], files[1], {"q1": {"d1": 1}}).notes[0].startswith("1 of 2 queries")


def error_of(*args) -> JudgedSetError:
    with pytest.raises(JudgedSetError) as err:
        sel.read_judged_set(*args)
    return err.value


def test_missing_column_names_file_line_and_column(files, tmp_path):
    bad = write(tmp_path, "docs_bad.csv", "id,body\nd1,supersonic flow\n")
    err = error_of(bad, files[1], files[2])
    assert (Path(err.file).name, err.line, err.column) == ("docs_bad.csv", 1, "'text'")
    assert str(err).startswith("docs_bad.csv, line 1, column 'text': the header has no column 'text'")
    bad = write(tmp_path, "queries.jsonl", '{"id": "q1", "text": "flow"}\n{"id": "q2"}\n')
    err = error_of(files[0], bad, files[2])
    assert (err.line, err.column) == (2, "'text'")


def test_duplicate_ids_name_both_lines(files, tmp_path):
    bad = write(tmp_path, "docs_dup.csv", DOCS + "d2,another text\n")
    err = error_of(bad, files[1], files[2])
    assert (err.line, err.column) == (5, "'id'") and "already appears on line 3" in str(err)


@pytest.mark.parametrize("row, column", [("q9,d1,1", "'query_id'"), ("q1,d9,1", "'doc_id'")])
def test_judgments_to_unknown_ids(files, tmp_path, row, column):
    bad = write(tmp_path, "judgments_bad.csv", JUDGMENTS + row + "\n")
    err = error_of(files[0], files[1], bad)
    assert (err.line, err.column) == (5, column) and "is not an id of" in str(err)


@pytest.mark.parametrize("content", ["", "\n\n", "id,text\n"])
def test_empty_file(files, tmp_path, content):
    bad = write(tmp_path, "docs_empty.csv", content)
    err = error_of(bad, files[1], files[2])
    assert Path(err.file).name == "docs_empty.csv" and ("empty" in str(err) or "no rows" in str(err))


def test_wrong_encoding_names_line_and_byte(files, tmp_path):
    bad = write(tmp_path, "docs_latin1.csv", "id,text\nd1,flow\nd2,écoulement supersonique\n".encode("latin-1"))
    err = error_of(bad, files[1], files[2])
    assert (err.line, err.column) == (3, "4 (byte)") and "not UTF-8 (byte 0xe9)" in str(err)


def test_other_bad_input(files, tmp_path):
    bad = write(tmp_path, "judgments_grade.csv", "query_id,doc_id,grade\nq1,d1,high\n")
    assert error_of(files[0], files[1], bad).column == "'grade'"
    bad = write(tmp_path, "queries_json.jsonl", '{"id": "q1", "text": "flow"\n')
    assert error_of(files[0], bad, files[2]).line == 1
    assert "no such file" in str(error_of(tmp_path / "nothing.csv", files[1], files[2]))
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        sel.read_judged_set(tmp_path / "docs.txt", files[1], files[2])
    with pytest.raises(TypeError) as err:
        sel.read_judged_set(1, 2, files[2])
    assert "`documents`" in str(err.value) and "`queries`" in str(err.value)


def snapshot(folder: Path) -> dict:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_the_learners_files_are_never_modified(files, tmp_path):
    before = snapshot(tmp_path)
    sel.read_judged_set(*files)
    comparison = sel.compare_models(*files, models=["wordllama-l2-supercat-256"], n_resamples=200)
    assert list(comparison.table.index) != [] and set(comparison.table.index) == {"BM25", "wordllama-l2-supercat-256"}
    with pytest.raises(ValueError, match="already exists"):
        sel.save_judgments({"q1": {"d1": 1}}, files[2])
    assert snapshot(tmp_path) == before
    os.chmod(files[0], 0o444)                                   # read-only files are enough
    try:
        assert sel.read_judged_set(*files).documents
    finally:
        os.chmod(files[0], 0o644)


def test_save_judgments_writes_a_new_file_only(files, tmp_path):
    out = sel.save_judgments({"q1": {"d1": 2}, "q2": {"d3": 0}}, tmp_path / "mine.csv")
    assert out.read_text().splitlines() == ["query_id,doc_id,grade", "q1,d1,2", "q2,d3,0"]
    assert sel.read_judged_set(files[0], files[1], out).qrels == {"q1": {"d1": 2}, "q2": {"d3": 0}}


def test_compare_models_table(files):
    comparison = sel.compare_models(*files, models=["wordllama-l2-supercat-256"], n_resamples=200)
    table = comparison.table
    assert table["verdict"].iloc[0] == "best" and table["ndcg@10"].is_monotonic_decreasing
    assert {"ndcg@10", "mrr", "diff vs best", "low", "high", "wins", "losses", "p", "verdict", "reads"} <= set(table.columns)
    others = table.iloc[1:]
    assert ((others["low"] <= others["diff vs best"]) & (others["diff vs best"] <= others["high"])).all()
    assert list(comparison.per_query.index) == ["q1", "q2"]
    with pytest.raises(ValueError, match="registered text encoder"):
        sel.compare_models(*files, models=["whisper-tiny.en"])


def test_judgment_pool_and_labelling_widget():
    docs = {"d1": "supersonic flow over a wedge", "d2": "heat transfer in a boundary layer", "d3": "buckling of shells"}
    qs = {"q1": "flow over a wedge"}
    pool = sel.judgment_pool(qs, docs, k=2, model="wordllama-l2-supercat-256")
    assert list(pool) == ["q1"] and len(set(pool["q1"])) == len(pool["q1"]) <= 4 and pool["q1"][0] == "d1"
    widget = sel.LabellingWidget(qs, docs, pool)
    widget._set("q1", "d1", 2)
    assert widget.judgments == {"q1": {"d1": 2}}
    with pytest.raises(ValueError, match="not in `queries`"):
        sel.LabellingWidget(qs, docs, {"q1": ["d9"]})
