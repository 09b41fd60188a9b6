"""Interview preparation: the question bank, links to the sections that prove each answer, a
self-quiz, and a printable cheat sheet.

Introduced in ``13_interview_questions``. The questions live in one data file,
``data/interview_questions.json``; the notebook, the quiz and the cheat sheet all read it through
:func:`load_bank`.

Links and anchors
-----------------
Each answer links to the notebook section whose cells prove it, as a relative link
``NN_slug.ipynb#anchor``. The anchor is the id that the front ends give a markdown heading:

* JupyterLab 4 (``@jupyterlab/rendermime``, ``headerAnchors``) renders the heading and sets its id
  to ``heading.textContent.replace(/ /g, "-")``;
* nbconvert (``nbconvert.filters.strings.add_anchor``; nbviewer, exported HTML) takes the text of
  the rendered heading, replaces every space by ``-`` and percent-encodes what is not allowed in a
  URL fragment (``quote(text, safe="?/:@!$&'()*+,;=")``).

The two agree exactly when the heading's text holds only ASCII letters, digits and
``-._~?/:@!&'()*+,;`` (JupyterLab reads a fragment with ``=`` as ``kind=value``, and ``$`` starts
math, which JupyterLab and nbconvert treat differently). :func:`heading_anchor` computes the id;
:func:`is_portable_anchor` says whether it is one of those that work in both.

Command line: ``python -m course_utils.interview cheatsheet [OUT.md]`` writes the cheat sheet.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import Problems, check_bool, check_int, check_sequence, check_text

ROOT = Path(__file__).resolve().parents[1]
#: The one question bank.
BANK_PATH = ROOT / "data" / "interview_questions.json"
NOTEBOOKS_DIR = ROOT / "notebooks"
LEVELS = ("warm-up", "core", "senior")
_PORTABLE = re.compile(r"[A-Za-z0-9._~?/:@!&'()*+,;-]+")
_LINK = re.compile(r"^(?P<notebook>\d\d[a-z]?_[a-z0-9_]+\.ipynb)#(?P<anchor>.+)$")


# ---- anchors of markdown headings --------------------------------------------------------------

class _HeadingText(HTMLParser):
    """Collects the text inside the first ``<h1>``-``<h6>`` element, like a browser's ``textContent``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0
        self.done = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if not self.done and re.fullmatch(r"h[1-6]", tag):
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and re.fullmatch(r"h[1-6]", tag):
            self.depth -= 1
            self.done = True

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def heading_text(heading: str) -> str:
    """The text a reader sees for a markdown heading line, e.g. ``"## 2. Use `bm25s`"`` -> ``"2. Use bm25s"``.

    The line is rendered by mistune (nbconvert's markdown parser) and its tags dropped, as a
    browser's ``textContent`` does: code spans, emphasis and links keep only their text.
    """
    import mistune

    heading = check_text(heading, "heading", allow_empty=False).strip()
    if not heading.startswith("#"):
        heading = "# " + heading
    parser = _HeadingText()
    parser.feed(mistune.html(heading.splitlines()[0]))
    return "".join(parser.parts)  # not stripped: a code span's trailing space stays, as in textContent


def heading_anchor(heading: str) -> str:
    """The id JupyterLab 4 and nbconvert give a markdown heading: its rendered text, spaces -> ``-``.

    >>> heading_anchor("## 2. Temperature and batch size")
    '2.-Temperature-and-batch-size'
    """
    return heading_text(heading).replace(" ", "-")


def is_portable_anchor(anchor: str) -> bool:
    """True if ``anchor`` means the same heading in JupyterLab and in nbconvert's HTML (see the module doc)."""
    return _PORTABLE.fullmatch(check_text(anchor, "anchor")) is not None


def _path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path (a string or pathlib.Path); got {type(value).__name__}.")
    return Path(value)


def _bank(value: Any, name: str = "bank") -> "Bank":
    if not isinstance(value, Bank):
        raise TypeError(f"`{name}` must be the Bank returned by load_bank(); got {type(value).__name__}.")
    return value


