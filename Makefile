# The two commands: `make run` (the whole platform) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The DfE's SSDA903 validator, a test oracle only (tests/support/ssda903.py), in an environment of its
# own: it needs pandas<2 and numpy<1.25, the platform pandas 2. Their wheels stop at Python 3.11: with
# a newer $(PYTHON), point PYTHON903 at a 3.11.
PYTHON903 ?= $(PYTHON)
VENV903 := .venv-903
STAMP903 := $(VENV903)/.installed-stamp
PACKAGES := -e libs/common -e services/referral-intake -e services/case-api -e services/metrics -e services/webhooks -e services/identity

.PHONY: run test system-deps chaos bench lint contracts lock clean

$(STAMP): requirements.lock libs/common/pyproject.toml services/referral-intake/pyproject.toml services/case-api/pyproject.toml services/metrics/pyproject.toml \
		services/webhooks/pyproject.toml services/identity/pyproject.toml | $(STAMP903)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(PACKAGES)
	touch $(STAMP)

$(STAMP903): requirements-903.lock
	test -x $(VENV903)/bin/python || $(PYTHON903) -m venv $(VENV903)
	$(VENV903)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-903.lock
	touch $(STAMP903)

run: $(STAMP)
	$(PY) deploy/run.py

test: $(STAMP) $(STAMP903) system-deps
	$(PY) -m pytest

# Debian packages that tests drive: headless Chromium (/docs and the dashboard render offline), promtool
# (the alert rules) and LibreOffice Calc (a release's workbook opens). Installed when missing and possible
# (root with apt-get), else named.
system-deps:
	@command -v chromium >/dev/null && command -v promtool >/dev/null && command -v soffice >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium, prometheus (promtool) and libreoffice-calc for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium prometheus libreoffice-calc >/dev/null; \
	  else echo "the tests need Debian's chromium, promtool and LibreOffice: apt-get install chromium prometheus libreoffice-calc" >&2; fi; }

# The fault suite at length: more clients, longer loads and outages, repeated kills.
chaos: $(STAMP)
	ICTG_CHAOS=1 $(PY) -m pytest tests/faults -p no:randomly -v -s --timeout 1800

bench: $(STAMP)
	$(PY) -m pytest benchmarks -p no:randomly -q -s

# metrics and webhooks are type-checked on their own: checked with the others, module name clashes
# give spurious errors.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy libs/common/src services/referral-intake/src services/case-api/src
	$(PY) -m mypy services/metrics/src
	$(PY) -m mypy services/webhooks/src
	$(PY) -m mypy services/identity/src
	$(PY) -m mypy tests
	$(PY) deploy/schemacheck.py  # deploy/k8s against the Kubernetes schemas, compose.yaml against the Compose Specification

# Regenerate the event reference (docs/schemas, docs/asyncapi.yaml, docs/events.md) from ictg_common.contracts.
contracts: $(STAMP)
	$(PY) -m ictg_common.contracts docs

# Regenerate the lock from the venv (records versions only, never an index address).
lock:
	$(PY) -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) $(VENV903) .run
