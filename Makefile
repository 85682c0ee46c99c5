# Two entry points: `make demo` and `make test`. Each does all set-up on a fresh
# machine (virtualenv, Python packages, the sandbox's Go/C builds) and is fast when
# everything is already built. Heavy builds are cached under ~/.cache/fedspawner.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYPROJECT_HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
INSTALLED := $(VENV)/.installed-$(PYPROJECT_HASH)

.PHONY: demo test setup sandbox-binaries clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

sandbox-binaries: $(INSTALLED)
	$(BIN)/fedspawner sandbox build

setup: $(INSTALLED) sandbox-binaries

demo: setup
	@$(BIN)/fedspawner sandbox status >/dev/null 2>&1 || $(BIN)/fedspawner sandbox up
	@$(BIN)/fedspawner sandbox status
	@echo
	@echo "The sandbox federation is running. Use it with:"
	@$(BIN)/fedspawner sandbox env
	@echo "Stop it with: $(BIN)/fedspawner sandbox down"

test: setup
	$(BIN)/python -m pytest

clean:
	-$(BIN)/fedspawner sandbox down
	rm -rf $(VENV)
