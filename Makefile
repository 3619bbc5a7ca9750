# complexify: `make run` and `make test` set everything up themselves on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export TOKENIZERS_PARALLELISM := false

VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/complexify
PYTEST_ARGS ?=
# Processes for the unit and property tests: the cores, at most 4 (each holds the libraries, about 0.5-1 GB).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))

.PHONY: help env vllm-env train-env ifbench-ref-env model run test test-unit lint typecheck bench clean

help:
	@echo "make run    set up, then run the main job on the bundled default model and seeds"
	@echo "make test   set up, then run lint and the whole test suite"
	@echo "make env | vllm-env | train-env | ifbench-ref-env | model | lint | typecheck | bench | clean"

## The pipeline environment (cached under ~/.cache/complexify, linked as .venv) plus this checkout.
env:
	@scripts/ensure_env.sh pipeline
	@# installed editable from *this* checkout? (run from / so the checkout itself is not on sys.path)
	@if ! ( [ -x $(VENV)/bin/complexify ] && cd / && $(CURDIR)/$(PY) -c 'import pathlib, sys, pipeline; sys.exit(0 if pathlib.Path(pipeline.__file__).resolve().is_relative_to(pathlib.Path("$(CURDIR)").resolve()) else 1)' 2>/dev/null ); then \
		$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . ; \
	fi

## The vLLM worker environment (cached, linked as .venv-vllm).
vllm-env:
	@scripts/ensure_env.sh vllm

## The training environment (cached, linked as .venv-train): the pipeline plus TRL and verifiers, for
## `complexify train-smoke` and the `verifiers` environment (`vf-eval pipeline.train.verifiers_env`).
train-env:
	@scripts/ensure_env.sh train

## IFBench's reference checkers (cached, linked as .venv-ifbench-ref), for benchmarks/ifbench_checkers.py only:
## neither `make test` nor `make run` builds it.
ifbench-ref-env:
	@scripts/ensure_env.sh ifbench-ref

## The bundled default model (SmolLM2-135M-Instruct), converted once into ~/.cache/complexify/models.
model: env vllm-env
	@$(PY) -m pipeline.cli model prepare

run: env vllm-env model
	$(CLI) taxonomy validate
	@# exit 3 = the run finished with some quotas unmet (the summary says which): still show the stats
	$(CLI) run --config configs/default.yaml || [ $$? -eq 3 ]
	$(CLI) stats --root out/default

lint: env
	$(PY) -m ruff check .

typecheck: env
	$(PY) -m mypy

## Unit and property tests spread over TEST_WORKERS processes; then the integration tests, in one process, since
## they share one vLLM worker and want the cores for it. Exit 5 (a PYTEST_ARGS selection left a part empty) is fine.
test: env vllm-env train-env model lint typecheck
	$(PY) -m pytest tests/unit tests/property -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest tests/integration $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-unit: env
	$(PY) -m pytest tests/unit tests/property -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: env
	$(PY) benchmarks/compose_throughput.py

clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache build *.egg-info
