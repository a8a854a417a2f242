# Everything a fresh machine (Python 3.11 and pip, nothing else) needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# The torch build to install; override for another platform, e.g. TORCH="torch torchvision".
TORCH  ?= torch==2.14.1 torchvision==0.29.1
BIN    := $(VENV)/bin

.PHONY: demo test docs install clean

$(BIN)/ica: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/ica

install: $(BIN)/ica

demo: install
	$(BIN)/ica run specs/quickstart.json --out runs/quickstart

# One pytest worker per core (at most 8), each with one torch thread: two-thread processes sharing cores collapse.
test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --maxprocesses 8

# The documentation site, built strictly (a broken link, a missing reference or a failing tutorial is an
# error) into build/docs; its tutorials train tiny models, one torch thread.
docs: install
	OMP_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict -f docs/mkdocs.yml

clean:
	rm -rf $(VENV) runs build *.egg-info
