# cardscan: two commands set up a fresh Debian/Ubuntu machine.
#   make demo   installs what is missing (Tesseract via apt, a virtualenv with cardscan), scans samples/
#   make test   the same set-up plus test tools, then ruff, the import contracts and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd fonts-dejavu-core fonts-liberation fonts-freefont-ttf
TEST_APT_PACKAGES := chromium
OUT    ?= out
JOBS   ?= 2

.PHONY: demo test lint setup setup-test system-deps system-test-deps bench bench-speed samples clean

demo: setup
	@mkdir -p $(OUT)
	$(BIN)/cardscan scan samples --db $(OUT)/demo.db --report $(OUT)/report.html --jsonl $(OUT)/samples.jsonl --event "cardscan demo"

test: setup-test lint
	$(BIN)/python -m pytest -n $(JOBS) -q tests

# ruff (errors, not style) and the import contracts in pyproject.toml; a broken contract fails `make test`
lint: setup-test
	$(BIN)/ruff check cardscan tests
	$(BIN)/lint-imports --no-cache

bench: setup
	$(BIN)/cardscan bench samples/groundtruth.jsonl
	@if [ -f ../shared/eval/real/groundtruth.jsonl ]; then $(BIN)/cardscan bench ../shared/eval/real/groundtruth.jsonl; fi

bench-speed: setup
	$(BIN)/cardscan bench --speed samples $(wildcard ../shared/eval/real/images)

samples: setup
	$(BIN)/python samples/generate.py

# ---- set-up: each step only does something when its result is missing
system-deps:
	@missing=""; \
	command -v tesseract >/dev/null 2>&1 || missing="$(APT_PACKAGES)"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$(APT_PACKAGES)"; \
	[ -f /usr/share/fonts/truetype/freefont/FreeSerif.ttf ] || missing="$(APT_PACKAGES)"; \
	[ -d /usr/share/fonts/truetype/liberation ] || missing="$(APT_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing (apt)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

system-test-deps: system-deps
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing $(TEST_APT_PACKAGES) (apt, for the browser tests)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_APT_PACKAGES); }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,rapidocr,cluster]'
	@touch $@ $(VENV)/.installed

setup: system-deps $(VENV)/.installed

setup-test: system-test-deps $(VENV)/.installed-test

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
