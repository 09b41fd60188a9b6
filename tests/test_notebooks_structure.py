"""Structural checks over every notebook: template, executed state, size, no stray files.

nbval (``make test``) re-executes the notebooks and compares their outputs; these tests check
what nbval does not: that the committed notebooks were executed top to bottom, carry no
errors, follow the template of CONTRIBUTING.md, and stay small; that their prose is about
embeddings, not about the course's machinery; that no learner's exercise cell holds its
reference and every exercise is solved; that nbval's markers are cell tags; and that each
notebook states the minutes the README gives it.
"""
import io
import json
import re
import tokenize
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


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in MAIN:
        assert f"notebooks/{path.name}" in readme, f"README's table lacks {path.name}"
    for link in re.findall(r"\]\((?!https?://)([^)#]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to a missing file: {link}"


# ---- prose about embeddings, not about the course's machinery ---------------------------------
#
# A learner reads about the subject. How the notebooks are tested, benchmarked or were written
# belongs in CONTRIBUTING.md. Each pattern below stands for a kind of sentence found in earlier
# drafts; the comment says why it has no place in a learner's notebook. Patterns are matched
# case-insensitively against markdown cells and against the comments of code cells, in every
# notebook, solutions included.
BANNED = {
    r"nbval": "the test runner (NBVAL_* markers included: use cell tags)",
    r"seed text": "the course's own history: the text the course was first written from",
    r"the seed's": "the same history ('the seed's recipe')",
    r"the seed says": "the same history",
    r"course's outline": "how the course was planned, not what it teaches",
    # "tested on" alone would also ban ordinary evaluation prose ("the probe is tested on held-out
    # queries"), so the patterns name the machine or the course.
    r"tested on (?:this|the|a)\b[^.]{0,20}machine": "the machine the course is tested on",
    r"machine this course": "the same",
    r"(?:course|notebooks?)(?:'s)? (?:is|are|was|were) tested": "the same",
    r"computed, not written": "a promise about how a number was produced: show the computation instead",
    r"written in advance": "the same",
    r"slowed by": "'slowed by something else running': a remark about the test machine's load",
    r"something else running": "the same",
    r"make test\b": "the test command",
    r"make bench\b": "the benchmark command",
    r"pytest": "the test runner",
    r"sanitiz": "nbval's sanitize file",
}
# Case-sensitive: "CI" as a word is continuous integration ("ci" appears inside ordinary words).
BANNED_CASE_SENSITIVE = {r"\bCI\b": "continuous integration"}
# Names in code that carry the course's history into a learner's cell (`seed_position`, `SEED_CLAIM`).
BANNED_NAMES = re.compile(r"\b(?:seed|SEED)_[A-Za-z]\w*")


def code_comments(source: str) -> list[str]:
    """The comments of a code cell (IPython magics and shell lines tolerated)."""
    lines = [("pass  " + line) if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tokens = tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
        return [tok.string for tok in tokens if tok.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [line[line.index("#"):] for line in lines if "#" in line]


def learner_text(nb) -> list[tuple[int, str]]:
    """(cell index, text) of every markdown cell and every code comment."""
    out = []
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            out.append((i, source))
        elif cell["cell_type"] == "code":
            out.extend((i, comment) for comment in code_comments(source))
    return out


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_prose_is_about_embeddings_not_the_course_machinery(path):
    nb = load(path)
    found = []
    for i, text in learner_text(nb):
        for pattern, why in BANNED.items():
            for m in re.finditer(pattern, text, re.I):
                found.append(f"cell {i}: {text[max(0, m.start() - 30):m.end() + 30]!r} ({why})")
        for pattern, why in BANNED_CASE_SENSITIVE.items():
            for m in re.finditer(pattern, text):
                found.append(f"cell {i}: {text[max(0, m.start() - 30):m.end() + 30]!r} ({why})")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            found += [f"cell {i}: the name {name!r} (the course's history)"
                      for name in BANNED_NAMES.findall("".join(cell["source"]))]
    assert found == [], "\n".join(found)


def test_the_banned_phrase_check_can_fail():
    nb = {"cells": [{"cell_type": "markdown", "source": ["nbval does not compare this cell"]},
                    {"cell_type": "code", "source": ["x = 1  # the seed's recipe\n", "s = '# not a comment'"]}]}
    texts = [t for _, t in learner_text(nb)]
    assert texts == ["nbval does not compare this cell", "# the seed's recipe"]
    assert code_comments("%matplotlib inline\ny = 2  # make test\n") == ["# make test"]
    assert re.search(r"\bCI\b", "runs in CI") and not re.search(r"\bCI\b", "CIFAR, the circle")
    assert all(re.search(p, t, re.I) for p, t in [(r"tested on (?:this|the|a)\b[^.]{0,20}machine", "tested on the 2-core machine"),
                                                  (r"(?:course|notebooks?)(?:'s)? (?:is|are|was|were) tested", "the course is tested")])
    assert not any(re.search(p, "the probe is tested on held-out queries", re.I) for p in BANNED)
    assert BANNED_NAMES.findall("seed_position(text); set_seed(0); SEED_CLAIM = 1") == ["seed_position", "SEED_CLAIM"]


# ---- exercises: references out of sight, every one solved -------------------------------------

EXERCISE_CALL = re.compile(r"\b(check|predict|reveal)\(\s*([\"'])(\d\d[a-z]?\.\d+)\2")
ASSERTED = re.compile(r"\bassert\s+(check|predict|reveal)\(\s*([\"'])(\d\d[a-z]?\.\d+)\2")


def code_of(path) -> str:
    return "\n".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "code")


def solutions_of(path):
    return NB_DIR / "solutions" / path.name.replace(".ipynb", "_solutions.ipynb")


@pytest.mark.parametrize("path", MAIN, ids=ids(MAIN))
def test_no_learner_cell_holds_its_reference(path):
    cells = [(i, "".join(c["source"])) for i, c in enumerate(load(path)["cells"]) if c["cell_type"] == "code"]
    bad = [i for i, src in cells if re.search(r"\bexpected\s*=", src)]
    assert bad == [], f"code cells {bad} pass `expected=`: move the reference to course_utils/answers/"


@pytest.mark.parametrize("path", MAIN, ids=ids(MAIN))
def test_every_exercise_is_registered_and_asserted_in_the_solutions(path):
    from course_utils.exercises import get_exercise

    code = code_of(path)
    prefix = path.name.split("_", 1)[0]
    calls = EXERCISE_CALL.findall(code)
    checked = {ex for kind, _, ex in calls if kind == "check"}
    predicted = {ex for kind, _, ex in calls if kind == "predict"}
    assert len(checked) >= 3, "at least 3 exercises checked by id: check('NN.k', answer, ...)"
    old = re.findall(r"\bcheck\(\s*[\"'](?!\d\d[a-z]?\.\d+[\"'])", code)
    assert old == [], "every check(...) names its exercise by id ('NN.k'), not by a free title"
    for ex in checked | predicted:
        assert ex.split(".")[0] == prefix, f"exercise {ex} belongs to notebook {ex.split('.')[0]}, not {prefix}"
        assert get_exercise(ex) is not None, f"exercise {ex} is not registered in course_utils/answers/n{prefix}.py"
    for ex in predicted:
        assert re.search(rf"\breveal\(\s*[\"']{re.escape(ex)}[\"']", code), f"prediction {ex} is never revealed"
        assert code.index(f'predict("{ex}"') < code.index(f'reveal("{ex}"'), f"{ex}: predict before reveal"
    missing = unsolved(code, code_of(solutions_of(path)))
    assert missing == [], f"the solutions notebook does not assert {missing}"


def unsolved(learner_code: str, solutions_code: str) -> list[tuple[str, str]]:
    """The checks and reveals of the learner's notebook that its solutions notebook does not assert."""
    calls = EXERCISE_CALL.findall(learner_code)
    needed = {("check", ex) for kind, _, ex in calls if kind == "check"}
    needed |= {("reveal", ex) for kind, _, ex in calls if kind == "predict"}
    asserted = {(kind, ex) for kind, _, ex in ASSERTED.findall(solutions_code)}
    return sorted(needed - asserted)


def test_the_exercise_checks_can_fail(tmp_path):
    assert EXERCISE_CALL.findall('check("02.1", f)\npredict("04b.2", "x")') == [("check", '"', "02.1"),
                                                                                ("predict", '"', "04b.2")]
    assert ASSERTED.findall('check("02.1", f)\nassert check("02.2", x)') == [("check", '"', "02.2")]
    assert re.search(r"\bexpected\s*=", 'check("x", a, expected=cosine(u, v))')
    learner = 'check("02.1", f)\ncheck("02.2", x, u=u)\npredict("02.4", None)\nreveal("02.4", d=d)'
    assert unsolved(learner, 'assert check("02.1", g)\ncheck("02.2", 1)\nassert predict("02.4", "x")') == \
        [("check", "02.2"), ("reveal", "02.4")]
    assert unsolved(learner, 'assert check("02.1", g)\nassert check("02.2", 1)\nassert reveal("02.4", d=d)') == []


# ---- nbval markers as cell tags; file names ------------------------------------------------------

@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_nbval_markers_are_cell_tags_not_comments(path):
    cells = load(path)["cells"]
    comments = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                and re.search(r"^\s*#\s*NBVAL_\w+", "".join(c["source"]), re.M)]
    assert comments == [], f"cells {comments}: use the cell tag (nbval-ignore-output, nbval-skip), not a comment"
    untagged = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
                and any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in c.get("outputs", []))
                and not {"nbval-ignore-output", "nbval-skip"} & set(c.get("metadata", {}).get("tags", []))]
    assert untagged == [], f"cells {untagged} show a widget or progress bar: tag them nbval-ignore-output"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_file_name(path):
    assert NAME.match(path.name), f"{path.name}: NN_slug.ipynb (or NNa_slug.ipynb), lowercase, no spaces"


