# imagestore — the two commands a newcomer needs:
#   make run    install everything (virtualenv, npm packages) and start the local stack on :3000
#   make test   lint, check the formatting, type-check and run every test layer
# Everything else is below; `make help` lists it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
# Parallel pytest workers (pytest-xdist); CI machines have two cores.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help setup uploader run reset token logout walkthrough webhook-listen smoke test test-fast test-deploy packaged test-stateful lint lint-openapi typecheck typecheck-web loadtest capacity bench bench-uploads bench-sweep bench-previews bench-local-previews bench-webhooks clean openapi

help:
	@echo "make run        install (venv + npm) and start the local stack on http://127.0.0.1:$(PORT)"
	@echo "make uploader   bundle the browser uploader (Uppy) served at /demo/uploader (make run and make test do it)"
	@echo "make test       ruff check, ruff format --check, mypy (--strict on layer/), pytest (unit, service, local, deploy, e2e)"
	@echo "make test-fast  unit and service tests only, but the slow ones; 10 stateful sequences (the edit-test loop)"
	@echo "make test-deploy  the packaged templates' tests (tests/deploy), packaging first when stale"
	@echo "make test-stateful  the stateful invariants test's long profile (400 sequences; nightly or by hand)"
	@echo "make reset      delete the local stack's data (.local-data)"
	@echo "make token      print a JWT for tenant t1 / user u1 that the local stack accepts"
	@echo "make webhook-listen  receive the webhooks of tenant t1 (TENANT=) from the running stack, verified, printed"
	@echo "make logout     send UserLoggedOut for t1 / u1 / SESSION=<sid> to the running stack"
	@echo "make smoke      BASE_URL=<File API> TOKEN=<JWT> [PROJECT_URL=<Project API>]: the main flows against any stage"
	@echo "make walkthrough  run docs/walkthrough.sh (the README's curl walk-through) against the running stack"
	@echo "make package    build the arm64 layer, package the three services offline, cfn-lint"
	@echo "make loadtest   Locust suite headless against the local stack (bounded, reports in reports/)"
	@echo "make openapi    regenerate the OpenAPI documents (docs/openapi.json, services/*/openapi.json)"
	@echo "make capacity   per-operation request counts and the capacity model"
	@echo "make bench      cold-start and local-stack benchmarks"
	@echo "make bench-uploads  a 400-photo book (4 MB each) + a 60 MB file, +100 ms per request: one by one vs batched + multipart"
	@echo "make bench-sweep  images deleted per second by the sweep (10,000 and 100,000 expired uploads): batched vs one request per image, 1/4/16 workers"
	@echo "make bench-webhooks  webhook deliveries/s of one sender and p95 event-to-receiver delay (local stack)"
	@echo "make bench-local-previews  seconds until 400 photos uploaded to the local stack have previews, and a book saved at once shows them"
	@echo "make bench-previews  seconds and peak memory of the previews of a 24 MP JPEG, 12 MP HEIC, 100 MP PNG"

# --- installation ---------------------------------------------------------------------------------

# Each step says what it does; a missing tool is named with what to install. pip's and npm's own
# output is reduced to the packages being fetched (bash's pipefail keeps their exit status).
$(VENV)/.installed node_modules/.installed: SHELL := /bin/bash
$(VENV)/.installed node_modules/.installed: .SHELLFLAGS := -o pipefail -c

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "setup: '$(PYTHON)' not found. Install Python 3.11 or newer with its venv module (Debian/Ubuntu: apt install python3 python3-venv; macOS: brew install python), or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: $(PYTHON) is $$($(PYTHON) -V 2>&1); imagestore needs Python 3.11 or newer (make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	@echo "setup 1/3: Python virtualenv $(VENV) ($$($(PYTHON) -V 2>&1))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "setup: cannot create $(VENV); install Python's venv module (Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
	@echo "setup 2/3: Python packages: pip install -e '.[dev]' (boto3, Powertools, moto, SeaweedFS, locust, playwright; a few minutes the first time)"
	@start=$$(date +%s); $(PY) -m pip install --quiet --upgrade pip && \
		$(PY) -m pip install --progress-bar off -e '.[dev]' \
		| { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } \
		| sed -u -e 's/^Collecting /  fetching /' -e 's/^Successfully installed .*/  installed/' && \
		echo "setup 2/3: done in $$(( $$(date +%s) - start )) s"
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "setup: Node.js and npm not found. Install Node.js 20 or newer with npm (Debian/Ubuntu: apt install nodejs npm; macOS: brew install node; or nvm); they bring DynamoDB Local's jar and the Serverless CLI (osls)" >&2; exit 1; }
	@echo "setup 3/3: npm packages: npm ci (node $$(node -v): osls, DynamoDB Local, Swagger UI)"
	@start=$$(date +%s); npm ci --no-audit --no-fund --loglevel=error && echo "setup 3/3: done in $$(( $$(date +%s) - start )) s"
	@command -v java >/dev/null && command -v javac >/dev/null || echo "setup: note: no JDK (java and javac): the local stack serves DynamoDB from moto instead of DynamoDB Local (Debian/Ubuntu: apt install default-jdk-headless)"
	@touch $@

