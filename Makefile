# The two commands of the README: `make demo` runs the product, `make test` the suite.
# Both install what they need (a virtual environment, Python and Node packages, Debian's
# Chromium for the browser tests) and are idempotent: a second run only redoes what changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
export NODE_EXTRA_CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# The side panel's sources: a change rebuilds it (the Python packages are installed editable,
# so their changes need nothing).
LABEXTENSION_SOURCES := $(shell git ls-files -co --exclude-standard labextension/src \
	labextension/schema labextension/style labextension/package.json labextension/yarn.lock \
	labextension/tsconfig.json 2>/dev/null)
LABEXTENSIONS := $(VENV)/share/jupyter/labextensions

# The build backend, installed once so the package rebuilds without build isolation (fast,
# offline-friendly); keep in step with [build-system] in pyproject.toml.
BUILD_REQUIRES := "hatchling>=1.27" "editables>=0.5" "hatch-jupyter-builder>=0.9" "jupyter-builder>=1.2,<2"

.PHONY: demo test test-fast test-js lint install clean help
help:
	@echo "make demo   - run JupyterHub with the tutor, the embedded database and the sample course"
	@echo "make test   - run the whole test suite, lint included"
	@echo "make test-fast - the unit tests (no hub, server or browser), lint included"
	@echo "make clean  - remove the virtual environment and build products"

$(STAMPS)/venv:
	@mkdir -p $(STAMPS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@touch $@

# torch first, pinned: it comes from the local CPU build, so nothing later pulls CUDA.
# The project itself is installed editable: tests, tracebacks and go-to-definition all see
# the working tree.  flock: several shells of one developer may install at once.
$(STAMPS)/deps: $(STAMPS)/venv pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet $(BUILD_REQUIRES)
	flock $(STAMPS)/pip.lock $(BIN)/pip install --quiet --upgrade-strategy only-if-needed \
	  --no-build-isolation -e ".[test]"
	@touch $@

# The side panel, rebuilt when its sources change, and served from the working tree: the
# installed copy is replaced by a link to the build folder (what `labextension develop` does).
$(STAMPS)/package: $(STAMPS)/deps $(STAMPS)/labextension-node $(LABEXTENSION_SOURCES)
	cd labextension && $(CURDIR)/$(BIN)/jlpm build:prod
	rm -rf $(LABEXTENSIONS)/jupyter-tutor && mkdir -p $(LABEXTENSIONS)
	ln -s $(CURDIR)/jupyter_tutor/labextension $(LABEXTENSIONS)/jupyter-tutor
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian packages the tests drive: Chromium (browser tests) and bubblewrap (the scratch
# kernel's sandbox).
$(STAMPS)/system-packages:
	@mkdir -p $(STAMPS)
	@{ command -v chromium && command -v bwrap; } >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq chromium bubblewrap >/dev/null; }
	@touch $@

# promtool (Debian's `prometheus` package) checks the alert rules.  Only the binary is taken
# from the package: installing it would also start a Prometheus server on the machine.
$(STAMPS)/promtool: $(STAMPS)/venv
	@command -v promtool >/dev/null || [ -x $(BIN)/promtool ] || { \
	  tmp=$$(mktemp -d) && cd $$tmp && \
	  { apt-get download prometheus >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
	  dpkg-deb -x prometheus_*.deb x && cp x/usr/bin/promtool $(CURDIR)/$(BIN)/promtool && \
	  rm -rf $$tmp; }
	@touch $@

# The Compose Specification's JSON schema, as shipped by the docker-compose 1.29.2 package
# (its other dependencies conflict with ours: only the file is taken from the wheel).
$(STAMPS)/compose-spec.json: $(STAMPS)/venv
	@tmp=$$(mktemp -d) && \
	  $(BIN)/pip download --quiet --no-deps --dest $$tmp "docker-compose==1.29.2" && \
	  $(BIN)/python -c "import sys, zipfile; \
	    sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read('compose/config/compose_spec.json'))" \
	    $$tmp/docker_compose-1.29.2-*.whl > $@.tmp && mv $@.tmp $@ && rm -rf $$tmp

install: $(STAMPS)/package $(STAMPS)/node

demo: install
	$(BIN)/jupyter-tutor demo $(DEMO_ARGS)

# ruff, the import layering and the type checks written in pyproject.toml; ESLint and
# Prettier for the side panel.
lint: $(STAMPS)/deps $(STAMPS)/labextension-node
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	cd labextension && $(CURDIR)/$(BIN)/jlpm lint:check

test: install $(STAMPS)/system-packages $(STAMPS)/promtool $(STAMPS)/compose-spec.json lint test-js
	$(BIN)/pytest $(PYTEST_ARGS)

# The fast tier: everything that needs no JupyterHub, Jupyter server, demo or browser.
test-fast: install lint
	$(BIN)/pytest -m "not slow and not browser" $(PYTEST_ARGS)

# The side panel's Node packages, from labextension/yarn.lock through jlpm (installed with
# jupyterlab / jupyter-builder).
$(STAMPS)/labextension-node: $(STAMPS)/deps labextension/package.json labextension/yarn.lock
	cd labextension && $(CURDIR)/$(BIN)/jlpm install --immutable
	@touch $@

# The side panel's unit tests (jest; offline, a few seconds).
test-js: $(STAMPS)/labextension-node
	cd labextension && $(CURDIR)/$(BIN)/jlpm test

clean:
	rm -rf $(VENV) $(STAMPS) node_modules build dist
