# vae-notebooks: two commands do everything.
#   make run    execute the notebook series in full mode (outputs written into the .ipynb files)
#   make test   unit tests + every notebook executed by nbval in fast test mode
# and the book: make book (the site, from the stored notebooks), make book-check (it, in Chromium)
# Both install the environment first (uv + uv.lock into .venv); uv itself is installed into
# .tools/ when it is not on PATH, so the system Python is never touched.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV   := .venv
PY     := $(VENV)/bin/python
# a fresh cache per test run, so the tests always train what they check (the notebooks and the unit
# tests share it), removed when the run ends: its test-mode models take about 2 GB. TEST_CACHE=dir
# keeps one of your own instead (made if missing, never removed).
TEST_CACHE ?=
WITH_TEST_CACHE = cache="$(TEST_CACHE)"; if [ -z "$$cache" ]; then cache=$$(mktemp -d); \
	trap 'rm -rf "$$cache"' EXIT; fi; export VAELIB_CACHE="$$cache";

.PHONY: all install run train test unit notebooks bench profile student grade bundle unbundle clean kernel lab-settings lab book book-check

all: test

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv

# --compile-bytecode: the .pyc files written once at install; where PYTHONDONTWRITEBYTECODE is set
# (as on this project's machines) Python would otherwise compile torch from source in every process it starts,
# ~7 s for each notebook kernel, grader sandbox and CLI run of `make test`
$(VENV)/.installed: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.installed

# every notebooks/NN_topic.py, in order, executed into its NN_topic.ipynb (full mode); trained
# models are cached in checkpoints/ (JOBS=2: a notebook's missing models are trained first, two at a
# time on one thread each), figures for the book and README go to images/, results tables
# into the book's landing page (book/index.md); then the profile
run: install
	$(PY) scripts/run_notebooks.py $(if $(JOBS),--jobs $(JOBS))
	$(PY) benchmarks/profile_series.py --measure 30 --book

# the models of the series (or of one notebook, NOTEBOOK=05) into checkpoints/ before you open it; JOBS=N
# trains N at a time, each on one torch thread (book/running.md: when that pays)
train: install
	$(PY) benchmarks/train_all.py $(if $(JOBS),--jobs $(JOBS)) $(if $(NOTEBOOK),--notebook $(NOTEBOOK))

# The tests run on several workers (pytest-xdist; TEST_WORKERS, default: one per logical core), each a test
# file or a whole notebook at a time (--dist loadfile keeps a notebook's cells in order, in one kernel),
# and each with torch on one thread: on the 2-core machine two one-thread workers ran the whole suite
# in 321 s, one two-thread process in 577 s, and two two-thread workers, fighting over the cores, took
# 500 s for the unit tests alone. The notebooks go first, so the many short test files fill the end.
TEST_WORKERS ?= logical
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
XDIST    := -n $(TEST_WORKERS) --maxprocesses 8 --dist loadfile
# nbval runs every cell of every committed .ipynb in test mode (tiny subsets, one epoch) and fails
# on any error; cells tagged nbval-check-output must also reproduce their stored output.
NBVAL    := --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --nbval-sanitize-with notebooks/sanitize.cfg

# everything in one run (the notebooks in test mode, VAE_NOTEBOOKS_TEST=1, read by the notebooks only)
test: install
	@$(WITH_TEST_CACHE) VAE_NOTEBOOKS_TEST=1 $(TEST_ENV) $(PY) -m pytest notebooks/ tests $(NBVAL) $(XDIST) -p no:cacheprovider -q -rs

unit: install
	@$(WITH_TEST_CACHE) $(TEST_ENV) $(PY) -m pytest tests $(XDIST) -q -rs

notebooks: install
	@$(WITH_TEST_CACHE) VAE_NOTEBOOKS_TEST=1 $(TEST_ENV) $(PY) -m pytest notebooks/ $(NBVAL) $(XDIST) -p no:cacheprovider -q

bench: install
	$(PY) benchmarks/bench_epoch.py --book

# where the time of `make run` went: per run and per notebook, against the machine's matmul limit
# (benchmarks/results/profile.md, and the profile table of book/running.md)
profile: install
	$(PY) benchmarks/profile_series.py --measure 30 --book

