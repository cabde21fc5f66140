"""Shared fixtures: a temporary model dir, small toy datasets, headless Qt."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: shared fixtures of the AdaIN dataset tests (a tiny random AdaIN, one thread)
pytest_plugins = ["tiny_adain"]


@pytest.fixture(autouse=True)
def _isolated_model_dir(tmp_path, monkeypatch):
    """Never touch the user's real model directory from a test."""
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "_models"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "_config"))
