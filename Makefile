# Pantau developer entry points. Everything runs from the one virtualenv .venv.
#   make venv     create/refresh .venv (only when requirements or a pyproject changed)
#   make infra    fetch/build the local infrastructure into ~/.cache/pantau (first run ~2-3 min)
#   make run      whole local stack in the foreground; Ctrl-C stops it
#   make up       the same in the background; returns when every part is healthy
#   make down     stop what `make up` started
#   make status   show every part and its health
#   make test     the full test suite (starts the local infrastructure when needed)
#   make lint     ruff check + ruff format --check
#   make bench    load benchmark against the local stack (starts it if needed)
#   make chaos    faults under load on an own stack; summary in var/chaos/summary.md (~10 min)
#   make soak     30 min at 200 reports/s: memory and consumer-lag slopes (SOAK_MINUTES, SOAK_RATE)
#   make profile  where each process's CPU goes under steady load (py-spy, FerretDB pprof)
#   make ops-check  promtool checks of the Prometheus config, rules and rule tests
#   make eval-classifier   classifier quality report (python -m pantau.classifier.eval)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `.venv/bin/pantau stack` once the operator CLI exists; the launcher module works meanwhile.
STACK := $(BIN)/pantau stack

PYPROJECTS := $(wildcard shared/pyproject.toml services/*/pyproject.toml cli/pyproject.toml \
                deploy/localstack/pyproject.toml bench/pyproject.toml)

.PHONY: help venv infra run up down status test lint bench chaos soak profile eval-classifier ops-check

help:
	@sed -n 's/^#   //p' Makefile

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs only when the requirements or a package's metadata changed (stamp file).
$(STAMP): requirements-dev.txt $(PYPROJECTS) | $(BIN)/python
	-$(BIN)/python -m pip install --upgrade --quiet pip  # best effort: an old pip still works
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

venv: $(STAMP)

infra: venv
	$(STACK) fetch

run: venv
	$(STACK) run

up: venv
	$(STACK) up

down: venv
	$(STACK) down

status: venv
	$(STACK) status

# pytest exits 5 when it collects nothing; make propagates that as a failure.
test: venv
	$(STACK) up --infra-only
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(STACK) up
	$(BIN)/python -m pantau.bench

SOAK_MINUTES ?= 30
SOAK_RATE ?= 200
soak: venv
	$(STACK) up
	$(BIN)/python -m pantau.bench soak --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE)

PROFILE_RATE ?= 100
PROFILE_SECONDS ?= 20
profile: venv
	$(STACK) up
	$(BIN)/python -m pantau.bench profile --rate $(PROFILE_RATE) --seconds $(PROFILE_SECONDS)

# Full chaos scenarios (kill -9 each service, broker restart, 60 s store and SMTP outages,
# poison on every topic) on a stack of its own; `make test` runs the short variant.
chaos: venv
	PANTAU_CHAOS=full $(BIN)/pytest tests/chaos -q -s -p no:cacheprovider --timeout 3600

ops-check:
	cd deploy/prometheus && promtool check config prometheus.yml prometheus.docker.yml \
	  && promtool check rules rules/*.yml && promtool test rules tests/*.test.yml

eval-classifier: venv
	$(BIN)/python -m pantau.classifier.eval
