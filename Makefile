# make demo   set up .venv and render the main job, workflows/storyboard_to_clip.json, to out/demo.mp4
#             (draft backends: no GPU, no model weights)
# make test   set up .venv, lint, and run every test
# make lint   ruff on the whole tree, mypy on graph/ (settings in pyproject.toml)
# make ui     set up .venv and open the visual editor on http://127.0.0.1:7860
# make serve  set up .venv and start the job service on http://127.0.0.1:8421 (API docs at /docs)
# make bench  print the benchmark figures (see BENCHMARKS.md)
# make frontend        rebuild the canvas bundle ui/static/canvas.js from ui/frontend (needs Node 20 + npm)
# make frontend-check  rebuild it and fail if it differs from the committed one (CI)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= workflows/storyboard_to_clip.json
DEMO_OUT ?= out/demo.mp4

UI_PORT ?= 7860

.PHONY: demo test lint bench install sysdeps browser clean ui serve frontend frontend-check

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
	@# Fonts for text in any script (Noto: core scripts, CJK, colour emoji) and raqm to shape Arabic,
	@# Hebrew and Devanagari; without them captions warn and show boxes for what no font draws.
	@fonts=; fc-list 2>/dev/null | grep -q NotoSans-Regular || fonts="$$fonts fonts-noto-core"; \
	  fc-list 2>/dev/null | grep -q NotoSansCJK || fonts="$$fonts fonts-noto-cjk"; \
	  fc-list 2>/dev/null | grep -q NotoColorEmoji || fonts="$$fonts fonts-noto-color-emoji"; \
	  ldconfig -p 2>/dev/null | grep -q libraqm || fonts="$$fonts libraqm0"; \
	  [ -z "$$fonts" ] || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	    echo "installing$$fonts (text in any script) with apt-get"; \
	    ( $$SUDO apt-get install -y -q $$fonts >/dev/null 2>&1 || \
	      { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q $$fonts >/dev/null 2>&1; } ) || \
	      echo "note: could not install$$fonts; non-Latin captions will warn and show boxes"; \
	  else echo "note: install$$fonts for captions in any script"; fi; }

# The editor's browser tests drive Debian's chromium through Playwright (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$$REELGRAPH_CHROMIUM" ] || { \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  echo "installing chromium (for the editor's browser tests) with apt-get"; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null 2>&1 && $$SUDO apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "note: could not install chromium; the browser tests will fail (apt-get install chromium)"; }

# torch goes in first, pinned: the CPU build that lies on disk here (a plain `torch` requirement would
# pull a multi-GB CUDA build). constraints.txt keeps it pinned while the rest installs. A machine
# with a GPU installs its own CUDA torch first (README, "Real models").
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c 'import torch' 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP) sysdeps

demo: install
	$(BIN)/reelgraph run $(DEMO) -o $(DEMO_OUT)
	@echo "play it: $(DEMO_OUT)   (captions: $(basename $(DEMO_OUT)).srt; restore its workflow: $(BIN)/reelgraph restore $(DEMO_OUT))"

# mypy takes its files (graph/) from [tool.mypy]: it checks them as plain files with relative imports,
# so it needs no editable install (`mypy -p reelgraph.graph` cannot find the package-dir mapping).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# lint first: a style or type error fails fast, before the long suite.
test: lint browser
	$(BIN)/python -m pytest

ui: install
	$(BIN)/reelgraph ui --port $(UI_PORT)

SERVE_PORT ?= 8421
serve: install
	$(BIN)/reelgraph serve --port $(SERVE_PORT)

# The bundle is committed (pip users need no Node); rebuild it after editing ui/frontend/src.
frontend:
	cd ui/frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build

frontend-check: frontend
	@git diff --quiet -- ui/static/canvas.js || { \
	  echo "ui/static/canvas.js differs from a fresh build of ui/frontend: run 'make frontend' and commit it" >&2; \
	  git diff --stat -- ui/static/canvas.js >&2; exit 1; }
	@echo "the committed canvas bundle matches a fresh build"

bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/media.py
	$(BIN)/python bench/editor.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/ray.py
	$(BIN)/python bench/estimate.py
	$(BIN)/python bench/gpu.py

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache ui/frontend/node_modules