def test_the_file_name_pattern():
    assert all(NAME.match(n) for n in ["03_word_embeddings.ipynb", "04a_contextual_embeddings.ipynb",
                                       "10_evaluation_solutions.ipynb"])
    assert not any(NAME.match(n) for n in ["3_words.ipynb", "04_Contextual.ipynb", "Chapter 10.ipynb",
                                           "04ab_x.ipynb", "Untitled.ipynb"])


# ---- minutes: the notebook and the README say the same ------------------------------------------

def readme_minutes() -> dict[str, int]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|[^|]*\|\s*\[[^\]]*\]\(notebooks/([^)]+\.ipynb)\)\s*\|.*\|\s*(\d+)\s*\|\s*$", readme, re.M)
    return {name: int(minutes) for name, minutes in rows}


@pytest.mark.parametrize("path", MAIN, ids=ids(MAIN))
def test_minutes_agree_with_the_readme(path):
    cells = load(path)["cells"]
    need = next(("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
                 and "## What you need" in "".join(c["source"])), "")
    need = need[need.index("## What you need"):] if need else ""
    stated = re.findall(r"(\d+)\s+minutes", need)
    assert len(stated) == 1, "'## What you need' states the minutes once ('About N minutes')"
    assert readme_minutes().get(path.name) == int(stated[0]), \
        f"the notebook says {stated[0]} minutes, the README {readme_minutes().get(path.name)}"


# ---- the registered references themselves -----------------------------------------------------

def answer_modules():
    import pkgutil

    import course_utils.answers

    return sorted(info.name for info in pkgutil.iter_modules(course_utils.answers.__path__))


@pytest.mark.parametrize("module", answer_modules())
def test_function_exercises_accept_their_reference_and_reject_a_constant(module, capsys):
    """A "from scratch" exercise must pass its own reference on fresh cases, and fail a lazy answer."""
    import importlib

    from course_utils.exercises import _REGISTRY, check

    importlib.import_module(f"course_utils.answers.{module}")
    prefix = module[1:]
    functions = [ex for ex in _REGISTRY.values() if ex.id.split(".")[0] == prefix and ex.kind == "function"]
    for ex in functions:
        for _ in range(3):                                  # fresh random cases each time
            assert check(ex.id, ex.reference), capsys.readouterr().out
        assert not check(ex.id, lambda *args: 0.5)
        assert not check(ex.id, None)
    for ex in _REGISTRY.values():
        if ex.id.split(".")[0] == prefix:
            assert re.fullmatch(r"\d\d[a-z]?\.\d+", ex.id) and ex.title and (ex.expected or ex.reference)
