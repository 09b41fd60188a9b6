# Embeddings, hands-on — the README's two commands, plus the benchmark.
#   make lab    install if needed, then open JupyterLab on the first notebook
#   make test   install if needed, then unit tests and every notebook under strict nbval
#   make bench  wall time and peak memory of every notebook; encode throughput
#   make embeddings  compute once the evaluation-set embeddings notebooks 05, 07 and 10 read
#               (about 25 min on a 2-core laptop; `make test` and `make bench` run it first)
# The install step runs again only when a requirements file or pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.course-installed
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

.PHONY: install lab test unit embeddings notebooks bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(RUNENV) $(BIN)/python -m course_utils.models prepare
	touch $(STAMP)

lab: install
	$(LABENV) $(BIN)/jupyter lab $(LABARGS) notebooks/00_course_tour.ipynb

test: install unit embeddings notebooks

unit:
	$(RUNENV) $(BIN)/python -m pytest tests -q

# Encodes STS Benchmark and Cranfield with MiniLM, mpnet and E5 into the course cache; an entry
# already there is only read back and hash-checked, so a second run takes seconds.
embeddings: install
	$(RUNENV) $(BIN)/python -m course_utils.embcache build

notebooks:
	$(RUNENV) $(BIN)/python -m pytest $(NBVAL) -q notebooks

bench: install embeddings
	$(RUNENV) $(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV)
