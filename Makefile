# Everything runs from a local virtual environment that these targets create on first use.
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: build test test-full compare sweep bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build; a looser pin pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	touch $@

build: $(VENV)/.installed   ## default build: phase coding, bundled digits MLP (ARGS="--board arty" ...)
	$(PY) -m flows.build $(ARGS)

test: $(VENV)/.installed    ## the CI suite (slow regressions deselected), on 2 processes
	$(PY) -m pytest -n 2 --durations=10 $(ARGS)

test-full: $(VENV)/.installed   ## full regression: every test-split image on Verilator, more random cores
	$(PY) -m pytest -n 2 -m "slow or not slow" $(ARGS)

compare: $(VENV)/.installed   ## every coding side by side on each bundled network (build/compare-*), then the networks table
	$(PY) -m flows.compare $(ARGS)
	$(PY) -m flows.compare --network digits-cnn $(ARGS)
	$(PY) -m flows.compare --network digits-cnn-maxpool $(ARGS)
	$(PY) -m flows.compare --network digits-resnet $(ARGS)
	$(PY) -m flows.networks

sweep: $(VENV)/.installed     ## every coding × T × lanes on the digits MLP (build/sweep-digits-mlp), Pareto plot
	$(PY) -m flows.sweep sweeps/digits-mlp.toml $(ARGS)
	cp build/sweep-digits-mlp/pareto_accuracy_vs_cycles.png docs/sweep_pareto_digits_mlp.png

bench: $(VENV)/.installed     ## benchmark figures (printed, not asserted)
	$(PY) -m bench.golden_throughput
	$(PY) -m bench.cycle_bound
	$(PY) -m bench.verilator_speed
	$(PY) -m bench.sweep_speed

clean:
	rm -rf build sim_build .pytest_cache
