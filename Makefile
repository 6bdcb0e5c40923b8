# The two commands in the README: `make demo` and `make test`.
# Both set up everything they need on a fresh machine (Python venv, PyPI packages,
# Debian's chromium for the browser tests) and are safe to run again.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps lint typecheck unit functional e2e browser clean

demo: setup
	$(VENV)/bin/meshlens up --demo

test: setup system-deps lint typecheck
	$(VENV)/bin/pytest -p no:cacheprovider $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's chromium drives tests/browser, iproute2 + iptables the netns interception
# test; installed once, only if missing. (bench/proxy.py also needs wrk and nginx.)
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@{ command -v ip && command -v iptables; } >/dev/null 2>&1 || { \
	  echo "installing iproute2 and iptables for the transparent-interception test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables >/dev/null; }

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest tests/unit

functional: setup
	$(VENV)/bin/pytest tests/functional

e2e: setup
	$(VENV)/bin/pytest tests/e2e

browser: setup system-deps
	$(VENV)/bin/pytest tests/browser

clean:
	rm -rf $(VENV) .meshlens .pytest_cache .mypy_cache .ruff_cache
