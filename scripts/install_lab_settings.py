"""Install the course's JupyterLab settings into this environment's JupyterLab.

`make install` and Binder's `postBuild` run it. The settings (``lab-settings/overrides.json``)
turn off JupyterLab's news feed and update check, so that `make lab` opens without the "get
notified about Jupyter news?" pop-up and the lab makes no request to the web on its own.

They go to ``<app dir>/settings/overrides.d/embeddings-course.json``, where ``<app dir>`` is
what JupyterLab itself uses (``$JUPYTERLAB_DIR``, else ``<sys.prefix>/share/jupyter/lab``).
JupyterLab reads every file in ``overrides.d`` before the singleton ``overrides.json``, which
stays the user's own: their settings win over the course's, and ours never overwrite theirs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "lab-settings" / "overrides.json"
NAME = "embeddings-course.json"


def target() -> Path:
    """Where this environment's JupyterLab reads the course's settings from."""
    from jupyterlab.commands import get_app_dir

    return Path(get_app_dir()) / "settings" / "overrides.d" / NAME


def install() -> Path:
    settings = json.loads(SOURCE.read_text(encoding="utf-8"))  # refuse to install a broken file
    path = target()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: python scripts/install_lab_settings.py")
    print(f"JupyterLab settings: {install()}")
