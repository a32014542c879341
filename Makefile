# 倉敷市 災害情報ポータル — see README.md
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_LW_PORT ?= 8765

.PHONY: run test lint fmt install migrate demo bench bench-parse faults clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --disable-pip-version-check -q --upgrade pip
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The local settings of manage.py (kurashiki_dr/settings_local.py) read .env: written once
# here (DEBUG on, demo mode, a generated secret key), never overwritten.
.env: | $(STAMP)
	$(PY) -m kurashiki_dr.local_env $@

# The portal on the embedded default: SQLite, tasks in-process, the fake LINE WORKS, demo data.
run: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --once
	@# The fake LINE WORKS (demo key pair and bot secret generated once under var/) and the
	@# sweep that retries LINE WORKS deliveries run beside the portal and stop with it.
	eval "$$($(PY) manage.py lineworks_demo_keys --fake-url http://127.0.0.1:$(FAKE_LW_PORT))"; \
	$(PY) manage.py run_fake_lineworks --host 127.0.0.1 --port $(FAKE_LW_PORT) --demo-directory \
	    --callback-url http://$(HOST):$(PORT)/lineworks/callback & fake=$$!; \
	$(PY) manage.py lineworks_sweep --loop 10 & sweeper=$$!; \
	trap 'kill $$fake $$sweeper 2>/dev/null; wait $$fake $$sweeper 2>/dev/null' EXIT INT TERM; \
	echo "LINE WORKS demo (demo-hq): http://$(HOST):$(PORT)/lineworks/demo/"; \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every benchmark in one run; the full run builds two 1,000,000-row databases (COPY) and takes
# about 15 minutes on 2 cores. BENCH_ARGS=--quick: a smoke run of ~3 minutes (it writes
# BENCHMARKS.md too: use BENCH_ARGS="--quick --output /tmp/bench.md" to keep the figures).
bench: install
	$(PY) -m bench.run_all $(BENCH_ARGS)

bench-parse: install
	$(PY) -m bench.parse_bench

# The LINE WORKS fault-injection suite (real PostgreSQL, Redis, gunicorn, Celery worker and
# beat, fake LINE WORKS); a few minutes. Database: FAULTS_DATABASE_URL (default kdr_faults).
faults: install
	$(PY) -m faults.run $(FAULTS_ARGS)

clean:
	rm -rf $(VENV) var staticfiles test-artifacts
