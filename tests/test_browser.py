"""The course in a real browser: JupyterLab from the installed environment, driven by Chromium.

What a learner does after `make lab`, done by a headless Chromium through Playwright:

1. start `jupyter lab` from this environment on a free local port, token authentication on,
   serving the repository; the lab's own files (runtime, settings, workspaces) go to a temp dir;
2. open ``notebooks/02_similarity_metrics.ipynb``, clear its outputs and run every cell through
   the Run menu (clicking, as a learner does);
3. find the ipywidgets similarity explorer (by widget class, not by cell position), move one
   slider with the keyboard and check that what the kernel renders for it (its readout and its
   drawing) changes;
4. check that a plotly figure renders (in 02 if it has one; otherwise the first notebook that
   has one, from its saved output);
5. check that the course's lab settings are in force (no "Jupyter news" pop-up) and that the
   page asked nothing of any host but the local server; save screenshots in the test's tmp dir.

The server and its kernels are shut down whatever happens; every step has a time limit.

It needs Debian's ``chromium`` (``/usr/bin/chromium``, or a Chromium/Chrome binary named by
``COURSE_CHROMIUM``) and the ``playwright`` package (in requirements.txt). Never run
``playwright install``: it downloads a browser build of its own. Without a browser the test
skips and says how to enable it; under ``CI=true`` it fails instead.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/02_similarity_metrics.ipynb"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
ENABLE = ("to run it, install Debian's Chromium: `sudo apt-get update && sudo apt-get install -y chromium` "
          "(or set COURSE_CHROMIUM to a Chromium or Chrome binary), then `make unit`. "
          "Do not run `playwright install`.")
PLOTLY_MIME = "application/vnd.plotly.v1+json"
NEWS = "notified about official Jupyter news"

# The test's own user settings (the learner's defaults otherwise):
TEST_SETTINGS = {
    # running the notebook must never rewrite it on disk
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
    # every cell in the page, so that prompts and outputs can be read without scrolling (by
    # default, cells out of view are not rendered, and their prompts stay empty)
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}

SERVER_START_S = 180      # a loaded 2-core machine took 21 s
RUN_ALL_S = 600           # notebook 02 runs in ~30 s on a quiet machine
STEP_MS = 60_000          # any single page step
WATCHDOG_S = 1200         # kills the server (and so unblocks the page) if everything else hangs


def require_browser() -> None:
    """Skip (fail under CI=true) unless Chromium and playwright are both here."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (`make install` installs it)")
    if missing:
        message = "browser test: " + "; ".join(missing) + "; " + ENABLE
        if IN_CI:
            pytest.fail("CI=true, so the browser test must run: " + message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(root: Path) -> set[str]:
    """Every file and folder of the repository but .git, venvs and caches (the course cache too,
    wherever COURSE_CACHE_DIR puts it: the embedding build beside the tests writes there)."""
    skip = {".git", ".venv", ".ci-cache", "__pycache__", ".pytest_cache", "node_modules"}
    course_cache = os.environ.get("COURSE_CACHE_DIR")
    course_cache = Path(course_cache).resolve() if course_cache else None
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip and Path(dirpath, d).resolve() != course_cache]
        out |= {Path(dirpath, name).relative_to(root).as_posix() for name in dirnames + filenames}
    return out


def has_plotly_output(path: Path) -> bool:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return any(PLOTLY_MIME in o.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", []))


def get(url: str, token: str, timeout: float = 10):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def kill_tree(proc) -> None:
    """scripts/bench.py's: kill the server (or a kernel it left) and every process it started."""
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.kill_tree(proc)


@contextmanager
def jupyter_lab(tmp: Path):
    """`jupyter lab` of this environment on a free port with a token; yields (base url, token, log).

    Runtime files, user settings and workspaces live in ``tmp``, so a developer's own lab
    settings cannot change what is tested, and nothing is written into their home. The user
    settings are :data:`TEST_SETTINGS`; the course's own settings come from the installation.
    """
    import psutil

    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.is_file(), f"no `jupyter` beside {sys.executable}: is JupyterLab installed (make install)?"
    token, port = os.urandom(24).hex(), free_port()
    dirs = {k: tmp / k.lower() for k in ("JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                                         "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    for plugin, value in TEST_SETTINGS.items():
        path = dirs["JUPYTERLAB_SETTINGS_DIR"] / (plugin.replace(":", "/") + ".jupyterlab-settings")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()}}
    cmd = [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
           # JupyterLab checkpoints every notebook it opens (.ipynb_checkpoints/, ignored by git): keep
           # them in the temporary folder, so that anything else the lab writes shows up below
           f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / "jupyter-lab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    watchdog = threading.Timer(WATCHDOG_S, kill_tree, args=(proc,))
    watchdog.daemon = True
    watchdog.start()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                get(f"{base}/api/status", token, timeout=5)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"jupyter lab did not answer within {SERVER_START_S} s:\n"
                                         f"{log_path.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield base, token, log_path
    finally:
        watchdog.cancel()
        try:  # the graceful way: the server shuts its kernels down, then exits
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=10).close()
            proc.wait(timeout=30)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
        kill_tree(proc)  # whatever is left: the server, a kernel that did not stop
        try:
            leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(dirs["JUPYTER_RUNTIME_DIR"]) in
                         " ".join(p.info["cmdline"] or [])]
        except psutil.Error:
            leftovers = []
        for p in leftovers:  # a kernel started in its own session: its connection file is in our runtime dir
            kill_tree(p)


