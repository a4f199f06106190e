.PHONY: setup demo test lint

# Everything runs in the project's own virtual environment, .venv, which `make setup` creates.
setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
