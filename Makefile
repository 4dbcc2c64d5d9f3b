# make run   : set up .venv, collect the rollouts, execute the notebooks headless (figures -> figures/)
# make test  : set up .venv and run the tests, notebooks included at smoke scale
# SCALE=smoke|book|paper picks the preset for `make run` (default book).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= book
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup run test test-cluster test-browser lint bench sync clean-data docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,ray,video,docs]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(PY) -m worldmodels collect --scale $(SCALE)
	mkdir -p notebooks/executed
	for nb in $(NOTEBOOKS); do \
		WM_SCALE=$(SCALE) $(PY) -m jupyter nbconvert --to notebook --execute "$$nb" \
			--output-dir notebooks/executed --ExecutePreprocessor.timeout=1800 || exit 1; \
	done
	@echo "executed notebooks in notebooks/executed/, figures in figures/"

test: setup
	WM_SCALE=smoke $(PY) -m pytest -q --nbmake tests $(NOTEBOOKS)

# the documentation site in site/: the generated pages rewritten, the notebooks (executed ones where make run left
# them) and figures staged into docs/, then mkdocs --strict (a broken link or a missing page fails)
docs: setup
	$(PY) -m worldmodels.docsite
	rm -rf docs/notebooks docs/figures && mkdir -p docs/notebooks docs/figures
	for nb in $(NOTEBOOKS); do b=$$(basename "$$nb"); \
		if [ -f "notebooks/executed/$$b" ]; then cp "notebooks/executed/$$b" docs/notebooks/; else cp "$$nb" docs/notebooks/; fi; \
	done
	cp figures/*.png docs/figures/
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict  # not --quiet: it hides the warnings --strict counts
	@echo "the site is in site/ (open site/index.html)"

test-cluster: setup
	WM_SCALE=smoke $(PY) -m pytest -q -m slow tests/test_cluster.py

# the notebooks in JupyterLab, driven through the system Chromium (Debian's `chromium`); WM_SCALE=book: the real view
test-browser: setup docs
	WM_SCALE=$${WM_SCALE:-smoke} $(PY) -m pytest -q -m slow tests/test_browser.py tests/test_site.py

lint: setup
	$(PY) -m ruff check worldmodels tests benchmarks notebooks/*.py
	$(VENV)/bin/lint-imports

# every benchmark (about 30 minutes on 2 cores; a quiet machine), each writing benchmarks/results/NAME.json; then the
# benchmarks page and the README's speed table are written from those records
bench: setup
	$(PY) -m worldmodels collect --scale book
	for b in renderers collection vae dream controller iterate; do $(PY) benchmarks/$$b.py || exit 1; done
	$(PY) -m worldmodels.docsite

# after editing a notebook's .py (or .ipynb), bring its pair up to date
sync: setup
	$(PY) -m jupytext --sync notebooks/[0-9]*.py
