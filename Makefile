# The two commands of README: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_data
	@echo "Serving on http://127.0.0.1:8000/ (staff: http://127.0.0.1:8000/admin/)"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Needs GNU gettext (Debian: gettext). The compiled .mo files are committed, so `run` does not.
messages: install
	$(BIN)/python manage.py makemessages --no-obsolete --no-location -l sv -l nb -l en -i '.venv/*'
	$(BIN)/python manage.py compilemessages -i .venv
