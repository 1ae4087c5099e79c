# One entry point for every job. Each target installs what it needs first.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# jsii and the CDK CLI must find the virtualenv's Node 24, not the machine's Node 20.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true
STAMP := $(VENV)/.setup-stamp

.PHONY: setup test test-fast lint synth demo bench bench-synth bench-fleet soak pr lock clean

setup: $(STAMP) node_modules/.package-lock.json

$(STAMP): requirements.txt requirements-embedded.txt requirements-dev.txt constraints.txt lambda/bedrock_invoker/requirements.txt pyproject.toml client/pyproject.toml
	# A venv left half-made by an interrupted run has python but no pip: remake it.
	$(PY) -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	# The tenant client library (its own package; its dependencies are the function's, above).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e ./client
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json $(STAMP)
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts stacks tenantctl embedded_aws demo bench app.py
	MYPYPATH=client/src $(BIN)/mypy -p bedrock_tenant_client
	MYPYPATH=client/src $(BIN)/mypy examples
	# One run per function: each is its own import root (with the contracts its
	# bundle gets a copy of), and both have a `handler` module.
	MYPYPATH=lambda/bedrock_invoker:client/src $(BIN)/mypy lambda/bedrock_invoker
	MYPYPATH=lambda/invocation_logging_guard $(BIN)/mypy lambda/invocation_logging_guard
	MYPYPATH=lambda/limit_enforcer $(BIN)/mypy lambda/limit_enforcer

test: lint
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/pytest -n 2 -m "not slow and not e2e"

synth: setup
	rm -rf cdk.out
	$(BIN)/npx cdk synth --quiet

demo: setup
	$(PY) -m demo

bench: setup
	$(PY) -m bench

# Synth of generated fleets, issue 20's targets beside the figures: 1,000 tenants full
# (beside a bare CDK baseline) and targeted, import, and 10,000 tenants rolled out by
# StackSet; 4 minutes on 2 idle cores, 7 when busy. Smaller: make bench-synth SYNTH_ARGS="--tenants 50 --large 300"
bench-synth: setup
	$(PY) -m bench.synth $(SYNTH_ARGS)

# The full load: 1,000 invocations over 3 tenants from 16 threads (make test sends 60).
soak: setup
	LOAD_INVOCATIONS=1000 $(BIN)/pytest -q -s -p no:cacheprovider tests/e2e/test_load.py

# A 20-tenant fleet deployed into the embedded cloud, sequentially and 4 at a time.
bench-fleet: setup
	$(PY) -m bench.fleet

pr: test synth

# Both lock files from pip's own resolver, today's pins kept unless a requirement
# changed (FRESH=1: the newest versions the requirements allow). Installs nothing.
lock: setup
	$(PY) tools/lock.py $(if $(FRESH),--fresh)

# Everything the tools write, except the installed environment (.venv, node_modules).
clean:
	rm -rf cdk.out cdk.out.*/ .local-cloud .tenantctl .hypothesis build .pytest_cache .mypy_cache .ruff_cache *.egg-info .cache client/build client/src/*.egg-info
	rm -f config/.*.lock config/.*.tmp
	find . \( -path ./.venv -o -path ./node_modules -o -path ./.git -o -path ./.cache \) -prune -o -name __pycache__ -type d -exec rm -rf {} +
