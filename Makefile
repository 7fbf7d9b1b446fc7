# eventkit's commands. Each target creates the virtual environment .venv from the project's own
# files (pyproject.toml) the first time; nothing else needs to be installed but Python 3.10+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench lab browser clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Run eventkit's main job on the bundled sample data (a store under data/).
demo: $(STAMP)
	$(BIN)/python -m eventkit.demo

## Run the whole test suite (installs headless Chromium for the report check when missing).
test: $(STAMP) browser
	$(BIN)/python -m pytest

## Install headless Chromium from Debian's packages, for the HTML report check.
browser:
	bash scripts/install-browser.sh

## Measure the performance targets; writes BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_store.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_folds.py --write BENCHMARKS.md

## Open the notebooks in JupyterLab (JupyterLab refuses root unless told: allowed here for root only).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean-data:
	rm -rf data/bank data/flights reports/
