# medgrpo — one command each: `make demo` (whole pipeline) and `make test` (the suite).
# Both install into .venv first when it is missing or older than pyproject.toml / constraints.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := airflow,train,deid,k8s,dev
PYTEST_FLAGS ?=

.PHONY: install demo demo-distributed test test-fast lint format bench-ingest bench-deid clean-state image-test

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel setuptools
	# torch first and pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/medgrpo demo

# The same chain on the CeleryExecutor: two workers (own folder, HOME, TMPDIR each) sharing only S3 (a moto
# server), PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379, a database of its own). See docs/deploy.md.
demo-distributed: install
	$(VENV)/bin/medgrpo demo --distributed

# The full tier: unit, DAG integrity and integration tests against real PostgreSQL, MLflow, Airflow, moto.
test: install
	$(VENV)/bin/pytest $(PYTEST_FLAGS)

# The training image: build the CPU test image with buildah (base from debootstrap, reused) and
# train the tiny recipe inside it as its non-root user against a real MLflow server; as root it
# installs buildah/debootstrap when missing. See training_image/README.md. CI runs it after `test`.
image-test: install
	flock /tmp/medgrpo-heavy.lock $(PY) training_image/image_test.py

# The fast tier: no services started.
test-fast: install
	$(VENV)/bin/pytest -m "not integration and not slow" $(PYTEST_FLAGS)

lint: install
	$(VENV)/bin/ruff check src tests dags plugins benchmarks
	$(VENV)/bin/ruff format --check src tests dags plugins benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests dags plugins benchmarks
	$(VENV)/bin/ruff check --fix src tests dags plugins benchmarks

bench-ingest: install
	$(PY) benchmarks/ingest.py

bench-deid: install
	$(PY) benchmarks/deid.py

clean-state:
	rm -rf .state
