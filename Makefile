# Bulletin: `make run` starts everything locally, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NAME   ?=
FUZZ_EXAMPLES ?= 50

.PHONY: install translations run test fuzz bench lint format migrate demo check-deploy clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Bulletin needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) translations  ## create .venv, install Bulletin with its dev dependencies, compile translations

translations: $(STAMP)  ## compile locale/*.po to .mo (Babel, pure Python; only stale ones)
	$(BIN)/python manage.py compile_translations

run: install  ## migrate, load demo data, print the admin login, start spamd (if installed), web + worker + beat
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_periodic_tasks
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py ensure_admin
	-bash scripts/spamd-start
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

COV_MIN ?= 85

test: install  ## run the whole test suite with coverage; fails under COV_MIN% (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
	$(BIN)/pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COV_MIN)

fuzz: install  ## a longer, random schemathesis run over the whole API, every role on every case
	SCHEMATHESIS_RANDOM=1 SCHEMATHESIS_EVERY_ROLE=1 SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(BIN)/pytest -p no:cacheprovider tests/core/test_schemathesis.py

bench: install  ## run every benchmark, or one: make bench NAME=fanout
	$(BIN)/python bench/run.py $(NAME)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: install
	$(BIN)/python manage.py load_demo_data

check-deploy: install  ## the production settings' deploy checks, with throwaway secrets
	DJANGO_SETTINGS_MODULE=config.settings.production SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(50))') \
	  DEBUG=false ALLOWED_HOSTS=bulletin.example.com SITE_URL=https://bulletin.example.com \
	  FIELD_ENCRYPTION_KEY=qCj3rSvbHD6WJ2lQ3vTCHrk4ksx2cVcRtkBZCUX6hKc= \
	  SNS_TOPIC_ARNS=arn:aws:sns:us-east-1:123456789012:bulletin-ses-events \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