setup: $(VENV)/.installed node_modules/.installed
	@echo "setup: everything is installed"

# The browser uploader (services/file/web/uploader: Uppy wired to the API) bundled with esbuild into
# build/web/uploader, which the local stack serves at /demo/uploader (docs/uploads.md). Offline, ~2 s.
UPLOADER_SOURCES := $(wildcard services/file/web/uploader/src/*.js services/file/web/uploader/demo/*) services/file/web/uploader/build.mjs
build/web/uploader/uploader.js: node_modules/.installed $(UPLOADER_SOURCES)
	@node services/file/web/uploader/build.mjs

uploader: build/web/uploader/uploader.js

# --- the local stack ------------------------------------------------------------------------------

run: setup uploader
	@echo "run: starting the local stack on http://127.0.0.1:$(PORT) (S3: SeaweedFS, DynamoDB Local, the three APIs; Ctrl-C stops it)"
	PORT=$(PORT) $(VENV)/bin/imagestore-local run --port $(PORT)

reset: $(VENV)/.installed
	$(VENV)/bin/imagestore-local reset

token: $(VENV)/.installed
	@$(VENV)/bin/imagestore-local token --tenant t1 --user u1

# Targets that talk to a running stack first check that one answers on $(PORT), and say so when none does.
STACK_URL = http://127.0.0.1:$(PORT)
STACK_CHECK = @curl -s -o /dev/null --max-time 5 $(STACK_URL)/openapi.json || { \
	echo "$@: no local stack answers on $(STACK_URL): start one with 'make run' (or give its PORT=...)" >&2; exit 2; }

# A receiver on 127.0.0.1 registered as a webhook endpoint of TENANT on the running stack (PORT); prints each
# event verified by the standardwebhooks library. Ctrl-C stops it and deletes the endpoint.
TENANT ?= t1
webhook-listen: $(VENV)/.installed
	$(STACK_CHECK)
	$(VENV)/bin/imagestore-local webhook-listen --tenant $(TENANT) --url http://127.0.0.1:$(PORT)

SESSION ?= s1
logout: $(VENV)/.installed
	$(STACK_CHECK)
	$(VENV)/bin/imagestore-local logout --tenant t1 --user u1 --session $(SESSION) --url $(STACK_URL)

# The README's curl walk-through as a script (every id from the answers) against the running stack.
walkthrough: $(VENV)/.installed
	$(STACK_CHECK)
	API=$(STACK_URL) bash docs/walkthrough.sh

# The main flows over HTTP against any stage (imagestore_admin/smoke.py); the local stack: BASE_URL=http://127.0.0.1:3000
# TOKEN=$$(make -s token). A deployed stage: its two APIs' URLs (docs/deploy.md) and a JWT of a registered tenant;
# with TABLE= and BUCKET= (the file stack's outputs, your AWS credentials) it also removes the order it placed
# (imagestore-admin orders remove); on a local stack (BASE_URL on 127.0.0.1) it always does.
smoke: $(VENV)/.installed
	@test -n "$(BASE_URL)" && test -n "$(TOKEN)" || { echo "usage: make smoke BASE_URL=<File API URL> TOKEN=<JWT> [PROJECT_URL=<Project API URL>] [TABLE=<TableName> BUCKET=<BucketName>]" >&2; exit 2; }
	$(VENV)/bin/imagestore-admin $(if $(TABLE),--table "$(TABLE)" --bucket "$(BUCKET)",$(if $(findstring //127.0.0.1:,$(BASE_URL)),--local "$(BASE_URL)")) \
		smoke --base-url "$(BASE_URL)" --token "$(TOKEN)" $(if $(PROJECT_URL),--project-url "$(PROJECT_URL)")

# --- tests ----------------------------------------------------------------------------------------

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory lint-openapi

# The API's contract: Redocly (recommended, redocly.yaml) and Spectral (spectral:oas, .spectral.yaml) report 0 errors
# and 0 warnings on the three documents, and every operation, parameter and property has a description.
lint-openapi: setup
	$(VENV)/bin/pytest -q -n 0 tests/deploy/test_openapi_lint.py tests/unit/test_openapi_descriptions.py

# The browser code (phone page, the openapi-fetch client) type-checked against types generated from the document.
typecheck-web: setup
	$(VENV)/bin/pytest -q -n 0 tests/deploy/test_typescript_client.py

# layer/ (the shared library every function imports) is checked with --strict; the rest with pyproject's settings.
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict layer/imagestore
	$(VENV)/bin/mypy layer/imagestore admin/imagestore_admin services/file/file_service services/project/project_service \
		services/scheduler/scheduler_service

test: setup uploader
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory packaged
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The templates and artifacts tests/deploy reads (services/*/.serverless): deploy/package.sh runs only when one
# is missing or older than a packaging input (tests/deploy/templates.py lists them). The deploy tests' fixture
# makes the same check, so they also work alone, and reuse this package.
packaged: setup
	$(PY) -m tests.deploy.templates

