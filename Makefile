# eventkit's commands. Each target creates the virtual environment .venv from the project's own
# files (pyproject.toml) the first time; nothing else needs to be installed but Python 3.10+.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-long test-oldest bench bench-quick bench-scale lab browser clean-data

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

## The property and model-based tests with 20x the CI example budget (HYPOTHESIS_PROFILE=long).
test-long: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest -p no:cacheprovider --timeout 7200 \
		tests/test_store_model.py tests/test_fold_property.py

# The oldest versions of the core libraries that pyproject.toml allows, in a second venv.
OLDEST     := .venv-oldest
OLDEST_PKG := "duckdb==2.0.0" "pandas==2.2.0" "pyarrow==16.0.0" "numpy==1.26.0" "matplotlib==3.8.0" \
              "click==8.1.0" "tqdm==4.66.0"

## The suite (without notebooks and the browser check) on the oldest supported duckdb, pandas, pyarrow.
test-oldest:
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --disable-pip-version-check $(OLDEST_PKG) \
		pytest hypothesis pytest-timeout
	$(OLDEST)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(OLDEST)/bin/python -m pytest -p no:cacheprovider -m "not notebooks and not browser"

## The benchmarks at smoke sizes (about a minute each; nothing is written).
bench-quick: $(STAMP)
	$(BIN)/python benchmarks/bench_store.py --quick
	$(BIN)/python benchmarks/bench_folds.py --quick
	$(BIN)/python benchmarks/bench_ops.py --quick
	$(BIN)/python benchmarks/bench_pg.py --quick

## Install headless Chromium from Debian's packages, for the HTML report check.
browser:
	bash scripts/install-browser.sh

## Measure the performance targets; writes BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_store.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_folds.py --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_ops.py --sealed-events 10000000 --sealed-streams 100000 --write BENCHMARKS.md
	$(BIN)/python benchmarks/bench_pg.py --write BENCHMARKS.md

## Issue 12's scale run: about 100M events (a million accounts), fold, daily totals, what-if, Dask.
## Builds ~4 GB under benchmarks/.work-scale/ (about 15 minutes on an idle 2-core machine), then
## about 10 minutes of phases; rewrites BENCHMARKS.md's "Scale (1,000,000 accounts)" section.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_scale.py --accounts 1000000 --per-account 101 --chunk-accounts 50000 \
		--dask --write BENCHMARKS.md

## Open the notebooks in JupyterLab (JupyterLab refuses root unless told: allowed here for root only).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean-data:
	rm -rf data/bank data/flights reports/
