# make demo   set up .venv and run the main sample workflow (no GPU, no model weights)
# make test   set up .venv and run every test
# make bench  print the engine benchmark figures (see BENCHMARKS.md)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= workflows/shot_outline.json

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/reelgraph run $(DEMO) -o out/demo.txt
	@cat out/demo.txt

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .hypothesis