test-deploy: packaged
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) tests/deploy $(PYTEST_ARGS)

# The edit-test loop: unit and service tests but those marked slow (full-scale answers in moto), and the stateful
# invariants test's short profile (FAST_STATEFUL_EXAMPLES sequences). make test runs all of them, the stateful one at 60.
FAST_STATEFUL_EXAMPLES ?= 10
test-fast: $(VENV)/.installed
	IMAGESTORE_STATEFUL_EXAMPLES=$(FAST_STATEFUL_EXAMPLES) $(VENV)/bin/pytest -n $(PYTEST_WORKERS) -m "not slow" \
		tests/unit tests/service $(PYTEST_ARGS)

# tests/service/test_invariants_stateful.py runs 60 random sequences in `make test`; this is its long profile.
STATEFUL_EXAMPLES ?= 400
test-stateful: $(VENV)/.installed
	IMAGESTORE_STATEFUL_EXAMPLES=$(STATEFUL_EXAMPLES) $(VENV)/bin/pytest -n $(PYTEST_WORKERS) \
		tests/service/test_invariants_stateful.py $(PYTEST_ARGS)

# --- the API's contract ---------------------------------------------------------------------------

# From the handlers' pydantic models and deploy/openapi.py's route table; tests/deploy/test_openapi.py
# fails when a committed document is out of date.
openapi: $(VENV)/.installed
	$(PY) -m deploy.openapi

# --- performance ----------------------------------------------------------------------------------

loadtest: setup
	$(PY) -m loadtest.run_local

capacity: $(VENV)/.installed
	$(PY) -m benchmarks.capacity

bench: setup
	$(PY) -m benchmarks.cold_start
	$(PY) -m benchmarks.local_stack
	$(PY) -m benchmarks.previews

# Deliveries a second of one webhook sender and the event-to-receiver delay (p50/p95) on the local stack.
bench-webhooks: setup
	$(PY) -m benchmarks.webhooks

bench-previews: $(VENV)/.installed
	$(PY) -m benchmarks.previews

# Seconds until 400 photos uploaded to the local stack have their previews, and (--book) a book saved at once shows them.
bench-local-previews: setup
	$(PY) -m benchmarks.local_previews --book $(BENCH_ARGS)

# LOCAL_STACK=http://127.0.0.1:3000 measures against a running local stack's emulators.
# On the local stack's emulators (DynamoDB Local, SeaweedFS) started for the run: about 7 minutes, most of it
# seeding; `.venv/bin/python -m benchmarks.sweep` alone uses moto in its process (whose index Query reads the table).
# The issue's photo book: 400 photos x 4 MB + 60 MB; BENCH_UPLOADS_ARGS="--photos 100 --photo-mb 1" is lighter.
bench-uploads: setup
	$(PY) -m benchmarks.uploads $(BENCH_UPLOADS_ARGS)

bench-sweep: setup
	$(PY) -m benchmarks.sweep $(if $(LOCAL_STACK),--local-stack $(LOCAL_STACK),--emulators)

clean:
	rm -rf build reports .pytest_cache .mypy_cache .ruff_cache services/*/.serverless

include deploy/package.mk
