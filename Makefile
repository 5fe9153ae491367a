# The two commands: `make run` and `make test`. Both create/refresh .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HOTLINE_HOME ?= $(CURDIR)/var

.PHONY: run test venv system-deps bench-deps bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium for the widget's browser tests (no browser download), and a
# CJK font so the screenshots the tests save are readable.
# Debian's PostgreSQL server binaries (initdb, pg_ctl) for the KB tests on
# PostgreSQL (tests/pg.py starts one in a temporary directory; no service is set up).
system-deps:
	@{ command -v chromium && fc-list :lang=zh | grep -q .; } >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }
	@{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	  || echo "warning: could not install postgresql; the KB tests on PostgreSQL will be skipped"; }

# wrk drives `hotline bench load` (a Python client would eat the shared cores).
bench-deps:
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq wrk >/dev/null) || echo "warning: no wrk; bench load uses its Python client"

run: $(STAMP)
	$(BIN)/hotline serve --prepare --production

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP) bench-deps
	$(BIN)/hotline bench all

clean:
	rm -rf $(VENV) var test-artifacts
