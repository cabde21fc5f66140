#!/usr/bin/env bash
# Create .venv with the tested dependencies (constraints.txt) and the system libraries Qt
# needs. Idempotent: reinstalls only when pyproject.toml or constraints.txt changed since
# the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

# Qt's xcb platform (real windows, Xvfb screenshots) needs these shared libraries;
# the offscreen platform used by the tests needs only fontconfig.
QT_DEBS="libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 \
libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libdbus-1-3"
missing=""
for p in $QT_DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: warning: missing system packages (install them for the GUI):$missing" >&2
  fi
fi

stamp="$VENV/.studio-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>/dev/null || true
  "$VENV/bin/python" -m pip install -q -e ".[gui,dev,test]" -c constraints.txt
  touch "$stamp"
fi
