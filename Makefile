# Two entry points: `make demo` and `make test`. Each does all set-up on a fresh
# machine (virtualenv, Python packages, the sandbox's Go/C builds) and is fast when
# everything is already built. Heavy builds are cached under ~/.cache/fedspawner, by version.
# Set-up runs its builds side by side (`make -j`); `benchmarks/setup_cold_bench.py` times
# each of them with empty caches.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYPROJECT_HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
INSTALLED := $(VENV)/.installed-$(PYPROJECT_HASH)
CACHE ?= $(or $(FEDSPAWNER_CACHE),$(HOME)/.cache/fedspawner)

# The JupyterLab extension: npm packages cached by the lockfile's hash, the built assets by the
# hash of the lockfile + sources (a warm run, even in a fresh clone, skips npm entirely).
LAB := labextension
LAB_OUT := fedspawner/labextension
LAB_LOCK_HASH := $(shell sha1sum $(LAB)/package-lock.json | cut -c1-12)
LAB_HASH := $(shell cat $(LAB)/package.json $(LAB)/package-lock.json $(LAB)/tsconfig.json \
	$(sort $(wildcard $(LAB)/src/*.ts $(LAB)/style/* $(LAB)/schema/*)) | sha1sum | cut -c1-12)
LAB_NPM_CACHE := $(CACHE)/npm-$(LAB_LOCK_HASH)
LAB_CACHED := $(CACHE)/labextension-$(LAB_HASH)
LAB_BUILT := $(LAB_OUT)/.built-$(LAB_HASH)
LAB_LINK := $(VENV)/share/jupyter/labextensions/fedspawner-lab

.PHONY: demo test setup sandbox-binaries sandbox-operators helm browser clean labextension lab-test node-agent-test

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@mkdir -p $(LAB_OUT)  # the editable wheel's shared-data; `make labextension` builds and links it
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/fedspawner kernel-autoload enable  # the notebook servers the sandbox runs from this environment
	@rm -f $(VENV)/.installed-*
	@touch $@

# The sandbox's builds, one process each so that `make -j` runs them side by side, each cached
# by version under $(CACHE). They need only the standard library, so they run with the bare
# interpreter and start at once: the Go builds (CPU) overlap the virtualenv's installation and
# the PyTorch/JAX downloads (network).
BARE := PYTHONPATH=$(CURDIR) $(PYTHON) -c
SANDBOX_BUILDS := build-kubebin build-bindshim build-workload build-jax build-chp
OPERATOR_BUILDS := build-operators-kubeflow build-operators-spark
.PHONY: $(SANDBOX_BUILDS) $(OPERATOR_BUILDS)

# Kubernetes control plane, etcd, node agent (kubebin), bind shim (C), the PyTorch + PySpark
# workload environment and the JAX one (PyPI), configurable-http-proxy (npm). kwok (simulated
# nodes; Go) is built when a topology first simulates nodes (`fedspawner sandbox build` builds it).
sandbox-binaries: $(SANDBOX_BUILDS)
build-kubebin:
	$(BARE) "from fedspawner.sandbox.binaries import ensure_kubebin; ensure_kubebin()"
build-bindshim:
	$(BARE) "from fedspawner.sandbox.binaries import ensure_bindshim; ensure_bindshim()"
build-workload:
	$(BARE) "from fedspawner.sandbox.workload import ensure_workload_env; ensure_workload_env()"
build-jax:
	$(BARE) "from fedspawner.sandbox.workload import ensure_jax_env; ensure_jax_env()"
build-chp:
	$(BARE) "from fedspawner.sandbox.chp import ensure_chp; ensure_chp()"

# The operators the default topology runs (JobSet, Kubeflow Trainer, the Spark operator), from
# the Go module proxy, cached by version (cold: minutes). Kueue is built when a topology first
# runs it (`fedspawner sandbox build --operators` builds all); `make test` builds it in the
# background while the tests that do not need it run (tests/background_builds.py).
sandbox-operators: $(OPERATOR_BUILDS)
build-operators-kubeflow:
	$(BARE) "from fedspawner.sandbox.operators.build import ensure_operators; ensure_operators(['jobset', 'trainer'])"
build-operators-spark:
	$(BARE) "from fedspawner.sandbox.operators.build import ensure_operators; ensure_operators(['spark-operator'])"

# helm from the Go module proxy (cached), for validating and deploying helm-values/ (the
# chart tests build it when missing: not part of set-up).
helm: $(INSTALLED)
	$(BIN)/python -c "from fedspawner.deploy.helm import ensure_helm; ensure_helm()"

# Headless Chromium for the browser tests (Debian package; Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(LAB)/node_modules/.installed-$(LAB_LOCK_HASH): $(LAB)/package-lock.json
	cd $(LAB) && npm ci --no-audit --no-fund --prefer-offline --cache $(LAB_NPM_CACHE) >/dev/null
	@touch $@

$(LAB_BUILT): | $(INSTALLED)
	@if [ -f $(LAB_CACHED)/package.json ]; then \
		rm -rf $(LAB_OUT) && cp -r $(LAB_CACHED) $(LAB_OUT); \
	else \
		$(MAKE) --no-print-directory $(LAB)/node_modules/.installed-$(LAB_LOCK_HASH) && \
		cd $(LAB) && PATH=$(CURDIR)/$(BIN):$$PATH npm run --silent build:prod >/dev/null && cd .. && \
		rm -rf $(LAB_CACHED).tmp && cp -r $(LAB_OUT) $(LAB_CACHED).tmp && mv $(LAB_CACHED).tmp $(LAB_CACHED); \
	fi
	@touch $@

# Built (or restored from the cache) and linked into the venv, where `jupyter lab` and the
# sandbox's notebook servers find it (`jupyter labextension list` shows it enabled and OK).
labextension: $(LAB_BUILT)
	@mkdir -p $(dir $(LAB_LINK))
	@if [ "$$(readlink $(LAB_LINK))" != "$(CURDIR)/$(LAB_OUT)" ]; then \
		rm -rf $(LAB_LINK) && ln -s $(CURDIR)/$(LAB_OUT) $(LAB_LINK); fi

# The extension's Jest unit tests (after the extension's build, which may install the same
# node_modules: so `make -j` never runs two npm installs in one directory).
lab-test: | labextension
	@$(MAKE) --no-print-directory $(LAB)/node_modules/.installed-$(LAB_LOCK_HASH)
	cd $(LAB) && npx jest --silent

# Everything set-up needs, side by side (each target is one process; -j is bounded by their number).
# `make test` builds what only some tests need (Kueue, kwok, helm) in the background while the
# others run: tests/background_builds.py.
SETUP := labextension sandbox-binaries sandbox-operators

setup:
	$(MAKE) --no-print-directory -j $(SETUP)

demo: setup
	$(BIN)/fedspawner demo

test:
	$(MAKE) --no-print-directory -j $(SETUP) browser lab-test node-agent-test
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pytest

# The node agent's Go unit tests, after its build and -trimpath as it, so they reuse its packages.
node-agent-test: build-kubebin
	cd sandbox/kubebin && CGO_ENABLED=0 GOFLAGS=-mod=mod go test -trimpath -count=1 ./...

clean:
	-$(BIN)/fedspawner sandbox down
	rm -rf $(VENV)
