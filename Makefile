# spinefuse: `make demo` and `make test` work on a fresh machine (Python >= 3.11).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := dev,dask,interop,service,service-dev

.PHONY: demo test lint typecheck bench clean install browser orthanc postgres serve web

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@# the editable sources' bytecode, so a machine that never writes it does not recompile
	@# spinefuse on every command (about 0.35 s)
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/spinefuse demo --out demo

test: $(STAMP) browser orthanc postgres
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The report tests open the HTML in Debian's headless chromium. Install it when it is missing and
# the machine allows (root with apt); otherwise those checks skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    timeout 300 sh -c 'apt-get update -qq && apt-get install -y -qq chromium' >/dev/null 2>&1; } || \
	  echo "chromium not installed: the browser checks of the reports will be skipped"

# The PACS tests run against Debian's Orthanc with its DICOMweb plugin, started by the tests on
# loopback. Install them when missing and the machine allows; otherwise those tests skip.
orthanc:
	@{ command -v Orthanc >/dev/null 2>&1 && [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    timeout 300 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb' >/dev/null 2>&1; } || \
	  echo "orthanc not installed: the PACS round-trip tests will be skipped"

# The store tests run against a real PostgreSQL server that the tests start on loopback (initdb
# into a temporary folder, then pg_ctl). Install Debian's server when missing and the machine
# allows; otherwise the PostgreSQL half of those tests is skipped and says why.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    timeout 300 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends postgresql' >/dev/null 2>&1; } || \
	  echo "postgresql not installed: the PostgreSQL half of the store tests will be skipped"

# The planning workstation on this machine: an SQLite store in ~/.spinefuse, the sample patient
# loaded and run, http://127.0.0.1:8000/ (the first account's password is printed once).
serve: $(STAMP)
	$(BIN)/spinefuse serve --sample

# Rebuild the browser UI into src/spinefuse/service/web/ (needs Node and npm; the built bundle is
# committed, so installing spinefuse needs neither).
web:
	cd web && npm ci --no-audit --no-fund && npm run build

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
