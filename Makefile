# The two commands of the README: `make run` (the app) and `make test` (the suite).
VENV ?= .venv
STUDIO = $(VENV)/bin/studio

.PHONY: setup run demo test lint bench

setup:
	bash scripts/setup.sh

# Opens the window when a display is available, otherwise runs the headless demo.
run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(STUDIO) gui; else $(STUDIO) demo; fi

demo: setup
	$(STUDIO) demo

test: setup
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/ruff check studio tests
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

bench: setup
	$(STUDIO) bench all
