# Two commands: `make run` (the main job on the embedded local cloud) and `make test`.
# Everything else is set up on demand from the lock files; nothing is installed by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY        ?= python3.11
UV_VER    := 0.13.9
TOOLS     := .tools
UV        := $(TOOLS)/uv/bin/uv
VENV      := .venv
VPY       := $(VENV)/bin/python
SDP       := $(VENV)/bin/sdp
STAMP     := $(VENV)/.installed
SAM       := $(TOOLS)/sam/bin/sam
CHECKOV   := $(TOOLS)/checkov/bin/checkov
SERVICES  := ingest validate enrich store aggregate
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: help setup tools chromium run test test-unit test-integration lint lint-py lint-templates \
        bench local-up contracts-check bindings clean $(addprefix deploy-,$(SERVICES)) \
        $(addprefix test-,$(SERVICES))

help: ## list targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)" >&2; exit 1; }
	$(PY) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet uv==$(UV_VER)

$(STAMP): requirements.lock pyproject.toml | $(UV)
	test -x $(VPY) || $(UV) venv --quiet --python $(PY) $(VENV)
	$(UV) pip sync --quiet --python $(VPY) requirements.lock
	$(UV) pip install --quiet --python $(VPY) --no-deps -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv from requirements.lock and install the sdp CLI

$(SAM): infra/tools/sam.lock | $(UV)
	test -x $(TOOLS)/sam/bin/python || $(UV) venv --quiet --python $(PY) $(TOOLS)/sam
	$(UV) pip sync --quiet --python $(TOOLS)/sam/bin/python infra/tools/sam.lock
	touch $(SAM)

$(CHECKOV): infra/tools/checkov.lock | $(UV)
	test -x $(TOOLS)/checkov/bin/python || $(UV) venv --quiet --python $(PY) $(TOOLS)/checkov
	$(UV) pip sync --quiet --python $(TOOLS)/checkov/bin/python infra/tools/checkov.lock
	touch $(CHECKOV)

tools: $(SAM) $(CHECKOV) ## isolated environments for aws-sam-cli and checkov

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

test-%: $(STAMP) ## tests of one service, e.g. make test-enrich
	$(VPY) -m pytest services/$*

lint: lint-py lint-templates ## ruff, mypy and the template checks

lint-py: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bus contracts observability infra services sdptools

lint-templates: $(STAMP) tools
	SDP_SAM=$(abspath $(SAM)) SDP_CHECKOV=$(abspath $(CHECKOV)) $(SDP) lint-templates

bench: $(STAMP) ## benchmarks, each against a baseline measured in the same run
	$(SDP) bench

local-up: $(STAMP) ## start the embedded local cloud and serve until Ctrl-C
	$(SDP) local up

# sam build first: it builds the shared layer (infra/platform/layer/Makefile).
deploy-platform: $(SAM) ## sam build + deploy the shared platform stack (needs AWS credentials)
	cd infra/platform && ../../$(SAM) build --template template.yaml && \
	  ../../$(SAM) deploy --stack-name sdp-platform --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --resolve-s3 --no-fail-on-empty-changeset

deploy-%: $(SAM) ## sam build + deploy one service's stack, e.g. make deploy-enrich
	cd services/$* && ../../$(SAM) build --template template.yaml && \
	  ../../$(SAM) deploy --stack-name sdp-$* --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --resolve-s3 --no-fail-on-empty-changeset

clean: ## remove the environments and build output
	rm -rf $(VENV) $(TOOLS) .aws-sam services/*/.aws-sam infra/platform/.aws-sam .pytest_cache .mypy_cache .ruff_cache
