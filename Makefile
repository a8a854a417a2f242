# Everything a fresh machine (Python 3.11 and pip, nothing else) needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# The torch build to install; override for another platform, e.g. TORCH="torch torchvision".
TORCH  ?= torch==2.14.1 torchvision==0.29.1
BIN    := $(VENV)/bin

.PHONY: demo test check lint docs install clean

$(BIN)/ica: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/ica

install: $(BIN)/ica

demo: install
	$(BIN)/ica run specs/quickstart.json --out runs/quickstart

# One pytest worker per core (at most 8), each with one torch thread: two-thread processes sharing cores collapse.
# worksteal: a worker that runs out of tests takes some of another's, so that none idles while the other ends a
# long queue (measured side by side on 2 cores: 5 min 24 s against 6 min 03 s with the default scheduling).
# Everything, the 15 slowest tests listed at the end; what CI runs.
test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --maxprocesses 8 --dist worksteal --durations=15

# The fast lane, while working: every test that trains nothing (not marked slow).
check: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --maxprocesses 8 --dist worksteal -m "not slow"

# Lint, format and types. mypy reads the package `ica` as installed through build/typecheck, a tree of links
# (core/ is `ica`, with cli/ and plugins/ inside it), since it cannot follow an editable install.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/typecheck && mkdir -p build/typecheck/ica
	for f in core/*; do ln -s ../../../$$f build/typecheck/ica/; done
	ln -s ../../../cli ../../../plugins build/typecheck/ica/
	MYPYPATH=build/typecheck $(BIN)/mypy -p ica

# The documentation site, built strictly (a broken link, a missing reference or a failing tutorial is an
# error) into build/docs; its tutorials train tiny models, one torch thread.
docs: install
	OMP_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict -f docs/mkdocs.yml

clean:
	rm -rf $(VENV) runs build *.egg-info
