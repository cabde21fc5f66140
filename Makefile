# The two commands of the README: `make run` (the app) and `make test` (the suite).
VENV ?= .venv
STUDIO = $(VENV)/bin/studio

.PHONY: setup run demo test bench

setup:
	bash scripts/setup.sh

# Opens the window when a display is available, otherwise runs the headless demo.
run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(STUDIO) gui; else $(STUDIO) demo; fi

demo: setup
	$(STUDIO) demo

# Everything, including the slower end-to-end checks (torchrun DDP, the quick demo, the
# sdist/wheel installed into a fresh venv); `.venv/bin/pytest` alone skips those for a fast loop.
test: setup
	$(VENV)/bin/ruff check studio tests
	QT_QPA_PLATFORM=offscreen STUDIO_TEST_DDP=1 STUDIO_TEST_DEMO=1 STUDIO_TEST_FAULTS=1 \
	STUDIO_TEST_WHEEL=1 $(VENV)/bin/python -m pytest

# The speed benchmarks (tens of minutes on a 2-core CPU; run on an idle machine).
bench: setup
	$(STUDIO) bench adain
	$(STUDIO) bench build-stylized
	$(STUDIO) bench inversion
	$(STUDIO) bench tsit
	$(STUDIO) bench e2e
