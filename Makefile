# The two commands README promises: `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 4
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: venv pg demo test sandbox lint clean

venv: .venv/.installed

.venv/.installed: requirements.txt
	@bash tools/install.sh
	@touch $@

pg: venv
	@$(PY) -m tools.pg

sandbox: venv
	$(PY) -m sandbox --sample

demo: venv
	@export H2J_PG_DSN="$$($(PY) -m tools.pg)" && $(PY) -m tools.demo

test: venv
	@export H2J_PG_DSN="$$($(PY) -m tools.pg)" && $(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

clean:
	rm -rf .airflow .h2j .pytest_cache
