# Two entry points from a fresh clone: `make quickstart` (the main job) and `make test`.
# Both create .venv and install everything first. On a GPU machine pass your torch build:
#   make setup TORCH="torch==2.11.0" EXTRAS="test,gpu"
PY ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
EXTRAS ?= test
# veRL's models default to flash_attention_2; veRL's fsdp extra pins this version. It compiles against
# the installed torch, so it goes in after torch, without build isolation, and only with the gpu extra.
FLASH_ATTN ?= flash-attn==2.8.3
BIN := $(VENV)/bin

.PHONY: setup test quickstart lint

$(VENV)/.installed: pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install -q "$(TORCH)"
	if echo ",$(EXTRAS)," | grep -q ",gpu,"; then \
	  $(BIN)/pip install -q packaging ninja wheel psutil && \
	  $(BIN)/pip install -q --no-build-isolation "$(FLASH_ATTN)"; fi
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	# MovieLens-100K ships inside the recbole wheel; we read it in place (its licence forbids copies)
	$(BIN)/pip install -q --no-deps recbole==1.2.1
	touch $@

setup: $(VENV)/.installed

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -q --durations=15

quickstart: setup
	$(BIN)/gr2 quickstart