# course assignments (book/instructors.md): student versions of every notebook into student/
# (solutions replaced by stubs, outputs cleared), and the autograder for one student's notebook:
#   make grade NB=student/02_reparameterization.ipynb [JSON=report.json]
#   (and the grader's other options: ASSIGNMENT=02 OUT=... JOBS=2 SEED=... TIMEOUT=300 REGRADE=1 WEAK=1)
student: install
	$(PY) -m vaecourse student --out student

grade: install
	@if [ -z "$(NB)" ]; then echo "make grade: say which notebook or folder, e.g. make grade NB=submissions/ ASSIGNMENT=02" >&2; exit 2; fi
	$(PY) -m vaecourse grade "$(NB)" $(if $(ASSIGNMENT),--assignment "$(ASSIGNMENT)") $(if $(JSON),--json "$(JSON)") \
		$(if $(OUT),--out "$(OUT)") $(if $(JOBS),--jobs "$(JOBS)") $(if $(SEED),--seed "$(SEED)") \
		$(if $(TIMEOUT),--timeout "$(TIMEOUT)") $(if $(REGRADE),--regrade) $(if $(WEAK),--allow-weak-isolation)

# checkpoint bundles (book/instructors.md): the cached runs of the series, or of one notebook, in one
# archive with a manifest (sha256 and code stamp of every file), and back into checkpoints/:
#   make bundle [NOTEBOOK=08] [FILE=bundles/x.tar.gz]      make unbundle FILE=x.tar.gz | URL=https://...
bundle: install
	$(PY) scripts/bundle.py make $(if $(NOTEBOOK),--notebook $(NOTEBOOK)) $(if $(FILE),--out "$(FILE)")

unbundle: install
	@if [ -z "$(FILE)$(URL)" ]; then echo "make unbundle: say which bundle, FILE=... or URL=https://..." >&2; exit 2; fi
	$(PY) scripts/bundle.py unbundle "$(or $(FILE),$(URL))"

clean:
	rm -rf runs checkpoints .pytest_cache book/_build

# the book: a static site from the notebooks' stored outputs (nothing is executed), in book/_build/html;
# BOOK_SOLUTIONS=withhold leaves every solution and model answer out (a class whose assignments are open),
# BOOK_REPOSITORY_URL=https://... links each page to the code host (book/conf.py)
book: install
	$(PY) scripts/build_book.py

# the built book in headless Chromium (Debian: apt-get install chromium chromium-driver): every page
# rendered and screenshotted (SHOTS=/tmp/book_shots); fails on TeX left unrendered, a broken image,
# a console error or a dead link
SHOTS ?= /tmp/book_shots
book-check: book
	$(UV) sync --frozen --group browser --compile-bytecode
	$(PY) scripts/check_book_in_browser.py --shots "$(SHOTS)"

# JupyterLab from the project environment (book/running.md, "JupyterLab"):
#   make lab                 notebooks/, or student/ where there is no notebooks/ (the hand-out)
#   make lab DIR=student     any folder; LAB_ARGS="--no-browser --port 8890" passes options on
#   make kernel              the kernel "Python (vae-notebooks)" in .venv; KERNEL_SCOPE=--user registers
#                            it for every Jupyter of your account (VS Code, a system JupyterLab)
# lab-settings copies jupyter/overrides.json (double-click opens a jupytext .py as a notebook) into the
# environment's JupyterLab defaults (overrides.d); your own ~/.jupyter settings are never touched.
DIR          ?= $(if $(wildcard notebooks/*.py),notebooks,student)
KERNEL_NAME  := vae-notebooks
KERNEL_SCOPE ?= --sys-prefix
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/vae-notebooks.json

kernel: install
	$(PY) -m ipykernel install $(KERNEL_SCOPE) --name $(KERNEL_NAME) --display-name "Python (vae-notebooks)"

lab-settings: install
	@mkdir -p $(dir $(LAB_OVERRIDES))
	cp jupyter/overrides.json $(LAB_OVERRIDES)

lab: kernel lab-settings
	@if [ ! -d "$(DIR)" ]; then echo "make lab: no folder $(DIR)/ (a hand-out keeps the student notebooks in student/; or say make lab DIR=...)" >&2; exit 2; fi
	$(VENV)/bin/jupyter lab "$(DIR)" $(LAB_ARGS)
