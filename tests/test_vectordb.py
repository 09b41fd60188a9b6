"""course_utils.vectordb: collections built atomically in the course cache, damaged folders refused
with a clear error, and recall@k of approximate search."""
import json
import shutil

import numpy as np
import pytest

lancedb = pytest.importorskip("lancedb")

from course_utils import vectordb  # noqa: E402
from course_utils.vectordb import CollectionError, connect, new_collection, recall_at_k  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    return tmp_path


def rows(n=50, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return [{"id": i, "vector": v[i], "length": int(i * 3)} for i in range(n)]


def build(name="demo", n=50):
    with new_collection(name) as db:
        db.create_table("docs", data=rows(n))
    return vectordb.collection_dir(name)


def test_collection_lives_in_the_course_cache(cache):
    folder = build()
    assert folder == cache / "vectordb" / "demo" and folder.is_dir()
    assert (folder / vectordb.MARKER).is_file()
    assert vectordb.list_collections() == ["demo"]
    assert [p.name for p in (cache / "vectordb").iterdir()] == ["demo"]   # no staging folder left behind


def test_connect_reads_back_what_was_written():
    build(n=40)
    db = connect("demo")
    tbl = db.open_table("docs")
    assert tbl.count_rows() == 40
    record = json.loads((vectordb.collection_dir("demo") / vectordb.MARKER).read_text())
    assert record["tables"] == {"docs": 40} and record["engine"] == "lancedb"


def test_search_after_reopening_is_exact():
    build(n=60)
    tbl = connect("demo").open_table("docs")
    q = np.ones(8, dtype=np.float32)
    got = tbl.search(q).metric("dot").limit(5).to_arrow()["id"].to_pylist()
    v = np.stack([r["vector"] for r in rows(60)])
    assert got == np.argsort(-(v @ q))[:5].tolist()


def test_a_failed_build_leaves_the_old_collection_untouched(cache):
    build(n=30)
    with pytest.raises(RuntimeError, match="boom"):
        with new_collection("demo") as db:
            db.create_table("docs", data=rows(5))
            raise RuntimeError("boom")
    assert connect("demo").open_table("docs").count_rows() == 30
    assert [p.name for p in (cache / "vectordb").iterdir()] == ["demo"]


def test_a_successful_rebuild_replaces_the_collection():
    build(n=30)
    build(n=12)
    assert connect("demo").open_table("docs").count_rows() == 12


def test_a_build_without_tables_is_refused(cache):
    with pytest.raises(CollectionError, match="no table was created"):
        with new_collection("empty"):
            pass
    assert not (cache / "vectordb" / "empty").exists()


def test_missing_collection_says_how_to_build_it():
    with pytest.raises(CollectionError, match=r"no collection 'nothing'.*new_collection\('nothing'\)"):
        connect("nothing")


def test_half_written_folder_is_refused():
    """A folder that never got its marker (a build stopped half-way, a copy cut short)."""
    folder = build()
    (folder / vectordb.MARKER).unlink()
    with pytest.raises(CollectionError, match="not completely written.*remove_collection\\('demo'\\)"):
        connect("demo")


def test_half_written_staging_folder_is_not_listed(cache):
    build()
    staging = cache / "vectordb" / ".staging-demo-1-abc"
    shutil.copytree(cache / "vectordb" / "demo", staging)
    assert vectordb.list_collections() == ["demo"]


def test_unreadable_marker_is_refused():
    folder = build()
    (folder / vectordb.MARKER).write_text("{not json")
    with pytest.raises(CollectionError, match="cannot be read: JSONDecodeError") as err:
        connect("demo")
    assert err.value.reason == f"its {vectordb.MARKER} cannot be read" and err.value.detail.startswith("JSONDecodeError")


def test_missing_table_is_refused():
    folder = build()
    shutil.rmtree(folder / "docs.lance")
    with pytest.raises(CollectionError, match="table 'docs' is missing"):
        connect("demo")


def test_table_without_versions_is_refused():
    """The engine's own metadata gone: its error is wrapped, not shown raw."""
    folder = build()
    shutil.rmtree(folder / "docs.lance" / "_versions")
    with pytest.raises(CollectionError, match="damaged or was not completely written"):
        connect("demo")


def test_corrupt_data_file_is_refused():
    folder = build()
    for f in (folder / "docs.lance" / "data").iterdir():
        f.write_bytes(b"\0" * 64)
    with pytest.raises(CollectionError, match="table 'docs' cannot be read") as err:
        connect("demo")
    assert err.value.reason == "table 'docs' cannot be read" and err.value.detail


def test_truncated_data_file_is_refused():
    folder = build(n=200)
    for f in (folder / "docs.lance" / "data").iterdir():
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CollectionError, match="damaged"):
        connect("demo")