def code_prompts(page) -> list[str]:
    return page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()


def answer_kernel_dialog(page) -> None:
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.first.inner_text():
        dialog.first.locator(".jp-mod-accept").click()


def wait_for_kernel(page, timeout_s: float) -> None:
    """Wait until the notebook's kernel is idle, answering JupyterLab's "Select Kernel" dialog
    (which it shows when the kernel is slow to start) with the preselected Python 3 kernel."""
    deadline = time.monotonic() + timeout_s
    idle = page.locator(".jp-StatusBar-TextItem").filter(has_text=re.compile(r"\| Idle$"))
    while time.monotonic() < deadline:
        answer_kernel_dialog(page)
        if idle.count():
            return
        time.sleep(0.5)
    raise AssertionError(f"the notebook's kernel was not idle within {timeout_s:.0f} s")


def run_all_cells(page, timeout_s: float) -> None:
    """Clear every output, then Run > Run All Cells, and wait until the run has ended.

    Clearing first means that every output seen afterwards was produced by this kernel, and that
    a numbered prompt on every code cell proves that each one ran (a failing cell stops the run
    and leaves the cells after it unnumbered).
    """
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.get_by_role("menuitem", name="Clear Outputs of All Cells").click()
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                                     .every(p => !/\\d/.test(p.textContent))""", timeout=STEP_MS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # every code cell is queued ([*]) or done at once; one left blank means the run did not start
    page.wait_for_function("""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                                     .every(p => /\*|\d/.test(p.textContent))""", timeout=STEP_MS)
    page.wait_for_function("""() => {
        const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
        return p.length > 0 && p.every(t => !t.includes('*')) && p.some(t => /\\d/.test(t));
    }""", timeout=timeout_s * 1000, polling=500)
    prompts = code_prompts(page)
    not_run = [i for i, t in enumerate(prompts) if not any(ch.isdigit() for ch in t)]
    if not_run:
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        raise AssertionError(f"code cells {not_run} of {len(prompts)} did not run; stderr/errors:\n"
                             + "\n---\n".join(e[-1500:] for e in errors))


def explorer_state(explorer) -> dict:
    """What the kernel renders for the explorer: its HTML readout text and its drawing."""
    texts = explorer.locator(".widget-html").all_inner_texts()
    images = explorer.locator(".widget-output img").evaluate_all("els => els.map(e => e.src)")
    return {"readout": "\n".join(t.strip() for t in texts), "drawing": images}


def test_notebook_02_in_jupyterlab(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    notebook = ROOT / NOTEBOOK
    plotly_in_02 = has_plotly_output(notebook)
    plotly_nb = notebook if plotly_in_02 else next(
        (p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if has_plotly_output(p)), None)
    assert plotly_nb is not None, "no notebook has a plotly figure to check"
    opened = {p: p.read_bytes() for p in (notebook, plotly_nb)}
    before_tree = snapshot(ROOT)
    foreign: list[str] = []
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    with jupyter_lab(tmp_path) as (base, token, log_path):
        timings["server up"] = time.monotonic() - t0
        # what the lab will use: the user's value if set (none here), else the schema default,
        # into which the server has merged the installed overrides
        plugin = get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification", token)
        effective = {k: plugin["settings"].get(k, plugin["schema"]["properties"][k].get("default"))
                     for k in ("fetchNews", "checkForUpdates")}
        assert effective == {"fetchNews": "false", "checkForUpdates": False}, (
            f"the course's lab settings are not in force ({effective}); `make install` installs them "
            "(scripts/install_lab_settings.py)")

        with sync_playwright() as pw:
            # a fresh profile (user-data dir) in tmp: nothing carried over from an earlier run
            context = pw.chromium.launch_persistent_context(
                tmp_path / "chromium-profile", executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000}, timeout=STEP_MS)
            try:
                def only_local(route):
                    url = route.request.url
                    if url.startswith(base) or url.startswith(("data:", "blob:", "about:")):
                        route.continue_()
                    else:
                        foreign.append(url)
                        route.abort()

                context.route("**/*", only_local)
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(STEP_MS)
                try:
                    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=STEP_MS * 3)
                    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=STEP_MS * 3)
                    wait_for_kernel(page, SERVER_START_S)
                    timings["kernel idle"] = time.monotonic() - t0

                    run_all_cells(page, RUN_ALL_S)
                    timings["all cells run"] = time.monotonic() - t0

                    # the explorer: the first output that holds a slider and a readout
                    explorer = page.locator(".jp-OutputArea-output").filter(
                        has=page.locator(".widget-slider")).filter(has=page.locator(".widget-html")).first
                    explorer.scroll_into_view_if_needed()
                    page.wait_for_function("(el) => el.querySelector('.widget-html').innerText.trim().length > 0",
                                           arg=explorer.element_handle())
                    first = explorer_state(explorer)
                    assert "cosine" in first["readout"], first
                    slider = explorer.locator(".widget-slider").first
                    value_before = slider.locator(".widget-readout").inner_text()
                    slider.locator(".noUi-handle").first.focus()
                    start = time.monotonic()
                    page.keyboard.press("ArrowRight")
                    page.wait_for_function("""([el, old]) => {
                        const t = [...el.querySelectorAll('.widget-html')].map(e => e.innerText.trim()).join('\\n');
                        return t.length > 0 && t !== old;
                    }""", arg=[explorer.element_handle(), first["readout"]], timeout=30_000)
                    timings["slider -> new readout"] = time.monotonic() - start
                    value_after = slider.locator(".widget-readout").inner_text()
                    if first["drawing"]:  # the drawing is replaced a moment after the readout
                        page.wait_for_function("""([el, old]) => {
                            const s = [...el.querySelectorAll('.widget-output img')].map(e => e.src);
                            return s.length > 0 && s.join() !== old.join();
                        }""", arg=[explorer.element_handle(), first["drawing"]], timeout=30_000)
                    second = explorer_state(explorer)
                    assert value_after != value_before, (value_before, value_after)
                    assert second["readout"] != first["readout"], "moving the slider did not change the readout"
                    assert "cosine" in second["readout"], second
                    if first["drawing"]:
                        assert second["drawing"] != first["drawing"], "moving the slider did not redraw the vectors"
                    page.screenshot(path=tmp_path / "02_similarity_explorer.png")

                    if not plotly_in_02:  # open the notebook that has a figure, in the same lab
                        page.get_by_role("menuitem", name="File", exact=True).click()
                        page.get_by_role("menuitem", name="Open from Path…").click()
                        page.locator(".jp-Dialog input").fill(plotly_nb.relative_to(ROOT).as_posix())
                        page.locator(".jp-Dialog .jp-mod-accept").click()
                    figure = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot").first
                    figure.wait_for(timeout=STEP_MS * 2)
                    figure.scroll_into_view_if_needed()
                    traces = figure.locator(".main-svg .trace")
                    traces.first.wait_for(timeout=STEP_MS)
                    n_traces = traces.count()
                    assert n_traces > 0
                    timings["plotly rendered"] = time.monotonic() - t0
                    answer_kernel_dialog(page)
                    page.screenshot(path=tmp_path / f"{plotly_nb.stem}_plotly.png")

                    assert page.get_by_text(NEWS).count() == 0, "the 'Jupyter news' pop-up appeared"
                except BaseException:
                    try:
                        page.screenshot(path=tmp_path / "failure.png")
                    except Exception:
                        pass
                    raise
            finally:
                context.close()

    # the lab saved nothing: the notebooks it ran or opened are as they were, and no file
    # (checkpoint, Untitled notebook, ...) appeared in the repository
    rewritten = [p.name for p, data in opened.items() if p.read_bytes() != data]
    assert rewritten == [], f"the lab rewrote {rewritten}"
    created = sorted(snapshot(ROOT) - before_tree)
    assert created == [], f"the lab wrote into the repository: {created}"
    assert foreign == [], f"the page asked hosts other than the local server: {foreign}"
    report = {**{k: round(v, 1) for k, v in timings.items()}, "slider": f"{value_before} -> {value_after}",
              "plotly notebook": plotly_nb.name, "traces": n_traces,
              "screenshots": sorted(p.name for p in tmp_path.glob("*.png"))}
    print("browser test:", json.dumps(report))
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2))
