# outreach — developer and CI entry points (GNU make).
#
#   make test       venv + system test deps (Dovecot, PostgreSQL, Chromium), then the whole pytest suite
#   make lint       ruff + mypy --strict on outreach/
#   make bench      the benchmark: one table + JSON (benchmarks/run.py; BENCH_ARGS=--quick for a smoke run)
#   make demo       the demo: sample mailbox -> contacts -> campaign preview (demo/)
#   make clean      caches and build leftovers (make distclean also removes .venv)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Re-run pip whenever pyproject.toml changes.
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: venv test-deps test lint demo bench clean distclean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

test-deps:
	@bash scripts/install-test-deps.sh

# pytest's exit code 5 ("no tests collected") is a failure too.
test: test-deps venv
	@rc=0; $(PY) -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

lint: venv
	$(VENV)/bin/ruff check outreach tests benchmarks
	$(VENV)/bin/mypy --strict outreach

# The demo: the sample mailbox (invented correspondence, outreach/data/sample-mailbox) imported into a
# fresh SQLite store in demo/, its contacts and one ledger, then the example campaign previewed and
# dry-run sent. preview exits 1 when recipients are blocked or need review, which is the point here.
# --as-of pins "today" to the day the sample story was written, so the demo reads the same in a year.
DEMO_DB := $(CURDIR)/demo/outreach.db
OUTREACH_DEMO := $(VENV)/bin/outreach --database-url sqlite:///$(DEMO_DB) --as-of 2026-11-21

demo: venv
	@mkdir -p demo && rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(OUTREACH_DEMO) import outreach/data/sample-mailbox --mailbox alex --quiet
	$(OUTREACH_DEMO) contacts
	$(OUTREACH_DEMO) contact maya@techdaily.example
	$(OUTREACH_DEMO) preview templates/warm-pitch --format html --output demo/report.html || [ $$? -eq 1 ]
	$(OUTREACH_DEMO) send templates/warm-pitch
	@echo
	@echo "HTML report: demo/report.html   (open it in a browser)"
	$(OUTREACH_DEMO) preview templates/warm-pitch || [ $$? -eq 1 ]

# Builds its own synthetic mailboxes in a real Dovecot (and syncs into a real PostgreSQL too), 10k and 50k
# messages, 3 runs each: ~15-25 min on 2 cores. Prints one table, writes benchmarks/results/latest.json.
# How to read it: benchmarks/README.md. E.g. make bench BENCH_ARGS="--sizes 10000 --runs 2 --no-postgres".
bench: test-deps venv
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info $(STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
