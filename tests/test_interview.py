"""The interview question bank (notebook 13), its links into the notebooks, the quiz and the cheat sheet.

The link check is strict: every link must name an existing notebook and an existing heading
anchor in it, computed as JupyterLab 4 and nbconvert compute heading ids
(``course_utils.interview.heading_anchor``).
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from course_utils.interview import (BANK_PATH, LEVELS, Bank, Question, Quiz, cheatsheet, heading_anchor, heading_text,
                                    is_portable_anchor, link_problems, load_bank, main, notebook_headings, parse_link,
                                    quiz_widget, topic_markdown)

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOK = NB_DIR / "13_interview_questions.ipynb"

TOPICS_IN_ORDER = ["Sparse vs dense", "Similarity", "Word vectors", "Contextual vectors",
                   "Sentence embeddings and search", "Contrastive training", "Matryoshka embeddings",
                   "Retrieval architectures", "Multimodal embeddings", "Evaluation", "Vector search",
                   "Model selection", "Production"]
SIX = ["How does contrastive learning train embedding models?",
       "Cross-encoder vs bi-encoder: when do you use each?",
       "How would you evaluate embedding quality for a RAG system?",
       "What are Matryoshka embeddings, and why are they useful?",
       "How does CLIP create a shared image–text embedding space?",
       "How do you choose an embedding model for a production system?"]
# Issue 13's "cover at least" list: each item, and a phrase that an answer covering it must contain.
COVERED = {
    "cosine vs dot vs L2, and normalisation": r"2 − 2 cos",
    "skip-gram with negative sampling, and the 3/4 power": r"3/4 power",
    "GloVe vs word2vec": r"GloVe vs word2vec",
    "FastText and out-of-vocabulary words": r"FastText.*out-of-vocabulary",
    "polysemy": r"polysemy",
    "pooling": r"mean pooling",
    "anisotropy": r"anisotropy",
    "InfoNCE and temperature": r"InfoNCE.*temperature",
    "batch size, in-batch negatives, CachedMNRL / GradCache": r"GradCache.*CachedMultipleNegativesRankingLoss",
    "false negatives and hard negatives": r"false negatives and hard negatives",
    "SimCSE": r"SimCSE",
    "asymmetric search and prefixes": r"asymmetric search.*prefixes",
    "hybrid search and RRF": r"hybrid search.*reciprocal rank fusion",
    "the cost of ColBERT": r"ColBERT\), and what does it cost",
    "Matryoshka vs PCA vs quantization": r"Matryoshka truncation, PCA or quantization",
    "index memory": r"How much memory does an index",
    "HNSW vs IVF-PQ": r"HNSW vs IVF-PQ",
    "Recall, MRR, nDCG and MAP, and their pitfalls": r"Recall@k, MRR, MAP and nDCG@k.*conventions",
    "significance": r"significance",
    "MTEB caveats": r"caveats of the MTEB",
    "ImageBind": r"ImageBind",
    "long documents": r"documents longer than the model's maximum",
    "multilingual embeddings": r"multilingual embedding models",
    "bias in embeddings": r"social bias",
    "re-indexing after a model change": r"re-embed the whole collection",
}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("–", "-").replace("—", "-")
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.fixture(scope="module")
def bank() -> Bank:
    return load_bank()


# ---- the bank --------------------------------------------------------------------------------

def test_at_least_40_questions_every_one_answered_and_linked(bank):
    assert len(bank.questions) >= 40
    for q in bank.questions:
        assert len(q.answer.split()) >= 15, f"{q.id}: the model answer is a few sentences"
        assert q.links, f"{q.id}: at least one link to the section that proves it"
        assert q.level in LEVELS


def test_topics_in_the_course_order_each_with_questions_from_warm_up_to_senior(bank):
    assert [title for _, title in bank.topics] == TOPICS_IN_ORDER
    for topic, title in bank.topics:
        assert bank.by_topic(topic), f"no question on {title}"
    assert {q.level for q in bank.questions} == set(LEVELS)
    order = [t for t, _ in bank.topics]
    assert [order.index(q.topic) for q in bank.questions] == sorted(order.index(q.topic) for q in bank.questions), \
        "the bank lists its questions topic by topic, in the course's order"


def test_the_six_named_questions_are_there(bank):
    asked = {normalise(q.question) for q in bank.questions}
    missing = [s for s in SIX if normalise(s) not in asked]
    assert missing == []


@pytest.mark.parametrize("item", list(COVERED))
def test_every_topic_the_issue_names_is_covered(bank, item):
    text = "\n".join(f"{q.question} {q.answer}" for q in bank.questions)
    assert re.search(COVERED[item], text, re.I | re.S), f"no question covers {item!r}"


def test_multiple_choice_variants_are_well_formed(bank):
    choices = [q for q in bank.questions if q.is_choice]
    assert len(choices) >= 15
    for q in choices:
        assert 0 <= q.correct < len(q.choices) and len(set(q.choices)) == len(q.choices)


def test_the_bank_is_the_only_copy():
    """The notebook reads the bank; no code cell of it (or any other file) carries an answer's text."""
    raw = json.loads(BANK_PATH.read_text(encoding="utf-8"))
    answers = [q["answer"][:60] for q in raw["questions"]]
    code = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"])
    assert not [a for a in answers if a in code]
    for path in list((ROOT / "course_utils").rglob("*.py")) + list(ROOT.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert not [a for a in answers if a in text], f"{path.name} holds a copy of bank answers"


# ---- links and anchors --------------------------------------------------------------------------

def test_every_link_opens_an_existing_heading_of_an_existing_notebook(bank):
    """Fails for links into a notebook that is not in the repository yet (e.g. 12 before it lands)."""
    assert link_problems(bank) == []


def test_every_anchor_is_one_jupyterlab_and_nbconvert_agree_on(bank):
    for q in bank.questions:
        for link in q.links:
            assert is_portable_anchor(parse_link(link)[1]), link


@pytest.mark.parametrize("heading, text, anchor", [
    ("## 2. Temperature and batch size", "2. Temperature and batch size", "2.-Temperature-and-batch-size"),
    ("### 2.2 HNSW in faiss, on GloVe", "2.2 HNSW in faiss, on GloVe", "2.2-HNSW-in-faiss,-on-GloVe"),
    ("## 3. False negatives: duplicates in a batch, and `BatchSamplers.NO_DUPLICATES`",
     "3. False negatives: duplicates in a batch, and BatchSamplers.NO_DUPLICATES",
     "3.-False-negatives:-duplicates-in-a-batch,-and-BatchSamplers.NO_DUPLICATES"),
    # a code span's inner trailing space stays in the text, as in the browser's textContent
    ("## 5. Instruction prefixes: E5's `query: ` and `passage: `", "5. Instruction prefixes: E5's query:  and passage: ",
     "5.-Instruction-prefixes:-E5's-query:--and-passage:-"),
    ("## A *very* [linked](x.ipynb) title", "A very linked title", "A-very-linked-title"),
])
def test_heading_anchor_known_cases(heading, text, anchor):
    assert heading_text(heading) == text
    assert heading_anchor(heading) == anchor


def test_heading_anchor_matches_nbconvert_on_every_heading_of_every_notebook():
    """nbconvert's own HTML export gives each heading an id; ours must equal it wherever it is portable."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    checked = 0
    for path in sorted(NB_DIR.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for line in "".join(cell["source"]).splitlines():
                if not re.match(r"^#{1,6} \S", line):
                    continue
                ours = heading_anchor(line)
                theirs = re.search(r'id="([^"]*)"', markdown2html_mistune(line))[1]
                if is_portable_anchor(ours):
                    assert theirs == ours, (path.name, line)
                    checked += 1
                else:
                    assert not is_portable_anchor(theirs) or theirs != ours
    assert checked > 100


def test_portable_anchors_refuse_what_one_front_end_would_change():
    assert is_portable_anchor("9.-Which-one-when?") and is_portable_anchor("2.-MiniLM's-vectors-have-length-1")
    for bad in ["2.-Analogies:-king-−-man", '6.-"happy-dog"', "5.-[CLS]-pooling", "What-$k_1$", "a=b", "a b", ""]:
        assert not is_portable_anchor(bad), bad


def test_notebook_headings_skip_fenced_code(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["## 1. Real\n", "```mermaid\n", "# not a heading\n", "```\n"]}]}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    assert notebook_headings(path) == {"1.-Real": "1. Real"}


def test_a_broken_link_is_reported(tmp_path):
    (tmp_path / "01_x.ipynb").write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["## 1. Here"]}]}))
    q = Question("x-1", "t", "core", "Q?", "A.", ("01_x.ipynb#1.-Here", "01_x.ipynb#2.-There", "02_y.ipynb#1.-Here"))
    problems = link_problems(Bank((("t", "T"),), (q,)), notebooks_dir=tmp_path)
    assert len(problems) == 2 and "no heading" in problems[0] and "no notebook 02_y.ipynb" in problems[1]


# ---- loading a malformed bank -----------------------------------------------------------------------

@pytest.mark.parametrize("change, words", [
    ({"answer": ""}, "missing or empty field(s) ['answer']"),
    ({"level": "expert"}, "level 'expert'"),
    ({"topic": "nowhere"}, "topic 'nowhere'"),
    ({"links": ["01_x.ipynb"]}, "NN_slug.ipynb#heading-anchor"),
    ({"choices": ["a", "b"], "correct": 2}, "`correct` must be the index"),
    ({"quiz": "Which?"}, "no `choices`"),
])
def test_a_malformed_entry_is_named(tmp_path, change, words):
    entry = {"id": "t-1", "topic": "t", "level": "core", "question": "Q?", "answer": "A.", "links": ["01_x.ipynb#1.-A"]}
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"topics": [{"id": "t", "title": "T"}], "questions": [dict(entry, **change)]}))
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        load_bank(path)
    assert "t-1" in str(info.value)


def test_duplicate_ids_are_refused(tmp_path):
    entry = {"id": "t-1", "topic": "t", "level": "core", "question": "Q?", "answer": "A.", "links": ["01_x.ipynb#1.-A"]}
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"topics": [{"id": "t", "title": "T"}], "questions": [entry, entry]}))
    with pytest.raises(ValueError, match="two questions have the id"):
        load_bank(path)


# ---- the quiz -----------------------------------------------------------------------------------------

def test_quiz_reveals_only_after_a_commit_and_keeps_score(bank):
    quiz = Quiz([q for q in bank.questions if q.is_choice], seed=3)
    with pytest.raises(ValueError, match="commit to an answer first"):
        quiz.reveal()
    q = quiz.current
    right = "ABCDEFGH"[[o.split(". ", 1)[1] for o in quiz.options].index(q.choices[q.correct])]
    quiz.commit(right.lower())
    assert quiz.reveal()["correct"] is True and quiz.score == (1, 1)
    quiz.reveal()                                         # revealing twice does not count twice
    assert quiz.score == (1, 1)
    with pytest.raises(ValueError, match="already revealed"):
        quiz.commit("A")
    quiz.next()
    wrong = next(i for i, o in enumerate(quiz.options) if o.split(". ", 1)[1] != quiz.current.choices[quiz.current.correct])
    quiz.commit(wrong)
    assert quiz.reveal()["correct"] is False and quiz.score == (1, 2)
    assert quiz.status().endswith("score 1 / 2 (50%)")


def test_quiz_open_questions_are_self_marked(bank):
    quiz = Quiz([q for q in bank.questions if not q.is_choice], seed=0)
    with pytest.raises(ValueError, match="empty"):
        quiz.commit("   ")
    quiz.commit("It pulls positives together.")
    with pytest.raises(TypeError, match="knew_it"):
        quiz.reveal() and quiz.grade_self("yes")
    quiz.grade_self(True)
    assert quiz.score == (1, 1)


def test_quiz_order_is_reproducible_and_choices_are_shuffled(bank):
    items = [q for q in bank.questions if q.is_choice]
    assert [q.id for q in Quiz(items, seed=1).questions] == [q.id for q in Quiz(items, seed=1).questions]
    firsts = set()
    for seed in range(8):
        quiz = Quiz(items, seed=seed)
        for i in range(len(items)):
            quiz.position = i
            firsts.add(quiz.options[0].split(". ", 1)[1] == quiz.current.choices[quiz.current.correct])
    assert firsts == {True, False}, "the right choice is not always first"


@pytest.mark.parametrize("answer, error", [(None, TypeError), (2.5, TypeError), (True, TypeError), (["A"], TypeError),
                                           ("Z", ValueError), (7, ValueError), (-1, ValueError), ("", ValueError)])
def test_quiz_wrong_answers_get_a_clear_error(bank, answer, error):
    quiz = Quiz([q for q in bank.questions if q.is_choice], seed=0)
    with pytest.raises(error, match="answer"):
        quiz.commit(answer)


def test_quiz_refuses_what_is_not_a_question():
    with pytest.raises(TypeError, match=r"questions\[0\]"):
        Quiz(["How does CLIP work?"])
    with pytest.raises(ValueError, match="questions"):
        Quiz([])


def test_the_widget_never_crashes(bank):
    box = quiz_widget(seed=0, choice_only=True)
    header, body, choices, text, buttons, feedback, marks, status = box.children
    commit, reveal, nxt = buttons.children
    reveal.click()                                        # disabled in a browser; a click from code must not raise
    commit.click()                                        # nothing chosen yet
    assert "pick one of the choices" in feedback.value
    choices.value = choices.options[1]
    commit.click()
    reveal.click()
    assert ("right" in feedback.value) or ("the right choice is" in feedback.value)
    assert "score" in status.value and box.quiz.score[1] == 1
    nxt.click()
    assert box.quiz.position == 1 and feedback.value == ""
    open_box = quiz_widget(seed=0, topics=["evaluation"])
    _, _, _, text, buttons, feedback, marks, _ = open_box.children
    commit, reveal, nxt = buttons.children
    while open_box.quiz.current.is_choice:
        open_box.quiz.next()
    commit.click()
    assert "empty" in feedback.value
    text.value = "Recall at the k given to the generator, then the answers."
    commit.click()
    reveal.click()
    marks.children[0].click()
    assert open_box.quiz.score == (1, 1)


# ---- the notebook and the cheat sheet -------------------------------------------------------------------

def test_cheatsheet_holds_every_question_and_answer(bank):
    text = cheatsheet(bank)
    for q in bank.questions:
        assert q.question in text and q.answer in text
    assert all(f"## {title}" in text for _, title in bank.topics)
    assert "](notebooks/06_contrastive_learning.ipynb#2.-Temperature-and-batch-size)" in text


def test_cheatsheet_command_writes_markdown_and_html_with_working_relative_links(tmp_path, capsys):
    out = tmp_path / "sheet" / "cheatsheet.md"
    assert main(["cheatsheet", str(out)]) == 0
    links = re.findall(r"\]\(([^)#]+\.ipynb)#", out.read_text(encoding="utf-8"))
    assert links and all((out.parent / link).resolve().is_file() or "12_choosing" in link for link in links)
    assert main(["cheatsheet", str(tmp_path / "cheatsheet.html")]) == 0
    assert "<h2>Contrastive training</h2>" in (tmp_path / "cheatsheet.html").read_text(encoding="utf-8")
    assert main(["nonsense"]) == 2


def test_topic_markdown_numbers_questions_in_the_order_shown(bank):
    """Topic after topic, warm-up first: the numbers run 1, 2, 3, ... down the cheat sheet."""
    shown = [int(n) for t, _ in bank.topics for n in re.findall(r"^\*\*(\d+)\. ", topic_markdown(bank, t), re.M)]
    assert shown == list(range(1, len(bank.questions) + 1))
    assert [int(n) for n in re.findall(r"^\*\*(\d+)\. ", cheatsheet(bank), re.M)] == shown
    with pytest.raises(ValueError, match="topic"):
        topic_markdown(bank, "astrology")


def test_notebook_13_runs_beside_the_builds():
    """It reads neither the embedding cache nor the trained rerankers, so `make test` runs it early."""
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert "embcache" not in text and "rerankers" not in text


def test_notebook_13_shows_every_topic():
    code = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
                     if c["cell_type"] == "code")
    shown = re.findall(r'show_topic\(bank, "([a-z-]+)"\)', code)
    assert shown == [t for t, _ in load_bank().topics]
