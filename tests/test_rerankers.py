"""Unit tests of ``course_utils.rerankers``: the cache of trained cross-encoders, the splits, the blend.

The cache's failure modes (a damaged file, an extra or missing file, a build that stops half-way)
run on stand-in builders that write small files, in a course cache in tmp, so no model trains here.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from course_utils import rerankers as R


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    return tmp_path / "rerankers"


@pytest.fixture
def fake_builders(monkeypatch, cache):
    """Stand-ins for the builders: each writes small files and records its call."""
    calls = []

    def builder(name):
        def build(staging, progress):
            calls.append(name)
            (staging / "data.bin").write_bytes(name.encode() * 100)
            (staging / "sub").mkdir()
            (staging / "sub" / "more.json").write_text(json.dumps({"name": name}))
            return {"measured": len(calls)}
        return build

    monkeypatch.setattr(R, "_BUILDERS", {name: builder(name) for name in R.ENTRIES})
    return calls


def test_build_once_then_read_from_the_cache(fake_builders, cache):
    rows = R.build(progress=False)
    assert [r["name"] for r in rows] == list(R.ENTRIES)
    # dependencies first: the Cranfield reranker starts from the STS-B one; the scores need both
    assert fake_builders == ["sts-cross-encoder", "cranfield-cross-encoder", "cranfield-scores"]
    assert R.build(progress=False) == [dict(r, seconds=0.0) for r in rows]
    assert len(fake_builders) == 3                                      # nothing built twice
    rec = R.record("cranfield-scores")
    assert rec["entry"] == "cranfield-scores" and rec["key"] == R._key("cranfield-scores")
    assert set(rec["sha256"]) == {"data.bin", "sub/more.json"}
    assert rec["depends"] == {"sts-cross-encoder": R._key("sts-cross-encoder"),
                              "cranfield-cross-encoder": R._key("cranfield-cross-encoder")}
    assert {"torch", "transformers", "sentence-transformers", "numpy"} <= set(rec["versions"])
    assert rec["measured"] == {"measured": 3} and rec["seconds"] >= 0 and rec["cpu_seconds"] >= 0
    assert all(R.is_built(name) for name in R.ENTRIES)
    assert not list(cache.rglob(".*-*"))                                # no staging folder left behind


def test_building_one_entry_builds_what_it_needs_first(fake_builders):
    R.build(["cranfield-scores"], progress=False)
    assert fake_builders == ["sts-cross-encoder", "cranfield-cross-encoder", "cranfield-scores"]


@pytest.mark.parametrize("damage", ["flip a byte", "delete a file", "add a file", "break the record", "lose the record"])
def test_a_damaged_entry_is_built_again(fake_builders, cache, damage, capsys):
    R.build(["sts-cross-encoder"], progress=False)
    folder = R._folder("sts-cross-encoder")
    if damage == "flip a byte":
        data = bytearray((folder / "data.bin").read_bytes())
        data[7] ^= 1
        (folder / "data.bin").write_bytes(bytes(data))
    elif damage == "delete a file":
        (folder / "sub" / "more.json").unlink()
    elif damage == "add a file":
        (folder / "stray.txt").write_text("?")
    elif damage == "break the record":
        (folder / "record.json").write_text("{not json")
    else:
        (folder / "record.json").unlink()
    assert not R.is_built("sts-cross-encoder")
    assert "is damaged" in capsys.readouterr().err
    R.build(["sts-cross-encoder"], progress=False)
    assert fake_builders == ["sts-cross-encoder", "sts-cross-encoder"] and R.is_built("sts-cross-encoder")


def test_a_second_process_waits_for_the_entry_and_reads_it(fake_builders, cache, capsys):
    """The background build of `make lab` holds an entry's lock while it trains; notebook 08, needing the
    same entry, waits and then reads it, without training a second time."""
    import fcntl
    import multiprocessing as mp
    import time

    ready = mp.get_context("fork").Event()

    def background():  # another process: holds the lock, builds the entry, lets go
        lock = cache / ".locks" / "sts-cross-encoder"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            ready.set()
            time.sleep(2)
            R._build("sts-cross-encoder", False)

    builder = mp.get_context("fork").Process(target=background)
    builder.start()
    try:
        assert ready.wait(30)
        rows = R.build(["sts-cross-encoder"], progress=False)
    finally:
        builder.join(30)
    assert fake_builders == [], "the entry was built again instead of read"
    assert rows[0]["key"] == R._key("sts-cross-encoder") and R.is_built("sts-cross-encoder")
    assert "another process is building the reranker entry sts-cross-encoder" in capsys.readouterr().err


def test_a_build_that_stops_leaves_nothing_that_looks_finished(monkeypatch, cache):
    def crash(staging, progress):
        (staging / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setitem(R._BUILDERS, "sts-cross-encoder", crash)
    with pytest.raises(KeyboardInterrupt):
        R.build(["sts-cross-encoder"], progress=False)
    assert not R._folder("sts-cross-encoder").exists()
    assert not [p for p in cache.rglob("*") if p.is_file() and p.parent.name != ".locks"]   # the empty lock file stays


def test_a_new_library_version_is_a_new_entry(monkeypatch):
    before = {name: R._key(name) for name in R.ENTRIES}
    monkeypatch.setattr(R, "_version", lambda dist: "9.9" if dist == "torch" else "1.0")
    assert all(R._key(name) != before[name] for name in R.ENTRIES)


def test_a_changed_recipe_changes_its_key_and_the_keys_of_what_depends_on_it(monkeypatch):
    before = {name: R._key(name) for name in R.ENTRIES}
    monkeypatch.setitem(R._RECIPES, "sts-cross-encoder", dict(R.STS_RECIPE, learning_rate=1.0))
    assert {name for name in R.ENTRIES if R._key(name) != before[name]} == set(R.ENTRIES)
    monkeypatch.setitem(R._RECIPES, "sts-cross-encoder", R.STS_RECIPE)
    monkeypatch.setitem(R._RECIPES, "cranfield-scores", dict(R.SCORES_RECIPE, batch_size=1))
    assert {name for name in R.ENTRIES if R._key(name) != before[name]} == {"cranfield-scores"}


def test_stored_scores_are_read_back_as_runs(monkeypatch, cache):
    def scores(staging, progress):
        np.save(staging / "test.npy", np.array([0.5, -1.0, 2.0], dtype=np.float32))
        (staging / "test_pairs.json").write_text(json.dumps([["1", "10"], ["1", "3"], ["7", "3"]]))
        (staging / "validation_pairs.json").write_text(json.dumps([["2", "5"]]))
        for task, value in (("sts", 0.25), ("cranfield", 4.0)):
            np.save(staging / f"validation_{task}.npy", np.array([value], dtype=np.float32))

    monkeypatch.setattr(R, "_BUILDERS", {**{n: (lambda s, p: None) for n in R.ENTRIES}, "cranfield-scores": scores})
    assert R.stored_scores("test", progress=False) == {"1": {"10": 0.5, "3": -1.0}, "7": {"3": 2.0}}
    assert R.stored_scores("validation", progress=False) == {"sts-cross-encoder": {"2": {"5": 0.25}},
                                                              "cranfield-cross-encoder": {"2": {"5": 4.0}}}


@pytest.mark.parametrize("call, error, names", [
    (lambda: R.stored_scores("train"), ValueError, ["split"]),
    (lambda: R.stored_scores("test", progress="yes"), TypeError, ["progress"]),
    (lambda: R.load_cross_encoder("msmarco", progress=1), TypeError, ["task", "progress"]),
    (lambda: R.build(["sts-cross-encoder", "colbert"]), ValueError, ["names"]),
    (lambda: R.build("sts-cross-encoder"), TypeError, ["names"]),
    (lambda: R.record("scores"), ValueError, ["name"]),
    (lambda: R.is_built(3), TypeError, ["name"]),
    (lambda: R.candidates("dev"), ValueError, ["split"]),
])
def test_bad_arguments_are_named(cache, call, error, names):
    with pytest.raises(error) as info:
        call()
    assert all(f"`{n}`" in str(info.value) for n in names)


# ---- the splits -----------------------------------------------------------------------------------

def test_validation_split_cuts_the_training_queries_only():
    from course_utils.datasets import cranfield_split

    train, test = cranfield_split()
    fit, validation = R.validation_split()
    assert (len(fit), len(validation)) == (100, R.VALIDATION_QUERIES)
    assert sorted(fit + validation, key=int) == train and not set(validation) & set(test)
    assert fit == sorted(fit, key=int) and validation == sorted(validation, key=int)
    assert R.validation_split() == (fit, validation)                      # fixed, not redrawn


def test_candidates_are_the_union_of_both_first_stages_at_their_depth(monkeypatch):
    from course_utils.datasets import cranfield_split

    _, test = cranfield_split()
    _, validation = R.validation_split()
    rng = np.random.default_rng(0)
    runs = {name: {q: {str(d): float(s) for d, s in zip(rng.permutation(400)[:120] + 1, rng.random(120))}
                   for q in test + validation} for name in ("BM25", "MiniLM")}
    got = R.candidates("test", runs)
    assert list(got) == test
    from course_utils.metrics import rank_run

    q = test[0]
    want = set(rank_run(runs["BM25"][q])[:100]) | set(rank_run(runs["MiniLM"][q])[:100])
    assert got[q] == sorted(want, key=int)
    val = R.candidates("validation", runs)
    assert list(val) == validation and all(len(ds) <= 2 * R.SCORES_RECIPE["validation_depth"] for ds in val.values())


# ---- blending and choosing ---------------------------------------------------------------------------

def test_blend_weights_standardised_scores():
    first = {"q": {"a": 10.0, "b": 20.0, "c": 30.0}}
    second = {"q": {"a": 3.0, "b": 1.0, "c": 2.0}}
    z = lambda v: (np.array(v) - np.mean(v)) / np.std(v)
    alone = R.blend(first, second, 1.0)["q"]
    np.testing.assert_allclose([alone[d] for d in "abc"], z([3.0, 1.0, 2.0]))
    np.testing.assert_allclose([R.blend(first, second, 0.0)["q"][d] for d in "abc"], z([10.0, 20.0, 30.0]))
    half = R.blend(first, second, 0.5)["q"]
    np.testing.assert_allclose([half[d] for d in "abc"], 0.5 * z([3.0, 1.0, 2.0]) + 0.5 * z([10.0, 20.0, 30.0]))
    # scale and shift of either stage change nothing; equal scores do not divide by zero
    scaled = {"q": {d: 1000 * s - 7 for d, s in first["q"].items()}}
    assert R.blend(scaled, second, 0.3)["q"] == pytest.approx(R.blend(first, second, 0.3)["q"])
    flat = R.blend({"q": {"a": 1.0, "b": 1.0}}, {"q": {"a": 2.0, "b": 0.0}}, 0.5)["q"]
    assert flat["a"] > flat["b"] and np.isfinite(list(flat.values())).all()


def test_select_prefers_the_better_model_and_the_lower_weight_on_a_tie(monkeypatch):
    import course_utils.datasets as D

    _, validation = R.validation_split()
    qrels = {q: {"1": 1} for q in validation}
    monkeypatch.setattr(D, "load_cranfield", lambda: ({}, {}, qrels))
    runs = {"BM25": {q: {str(d): 1.0 / d for d in range(1, 31)} for q in validation}}   # doc 1 first
    runs["MiniLM"] = {q: {**{str(d): float(d) for d in range(2, 31)}, "1": 25.5} for q in validation}  # doc 1 sixth
    good = {q: {str(d): 1.0 if d == 1 else 0.0 for d in range(1, 31)} for q in validation}
    bad = {q: {str(d): float(d) for d in range(1, 31)} for q in validation}
    rows, best = R.select({"good": good, "bad": bad}, runs)
    assert len(rows) == 2 * len(R.SCORES_RECIPE["weights"])
    assert best["model"] == "good" and best["nDCG@10 after MiniLM"] == 1.0
    assert best["weight"] == min(r["weight"] for r in rows if r["model"] == "good" and r["mean"] == best["mean"])
