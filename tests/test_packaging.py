"""The install files agree with each other, Binder's postBuild runs offline, and importing
course_utils has no side effects.

Binder (repo2docker) cannot be built here, so its two inputs are checked instead:

* ``environment.yml`` names the packages of ``requirements.txt`` with the same specifiers (torch
  pinned to the CPU build the Makefile installs), and none of ``requirements-nodeps.txt``;
  ``postBuild`` installs those with ``--no-deps``, installs course_utils, prepares the models,
  installs the lab settings and builds the embedding cache, like ``make install``;
* ``postBuild`` runs, offline, in a clean virtualenv: see
  :func:`test_postbuild_runs_offline_in_a_clean_venv`.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def requirements(lines) -> dict[str, Requirement]:
    """Requirement lines (comments, blank lines and pip options dropped) by canonical name."""
    out = {}
    for line in lines:
        line = re.split(r"\s+#|^#", line, maxsplit=1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        out[canonicalize_name(req.name)] = req
    return out


def requirements_file(name: str) -> dict[str, Requirement]:
    return requirements((ROOT / name).read_text().splitlines())


def environment() -> tuple[list[str], list[str]]:
    """(conda dependencies, pip dependencies) of environment.yml."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            conda.append(dep)
    return conda, pip


def makefile_torch() -> Requirement:
    m = re.search(r"^TORCH\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, "the Makefile pins torch in TORCH ?= ..."
    return Requirement(m.group(1))


def postbuild_commands() -> list[str]:
    """postBuild's command lines, comments and blank lines dropped."""
    lines = (ROOT / "postBuild").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


# ---- the files agree -------------------------------------------------------------------------

def test_environment_yml_names_the_same_packages():
    conda, pip = environment()
    ours, theirs = requirements_file("requirements.txt"), requirements(pip)
    conda_names = {canonicalize_name(re.split(r"[=<>! ]", d, maxsplit=1)[0]) for d in conda}
    assert conda_names - {"python", "pip"} == set(), "conda packages: only python and pip (the rest via pip)"
    assert set(theirs) == set(ours), (f"only in environment.yml: {sorted(set(theirs) - set(ours))}; "
                                      f"only in requirements.txt: {sorted(set(ours) - set(theirs))}")


def test_environment_yml_has_the_same_specifiers():
    _, pip = environment()
    ours, theirs = requirements_file("requirements.txt"), requirements(pip)
    differ = {name: (str(ours[name]), str(theirs[name])) for name in ours
              if name != "torch" and (ours[name].specifier != theirs[name].specifier
                                      or str(ours[name].marker) != str(theirs[name].marker)
                                      or ours[name].extras != theirs[name].extras)}
    assert differ == {}, "requirements.txt vs environment.yml"


def test_torch_is_the_same_cpu_build_everywhere():
    _, pip = environment()
    env_torch = requirements(pip)["torch"]
    pins = [s for s in env_torch.specifier if s.operator == "=="]
    assert len(pins) == 1 and pins[0].version.endswith("+cpu"), f"environment.yml pins the CPU build: {env_torch}"
    version = Version(pins[0].version)
    assert version.public in requirements_file("requirements.txt")["torch"].specifier, "requirements.txt allows it"
    make_pin = [s.version for s in makefile_torch().specifier if s.operator == "=="]
    assert make_pin == [version.public], f"the Makefile installs torch {make_pin}, environment.yml {version}"
    assert any("download.pytorch.org/whl/cpu" in line for line in pip if line.startswith("--extra-index-url")), \
        "environment.yml takes torch from PyTorch's CPU index"


def test_python_version_agrees():
    conda, _ = environment()
    python = [d for d in conda if re.match(r"python\s*=", d)]
    assert len(python) == 1, "environment.yml pins one python"
    version = python[0].split("=", 1)[1].strip()
    requires = re.search(r'requires-python\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert Version(version) in SpecifierSet(requires), f"python {version} vs requires-python {requires}"


def test_no_deps_packages_are_pinned_and_only_in_their_file():
    nodeps = requirements_file("requirements-nodeps.txt")
    assert nodeps, "requirements-nodeps.txt lists the all-mpnet-base-v2 parts"
    loose = [str(r) for r in nodeps.values() if [s.operator for s in r.specifier] != ["=="]]
    assert loose == [], "pin --no-deps packages exactly: nothing checks their dependencies"
    _, pip = environment()
    elsewhere = set(nodeps) & (set(requirements_file("requirements.txt")) | set(requirements(pip)))
    assert elsewhere == set(), f"{sorted(elsewhere)} would be installed with their dependencies"


def test_binder_reads_the_root_files():
    # repo2docker reads only binder/ (or .binder/) when that folder exists
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert os.access(ROOT / "postBuild", os.X_OK), "postBuild must be executable"


def test_postbuild_does_what_make_install_does():
    steps = postbuild_commands()
    assert steps[0].startswith("set -e"), "postBuild stops at the first failing step"

    def index(pattern: str) -> int:
        found = [i for i, s in enumerate(steps) if re.search(pattern, s)]
        assert found, f"postBuild has no step matching {pattern!r}"
        return found[0]

    nodeps = index(r"^pip install --no-deps -r requirements-nodeps\.txt$")
    package = index(r"^pip install --no-deps -e \.$")
    prepare = index(r"^python -m course_utils\.models prepare$")
    settings = index(r"^python scripts/install_lab_settings\.py$")
    build = index(r"^python -m course_utils\.embcache build\b")
    assert nodeps < prepare and package < prepare < build, "install, then unpack the models, then encode"
    assert settings > package
    # every file it names is in the repository
    for step in steps:
        for word in shlex.split(step):
            if re.search(r"\.(txt|py|json|yml)$", word):
                assert (ROOT / word).is_file(), f"postBuild names {word}, which does not exist"
    # the Makefile's install step does the same
    make = (ROOT / "Makefile").read_text()
    for needle in ("--no-deps -r requirements-nodeps.txt", "--no-deps -e .", "-m course_utils.models prepare",
                   "scripts/install_lab_settings.py"):
        assert needle in make, f"the Makefile's install step lacks {needle!r}"


@pytest.mark.slow  # a fresh Python imports matplotlib and course_utils
def test_import_has_no_side_effects():
    code = ("import sys, matplotlib; before = dict(matplotlib.rcParams); import course_utils; "
            "assert 'torch' not in sys.modules, 'imports torch'; "
            "assert dict(matplotlib.rcParams) == before, 'changes matplotlib settings'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the lab settings ------------------------------------------------------------------------

def load_settings_installer():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import install_lab_settings
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return install_lab_settings


def test_lab_settings_turn_news_and_update_checks_off():
    settings = json.loads((ROOT / "lab-settings" / "overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    # each setting exists in the installed JupyterLab's schema, with a value it accepts
    from jupyterlab.commands import get_app_dir

    for plugin, values in settings.items():
        package, name = plugin.split(":")
        schema = json.loads((Path(get_app_dir()) / "schemas" / package / f"{name}.json").read_text())
        for key, value in values.items():
            prop = schema["properties"][key]
            allowed = [c["const"] for c in prop["oneOf"]] if "oneOf" in prop else None
            assert allowed is None or value in allowed, (plugin, key, value, allowed)
            assert allowed is not None or type(value).__name__ == {"boolean": "bool", "string": "str"}[prop["type"]]


def test_lab_settings_installer_writes_beside_the_users_own(tmp_path, monkeypatch):
    installer = load_settings_installer()
    monkeypatch.setenv("JUPYTERLAB_DIR", str(tmp_path / "lab"))
    users = tmp_path / "lab" / "settings" / "overrides.json"
    users.parent.mkdir(parents=True)
    users.write_text('{"mine": {"x": 1}}')
    path = installer.install()
    assert path == tmp_path / "lab" / "settings" / "overrides.d" / "embeddings-course.json"
    assert json.loads(path.read_text()) == json.loads(installer.SOURCE.read_text())
    assert users.read_text() == '{"mine": {"x": 1}}', "the user's overrides.json is left alone"
    assert installer.install() == path and len(list(path.parent.iterdir())) == 1, "installing twice is harmless"


def test_lab_settings_are_installed_in_this_environment():
    installer = load_settings_installer()
    path = installer.target()
    assert path.is_file(), f"{path} is missing: `make install` (or `python scripts/install_lab_settings.py`)"
    assert json.loads(path.read_text()) == json.loads(installer.SOURCE.read_text()), f"{path} is out of date"


# ---- postBuild, offline, in a clean virtualenv -----------------------------------------------
#
# Binder runs postBuild after installing environment.yml from the network. Here nothing may
# reach the network, so the test builds the same situation from what is installed:
#
# * a fresh virtualenv (its own pip, nothing else) stands for Binder's image;
# * what environment.yml installs is this environment's site-packages, seen through a folder of
#   links that leaves out every package postBuild itself installs (the --no-deps parts,
#   course_utils), added to the new venv's path by a .pth file: the `--system-site-packages` of
#   a venv made from a venv would be the base interpreter's, not this environment's;
# * PyPI is a wheelhouse: the --no-deps parts (and setuptools, which `pip install -e .` builds
#   with) repacked from their installed files, since `pip download` would need the network;
# * postBuild runs with PIP_NO_INDEX=1 and pip's config files ignored, COURSE_ONLINE=0,
#   HF_HUB_OFFLINE=1, a fresh COURSE_CACHE_DIR, the data mirror, and, where the kernel allows,
#   inside a network namespace of its own (`unshare -n`): no network at all;
# * from a copy of the repository, as repo2docker copies it, so `pip install -e .` writes nothing here.
#
# One substitution: the embedding-cache build. The full build (embcache.STANDARD_BUILD) encodes
# for about 20 minutes, the same code that `make embeddings` runs right after the unit tests; in
# this test postBuild's build line runs `embcache.build` on a small plan instead (MiniLM on the
# 225 Cranfield queries), and without postBuild's `|| echo`, so that a failure shows.

SMALL_PLAN = {"all-MiniLM-L6-v2": ["cranfield-queries"]}
BUILD_LINE = re.compile(r"^python -m course_utils\.embcache build\b.*$", re.M)
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".ci-cache", "__pycache__", "*.egg-info", "build",
                                     ".pytest_cache", ".ipynb_checkpoints")


def repack_wheel(dist: md.Distribution, out_dir: Path) -> Path:
    """A wheel holding the installed files of ``dist`` (as pip installed them), with a fresh RECORD."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    assert tags, f"{dist.metadata['Name']}: no Tag in its WHEEL file"
    info = next(f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info"))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    path = out_dir / f"{name}-{dist.version}-{tags[0]}.whl"
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for f in dist.files:
            if (f.parts[0] == ".." or "__pycache__" in f.parts or f.suffix == ".pyc"
                    or (f.parts[0] == info and f.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"))):
                continue
            data = Path(dist.locate_file(f)).read_bytes()
            zf.writestr(f.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{f.as_posix()},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def environment_view(site: Path, view: Path, leave_out: list[md.Distribution]) -> list[str]:
    """Links to every entry of ``site`` except the files of ``leave_out``; returns what was left out."""
    skip = {f.parts[0] for dist in leave_out for f in dist.files if f.parts[0] not in ("..", "__pycache__")}
    view.mkdir(parents=True)
    for entry in site.iterdir():
        if entry.name in skip or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return sorted(skip)


def offline_prefix() -> list[str]:
    """`unshare` into a namespace with no network, where the kernel allows it (root, or user namespaces)."""
    for cmd in (["unshare", "--net"], ["unshare", "--map-root-user", "--net"]):
        try:
            if subprocess.run([*cmd, "true"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            pass
    return []


def data_mirror() -> Path | None:
    """The dataset mirror, or the user's dataset cache (the same layout), holding Cranfield."""
    candidates = [os.environ.get("COURSE_DATA_MIRROR")]
    cache = os.environ.get("COURSE_CACHE_DIR") or str(Path.home() / ".cache" / "embeddings-course")
    candidates.append(str(Path(cache) / "datasets"))
    for c in candidates:
        if c and (Path(c) / "cranfield").is_dir():
            return Path(c)
    return None


@pytest.mark.slow
def test_postbuild_runs_offline_in_a_clean_venv(tmp_path):
    mirror = data_mirror()
    if mirror is None:
        message = "the Cranfield data is in neither COURSE_DATA_MIRROR nor the course cache (run a notebook once)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    timings, t0 = {}, time.monotonic()

    def lap(name):
        nonlocal t0
        timings[name] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()

    checkout = tmp_path / "repo"
    shutil.copytree(ROOT, checkout, ignore=COPY_IGNORE, symlinks=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    py = venv / "bin" / "python"
    clean_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    lap("clean venv")

    nodeps = [md.distribution(name) for name in requirements_file("requirements-nodeps.txt")]
    postbuild_installs = [*nodeps, md.distribution("course_utils")]
    tools = [md.distribution(n) for n in ("pip", "setuptools", "wheel") if _installed(n)]
    left_out = environment_view(Path(sysconfig.get_paths()["purelib"]), tmp_path / "environment", postbuild_installs + tools)
    (clean_site / "binder-environment.pth").write_text(str(tmp_path / "environment") + "\n")
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    for dist in [*nodeps, md.distribution("setuptools")]:
        repack_wheel(dist, wheelhouse)
    lap("environment and wheelhouse")

    script = (checkout / "postBuild").read_text()
    assert len(BUILD_LINE.findall(script)) == 1, "postBuild's build line changed: update this test"
    code = f"import json; from course_utils.embcache import build; build(json.loads({json.dumps(SMALL_PLAN)!r}))"
    script = BUILD_LINE.sub(lambda _m: "python -c " + shlex.quote(code), script)
    # traced with a clock in the trace prompt: how long each step took (bash ignores a PS4 passed
    # in the environment when run as root, so it is set in the script)
    script = "PS4='+ @$(date +%s.%N) '\nset -x\n" + script
    (tmp_path / "postBuild.offline").write_text(script)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "CONDA", "JUPYTER", "COURSE_", "HF_"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), PYTHONNOUSERSITE="1",
               PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse), PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", COURSE_ONLINE="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_WAIT_POLICY="passive",
               COURSE_CACHE_DIR=str(cache), COURSE_DATA_MIRROR=str(mirror), HF_HOME=str(tmp_path / "hf"))
    prefix = offline_prefix()
    if IN_CI and os.geteuid() == 0:
        assert prefix, "as root, `unshare --net` should work: the run would not be proved offline"
    run = subprocess.run([*prefix, "bash", str(tmp_path / "postBuild.offline")], cwd=checkout, env=env,
                         capture_output=True, text=True, timeout=1500)
    end = time.time()
    log = run.stdout + run.stderr
    (tmp_path / "postBuild.log").write_text(log)
    assert run.returncode == 0, f"postBuild failed offline ({' '.join(prefix) or 'no network namespace'}):\n{log[-4000:]}"
    lap("postBuild")
    trace = [(float(m.group(1)), m.group(2)[:60]) for m in re.finditer(r"^\++ @(\d+\.\d+) (.*)$", log, re.M)]
    steps = {cmd: round(t_next - t, 1) for (t, cmd), (t_next, _) in zip(trace, [*trace[1:], (end, "")])}

    check = f"""
import importlib.metadata as md, json, sys
import course_utils
from course_utils import embcache, models
from jupyterlab.commands import get_app_dir
texts, role = embcache.standard_texts("cranfield-queries")
print(json.dumps({{
    "course_utils": course_utils.__file__,
    "parts": {{d: str(md.distribution(d).locate_file("")) for d in {[d.metadata["Name"] for d in nodeps]!r}}},
    "mpnet": str(models._mpnet_dir(unpack=False)),
    "cached": embcache.is_cached("all-MiniLM-L6-v2", texts, role=role),
    "settings": get_app_dir() + "/settings/overrides.d/embeddings-course.json",
}}))
"""
    out = subprocess.run([*prefix, str(py), "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    lap("check")
    print("postBuild offline:", json.dumps({"timings_s": timings, "postBuild steps_s": steps,
                                            "network": " ".join(prefix) or "env vars only",
                                            "left out of the environment": left_out}))
    assert Path(found["course_utils"]).is_relative_to(checkout), f"course_utils comes from {found['course_utils']}"
    for name, where in found["parts"].items():
        assert Path(where).resolve() == clean_site.resolve(), f"{name} was not installed by postBuild ({where})"
    assert Path(found["mpnet"]).is_relative_to(cache) and (Path(found["mpnet"]) / ".complete").is_file(), found
    assert found["cached"] is True, "the embedding build left nothing in the cache"
    settings = Path(found["settings"])
    assert settings.is_relative_to(venv.resolve()) or settings.is_relative_to(venv), settings
    assert json.loads(settings.read_text()) == json.loads((ROOT / "lab-settings" / "overrides.json").read_text())
    for heavy in (venv, wheelhouse, cache, checkout):  # ~1.2 GB; pytest keeps its last 3 tmp dirs
        shutil.rmtree(heavy, ignore_errors=True)


def _installed(name: str) -> bool:
    try:
        md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False
