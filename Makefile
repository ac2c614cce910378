# The two commands a new user needs: `make demo` and `make test`.
# Each creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench lint clean

$(BIN)/bitagora: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[central,dev]'
	touch $@

demo: $(BIN)/bitagora
	$(BIN)/bitagora demo

test: $(BIN)/bitagora
	$(BIN)/pytest -q

bench: $(BIN)/bitagora
	$(BIN)/python bench/sale_finish.py
	$(BIN)/python bench/kiosk_start.py
	$(BIN)/python bench/print_latency.py
	$(BIN)/python bench/address_alloc.py
	$(BIN)/python bench/bitcoin_pay.py
	$(BIN)/python bench/backup_online.py
	$(BIN)/python bench/touch_tap.py

lint: $(BIN)/bitagora
	$(BIN)/ruff check appliance central tests bench
	$(BIN)/ruff format --check appliance central tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache
