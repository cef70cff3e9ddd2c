# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
QUANT_HOME ?= $(CURDIR)/.quant
export QUANT_HOME

.PHONY: install chromium demo test lint format ui clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first: the pinned CPU wheel, so nothing pulls the multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed chromium

# Debian's Chromium for the browser tests (tests/ui): installed when absent, as root with apt-get;
# otherwise those tests skip and say why.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "note: no /usr/bin/chromium; the browser tests will skip (apt-get install chromium)"; \
		fi; \
	fi

demo: install
	$(BIN)/quant demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

ui: install
	$(BIN)/quant ui

clean:
	rm -rf $(VENV) .quant .pytest_cache .ruff_cache