def test_remove_collection(cache):
    build()
    assert vectordb.remove_collection("demo") is True
    assert vectordb.remove_collection("demo") is False
    assert vectordb.list_collections() == []


@pytest.mark.parametrize("bad, error", [(3, TypeError), ("", ValueError), ("../escape", ValueError),
                                        ("a/b", ValueError), (".staging-x", ValueError), ("x" * 101, ValueError)])
def test_bad_names(bad, error):
    with pytest.raises(error, match="name"):
        vectordb.collection_dir(bad)
    with pytest.raises(error, match="name"):
        new_collection(bad)
    with pytest.raises(error, match="name"):
        connect(bad)


def test_verify_must_be_a_bool():
    with pytest.raises(TypeError, match="verify"):
        connect("demo", verify="yes")


# ---- recall@k ------------------------------------------------------------------------------------

def test_recall_known_values():
    truth = [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert recall_at_k([[1, 2, 3, 4], [5, 6, 7, 8]], truth, k=4) == 1.0
    assert recall_at_k([[4, 3, 2, 1], [8, 7, 6, 5]], truth, k=4) == 1.0       # order does not matter
    assert recall_at_k([[1, 9, 9, 9], [9, 9, 9, 9]], truth, k=4) == 1 / 8
    assert recall_at_k([[2, 1, 0, 0], [5, 0, 0, 0]], truth, k=2) == 3 / 4
    assert recall_at_k([[-1, -1], [6, 5]], [[1, 2], [5, 6]], k=2) == 0.5        # -1 is "no result"


def test_recall_matches_a_direct_count_on_random_ids():
    rng = np.random.default_rng(0)
    truth = np.stack([rng.permutation(100)[:10] for _ in range(20)])
    found = np.stack([rng.permutation(100)[:15] for _ in range(20)])
    direct = np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth)])
    assert recall_at_k(found, truth, 10) == pytest.approx(direct)


def test_recall_of_faiss_flat_against_itself_is_one():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    base, queries = rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(20, 16)).astype(np.float32)
    index = faiss.IndexFlatIP(16)
    index.add(base)
    _, ids = index.search(queries, 10)
    assert recall_at_k(ids, ids, 10) == 1.0
    assert recall_at_k(ids[:, ::-1], ids, 5) < 1.0


@pytest.mark.parametrize("found, truth, k, error, words", [
    ([1, 2, 3], [[1, 2, 3]], 3, ValueError, "2-D"),
    ([[1, 2]], [[1, 2]], 3, ValueError, "larger than"),
    ([[1, 2]], [[1, 2], [3, 4]], 2, ValueError, "one row per query"),
    ([[1.5, 2]], [[1, 2]], 2, TypeError, "integer ids"),
    ("abc", [[1, 2]], 2, TypeError, "found"),
    ([[1, 2]], None, 2, TypeError, "truth"),
    ([[1, 2]], [[1, 2]], 0, ValueError, "k"),
    ([[1, 2]], [[1, 2]], 1.0, TypeError, "k"),
    (np.zeros((0, 3), int), np.zeros((0, 3), int), 2, ValueError, "no rows"),
    ([[1, 2], [3]], [[1, 2], [3, 4]], 1, ValueError, "different lengths"),
])
def test_recall_bad_input(found, truth, k, error, words):
    with pytest.raises(error, match=words):
        recall_at_k(found, truth, k)


def test_recall_accepts_integral_floats():
    assert recall_at_k(np.array([[1.0, 2.0]]), [[2, 1]], 2) == 1.0
