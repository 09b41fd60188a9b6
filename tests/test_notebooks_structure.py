"""Structural checks over every notebook: template, executed state, size, no stray files.

nbval (``make test``) re-executes the notebooks and compares their outputs; these tests check
what nbval does not: that the committed notebooks were executed top to bottom, carry no
errors, follow the template of CONTRIBUTING.md, and stay small.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
MAIN = sorted(NB_DIR.glob("*.ipynb"))
SOLUTIONS = sorted((NB_DIR / "solutions").glob("*.ipynb"))
ALL = MAIN + SOLUTIONS
NAME = re.compile(r"^\d\d[a-z]?_[a-z0-9_]+\.ipynb$")
SECTIONS = ["What you'll learn", "What you need", "Setup", "Exercises", "Summary",
            "Review questions", "Further reading"]


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def ids(paths):
    return [p.relative_to(NB_DIR).as_posix() for p in paths]


def test_there_are_notebooks():
    assert len(MAIN) >= 3


def test_no_stray_files():
    stray = [p.name for p in NB_DIR.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
             and (p.suffix != ".ipynb" or not NAME.match(p.name))]
    assert stray == []


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_executed_in_order_without_errors(path):
    nb = load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), "re-run the notebook top to bottom in a fresh kernel and save"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_template_sections(path):
    cells = load(path)["cells"]
    first = "".join(cells[0]["source"]) if cells else ""
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), "first cell: '# Title'"
    assert re.search(r"^> \S", first, re.M), "first cell: a one-line '> subtitle'"
    headings = [line[3:].strip() for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), f"missing section '## {section}'"
    assert any(re.match(r"1\. \S", h) for h in headings), "numbered sections '## 1. ...' expected"
    order = [next(i for i, h in enumerate(headings) if h.startswith(s)) for s in SECTIONS[-4:]]
    assert order == sorted(order), "Exercises, Summary, Review questions, Further reading, in that order"


@pytest.mark.parametrize("path", MAIN, ids=ids(MAIN))
def test_exercises_are_self_checked_and_solved(path):
    text = "".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "code")
    assert len(re.findall(r"\bcheck\(", text)) >= 3, "at least 3 self-checked exercises"
    solution = NB_DIR / "solutions" / path.name.replace(".ipynb", "_solutions.ipynb")
    assert solution.is_file(), f"solutions notebook {solution.name} expected"
    solved = "".join("".join(c["source"]) for c in load(solution)["cells"] if c["cell_type"] == "code")
    assert len(re.findall(r"assert check\(", solved)) >= 3


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_small_clean_and_offline(path):
    assert path.stat().st_size < 1_000_000, "keep committed outputs small (< 1 MB)"
    nb = load(path)
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert not re.search(r"^\s*[%!]\s*pip\b", source, re.M), "no installs inside notebooks"
    assert "notebook_connected" not in source
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"])
    assert not re.search(r"\b0x[0-9a-fA-F]{6,}\b", outputs), "an object repr with an address"
    assert not re.search(r"(/work/|/root/|/home/[a-z]|/tmp/)", outputs), "a machine path in an output"
    for marker in re.findall(r"^#\s*NBVAL_\w+.*$", source, re.M):
        assert marker.strip() in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP", "# NBVAL_RAISES_EXCEPTION"), marker


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in MAIN:
        assert f"notebooks/{path.name}" in readme, f"README's table lacks {path.name}"
    for link in re.findall(r"\]\((?!https?://)([^)#]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to a missing file: {link}"
