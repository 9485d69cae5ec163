# Two commands: `make run` (the main job on the embedded local cloud) and `make test`.
# Everything else is set up on demand from the lock files; nothing is installed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The project's Python: the functions' Lambda runtime (python3.13, docs/runtime.md).
PY_VERSION := 3.13
PY        ?= python$(PY_VERSION)
# The interpreter as an absolute path: $(PY) if it runs, else the newest 3.13 that pyenv
# has installed (pyenv's python3.13 shim runs only where 3.13 is the selected version).
PYTHON    := $(or $(shell $(PY) -c 'import sys; print(sys.executable)' 2>/dev/null),$(shell \
               v=$$(pyenv versions --bare 2>/dev/null | grep -E '^$(subst .,\.,$(PY_VERSION))(\.[0-9]+)?$$' | tail -n 1); \
               test -n "$$v" && PYENV_VERSION=$$v pyenv which $(PY) 2>/dev/null))
# Exit status 0 only for a Python $(PY_VERSION) interpreter: `$(call is_py,INTERPRETER)`.
is_py      = $(1) -c 'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma) ,$(PY_VERSION))))' 2>/dev/null
comma     := ,
UV_VER    := 0.13.9
TOOLS     := .tools
UV        := $(TOOLS)/uv/bin/uv
VENV      := .venv
VPY       := $(VENV)/bin/python
SDP       := $(VENV)/bin/sdp
STAMP     := $(VENV)/.installed-py$(PY_VERSION)
SAM       := $(TOOLS)/sam/bin/sam
CHECKOV   := $(TOOLS)/checkov/bin/checkov
SAM_STAMP := $(TOOLS)/sam/.installed-py$(PY_VERSION)
CHECKOV_STAMP := $(TOOLS)/checkov/.installed-py$(PY_VERSION)
SERVICES  := ingest validate enrich store aggregate
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: help python setup lock tools chromium run test test-unit test-integration lint lint-py lint-templates \
        bench local-up contracts-check bindings clean $(addprefix deploy-,$(SERVICES)) \
        $(addprefix test-,$(SERVICES))

help: ## list targets
	@grep -E '^([a-zA-Z_%-]+|\$$\(addprefix [a-z]+-,\$$\(SERVICES\)\)):.*## ' $(MAKEFILE_LIST) | \
	  sed -E 's/^\$$\(addprefix ([a-z]+-),\$$\(SERVICES\)\): [a-z]+-%/\1<service>/' | \
	  awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

python:
	@test -n "$(PYTHON)" && $(call is_py,$(PYTHON)) || { \
	  echo "error: Python $(PY_VERSION) is required and '$(PY)' does not run it: install Python $(PY_VERSION) (the Lambda runtime's version) or pass PY=/path/to/python$(PY_VERSION)" >&2; \
	  exit 1; }

$(UV): | python
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet uv==$(UV_VER)

# An environment made by another Python (the project was on 3.11 before) is made anew.
$(STAMP): requirements.lock pyproject.toml | $(UV) python
	$(call is_py,$(VPY)) || $(UV) venv --quiet --clear --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(VPY) requirements.lock
	$(UV) pip install --quiet --python $(VPY) --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv from requirements.lock and install the sdp CLI

lock: | $(UV) ## regenerate requirements.lock (hash-pinned, for Python 3.13) from pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.13 --quiet -o requirements.lock

$(SAM_STAMP): infra/tools/sam.lock | $(UV) python
	$(call is_py,$(TOOLS)/sam/bin/python) || $(UV) venv --quiet --clear --python $(PYTHON) $(TOOLS)/sam
	$(UV) pip sync --quiet --python $(TOOLS)/sam/bin/python infra/tools/sam.lock
	touch $(SAM_STAMP)

$(CHECKOV_STAMP): infra/tools/checkov.lock | $(UV) python
	$(call is_py,$(TOOLS)/checkov/bin/python) || $(UV) venv --quiet --clear --python $(PYTHON) $(TOOLS)/checkov
	$(UV) pip sync --quiet --python $(TOOLS)/checkov/bin/python infra/tools/checkov.lock
	touch $(CHECKOV_STAMP)

tools: $(SAM_STAMP) $(CHECKOV_STAMP) ## isolated environments for aws-sam-cli and checkov

run: $(STAMP) ## the main job: local cloud up, workload through every service, report
	$(SDP) demo

# Headless Chromium renders the HTML run report in a test: Debian's package, installed
# here when missing (as root, with apt), otherwise a loud error saying what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium (headless HTML report test)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "error: the HTML report test needs headless Chromium: install Debian's chromium package" >&2; \
	    exit 1; \
	  fi; }

test: $(STAMP) tools chromium ## every test: unit, contract, integration, end-to-end, template checks
	SDP_SAM=$(abspath $(SAM)) SDP_CHECKOV=$(abspath $(CHECKOV)) $(VPY) -m pytest

test-unit: $(STAMP) ## unit and contract tests only (no local cloud)
	$(VPY) -m pytest tests/unit tests/contract services

# static pattern rules: GNU make applies no implicit rule to a .PHONY target
$(addprefix test-,$(SERVICES)): test-%: $(STAMP) ## tests of one service, e.g. make test-enrich
	$(VPY) -m pytest services/$*

lint: lint-py lint-templates ## ruff, mypy and the template checks

lint-py: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bus contracts observability localcloud sdptools services

lint-templates: $(STAMP) tools
	SDP_SAM=$(abspath $(SAM)) SDP_CHECKOV=$(abspath $(CHECKOV)) $(SDP) lint-templates

bench: $(STAMP) ## benchmarks, each against a baseline measured in the same run
	$(SDP) bench

local-up: $(STAMP) ## start the embedded local cloud and serve until Ctrl-C
	$(SDP) local up

# sam build first: it builds the shared layer (infra/platform/layer/Makefile). It builds
# python3.13 functions with a python3.13 on PATH: the project's interpreter comes first.
SAM_BUILD_ENV = PATH="$(dir $(PYTHON)):$$PATH" PY="$(PYTHON)"

deploy-platform: $(SAM_STAMP) ## sam build + deploy the shared platform stack (needs AWS credentials)
	cd infra/platform && $(SAM_BUILD_ENV) ../../$(SAM) build --template template.yaml && \
	  ../../$(SAM) deploy --stack-name sdp-platform --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --resolve-s3 --no-fail-on-empty-changeset

$(addprefix deploy-,$(SERVICES)): deploy-%: $(SAM_STAMP) ## sam build + deploy one service's stack, e.g. make deploy-enrich
	cd services/$* && $(SAM_BUILD_ENV) ../../$(SAM) build --template template.yaml && \
	  ../../$(SAM) deploy --stack-name sdp-$* --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --resolve-s3 --no-fail-on-empty-changeset

clean: ## remove the environments and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam services/*/.aws-sam infra/platform/.aws-sam .pytest_cache .mypy_cache .ruff_cache
