"""Time three embedded vector databases on the same job; write the results to bench/vectordb_choice.md.

Notebook 11 (section 4) uses LanceDB and cites this script for the comparison. The job: insert the
1,400 all-MiniLM-L6-v2 vectors of the Cranfield abstracts with a payload (their length in words),
then run the 225 Cranfield queries one at a time, top 10 by inner product, without and with the
filter ``length < 100``. Each engine runs in a fresh Python process, so its import time is
measured too, and its results are checked against exact search (recall@10 of the unfiltered
searches and of the filtered ones).

The engines are measured only where they are installed; qdrant-client and Milvus Lite are not
in the course's requirements. To compare them, install them in a separate environment and name
its interpreter with ``--also-python``; each engine runs in the first interpreter that has it
(the course's own first)::

    python -m venv /tmp/vdbenv
    /tmp/vdbenv/bin/pip install qdrant-client "pymilvus[milvus-lite]"
    python bench/vectordb_choice.py --also-python /tmp/vdbenv/bin/python

Sizes are those of each engine's own distributions (``engine`` column), not of every dependency.
Timings are wall-clock seconds on whatever machine runs the script; the Markdown records its core
count and load average, since other work on the machine inflates them.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ENGINES = {  # name -> (module to import, distributions whose files are counted)
    "lancedb": ("lancedb", ["lancedb"]),
    "qdrant-client (local mode)": ("qdrant_client", ["qdrant-client"]),
    "Milvus Lite": ("pymilvus", ["pymilvus", "milvus-lite"]),
}
K = 10
OUT = Path(__file__).with_name("vectordb_choice.md")


def _child(engine: str, data: Path, workdir: Path) -> dict:
    """Run inside a fresh process: import the engine, insert, search; return timings and ids."""
    start = time.perf_counter()
    module = __import__(ENGINES[engine][0])
    import_s = time.perf_counter() - start
    arrays = np.load(data)
    docs, queries, lengths = arrays["docs"], arrays["queries"], arrays["lengths"]
    ids = list(range(len(docs)))
    if engine == "lancedb":
        import pyarrow as pa

        db = module.connect(str(workdir / "lance"))
        table_data = pa.table({"id": pa.array(ids, pa.int32()), "length": pa.array(lengths, pa.int32()),
                               "vector": pa.FixedSizeListArray.from_arrays(pa.array(docs.ravel()), docs.shape[1])})
        start = time.perf_counter()
        table = db.create_table("docs", data=table_data)
        insert_s = time.perf_counter() - start

        def search(q, filtered):
            query = table.search(q).metric("dot").limit(K)
            if filtered:
                query = query.where("length < 100", prefilter=True)
            return query.to_arrow()["id"].to_pylist()
    elif engine.startswith("qdrant"):
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(workdir / "qdrant"))
        client.create_collection("docs", vectors_config=models.VectorParams(size=docs.shape[1],
                                                                           distance=models.Distance.DOT))
        points = [models.PointStruct(id=i, vector=v.tolist(), payload={"length": int(n)})
                  for i, v, n in zip(ids, docs, lengths)]
        start = time.perf_counter()
        client.upsert("docs", points=points)
        insert_s = time.perf_counter() - start
        short = models.Filter(must=[models.FieldCondition(key="length", range=models.Range(lt=100))])

        def search(q, filtered):
            hits = client.query_points("docs", query=q.tolist(), limit=K, query_filter=short if filtered else None)
            return [p.id for p in hits.points]
    else:
        client = module.MilvusClient(str(workdir / "milvus.db"))
        client.create_collection("docs", dimension=docs.shape[1], metric_type="IP", auto_id=False)
        rows = [{"id": i, "vector": v.tolist(), "length": int(n)} for i, v, n in zip(ids, docs, lengths)]
        start = time.perf_counter()
        client.insert("docs", rows)
        insert_s = time.perf_counter() - start

        def search(q, filtered):
            hits = client.search("docs", data=[q.tolist()], limit=K, filter="length < 100" if filtered else "")
            return [h["id"] for h in hits[0]]
    result = {"import_s": import_s, "insert_s": insert_s}
    for filtered in (False, True):
        start = time.perf_counter()
        found = [search(q, filtered) for q in queries]
        result["filtered_s" if filtered else "search_s"] = time.perf_counter() - start
        result["filtered_ids" if filtered else "ids"] = found
    result["cpu_s"] = time.process_time()
    return result


def _size_mb(distributions: list[str]) -> float:
    total = 0
    for name in distributions:
        for f in metadata.files(name) or []:
            path = f.locate()
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K]) & set(t[:K].tolist())) / K for f, t in zip(found, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--also-python", action="append", default=[],
                        help="another interpreter to look for engines in (repeatable)")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "DATA", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, data, workdir = args.child
        print(json.dumps(_child(engine, Path(data), Path(workdir))))
        return

    from course_utils.datasets import load_cranfield
    from course_utils.embcache import standard_vectors

    corpus, _, _ = load_cranfield()
    doc_ids = sorted(corpus, key=int)
    docs = standard_vectors("all-MiniLM-L6-v2", "cranfield-docs")
    queries = standard_vectors("all-MiniLM-L6-v2", "cranfield-queries")
    lengths = np.array([len(corpus[d].split()) for d in doc_ids])
    scores = queries @ docs.T
    truth = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    masked = np.where(lengths[None] < 100, scores, -np.inf)
    filtered_truth = np.argsort(-masked, axis=1, kind="stable")[:, :K]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npz"
        np.savez(data, docs=docs, queries=queries, lengths=lengths)
        for engine, (module, dists) in ENGINES.items():
            probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
            python = next((p for p in [sys.executable, *args.also_python]
                           if subprocess.run([p, "-c", probe]).returncode == 0), None)
            if python is None:
                rows.append(f"| {engine} | not installed: not measured |||||||")
                continue
            versions = subprocess.run([python, "-c", "import importlib.metadata as m, sys; "
                                       f"print(', '.join(d + ' ' + m.version(d) for d in {dists!r}))"],
                                      capture_output=True, text=True, check=True).stdout.strip()
            size = subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                                   f"from vectordb_choice import _size_mb; print(_size_mb({dists!r}))"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            workdir = Path(tmp) / engine.split()[0]
            workdir.mkdir()
            start = time.perf_counter()
            out = subprocess.run([python, __file__, "--child", engine, str(data), str(workdir)],
                                 capture_output=True, text=True, env={**os.environ, "LANCEDB_LOG": "error"})
            wall = time.perf_counter() - start
            if out.returncode != 0:
                rows.append(f"| {engine} ({versions}) | failed: {out.stderr.strip().splitlines()[-1][:120]} |||||||")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(f"| {engine} ({versions}) | {float(size):.0f} MB | {r['import_s']:.1f} s | {r['insert_s']:.2f} s | "
                        f"{r['search_s']:.2f} s | {r['filtered_s']:.2f} s | {_recall(r['ids'], truth):.3f} / "
                        f"{_recall(r['filtered_ids'], filtered_truth):.3f} | {r['cpu_s']:.1f} s / {wall:.1f} s |")
            print(rows[-1], flush=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    OUT.write_text(f"""# Embedded vector databases on the Cranfield job

Written by `bench/vectordb_choice.py` (see its docstring for how to run it) on
{time.strftime('%Y-%m-%d', time.gmtime())}: Python {platform.python_version()}, {os.cpu_count()} cores,
load average at the end {load} (other work on the machine inflates every timing).

The job: insert the 1,400 all-MiniLM-L6-v2 vectors of the Cranfield abstracts with their length in
words, then run the 225 queries one at a time (top 10 by inner product), without and with the
filter `length < 100`. Each engine runs in a fresh process. Size: the files of the engine's own
distributions. Recall@10 against exact search (unfiltered / filtered). CPU / wall: the child
process's CPU seconds, and the wall-clock seconds of the whole child process.

| engine (versions) | size | import | insert 1,400 | 225 searches | 225 filtered searches | recall@10 | CPU / wall |
|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
