# datamesh-operator: the two commands that matter are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export DATAMESH_CACHE ?= $(HOME)/.cache/datamesh
export K8S_VERSION ?= v1.36.3
KUBE_BIN := $(DATAMESH_CACHE)/kube/$(K8S_VERSION)/bin
KUBECTL := $(KUBE_BIN)/kubectl
DEV_KUBECONFIG := $(CURDIR)/.devcluster/kubeconfig
# The development tools (devcluster) live beside the package but are not in its wheel: import them from here.
export PYTHONPATH := $(CURDIR)/operator$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: help venv kube node image tools crds crds-check settings-check packaging-sync packaging-check lint test test-fast \
	cluster-up cluster-down demo demo-down bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@echo "==> Python environment in $(VENV) (pip caches downloads; pyspark is ~450 MB the first time)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q --progress-bar on -e '.[spark,dev]'
	@# The official Delta Sharing client reads our sharing endpoint in the tests; it pins pandas<3, pyarrow<=23
	@# and aiohttp<=3.13, which it does not need for what the tests use, so it comes without its pins.
	@$(PY) -m pip install -q --no-deps delta-sharing==1.4.2 delta-kernel-rust-sharing-wrapper==0.3.3 \
	  jwcrypto==1.6.1 fsspec==2026.2.0
	@# datacontract-cli judges our ODCS exports (tests/cli/test_odcs.py). It is a tool, not a library of ours: its
	@# boto3 pins python-dateutil<3 against the kubernetes client's >=3, so it lives in a venv of its own.
	@test -x $(VENV)/tools/datacontract/bin/datacontract || { $(PYTHON) -m venv $(VENV)/tools/datacontract && \
	  $(VENV)/tools/datacontract/bin/pip install -q datacontract-cli==1.2.8; }
	@touch $@

venv: $(VENV)/.installed ## create .venv with the package, Spark extra and dev tools

kube: venv ## build the Kubernetes control-plane binaries (cached under $DATAMESH_CACHE)
	@$(PY) -m devcluster build >/dev/null

node: kube ## build the real node: kubelet, kube-proxy, containerd, crictl, pause (cached; runc/CNI from Debian)
	@bash scripts/build-node.sh >/dev/null

image: ## build the project's image with buildah from a bookworm base made here (cached by content)
	@bash scripts/build-image.sh >/dev/null

tools: ## build helm and promtool from the Go module proxy (cached in $DATAMESH_CACHE/tools/bin)
	@bash scripts/install-tools.sh >/dev/null
	@bash scripts/build-promtool.sh >/dev/null

crds: venv ## regenerate crds/*.yaml from the pydantic models, and every packaged copy of them
	@$(PY) -m datamesh.cli.main crds --out crds
	@$(MAKE) --no-print-directory packaging-sync

crds-check: venv
	@$(PY) -m datamesh.cli.main crds --out crds --check

settings-check: venv ## check that docs/configuration.md lists every DATAMESH_* variable as declared
	@$(PY) -m datamesh.cli.main settings --out docs/configuration.md --check

packaging-sync: venv tools ## regenerate chart/kustomize CRD copies, manifests, argocd-cm, chart values table
	@$(PY) scripts/sync_packaging.py

packaging-check: venv tools
	@$(PY) scripts/sync_packaging.py --check

lint: venv ## ruff and mypy
	@echo "==> ruff"; $(VENV)/bin/ruff check operator tests bench scripts
	@echo "==> mypy"; $(VENV)/bin/mypy

test: venv kube node image tools lint crds-check settings-check packaging-check ## the whole suite: lint, drift checks, unit and real-cluster tests
	@echo "==> pytest (starts its own cluster with a real node unless KUBECONFIG is set)"
	@$(VENV)/bin/pytest --durations=15 $(PYTEST_ARGS)

test-fast: venv ## unit tests only (no cluster, no Spark)
	@DATAMESH_NO_SYSTEM_INSTALL=1 $(VENV)/bin/pytest -m "not cluster and not spark" $(PYTEST_ARGS)

cluster-up: kube node image ## start the local cluster (control plane and a real node); writes .devcluster/kubeconfig
	@$(PY) -m devcluster up --dir .devcluster

cluster-down: venv ## stop the local cluster (node, pods and control plane)
	@$(PY) -m devcluster down --dir .devcluster

demo: cluster-up ## set up and run the demo on the embedded defaults
	@KUBECONFIG=$(DEV_KUBECONFIG) KUBECTL=$(KUBECTL) PY=$(PY) bash scripts/demo.sh

demo-down: ## stop the demo: operator, node and control plane
	@if [ -f .devcluster/operator.pid ]; then kill "$$(cat .devcluster/operator.pid)" 2>/dev/null || true; rm -f .devcluster/operator.pid; fi
	@$(MAKE) --no-print-directory cluster-down

bench: venv ## benchmarks (print figures; not tests)
	@$(PY) bench/build.py

clean: cluster-down ## remove local state (keeps the build cache)
	rm -rf .devcluster .devcluster-test .demo
