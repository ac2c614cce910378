# The two commands a new user needs: `make demo` and `make test`.
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM := /usr/bin/chromium

.PHONY: demo test bench lint clean image-wheel image-check image

# The appliance (with central and the test tools), then the development tools (devtools/: the
# simulators, `bitagora demo`, the scripted kiosk), which never go on a device.
$(BIN)/bitagora: pyproject.toml devtools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[central,dev]'
	$(BIN)/pip install --quiet -e ./devtools
	touch $@

demo: $(BIN)/bitagora
	$(BIN)/bitagora demo

# Lint first: style, types (mypy --strict over appliance and central) and the import contracts
# ([tool.importlinter] in pyproject.toml), then the tests in two processes (pytest-xdist): most
# tests wait on servers, simulators and fsync, so two share the cores well. worksteal: a process
# that runs out of tests takes half of the other's queue, so neither idles at the end while the
# other still has minutes of tests queued (docs/ARCHITECTURE.md, "Tests").
test: lint $(CHROMIUM)
	$(BIN)/pytest -q -n 2 --dist worksteal

# Central's pages are tested in a real browser, Debian's Chromium (tests/browser_helpers.py),
# installed here on first use as root (Playwright's own browser download is never used).
$(CHROMIUM):
	apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Every benchmark under bench/ at its full size (the test suite runs each in its --smoke mode,
# tests/test_bench_smoke.py); then the fleet's two other shapes.
bench: $(BIN)/bitagora
	set -e; for script in $$(grep -l '__name__ == "__main__"' bench/*.py); do \
	  echo "== $$script"; $(BIN)/python $$script; done
	$(BIN)/python bench/fleet.py --devices 20 --records 5000 --workers 2

lint: $(BIN)/bitagora
	$(BIN)/ruff check bitagora_protocol appliance central devtools tests bench
	$(BIN)/ruff format --check bitagora_protocol appliance central devtools tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

# The SD image (image/, docs/TECHNICIAN.md "Building the SD image"), as root, in $(IMAGE_WORK).
# image-check builds the root filesystem for this machine and checks it from the inside (minutes,
# and the network: not part of `make test`); image builds the arm64 SD card image.
IMAGE_WORK ?= /tmp/bitagora-image
IMAGE_TOOLS = mmdebstrap genimage qemu-user-static binfmt-support dosfstools mtools curl gpg

image-wheel: $(BIN)/bitagora
	rm -rf $(IMAGE_WORK)/dist
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir $(IMAGE_WORK)/dist .

image-check: image-wheel
	command -v mmdebstrap >/dev/null || { apt-get update && apt-get install -y mmdebstrap; }
	image/check.sh $(IMAGE_WORK)/dist/*.whl $(IMAGE_WORK)/check $(BIN)/bitagora

image: image-wheel
	apt-get install -y $(IMAGE_TOOLS)
	rm -rf --one-file-system $(IMAGE_WORK)/arm64
	image/rootfs.sh arm64 $(IMAGE_WORK)/dist/*.whl $(IMAGE_WORK)/arm64/rootfs
	image/sdcard.sh $(IMAGE_WORK)/arm64/rootfs $(IMAGE_WORK)/bitagora-sdcard.img

clean:
	rm -rf $(VENV) .pytest_cache
