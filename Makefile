# The two commands of README: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint messages bench

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
# English is the source language: it needs no catalogue.
messages: install
	$(BIN)/python manage.py makemessages --no-obsolete --no-location -l sv -l nb -i '.venv/*'
	$(BIN)/python manage.py compilemessages -i .venv

# Real figures against PostgreSQL and a local SMTP sink (benchmarks/). The benchmarks empty the
# tables they fill, so they get a database of their own, created here if missing. DEBUG off, as in
# production: with it on, Django keeps every query in memory and the figures would include that.
bench: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/concerthouse_bench
bench: export DEBUG = false
bench: install
	@# The load benchmark drives the server with wrk (Debian's package), as .ci/run installs Chromium.
	@[ -x /usr/bin/wrk ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@# The mailbox reader's benchmark starts a Dovecot of its own (tests/dovecot.py).
	@[ -x /usr/sbin/dovecot ] || { apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; }
	$(BIN)/python -c 'import sys, psycopg; from psycopg import sql; \
		url = sys.argv[1]; name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]; \
		server = psycopg.connect(url, dbname="postgres", autocommit=True); \
		exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone(); \
		exists or server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))' \
		"$$DATABASE_URL"
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bench
