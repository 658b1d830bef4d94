# Every target bootstraps its own virtual environment (.venv) first.
# The CPU build of torch is installed with an exact pin *before* the project, so pip never
# resolves `torch` to a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0

.PHONY: venv demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_PIN)"
	$(PY) -m pip install -e ".[test,zoo,ray]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) evaluate.py

test: venv
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .

bench: venv
	$(PY) benchmarks/bench_kernel.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
