# make demo   set up .venv and render the main job, workflows/storyboard_to_clip.json, to out/demo.mp4
#             (draft backends: no GPU, no model weights)
# make test   set up .venv and run every test
# make bench  print the benchmark figures (see BENCHMARKS.md)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= workflows/storyboard_to_clip.json
DEMO_OUT ?= out/demo.mp4

.PHONY: demo test bench install sysdeps clean

# espeak-ng speaks the draft narration. Installed with apt where we can (root, or passwordless sudo);
# without it the speech node warns and the animatic renders with timed silence instead.
sysdeps:
	@command -v espeak-ng >/dev/null 2>&1 || command -v espeak >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	    echo "installing espeak-ng (narration voice) with apt-get"; \
	    ( $$SUDO apt-get install -y -q espeak-ng >/dev/null 2>&1 || \
	      { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q espeak-ng >/dev/null 2>&1; } ) || \
	      echo "note: could not install espeak-ng; narration will be silent (apt-get install espeak-ng)"; \
	  else echo "note: espeak-ng not found; narration will be silent (install espeak-ng)"; fi; }

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP) sysdeps

demo: install
	$(BIN)/reelgraph run $(DEMO) -o $(DEMO_OUT)
	@echo "play it: $(DEMO_OUT)   (captions: $(basename $(DEMO_OUT)).srt; restore its workflow: $(BIN)/reelgraph restore $(DEMO_OUT))"

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/media.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .hypothesis