def notebook_headings(path) -> dict[str, str]:
    """``{anchor: heading text}`` of every markdown heading (levels 1-6) in a notebook file."""
    path = _path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}; check the file name (NN_slug.ipynb).")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out: dict[str, str] = {}
    fence = False
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.lstrip().startswith("```"):
                fence = not fence
            elif not fence and re.match(r"^#{1,6} \S", line):
                out.setdefault(heading_anchor(line), heading_text(line))
    return out


def parse_link(link: Any) -> tuple[str, str]:
    """``"NN_slug.ipynb#anchor"`` -> ``(notebook file name, anchor)``; ValueError if it is not one."""
    m = _LINK.match(link) if isinstance(link, str) else None
    if m is None:
        raise ValueError(f"a link must look like 'NN_slug.ipynb#heading-anchor'; got {link!r:.80}.")
    return m["notebook"], m["anchor"]


# ---- the question bank --------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    """One question of the bank: a model answer, the sections that prove it, an optional quiz variant.

    ``choices`` and ``correct`` (the index of the right choice) are empty / None for an open question.
    """

    id: str
    topic: str
    level: str
    question: str
    answer: str
    links: tuple[str, ...]
    choices: tuple[str, ...] = ()
    correct: int | None = None
    quiz: str = ""

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    @property
    def prompt(self) -> str:
        """What the quiz asks: the multiple-choice wording if there is one, else the question."""
        return self.quiz or self.question


@dataclass(frozen=True)
class Bank:
    """The question bank: ``topics`` as ``(id, title)`` pairs in the course's order, and the questions."""

    topics: tuple[tuple[str, str], ...]
    questions: tuple[Question, ...]

    def topic_title(self, topic: str) -> str:
        titles = dict(self.topics)
        if topic not in titles:
            raise ValueError(f"`topic` must be one of {list(titles)}; got {topic!r}.")
        return titles[topic]

    def by_topic(self, topic: str) -> list[Question]:
        """The questions of one topic, warm-up first (the bank's order within a level)."""
        self.topic_title(topic)
        return sorted((q for q in self.questions if q.topic == topic), key=lambda q: LEVELS.index(q.level))

    def get(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(f"no question {question_id!r} in the bank.")


def _question(raw: Any, i: int, topics: set[str]) -> Question:
    where = f"question #{i + 1}" + (f" ({raw.get('id')!r})" if isinstance(raw, dict) and raw.get("id") else "")
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with id, topic, level, question, answer, links.")
    lacking = [k for k in ("id", "topic", "level", "question", "answer", "links") if not raw.get(k)]
    if lacking:
        raise ValueError(f"{where}: missing or empty field(s) {lacking}.")
    if raw["topic"] not in topics:
        raise ValueError(f"{where}: topic {raw['topic']!r} is not one of the bank's topics {sorted(topics)}.")
    if raw["level"] not in LEVELS:
        raise ValueError(f"{where}: level {raw['level']!r} is not one of {list(LEVELS)}.")
    links = raw["links"]
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise ValueError(f"{where}: `links` must be a list of 'NN_slug.ipynb#anchor' strings.")
    for link in links:
        try:
            parse_link(link)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    choices, correct = tuple(raw.get("choices") or ()), raw.get("correct")
    if choices:
        if len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ValueError(f"{where}: `choices` must be at least two non-empty strings.")
        if isinstance(correct, bool) or not isinstance(correct, int) or not 0 <= correct < len(choices):
            raise ValueError(f"{where}: `correct` must be the index (0-based) of the right choice; got {correct!r}.")
    elif correct is not None:
        raise ValueError(f"{where}: `correct` is given but there are no `choices`.")
    quiz = raw.get("quiz") or ""
    if quiz and not choices:
        raise ValueError(f"{where}: `quiz` (the multiple-choice wording) is given but there are no `choices`.")
    return Question(raw["id"], raw["topic"], raw["level"], raw["question"].strip(), raw["answer"].strip(),
                    tuple(links), choices, correct, quiz.strip())


def load_bank(path=None) -> Bank:
    """Read and check the question bank (default: ``data/interview_questions.json``).

    Raises ``ValueError`` naming the question and the field when an entry is malformed, or when
    two questions share an id.
    """
    path = BANK_PATH if path is None else _path(path, "path")
    if not path.is_file():
        raise FileNotFoundError(f"no question bank at {path}.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("topics"), list) or not isinstance(raw.get("questions"), list):
        raise ValueError(f"{path.name} must hold an object with a list of `topics` and a list of `questions`.")
    topics = tuple((t["id"], t["title"]) for t in raw["topics"])
    ids = {t for t, _ in topics}
    questions = tuple(_question(q, i, ids) for i, q in enumerate(raw["questions"]))
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise ValueError(f"two questions have the id {q.id!r}; ids must be unique.")
        seen.add(q.id)
    return Bank(topics, questions)


def link_problems(bank: Bank, notebooks_dir=None) -> list[str]:
    """Every link of the bank that does not open a heading: a missing notebook, a missing or non-portable anchor."""
    with Problems() as problems:
        bank = problems.check(_bank, bank)
        if notebooks_dir is not None:
            notebooks_dir = problems.check(_path, notebooks_dir, "notebooks_dir")
    notebooks_dir = NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir
    anchors: dict[str, dict[str, str] | None] = {}
    problems = []
    for q in bank.questions:
        for link in q.links:
            notebook, anchor = parse_link(link)
            if notebook not in anchors:
                path = notebooks_dir / notebook
                anchors[notebook] = notebook_headings(path) if path.is_file() else None
            if anchors[notebook] is None:
                problems.append(f"{q.id}: {link}: no notebook {notebook}")
            elif anchor not in anchors[notebook]:
                problems.append(f"{q.id}: {link}: no heading with that anchor in {notebook}")
            elif not is_portable_anchor(anchor):
                problems.append(f"{q.id}: {link}: the anchor does not work in both JupyterLab and nbconvert")
    return problems


# ---- showing questions ----------------------------------------------------------------------------

def _label(link: str, notebooks_dir: Path) -> str:
    notebook, anchor = parse_link(link)
    number = notebook.split("_", 1)[0]
    path = notebooks_dir / notebook
    title = notebook_headings(path).get(anchor) if path.is_file() else None
    return f"{number} · {title or anchor.replace('-', ' ')}"


def question_markdown(q: Question, *, link_prefix: str = "", notebooks_dir=None, number: int | None = None) -> str:
    """One question as Markdown: the question, its level, the model answer and its links."""
    with Problems() as problems:
        if not isinstance(q, Question):
            problems.add(TypeError(f"`q` must be a Question (from load_bank().questions); got {type(q).__name__}."))
        link_prefix = problems.check(check_text, link_prefix, "link_prefix")
        if number is not None:
            number = problems.check(check_int, number, "number", minimum=1)
        if notebooks_dir is not None:
            notebooks_dir = problems.check(_path, notebooks_dir, "notebooks_dir")
    notebooks_dir = NOTEBOOKS_DIR if notebooks_dir is None else notebooks_dir
    links = ", ".join(f"[{_label(link, notebooks_dir)}]({link_prefix}{link})" for link in q.links)
    head = f"{number}. " if number is not None else ""
    return f"**{head}{q.question}** *({q.level})*\n\n{q.answer}\n\n*Proof:* {links}\n"


def topic_markdown(bank: Bank, topic: str, *, link_prefix: str = "", notebooks_dir=None) -> str:
    """The questions of one topic as Markdown, numbered as the cheat sheet shows the whole bank: topic by
    topic in the bank's order, warm-up first within each (:meth:`Bank.by_topic`)."""
    with Problems() as problems:
        bank = problems.check(_bank, bank)
        problems.check(check_text, topic, "topic")
        problems.check(check_text, link_prefix, "link_prefix")
        if notebooks_dir is not None:
            problems.check(_path, notebooks_dir, "notebooks_dir")
    shown = (q for t, _ in bank.topics for q in bank.by_topic(t))
    numbers = {q.id: i + 1 for i, q in enumerate(shown)}
    return "\n".join(question_markdown(q, link_prefix=link_prefix, notebooks_dir=notebooks_dir, number=numbers[q.id])
                     for q in bank.by_topic(topic))


def show_topic(bank: Bank, topic: str):
    """Display a topic's questions and answers in a notebook (Markdown with working links)."""
    from IPython.display import Markdown, display

    text = topic_markdown(bank, topic)
    display(Markdown(text))


def cheatsheet(bank: Bank | None = None, *, link_prefix: str = "notebooks/") -> str:
    """The whole bank as one printable Markdown page, topic by topic, links relative to ``link_prefix``."""
    with Problems() as problems:
        if bank is not None:
            bank = problems.check(_bank, bank)
        link_prefix = problems.check(check_text, link_prefix, "link_prefix")
    bank = load_bank() if bank is None else bank
    counts = {t: len(bank.by_topic(t)) for t, _ in bank.topics}
    lines = ["# Embeddings interview cheat sheet", "",
             f"{len(bank.questions)} questions with short model answers, grouped by topic and ordered "
             "warm-up, core, senior within each. Every answer links to the notebook section whose cells "
             "prove it.", ""]
    lines += [f"- {title} ({counts[t]})" for t, title in bank.topics]
    for topic, title in bank.topics:
        lines += ["", f"## {title}", "", topic_markdown(bank, topic, link_prefix=link_prefix)]
    return "\n".join(lines).rstrip() + "\n"


# ---- the self-quiz -------------------------------------------------------------------------------

LETTERS = "ABCDEFGH"


class Quiz:
    """A self-quiz over questions of the bank: commit to an answer, then see the model answer.

    The logic of :func:`quiz_widget`, usable on its own::

        quiz = Quiz(bank.questions, seed=0)
        quiz.current.prompt, quiz.options        # the question, and its choices (A, B, ...) if any
        quiz.commit("B")                         # a choice (letter, 0-based index or its text), or free text
        quiz.reveal()                            # the model answer; a multiple-choice item is marked
        quiz.grade_self(True)                    # an open question: did your answer hold the model answer's points?
        quiz.next(); quiz.score                  # (right, marked)

    Nothing is revealed before an answer is committed. The order of the questions and of each
    question's choices is shuffled once, reproducibly, by ``seed``.
    """

    def __init__(self, questions, *, seed: int = 0, shuffle: bool = True):
        with Problems() as problems:
            items = problems.check(check_sequence, questions, "questions", what="Question objects from load_bank()",
                                   allow_empty=False)
            seed = problems.check(check_int, seed, "seed", minimum=0)
            shuffle = problems.check(check_bool, shuffle, "shuffle")
        for i, item in enumerate(items):
            if not isinstance(item, Question):
                raise TypeError(f"`questions[{i}]` must be a Question (from load_bank().questions); "
                                f"got {type(item).__name__}.")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(items)) if shuffle else np.arange(len(items))
        self.questions = [items[i] for i in order]
        self._choice_order = [list(rng.permutation(len(q.choices))) if shuffle else list(range(len(q.choices)))
                              for q in self.questions]
        self.position = 0
        self.results: dict[str, bool] = {}
        self._committed: str | int | None = None
        self._revealed = False

    # -- where we are
    @property
    def current(self) -> Question:
        return self.questions[self.position]

    @property
    def options(self) -> list[str]:
        """The current question's choices, in quiz order, as ``"A. ..."`` (empty for an open question)."""
        q = self.current
        return [f"{LETTERS[i]}. {q.choices[j]}" for i, j in enumerate(self._choice_order[self.position])]

    @property
    def committed(self) -> bool:
        return self._committed is not None

    @property
    def revealed(self) -> bool:
        return self._revealed

    @property
    def finished(self) -> bool:
        return self.position == len(self.questions) - 1 and self._revealed and self.current.id in self.results

    @property
    def score(self) -> tuple[int, int]:
        """(answers marked right, answers marked)."""
        return sum(self.results.values()), len(self.results)

    def status(self) -> str:
        right, marked = self.score
        return (f"question {self.position + 1} of {len(self.questions)} · score {right} / {marked}"
                + (f" ({right / marked:.0%})" if marked else ""))

    # -- answering
    def _choice_index(self, answer: Any) -> int:
        """The quiz-order index of a multiple-choice answer given as a letter, an index or the choice's text."""
        n = len(self.current.choices)
        if isinstance(answer, bool) or not isinstance(answer, (str, int, np.integer)):
            raise TypeError(f"`answer` must be a letter (A-{LETTERS[n - 1]}), an index (0-{n - 1}) or the choice's "
                            f"text; got {type(answer).__name__}.")
        if isinstance(answer, (int, np.integer)):
            return check_int(int(answer), "answer", minimum=0, maximum=n - 1)
        text = answer.strip()
        if len(text) == 1 and text.upper() in LETTERS[:n]:
            return LETTERS.index(text.upper())
        shown = [o.split(". ", 1)[1].strip().lower() for o in self.options]
        if text.lower() in shown:
            return shown.index(text.lower())
        raise ValueError(f"`answer` {answer!r:.60} is not one of the choices; answer with a letter A-{LETTERS[n - 1]}.")

    def commit(self, answer: Any) -> str:
        """Record an answer to the current question before seeing the model answer."""
        if self._revealed:
            raise ValueError("the answer is already revealed; go to the next question with next().")
        if self.current.is_choice:
            self._committed = self._choice_index(answer)
            return f"Committed: {LETTERS[self._committed]}. Now reveal the answer."
        self._committed = check_text(answer, "answer", allow_empty=False).strip()
        return "Committed. Now reveal the model answer and compare."

    def reveal(self) -> dict:
        """The model answer (and, for a multiple-choice item, whether the committed choice is right)."""
        if self._committed is None:
            raise ValueError("commit to an answer first: the model answer is shown only after you have answered.")
        q = self.current
        out = {"question": q.question, "answer": q.answer, "links": list(q.links), "correct": None, "right_choice": None}
        if q.is_choice:
            right = self._choice_order[self.position].index(q.correct)
            out["right_choice"] = LETTERS[right]
            out["correct"] = self._committed == right
            if not self._revealed:
                self.results[q.id] = out["correct"]
        self._revealed = True
        return out

    def grade_self(self, knew_it: Any) -> None:
        """Mark an open question after the reveal: True if your answer held the model answer's key points."""
        knew_it = check_bool(knew_it, "knew_it")
        if not self._revealed:
            raise ValueError("reveal the model answer before marking your own.")
        if self.current.is_choice:
            raise ValueError("a multiple-choice answer is marked automatically.")
        self.results[self.current.id] = knew_it

    def next(self) -> Question:
        """Go to the next question (stays on the last one at the end)."""
        if self.position < len(self.questions) - 1:
            self.position += 1
            self._committed, self._revealed = None, False
        return self.current


def quiz_widget(questions=None, *, seed: int = 0, topics=None, choice_only: bool = False):
    """An ipywidgets self-quiz over the bank: answer, commit, then see the model answer and your score.

    Parameters
    ----------
    questions : Question objects (default: the whole bank)
    seed : the order of questions and choices
    topics : keep only these topic ids (e.g. ``["contrastive", "evaluation"]``)
    choice_only : keep only the multiple-choice items

    Returns an ``ipywidgets.VBox`` that carries the underlying :class:`Quiz` as ``.quiz``. Whatever
    is typed or clicked, the widget shows a message and never raises.
    """
    import ipywidgets as widgets

    bank = load_bank() if questions is None else None
    items = list(bank.questions) if bank is not None else check_sequence(questions, "questions",
                                                                        what="Question objects", allow_empty=False)
    if topics is not None:
        wanted = set(check_sequence(topics, "topics", what="topic ids", allow_empty=False))
        items = [q for q in items if isinstance(q, Question) and q.topic in wanted]
    if check_bool(choice_only, "choice_only"):
        items = [q for q in items if isinstance(q, Question) and q.is_choice]
    if not items:
        raise ValueError("no question left after filtering by `topics` and `choice_only`.")
    quiz = Quiz(items, seed=seed)
    titles = dict((bank or load_bank()).topics)

    header, body, feedback, status = widgets.HTML(), widgets.HTML(), widgets.HTML(), widgets.HTML()
    choices = widgets.RadioButtons(options=[], value=None, layout={"width": "auto"})
    text = widgets.Textarea(placeholder="Your answer, in a few sentences", layout={"width": "95%", "height": "90px"})
    commit, reveal, nxt = widgets.Button(description="Commit"), widgets.Button(description="Reveal"), \
        widgets.Button(description="Next")
    knew, missed = widgets.Button(description="I had it"), widgets.Button(description="I missed it")
    marks = widgets.HBox([knew, missed])
    box = widgets.VBox([header, body, choices, text, widgets.HBox([commit, reveal, nxt]), feedback, marks, status])
    box.quiz = quiz

    def esc(x: str) -> str:
        import html

        return html.escape(x)

    def show() -> None:
        q = quiz.current
        header.value = f"<b>{esc(quiz.status())}</b> · {esc(titles.get(q.topic, q.topic))} · <i>{q.level}</i>"
        body.value = f"<p><b>{esc(q.prompt)}</b></p>"
        choices.options = quiz.options
        choices.value = None
        choices.layout.display = "" if q.is_choice else "none"
        text.value = ""
        text.layout.display = "none" if q.is_choice else ""
        reveal.disabled, marks.layout.display = True, "none"
        commit.disabled = False
        feedback.value = ""
        status.value = ""

    def guarded(fn):
        def run(_button=None) -> None:
            try:
                fn()
            except Exception as exc:  # a widget must never crash: say what is wrong instead
                feedback.value = f"<span style='color:#b00'>{esc(str(exc))}</span>"
        return run

    def on_commit() -> None:
        answer = choices.index if quiz.current.is_choice else text.value
        if answer is None:
            raise ValueError("pick one of the choices first.")
        message = quiz.commit(answer)
        feedback.value = esc(message)
        reveal.disabled, commit.disabled = False, True

    def on_reveal() -> None:
        out = quiz.reveal()
        links = ", ".join(f"<a href='{esc(link)}' target='_blank'>{esc(link.split('#')[0])}</a>" for link in out["links"])
        verdict = ""
        if out["correct"] is not None:
            verdict = ("✅ right. " if out["correct"] else f"❌ the right choice is {out['right_choice']}. ")
        else:
            marks.layout.display = ""
        feedback.value = f"<p>{verdict}{esc(out['answer'])}</p><p><i>Proof:</i> {links}</p>"
        reveal.disabled = True
        status.value = esc(quiz.status())

    def mark(value: bool):
        def run() -> None:
            quiz.grade_self(value)
            marks.layout.display = "none"
            status.value = esc(quiz.status())
        return run

    def on_next() -> None:
        if quiz.position == len(quiz.questions) - 1:
            right, marked = quiz.score
            feedback.value = f"That was the last question: {right} / {marked} right."
            return
        quiz.next()
        show()

    commit.on_click(guarded(on_commit))
    reveal.on_click(guarded(on_reveal))
    nxt.on_click(guarded(on_next))
    knew.on_click(guarded(mark(True)))
    missed.on_click(guarded(mark(False)))
    show()
    return box


# ---- command line ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    """``python -m course_utils.interview cheatsheet [OUT.md|OUT.html]``: write the cheat sheet (stdout without OUT)."""
    args = sys.argv[1:] if argv is None else check_sequence(argv, "argv", what="command-line words")
    if not all(isinstance(a, str) for a in args):
        raise TypeError("`argv` must be a list of strings, e.g. ['cheatsheet', 'build/cheatsheet.md'].")
    if not args or args[0] != "cheatsheet" or len(args) > 2:
        print("usage: python -m course_utils.interview cheatsheet [OUT.md]", file=sys.stderr)
        return 2
    if len(args) == 1:
        sys.stdout.write(cheatsheet())
        return 0
    out = Path(args[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = Path(os.path.relpath(NOTEBOOKS_DIR, out.resolve().parent)).as_posix() + "/"
    text = cheatsheet(link_prefix=prefix)
    if out.suffix.lower() in (".html", ".htm"):
        import mistune

        text = ("<!doctype html>\n<html><head><meta charset='utf-8'><title>Embeddings interview cheat sheet</title>"
                "<style>body{font:11pt/1.4 sans-serif;max-width:48em;margin:2em auto}h2{break-before:auto;"
                "border-bottom:1px solid #ccc}p{margin:.3em 0 .8em}</style></head><body>\n"
                + mistune.html(text) + "</body></html>\n")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(load_bank().questions)} questions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
