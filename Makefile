# Two entry points: `make demo` and `make test`. Each does all set-up on a fresh
# machine (virtualenv, Python packages, the sandbox's Go/C builds) and is fast when
# everything is already built. Heavy builds are cached under ~/.cache/fedspawner.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYPROJECT_HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
INSTALLED := $(VENV)/.installed-$(PYPROJECT_HASH)

.PHONY: demo test setup sandbox-binaries helm browser clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/fedspawner kernel-autoload enable  # the notebook servers the sandbox runs from this environment
	@rm -f $(VENV)/.installed-*
	@touch $@

# Kubernetes control plane, etcd, node agent, kwok (Go), bind shim (C), the PyTorch +
# PySpark workload environment, and configurable-http-proxy (npm): all cached.
sandbox-binaries: $(INSTALLED)
	$(BIN)/fedspawner sandbox build --workload
	$(BIN)/python -c "from fedspawner.demo.tools import ensure_chp; ensure_chp()"

# helm from the Go module proxy (cached), for validating and deploying helm-values/.
helm: $(INSTALLED)
	$(BIN)/python -c "from fedspawner.deploy.helm import ensure_helm; ensure_helm()"

# Headless Chromium for the browser tests (Debian package; Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

setup: $(INSTALLED) sandbox-binaries helm

demo: setup
	$(BIN)/fedspawner demo

test: setup browser
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pytest

clean:
	-$(BIN)/fedspawner sandbox down
	rm -rf $(VENV)
